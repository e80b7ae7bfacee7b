"""Drill everywhere (server/drillfilter.py): the Conversations filter behind a row picks
exactly the conversations the row counts, on a real capture; rows without one say why."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tuimon.capture.file import FileSource
from tuimon.core.engine import Engine
from tuimon.server.drillfilter import NoDrill, drill_filter
from tuimon.server.filter import check
from tuimon.server.protocol import Query
from tuimon.server.query import QueryRunner

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def counted():
    engine = Engine(flow_timeout=0, max_flows=0)
    engine.pairs()
    engine.pairs(ports=True)
    source = FileSource(str(DATA / "1kxun.pcap"))
    try:
        for batch in source.batches():
            engine.ingest(batch)
    finally:
        source.close()
    engine.fold()
    return engine, QueryRunner(engine)


def conversations(runner, text: str) -> list:
    assert check(text) is None, text
    page = runner.run(Query(view="conversations", filter=text, limit=10_000))
    assert page.error is None
    return page.rows


def test_a_host_drills_to_every_conversation_it_has(counted):
    engine, runner = counted
    for row in engine.host_rows():
        text = drill_filter("hosts", row)
        assert text == f"host {row.address}"
        rows = conversations(runner, text)
        assert rows and all(row.address in (c.address_a, c.address_b) for c in rows)
        assert len(rows) == sum(1 for c in engine.conversation_rows()
                                if row.address in (c.address_a, c.address_b))


def test_a_pair_drills_to_its_conversations_and_their_bytes_are_the_pairs(counted):
    engine, runner = counted
    for ports in (False, True):
        for row in engine.pair_rows(ports=ports):
            rows = conversations(runner, drill_filter("pairs", row))
            ends = {row.address_a, row.address_b}
            assert all({c.address_a, c.address_b} == ends for c in rows)
            if not ports:  # port-less fragments count in a pair but form no conversation
                assert sum(c.bytes for c in rows) <= row.bytes
            elif row.protocol in ("tcp", "udp"):
                # its own conversation is there; a port term matches either side, so one
                # with the same port on one side only (NetBIOS 137 -> 137, 138 -> 137) too
                mine = [c for c in rows if (c.address_a, c.port_a, c.address_b, c.port_b) ==
                        (row.address_a, row.port_a, row.address_b, row.port_b)]
                assert len(mine) == 1 and mine[0].bytes == row.bytes
                assert all({c.port_a, c.port_b} & {row.port_a, row.port_b} for c in rows)
        total = sum(c.bytes for r in engine.pair_rows()
                    for c in conversations(runner, drill_filter("pairs", r)))
        assert total == sum(c.bytes for c in engine.conversation_rows())


def test_a_transport_row_drills_to_the_conversations_it_counts(counted):
    engine, runner = counted
    transports = [r for r in engine.protocol_rows() if r.layer == "transport"]
    assert len(transports) >= 3
    for row in transports:
        text = drill_filter("protocols", row)
        assert text.startswith("proto ipv") and text.endswith(f"proto {row.protocol}")
        assert sum(c.bytes for c in conversations(runner, text)) == row.bytes, text
    apps = [r for r in engine.protocol_rows() if r.layer == "application"]
    for row in apps:  # the application's conversations are among those picked
        rows = conversations(runner, drill_filter("protocols", row))
        assert sum(c.bytes for c in rows if c.app_protocol == row.protocol) == row.bytes


def test_rows_without_conversations_say_why():
    link = SimpleNamespace(protocol="ether", path="ether", layer="link")
    arp = SimpleNamespace(protocol="arp", path="ether/arp", layer="network")
    for row in (link, arp):
        with pytest.raises(NoDrill):
            drill_filter("protocols", row)
    with pytest.raises(NoDrill, match="MAC"):
        drill_filter("stations", SimpleNamespace(addresses=()))
    with pytest.raises(NoDrill):
        drill_filter("hosts", SimpleNamespace(address="(other hosts)"))
    with pytest.raises(NoDrill):
        drill_filter("interfaces", SimpleNamespace(interface="eth0"))
    with pytest.raises(NoDrill):  # text from a capture never goes into a filter unchecked
        drill_filter("pairs", SimpleNamespace(address_a="1.2.3.4 or port 1", address_b="10.0.0.1",
                                              port_a=None, port_b=None, protocol=""))


def test_ports_and_stations_of_the_other_views():
    assert drill_filter("ports", SimpleNamespace(port=443, protocol="tcp")) == \
        "proto tcp and port 443"
    assert drill_filter("ports", SimpleNamespace(), 53) == "port 53"
    assert drill_filter("stations", SimpleNamespace(addresses=("10.0.0.1", "fe80::1"))) == \
        "host 10.0.0.1 or host fe80::1"
    for text in ("proto tcp and port 443", "port 53", "host 10.0.0.1 or host fe80::1"):
        assert check(text) is None
