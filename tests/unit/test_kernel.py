"""The kernel's own counters next to the capture's: fakes for psutil and the clock."""

from __future__ import annotations


import pytest

from tests.conftest import record
from tuimon.capture.source import Source
from tuimon.config import Config
from tuimon.capture.kernel import Counters, KernelCounters, for_source, mac_address, read_psutil
from tuimon.capture.reader import Interface
from tuimon.server.service import EngineService
from tuimon.sinks.csv import INTERFACE_COLUMNS, export_snapshot
from tests.support.kernel import FakeKernel, FakeLive, counters


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_deltas_since_the_capture_started():
    fake, clock = FakeKernel(eth0=counters(), eth1=counters(speed=0)), Clock()
    k = KernelCounters({0: "eth0", 1: "eth1", 2: "any"}, comparable=True, read=fake, clock=clock)
    fake.add("eth0", bytes_in=1500, packets_in=1, bytes_out=600, packets_out=10, errors_in=2,
             drops_out=5)
    clock.t += 1
    rows = k.sample()
    assert set(rows) == {0, 1}  # the kernel has no "any"
    r = rows[0]
    assert (r.packets_in, r.bytes_in, r.packets_out, r.bytes_out) == (1, 1500, 10, 600)
    assert (r.errors_in, r.errors_out, r.drops_in, r.drops_out) == (2, 0, 0, 5)
    assert r.speed == 1000 and r.comparable
    assert r.utilisation == pytest.approx(100 * 1500 * 8 / 1e9, abs=1e-3)  # the busier way
    assert rows[1].utilisation is None and rows[1].packets_in == 0  # speed unknown


def test_utilisation_over_the_last_two_seconds():
    fake, clock = FakeKernel(eth0=counters(speed=10)), Clock()
    k = KernelCounters({0: "eth0"}, comparable=False, read=fake, clock=clock)
    for second in range(5):
        fake.add("eth0", bytes_out=125_000 * (second + 1))  # 1, 2, 3, 4, 5 Mb/s
        clock.t += 1
        util = k.sample()[0].utilisation
    assert util == pytest.approx(100 * (4 + 5) / 2 / 10)  # the last 2 s: 4.5 of 10 Mb/s


def test_a_vanished_interface_keeps_its_last_row_and_a_failing_read_is_harmless():
    fake, clock = FakeKernel(eth0=counters()), Clock()
    k = KernelCounters({0: "eth0"}, comparable=True, read=fake, clock=clock)
    fake.add("eth0", packets_in=7)
    clock.t += 1
    assert k.sample()[0].packets_in == 7
    del fake.now["eth0"]
    clock.t += 1
    assert k.sample()[0].packets_in == 7

    def broken():
        raise OSError("no /proc")

    k.read = broken
    assert k.sample()[0].packets_in == 7


def test_for_source_only_for_live_sources():
    class File(Source):
        kind = "file"

    class Live(Source):
        kind = "live"
        devices = {0: "eth0"}
        capture_filter = "udp"

    assert for_source(File(), FakeKernel()) is None
    k = for_source(Live(), FakeKernel(eth0=counters()))
    assert k is not None and not k.comparable  # a filtered capture misses what it filters


def test_psutil_readers_work_here():
    found = read_psutil()
    assert "lo" in found and isinstance(found["lo"], Counters)
    assert mac_address("lo") is None  # loopback's address is all zeros
    assert mac_address("no-such-interface") is None


def test_engine_service_reads_the_kernel_each_second_and_saves_it(tmp_path):
    fake, clock = FakeKernel(eth0=counters(), eth1=counters()), Clock()
    source = FakeLive(fake)
    svc = EngineService(Config(interfaces=("eth0", "eth1")), factory=lambda config: source,
                        clock=clock, wallclock=lambda: 100.5, kernel_read=fake)
    svc.open()
    assert fake.reads == 1  # the baseline, when the capture started
    batches = source.batches()
    svc.ingest(next(batches))
    next(batches, None)
    clock.t += 1
    svc.tick()  # once a second in the worker
    assert fake.reads == 2
    rows = {r.interface: r for r in svc.engine.snapshot().interfaces}
    e0, e1 = rows["eth0"], rows["eth1"]
    assert (e0.in_packets, e0.in_bytes, e0.out_packets, e0.out_bytes) == (2, 100, 1, 60)
    assert (e0.kernel_in_packets, e0.kernel_in_bytes) == (5, 250)
    assert (e0.kernel_out_packets, e0.kernel_out_bytes) == (1, 60)
    assert e0.missed_packets == 3 and e0.link_speed == 1000
    assert e0.kernel_errors == 0 and e0.kernel_drops == 0
    assert e1.missed_packets == 0 and e1.in_packets is None  # no direction known on eth1
    svc.finish()
    paths = export_snapshot(svc.engine.snapshot(), str(tmp_path))
    import csv

    with open(paths[0], newline="") as f:
        header, *lines = list(csv.reader(f))
    assert header == INTERFACE_COLUMNS
    got = {line[0]: dict(zip(header, line)) for line in lines}
    assert [got["eth0"][k] for k in ("in_packets", "out_bytes", "kernel_in_packets",
                                     "missed_packets", "link_speed")] == ["2", "60", "5", "3", "1000"]
    assert got["eth1"]["in_packets"] == ""
