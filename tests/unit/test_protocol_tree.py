"""The Protocols view's tree: link rows before network rows whatever the sort, and the
application rows under a transport add up to it (an ``(other)`` row holds the rest)."""

from __future__ import annotations

from pathlib import Path

from tuimon.capture.file import FileSource
from tuimon.core.model import ProtocolRow
from tuimon.server.driver import count_source
from tuimon.server.protocol import Query
from tuimon.server.query import OTHER, QueryRunner, tree_order

DATA = Path(__file__).resolve().parents[1] / "data"


def row(name, layer, nbytes, path, packets=1):
    return ProtocolRow(name, packets, nbytes, layer, path=path, depth=path.count("/"))


def test_link_rows_come_before_the_network_rows_whatever_the_sort():
    """Two link types: the link rows and the network rows are all top-level rows."""
    rows = [row("ipv4", "network", 900, "ipv4"), row("ether", "link", 600, "ether"),
            row("tcp", "transport", 900, "ipv4/tcp"), row("linux-sll", "link", 400, "linux-sll"),
            row("arp", "network", 100, "arp")]
    by_bytes = sorted(rows, key=lambda r: -r.bytes)
    assert [r.protocol for r in tree_order(by_bytes)] == \
        ["ether", "linux-sll", "ipv4", "tcp", "arp"]
    assert [r.protocol for r in tree_order(by_bytes[::-1])] == \
        ["linux-sll", "ether", "arp", "ipv4", "tcp"]


def test_the_application_rows_under_a_transport_add_up_to_it():
    e = count_source(FileSource(str(DATA / "1kxun.pcap")), dissect_packets=0).engine
    page = QueryRunner(e).run(Query(view="protocols", limit=100))
    rows = page.rows
    others = [r for r in rows if r.protocol == OTHER]
    assert others  # 1kxun.pcap: UDP on ports nothing names
    for t in (r for r in rows if r.layer == "transport"):
        children = [r for r in rows if r.path.rpartition("/")[0] == t.path]
        assert sum(c.packets for c in children) == t.packets, t.path
        assert sum(c.bytes for c in children) == t.bytes, t.path
        assert abs(sum(c.share for c in children) - t.share) < 1e-9
        if any(c.protocol == OTHER for c in children):
            assert children[-1].protocol == OTHER  # last under its parent
    assert page.total == len(rows) == len(e.protocol_rows()) + len(others)
