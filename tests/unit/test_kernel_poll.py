"""The kernel's named counters beside tuimon's own (tuimon.server.kernel_poll), with fake
tools: rows and rates from the polls, a reset by someone else, tuimon's atomic read and
zero (the figures read across resets add up to the kernel's total), and the session: the
Status says they are there, the Counters view and the save list them, ``z`` resets them."""

from __future__ import annotations

import pytest

from tuimon.capture.kernel_counters import KernelCounter
from tuimon.capture.source import Source
from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.kernel_poll import KernelPoller
from tuimon.server.protocol import Query, ResetCounters
from tuimon.server.service import EngineService


class FakeKernel:
    """nfacct and nft as the poller sees them: figures that grow, reset in one step."""

    def __init__(self) -> None:
        self.figures = {"nfacct:http": [0, 0], "nft:inet/filter/web": [0, 0]}
        self.now = 1000.0
        self.refuse = False

    def grow(self, name: str, packets: int, nbytes: int) -> None:
        self.figures[name][0] += packets
        self.figures[name][1] += nbytes

    def lister(self) -> list:
        if self.refuse:
            raise TuimonError("nfacct: Operation not permitted")
        return sorted(KernelCounter(n, *f) for n, f in self.figures.items())

    def resetter(self, name: str) -> KernelCounter:
        p, b = self.figures[name]
        self.figures[name] = [0, 0]
        return KernelCounter(name, p, b)

    def poller(self) -> KernelPoller:
        return KernelPoller(self.lister, self.resetter, clock=lambda: self.now)


def test_rows_rates_and_a_reset_by_someone_else():
    k = FakeKernel()
    poller = k.poller()
    assert poller.poll() and len(poller) == 2
    k.grow("nfacct:http", 10, 10_000)
    k.now += 2
    poller.poll()
    row = {r.name: r for r in poller.rows()}["nfacct:http"]
    assert (row.packets, row.bytes, row.total_bytes, row.expression) == \
        (10, 10_000, 10_000, "kernel nfacct")
    assert row.rate_2s == pytest.approx(5_000)  # 10 kB over the two seconds between polls
    assert row.rate_10s == pytest.approx(1_000)
    k.figures["nfacct:http"] = [3, 300]  # `nfacct get http reset` by someone else, then 3
    k.now += 2
    poller.poll()
    row = {r.name: r for r in poller.rows()}["nfacct:http"]
    assert (row.packets, row.bytes, row.since, row.resets) == (3, 300, k.now, 1)
    assert (row.total_packets, row.total_bytes) == (13, 10_300)
    assert {r.name: r.expression for r in poller.rows()}["nft:inet/filter/web"] == "kernel nft"
    del k.figures["nft:inet/filter/web"]  # deleted from the firewall: gone from the rows
    poller.poll()
    assert [r.name for r in poller.rows()] == ["nfacct:http"]


def test_read_and_zero_under_a_steady_stream_adds_up():
    k = FakeKernel()
    poller = k.poller()
    poller.poll()
    read = 0
    for i in range(50):
        k.grow("nft:inet/filter/web", 1, 100 + i)
        k.now += 0.5
        if i % 3 == 0:
            poller.poll()
        if i % 7 == 0:
            (row,) = poller.reset(["nft:inet/filter/web", "no-such"])
            read += row.bytes
    final = {r.name: r for r in poller.rows()}
    poller.poll()
    final = {r.name: r for r in poller.rows()}["nft:inet/filter/web"]
    assert read + final.bytes == sum(100 + i for i in range(50)) == final.total_bytes
    assert final.resets == 8


def test_a_refusal_leaves_the_kernel_counters_out():
    k = FakeKernel()
    k.refuse = True
    poller = k.poller()
    assert not poller.poll() and "not permitted" in poller.error and len(poller) == 0


class OneBatch(Source):
    """A live source of one interface that hands over one batch."""

    kind = "live"
    name = "fake0"
    devices: list = []  # no kernel interface counters

    def __init__(self, records: list) -> None:
        from tuimon.capture.reader import Interface

        self.interfaces = [Interface(0, 1, "fake0")]
        self.ended: dict = {}
        self.records = records

    def batches(self):
        yield self.records

    def skipped(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_the_session_shows_saves_and_resets_them(kit, tmp_path):
    """A live session (a fake source) with the fake kernel: the Status counts them, the
    Counters view and counters.csv list them after tuimon's own, ``Z`` reads and zeroes
    both kinds at once."""
    import csv

    from tuimon.server.protocol import Save

    k = FakeKernel()
    k.grow("nfacct:http", 4, 4_000)
    recs = [kit.record("10.0.0.1", "10.0.0.2", 1, 443, size=100, ts=1000.0 + i)
            for i in range(5)]
    svc = EngineService(Config(interfaces=("fake0",), counters=(("web", "port 443"),)),
                        factory=lambda c: OneBatch(recs), poller=k.poller)
    try:
        status = svc.open()
        assert status.kernel_counters == 2
        for batch in svc.source.batches():
            svc.ingest(batch)
            break
        page = svc.answer(Query(view="counters", sort="name", descending=False))
        assert [r.name for r in page.rows] == ["nfacct:http", "nft:inet/filter/web", "web"]
        saved = svc.save(Save(str(tmp_path / "out")))
        assert not saved.error, saved.error
        with open(tmp_path / "out" / "counters.csv") as f:
            rows = {r["name"]: r for r in csv.DictReader(f)}
        assert rows["nfacct:http"]["bytes"] == "4000"
        assert rows["nfacct:http"]["expression"] == "kernel nfacct"
        k.grow("nfacct:http", 1, 500)
        reset = svc.reset_counters(ResetCounters(None))
        assert {r.name: r.bytes for r in reset.rows}["nfacct:http"] == 4_500
        assert k.figures["nfacct:http"] == [0, 0]
        assert "web" in {r.name for r in reset.rows}
    finally:
        svc.close()
