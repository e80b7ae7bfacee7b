"""Drill-down on a live capture, for real: a LiveSource on a veth pair in network
namespaces tees what dumpcap writes into its ring; the worker's drill-down reads the
conversation back from the ring (and says what the ring no longer holds)."""

from __future__ import annotations

import json

import pytest

from tests.support.netns import wait_line
from tests.support.send import send

PROBE = r"""
import argparse, json, os, sys, tempfile, time
from tuimon.capture.live import LiveSource
from tuimon.server.drill import Packets, WritePcap
from tuimon.core.names import address_text
from tuimon.server.query import row_key
from tuimon.server.service import EngineService

ring, expect = int(sys.argv[1]), int(sys.argv[2])
from tuimon.config import Config

args = Config(interfaces=("tma0",), ring_mb=0)
svc = EngineService(args, factory=lambda a: LiveSource(["tma0"], ring_size=ring))
assert svc.open().state == "capturing", svc.status
folder = svc.source.ring_folder
print("ready", file=sys.stderr, flush=True)
deadline = time.monotonic() + 20
batches = svc.source.batches()  # kept: a generator closed early closes the source
for batch in batches:
    svc.ingest(batch)
    svc.engine.fold()
    if svc.engine.totals().packets >= expect or time.monotonic() > deadline:
        break
out = {"convs": []}
outdir = tempfile.mkdtemp()
for conv in sorted(svc.engine.conversations, key=lambda c: c.first):
    key = row_key("conversations", conv)
    reply = svc.handle(Packets(key))
    written = svc.handle(WritePcap(key, outdir))
    out["convs"].append({"a": address_text(conv.a), "b": address_text(conv.b), "pb": conv.pb,
                         "counted": conv.ab_p + conv.ba_p, "found": reply.found,
                         "lengths": [r.length for r in reply.rows],
                         "dirs": sorted({r.reverse for r in reply.rows}),
                         "info": [r.info for r in reply.rows[:2]],
                         "note": reply.note, "error": reply.error,
                         "written": written.packets, "path": written.path,
                         "wnote": written.note})
out["dropped"] = svc.source.rings()[0][1].dropped
svc.close()
out["folder_left"] = os.path.exists(folder)
print(json.dumps(out))
"""


def run_probe(netns, ring: int, expect: int, traffic) -> dict:
    probe = netns.python(netns.a, PROBE, str(ring), str(expect))
    wait_line(probe, "ready")
    traffic()
    out, err = probe.communicate(timeout=60)
    assert probe.returncode == 0, err
    return json.loads(out)


@pytest.mark.live
def test_live_conversation_from_the_ring(netns):
    sizes = [10, 200, 1000, 1400, 55]
    got = run_probe(netns, 64 << 20, len(sizes), lambda: send(netns, 0, sizes))
    assert got["dropped"] == 0 and got["folder_left"] is False
    [conv] = got["convs"]
    assert (conv["a"], conv["b"], conv["pb"]) == ("10.199.1.2", "10.199.1.3", 9)
    assert conv["counted"] == conv["found"] == conv["written"] == len(sizes), conv
    assert conv["lengths"] == [n + 42 for n in sizes]  # Ethernet + IPv4 + UDP headers
    assert conv["dirs"] == [False] and conv["error"] is None and conv["note"] == ""
    assert all(info.startswith("9 ") or "Len=" in info for info in conv["info"]), conv["info"]
    # The file written for Wireshark holds them too (tshark reads it back).
    import subprocess

    back = subprocess.run(["tshark", "-r", conv["path"], "-T", "fields", "-e", "frame.len"],
                          capture_output=True, text=True)
    assert back.stdout.split() == [str(n + 42) for n in sizes]


SEND_TWO = r"""
import socket, sys
dst = sys.argv[1]
for port, count, size in ((7001, 1200, 1400), (7002, 5, 100)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("10.199.1.2", port))
    for _ in range(count):
        s.sendto(b"x" * size, (dst, 9))
    s.close()
"""


@pytest.mark.live
def test_live_ring_says_what_is_gone(netns):
    """A small ring (8 files of 64 KiB): most of a 1.7 MB conversation is gone from it by the
    time it is opened; the one after it is whole."""
    import sys

    def traffic():
        r = netns.run(netns.b, sys.executable, "-c", SEND_TWO, "10.199.1.3")
        assert r.returncode == 0, r.stderr

    got = run_probe(netns, 256 * 1024, 1205, traffic)
    assert got["dropped"] > 0
    big, small = got["convs"]
    assert big["counted"] == 1200 and 0 < big["found"] < 1200
    assert big["note"].startswith("packets before ") and "gone from the ring" in big["note"]
    assert big["written"] == big["found"] and "gone from the ring" in big["wnote"]
    assert small["counted"] == small["found"] == small["written"] == 5 and small["note"] == ""
