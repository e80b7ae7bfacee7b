"""Helpers shared by the tests, from test_live.py."""

from __future__ import annotations

import json
import sys


SEND = r"""
import json, socket, sys
src, dst, sizes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for n in sizes:  # broadcast on the /30: no receiver needed, no ICMP back
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(b"x" * n, (dst, 9))
"""


def send(ns, pair: int, sizes: list[int]) -> None:
    broadcast = f"10.199.{pair + 1}.3"
    r = ns.run(ns.b, sys.executable, "-c", SEND, ns.addr_b(pair), broadcast, json.dumps(sizes))
    assert r.returncode == 0, r.stderr
