"""Named counters on a live capture, against Wireshark: tcpreplay sends a real capture
over a veth pair in network namespaces while tuimon captures the other end with the
oracle's counters (tests/oracle/test_counters_oracle.py); counters.csv equals tshark's
display filters over the same file, frame for frame."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from bench.live import MTU, tcpreplay_sent
from tests.oracle.test_counters_oracle import cases, expected
from tests.support.netns import wait_line

DATA = Path(__file__).resolve().parents[1] / "data"
pytestmark = pytest.mark.skipif(shutil.which("tcpreplay") is None,
                                reason="tcpreplay is not installed")


@pytest.mark.parametrize("name", ["netflix.pcap", "http_ipv6.pcap"])
def test_live_counters_equal_tsharks_display_filters(netns, tmp_path, name):
    path = str(DATA / name)
    todo = cases(path)
    for ns, dev in ((netns.a, netns.veth_a()), (netns.b, netns.veth_b())):
        netns.run(ns, "ip", "link", "set", dev, "mtu", str(MTU))
    out = tmp_path / "csv"
    args = [netns.veth_a(), "--no-ui", "--no-history", "--duration", "5", "--csv", str(out),
            "--dissect-packets", "0"]
    for n, e, _ in todo:
        args += ["--counter", f"{n}={e}"]
    proc = netns.tuimon(*args)
    wait_line(proc, "tuimon: capturing on")
    replay = netns.run(netns.b, "tcpreplay", "-i", netns.veth_b(), "--pps", "3000", path,
                       timeout=60)
    sent, _, failed = tcpreplay_sent(replay.stdout + replay.stderr)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert failed == 0 and sent > 0
    with open(out / "interfaces.csv", newline="") as f:
        iface = next(csv.DictReader(f))
    assert int(iface["packets"]) == sent  # every frame of the file, and nothing else
    with open(out / "counters.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    wrong = {n: ((int(rows[n]["packets"]), int(rows[n]["bytes"])), expected(path, f))
             for n, _, f in todo
             if (int(rows[n]["packets"]), int(rows[n]["bytes"])) != expected(path, f)}
    assert not wrong, f"{name}: counter (ours live, tshark's on the file): {wrong}"
    assert any(int(rows[n]["packets"]) for n, _, _ in todo)
