"""The Processes view's figures for real: a process in a network namespace sends known
UDP datagrams while `tuimon tma0 --no-ui --csv DIR` captures in the same namespace; its
row in processes.csv (found by its pid) holds exactly what the capture counted for its
socket in conversations.csv. Skipped, with the reason, when not root."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.echo import frames, rows, start
from tests.support.netns import wait_line

pytestmark = pytest.mark.live

SENDER = r"""
import json, socket, sys, time
src, dst, sport, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
print("bound", file=sys.stderr, flush=True)
time.sleep(1.5)  # a poll (once a second) sees the socket before its first datagram
for n in sizes:
    s.sendto(b"x" * n, (dst, 9))
    time.sleep(0.05)
time.sleep(1.5)
print("sent", file=sys.stderr, flush=True)
"""


def test_a_process_row_holds_what_the_capture_counted_for_its_socket(netns, tmp_path):
    sizes, sport = [10, 200, 1000, 1400], 40123
    proc = start(netns, "tma0", "--duration", "6", "--csv", str(tmp_path))
    sender = netns.python(netns.a, SENDER, netns.addr_a(), netns.addr_b(), str(sport),
                          json.dumps(sizes))
    try:
        wait_line(sender, "bound")
        wait_line(sender, "sent", timeout=20)
    finally:
        sender.kill()
        sender.communicate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err

    conv = [c for c in rows(tmp_path, "conversations.csv")
            if c["protocol"] == "udp" and (c["address_a"], c["port_a"]) == (netns.addr_a(), str(sport))]
    assert len(conv) == 1
    counted = (int(conv[0]["packets_a_to_b"]), int(conv[0]["bytes_a_to_b"]))
    assert counted == (len(sizes), frames(sizes))  # what the capture saw of the socket
    procs = {r["pid"]: r for r in rows(tmp_path, "processes.csv")}
    mine = procs.get(str(sender.pid))
    assert mine is not None, procs
    assert mine["name"].startswith("python"), mine
    assert (int(mine["packets_sent"]), int(mine["bytes_sent"])) == counted
    assert (int(mine["packets_received"]), int(mine["bytes_received"])) == (0, 0)
    assert int(mine["conversations"]) == 1
    # the port unreachables b answers with are ICMP: no socket owns them
    unattributed = [r for r in procs.values() if r["name"] == "unattributed"]
    if unattributed:
        assert unattributed[0]["pid"] == "" and unattributed[0]["bytes_sent"] == ""
    # every packet of the capture's IP conversations is in a row (no loopback here)
    total = sum(int(c["bytes_a_to_b"]) + int(c["bytes_b_to_a"])
                for c in rows(tmp_path, "conversations.csv"))
    assert sum(int(r["bytes"]) for r in procs.values()) == total
    assert sys.executable  # (the sender ran under this interpreter: its name is python*)
