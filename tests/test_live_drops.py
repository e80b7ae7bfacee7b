"""Drops are never silent: tcpreplay floods a veth pair as fast as it can while tuimon
captures the other end; every frame the receiving veth got is either counted or in the
``drops`` dumpcap reported (interfaces.csv), whatever the machine could keep up with."""

from __future__ import annotations

import csv
import shutil

import pytest

from bench.build import build
from bench.live import MTU, dev_counters, tcpreplay_sent
from tests.netns import TUIMON, netns, wait_line  # noqa: F401  (netns is a fixture)

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
