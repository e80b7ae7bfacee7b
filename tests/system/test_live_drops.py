"""Drops are never silent: tcpreplay floods a veth pair as fast as it can while tuimon
captures the other end; every frame the receiving veth got is either counted or in the
``drops`` dumpcap reported (interfaces.csv), whatever the machine could keep up with."""

from __future__ import annotations

import csv
import shutil

import pytest

from bench.build import build
from bench.live import MTU, dev_counters, tcpreplay_sent
from tests.support.netns import wait_line

pytestmark = pytest.mark.skipif(shutil.which("tcpreplay") is None, reason="tcpreplay is not installed")


def test_every_frame_that_arrived_is_counted_or_reported_dropped(netns, tmp_path):
    pcap = build(tmp_path / "flood.pcap", 20_000)
    for ns, dev in ((netns.a, netns.veth_a()), (netns.b, netns.veth_b())):
        netns.run(ns, "ip", "link", "set", dev, "mtu", str(MTU))
    before = dev_counters(netns, netns.a, netns.veth_a())
    out = tmp_path / "csv"
    proc = netns.tuimon(netns.veth_a(), "--no-ui", "--duration", "4", "--csv", str(out))
    wait_line(proc, "tuimon: capturing on")
    replay = netns.run(netns.b, "tcpreplay", "-i", netns.veth_b(), "--topspeed", "--preload-pcap",
                       "--loop", "0", "--duration", "2", str(pcap), timeout=60)
    sent, _, _ = tcpreplay_sent(replay.stdout + replay.stderr)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    arrived = dev_counters(netns, netns.a, netns.veth_a())["rx_packets"] - before["rx_packets"]
    with open(out / "interfaces.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["drops"] != "", "dumpcap's drop count did not reach interfaces.csv"
    assert arrived == sent > 0
    assert int(row["packets"]) + int(row["drops"]) == arrived


SLOW_COUNTER = r"""
import json, sys, time
import tuimon.capture.dumpcap, tuimon.capture.live
# small buffers (1 MiB in the kernel, Linux's default 64 KiB pipe): the flood overruns them
# whatever else the machine is doing
tuimon.capture.dumpcap.BUFFER_MIB = 1
tuimon.capture.live.PIPE_SIZE = 1 << 16
from tuimon.capture.open import open_source
from tuimon.config import Config
from tuimon.server.protocol import Query
from tuimon.server.service import EngineService

svc = EngineService(Config(interfaces=(sys.argv[1],), ring_mb=0, dissect_packets=0,
                           no_ui=True))
assert svc.open().state == "capturing", svc.status
print("ready", file=sys.stderr, flush=True)
seen, next_tick, start = [], time.monotonic() + 0.5, time.monotonic()
batches = svc.source.batches()
for batch in batches:
    svc.ingest(batch)
    time.sleep(0.05)  # a counting that cannot keep up: dumpcap's pipe and ring fill
    now = time.monotonic()
    if now >= next_tick:
        next_tick = now + 0.5
        svc.tick()
        page = svc.answer(Query(view="interfaces"))
        seen.append({"t": round(now - start, 2), "drops": page.totals.drops,
                     "reported": page.totals.drops_reported,
                     "behind": page.lag.seconds if page.lag else None})
    if now - start > 6:
        break
svc.close()
print(json.dumps(seen))
"""


def test_drops_and_lag_are_shown_while_capturing_and_apart(netns, tmp_path):
    """A counting slowed on purpose under a flood: within two seconds the engine reports
    real drops (read from dumpcap's socket while it runs), and apart from them that it is
    behind (packets waiting in the pipe), both before the capture ends."""
    pcap = build(tmp_path / "flood.pcap", 20_000)
    for ns, dev in ((netns.a, netns.veth_a()), (netns.b, netns.veth_b())):
        netns.run(ns, "ip", "link", "set", dev, "mtu", str(MTU))
    probe = netns.python(netns.a, SLOW_COUNTER, netns.veth_a())
    wait_line(probe, "ready")
    netns.run(netns.b, "tcpreplay", "-i", netns.veth_b(), "--topspeed", "--preload-pcap",
              "--loop", "0", "--duration", "3", str(pcap), timeout=60)
    out, err = probe.communicate(timeout=60)
    assert probe.returncode == 0, err
    import json

    seen = json.loads(out)
    assert seen and all(s["reported"] for s in seen)  # known from the start: 0, not n/a
    # drops seen while the capture ran, not only once dumpcap stopped (the bench times it)
    dropped = [i for i, s in enumerate(seen) if s["drops"]]
    assert dropped and dropped[0] < len(seen) - 1, seen
    assert any(s["behind"] for s in seen), seen
