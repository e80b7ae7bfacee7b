"""Helpers shared by the tests, from test_live_cli.py."""

from __future__ import annotations

import csv
import json
import sys
import pytest
from tests.support.netns import wait_line


ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7))
print("ready", file=sys.stderr, flush=True)
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""


CLIENT = r"""
import json, socket, sys
src, dst, sport, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
s.settimeout(5)
for n in sizes:
    s.sendto(b"x" * n, (dst, 7))
    assert len(s.recv(65535)) == n
for port in json.loads(sys.argv[5]):  # TCP to closed ports: SYN out, RST back
    try:
        socket.create_connection((dst, port), timeout=5)
    except ConnectionRefusedError:
        pass
"""


def rows(folder, name: str) -> list[dict]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def echo(netns):
    server = netns.python(netns.a, ECHO)
    wait_line(server, "ready")
    yield server
    server.kill()
    server.communicate()


def exchange(ns, pair: int, sizes: list[int], sport: int = 40000, tcp_ports=()) -> None:
    r = ns.run(ns.b, sys.executable, "-c", CLIENT, ns.addr_b(pair), ns.addr_a(pair), str(sport),
               json.dumps(sizes), json.dumps(list(tcp_ports)))
    assert r.returncode == 0, r.stderr


def start(ns, *args: str):
    proc = ns.tuimon(*args, "--no-ui")
    wait_line(proc, "tuimon: capturing on")
    return proc


def frames(sizes) -> int:
    return sum(n + 42 for n in sizes)


def check_echo_counts(folder, a: str, b: str, iface_row: dict, sizes, sport: int = 40000):
    n, total = len(sizes), frames(sizes)
    assert (int(iface_row["packets"]), int(iface_row["bytes"])) == (2 * n, 2 * total)
    assert int(iface_row["ipv4_packets"]) == 2 * n and iface_row["link"] == "ether"
    # b's datagrams came in on a's interface, a's echoes (from its own MAC) went out
    assert [int(iface_row[k]) for k in ("in_packets", "in_bytes", "out_packets", "out_bytes")] \
        == [n, total, n, total]
    hosts = {r["address"]: r for r in rows(folder, "hosts.csv")}
    for addr in (a, b):
        h = hosts[addr]
        assert [int(h[k]) for k in ("packets", "bytes", "tx_packets", "tx_bytes",
                                    "rx_packets", "rx_bytes")] == [2 * n, 2 * total, n, total, n, total]
    conv = [r for r in rows(folder, "conversations.csv") if {r["address_a"], r["address_b"]} == {a, b}]
    assert len(conv) == 1
    c = conv[0]
    assert c["protocol"] == "udp"
    assert {(c["address_a"], c["port_a"]), (c["address_b"], c["port_b"])} == {(a, "7"), (b, str(sport))}
    assert [int(c[k]) for k in ("packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")] \
        == [n, total, n, total]
