"""The real app in a real terminal counting a live capture: ``tuimon IFACE --csv DIR`` in
tmux inside a network namespace while the other end sends 30,000 datagrams; ``q`` saves,
and interfaces.csv holds every frame the kernel's counters say the interface carried,
with no drops and nothing missed."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time

import pytest

from tests.support.netns import TUIMON

pytestmark = [pytest.mark.live, pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SEND = r"""
import socket, sys, time
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
for i in range(count):
    s.sendto(b"x" * (20 + i % 1200), (dst, 9))
    if i % 1000 == 999:  # about 20,000 a second: a modest rate
        time.sleep(max(0.0, start + (i + 1) / 20000 - time.monotonic()))
"""


def tmux(sock: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", *args], capture_output=True,
                          text=True, timeout=10, env=env).stdout


def test_the_app_counts_every_frame_the_kernel_saw(netns, tmp_path):
    sock, out = f"tuimon-live-{os.getpid()}", tmp_path / "csv"
    command = (f"unset COLUMNS LINES; ip netns exec {netns.a} {TUIMON} {netns.veth_a()} "
               f"--csv {out} --interval 0.5; echo $? > {tmp_path / 'exit'}; sleep 30")
    tmux(sock, "new-session", "-d", "-s", "main", "-x", "160", "-y", "48", "sh", "-c", command)
    try:
        deadline = time.monotonic() + 20
        while "capturing" not in tmux(sock, "capture-pane", "-p", "-t", "main"):
            assert time.monotonic() < deadline, tmux(sock, "capture-pane", "-p", "-t", "main")
            time.sleep(0.2)
        sender = netns.python(netns.b, SEND, netns.addr_a(), "30000")
        assert sender.wait(timeout=60) == 0, sender.stderr.read()
        time.sleep(1.5)
        screen = tmux(sock, "capture-pane", "-p", "-t", "main")
        assert "Drops 0" in screen and "Behind" not in screen, screen
        tmux(sock, "send-keys", "-t", "main", "q")
        deadline = time.monotonic() + 30
        while not (tmp_path / "exit").exists():
            assert time.monotonic() < deadline, tmux(sock, "capture-pane", "-p", "-t", "main")
            time.sleep(0.2)
        assert (tmp_path / "exit").read_text().strip() == "0"
    finally:
        tmux(sock, "kill-server")
    with open(out / "interfaces.csv", newline="") as f:
        row = next(csv.DictReader(f))
    kernel = int(row["kernel_in_packets"]) + int(row["kernel_out_packets"])
    assert int(row["in_packets"]) >= 30_000
    assert int(row["packets"]) == kernel, row
    assert (row["drops"], row["missed_packets"]) == ("0", "0"), row
