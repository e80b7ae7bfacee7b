"""A stopped dumpcap (SIGSTOP) is noticed: the kernel counts packets on the interface,
dumpcap hands over none. Headless says so on stderr, the app in its header (the same
capture news), and both say when it flows again; nothing the kernel held is lost.
In network namespaces (root; skipped with the reason otherwise)."""

from __future__ import annotations

import csv
import os
import signal
import time

import psutil
import pytest

from tests.support.echo import echo, exchange, start  # noqa: F401  (echo is a fixture)
from tests.support.netns import netns, wait_line  # noqa: F401  (netns is a fixture)
from tests.support.ptyrun import Terminal

pytestmark = pytest.mark.live
STALLED = "capture on tma0 has stalled"


def dumpcap_of(pid: int) -> psutil.Process:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [p for p in psutil.Process(pid).children(recursive=True) if p.name() == "dumpcap"]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no dumpcap")


def test_headless_says_a_stopped_dumpcap_has_stalled_and_when_it_flows_again(
        netns, echo, tmp_path):  # noqa: F811
    proc = start(netns, "tma0", "--duration", "14", "--csv", str(tmp_path))
    exchange(netns, 0, [100] * 3)
    time.sleep(4.0)  # a quiet, healthy capture: no notice
    dumpcap = dumpcap_of(proc.pid)
    dumpcap.send_signal(signal.SIGSTOP)
    try:
        exchange(netns, 0, [200] * 20, sport=40001)  # the kernel counts these
        line = wait_line(proc, "tuimon: capture on tma0", timeout=10)
        assert line.startswith(f"tuimon: {STALLED}: the kernel counted ")
        assert line.endswith(" packets that dumpcap has not handed over (is dumpcap stopped?)\n")
        assert int(line.split("counted ")[1].split()[0]) >= 40
    finally:
        dumpcap.send_signal(signal.SIGCONT)
    assert wait_line(proc, "tuimon: capture on tma0", timeout=10) == \
        "tuimon: capture on tma0 flows again\n"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert STALLED not in err and "Traceback" not in err  # said once, before
    with open(tmp_path / "conversations.csv", newline="") as f:
        echoes = {r["port_b"] if r["port_a"] == "7" else r["port_a"]: r
                  for r in csv.DictReader(f) if "7" in (r["port_a"], r["port_b"])}
    # what the kernel held while dumpcap was stopped came through: nothing lost
    assert int(echoes["40001"]["packets_a_to_b"]) + int(echoes["40001"]["packets_b_to_a"]) == 40
    assert int(echoes["40000"]["packets_a_to_b"]) + int(echoes["40000"]["packets_b_to_a"]) == 6


def test_the_app_shows_the_stall_in_its_header(netns, echo, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    term = Terminal("tma0", "--csv", str(out), "--interval", "0.2", cwd=str(tmp_path),
                    prefix=netns.cmd(netns.a), cols=200)
    try:
        term.wait_for("capturing", timeout=60)
        dumpcap = dumpcap_of(term.proc.pid)
        dumpcap.send_signal(signal.SIGSTOP)
        try:
            exchange(netns, 0, [200] * 20)
            term.wait_for(f"{STALLED}: the kernel counts packets, dumpcap hands over none",
                          timeout=15)
        finally:
            dumpcap.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        os.write(term.master, b"q")
        assert term.wait_exit() == 0
    finally:
        term.close()
    with open(out / "conversations.csv", newline="") as f:
        [echoes] = [r for r in csv.DictReader(f) if "7" in (r["port_a"], r["port_b"])]
    assert int(echoes["packets_a_to_b"]) + int(echoes["packets_b_to_a"]) == 40
