"""The hosts bound (``--max-hosts``): over it, the least recently seen hosts that no
conversation in the table refers to fold into one ``(other hosts)`` row; the sum over
hosts stays exact, a conversation's hosts stay while it is in the table, and the row
shows in queries, filters, hosts.csv, the summary and the history."""

from __future__ import annotations

import csv
import sqlite3

import pytest

from tests.conftest import record
from tuimon.cli import build_parser, config_from, main
from tuimon.config import Config
from tuimon.core.engine import Engine
from tuimon.core.names import OTHER_HOSTS, OTHER_HOSTS_TEXT, parse_address
from tuimon.server.protocol import Query
from tuimon.server.query import QueryRunner
from tuimon.sinks.csv import export_snapshot
from tuimon.sinks.history import HistoryRecorder
from tuimon.sinks.summary import render_summary

SUMS = ("packets", "bytes", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
T0 = 1_700_000_040.0


def engine(**options) -> Engine:
    e = Engine(**options)
    e.set_interface(0, "eth0", "ether")
    return e


def flood(e: Engine, n: int, start: float = T0, server: str = "192.0.2.1") -> None:
    """``n`` sources, one UDP query each to ``server`` and its answer, one a second."""
    for i in range(n):
        src = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        e.ingest([record(src, server, 5000, 53, proto=17, size=80 + i % 7, ts=start + i),
                  record(server, src, 53, 5000, proto=17, size=200, ts=start + i + 0.5)])
        e.fold()


def sums(rows) -> list[int]:
    return [sum(getattr(r, k) for r in rows) for k in SUMS]


def test_without_a_bound_every_host_stays():
    e = engine(flow_timeout=5, max_hosts=0)
    flood(e, 300)
    assert len(e.hosts) == 301 and OTHER_HOSTS not in e.hosts
    assert e.totals().hosts_folded == 0


def test_over_the_bound_totals_stay_exact_and_the_least_recent_leave():
    bounded, free = engine(flow_timeout=5, max_hosts=64), engine(flow_timeout=5, max_hosts=0)
    flood(bounded, 300)
    flood(free, 300)
    rows = bounded.host_rows()
    assert sums(rows) == sums(free.host_rows())  # nothing lost
    other = [r for r in rows if r.address == OTHER_HOSTS_TEXT]
    assert len(other) == 1
    t = bounded.totals()
    assert t.hosts == len(rows) - 1 <= 64 and t.hosts_folded == 301 - t.hosts
    assert t.hosts_folded >= 300 - 64
    # the folded ones are the oldest sources; the newest ones and the server are still rows
    kept = {r.address for r in rows}
    assert {"192.0.2.1", "10.0.1.43", "10.0.1.42"} <= kept  # sources 299 and 298
    assert "10.0.0.0" not in kept and "10.0.0.100" not in kept
    folded = [h for h in free.host_rows() if h.address not in kept]
    assert sums(other) == sums(folded)
    assert other[0].first_seen == T0 and other[0].last_seen == max(h.last_seen for h in folded)
    assert other[0].app_protocols == "dns"


def test_hosts_of_conversations_in_the_table_never_leave():
    """Conversations that never expire keep every one of their hosts, however old; a
    conversation that comes back after its hosts folded is counted on new host rows."""
    e = engine(flow_timeout=0, max_flows=0, max_hosts=4)
    flood(e, 20)
    assert OTHER_HOSTS not in e.hosts and len(e.hosts) == 21  # all referred to
    e = engine(flow_timeout=10, max_hosts=4)
    e.ingest([record("10.9.9.9", "192.0.2.1", 1, 2, proto=17, ts=T0)])  # the oldest host
    for i in range(1, 40):  # keeps its conversation alive, yet is the least recent host
        e.ingest([record("192.0.2.1", "10.9.9.9", 2, 1, proto=17, ts=T0 + i)])
        src = f"10.0.0.{i}"
        e.ingest([record(src, "192.0.2.2", 7, 53, proto=17, ts=T0 + i)])
        e.fold()
        for c in e.conversations:
            assert c.a in e.hosts and c.b in e.hosts
    assert parse_address("10.9.9.9") in e.hosts and e.hosts_folded > 20
    assert e.totals().packets == 2 * 39 + 1
    before = e.hosts[OTHER_HOSTS].packets
    e.ingest([record("10.0.0.1", "192.0.2.2", 7, 53, proto=17, size=99, ts=T0 + 100)])
    e.fold()  # its old conversation expired, its host folded: both new
    assert e.hosts[parse_address("10.0.0.1")].packets == 1
    assert sum(r.packets for r in e.host_rows()) == 2 * e.totals().packets
    assert e.hosts[OTHER_HOSTS].packets >= before


def test_the_bound_holds_under_a_flood_of_new_sources_between_folds():
    e = engine(max_flows=1000, max_hosts=500)
    for second in range(10):
        e.ingest([record(f"10.{second}.{i >> 8}.{i & 255}", "192.0.2.1", 1, 2, proto=17,
                         ts=T0 + second) for i in range(2000)])
        e.fold()
        assert len(e.hosts) <= 500 + 2 * (1000 + 1000 // 8) + 1
    assert e.totals().hosts + e.totals().hosts_folded == 20_001
    assert e.hosts[OTHER_HOSTS].tx_p + sum(
        h.tx_p for a, h in e.hosts.items() if a != OTHER_HOSTS) == 20_000
    # the ids of the hosts that folded are used again: the engine's list of hosts by id
    # stays about as long as the table, not one entry for every source ever seen
    table = e._hosts
    assert len(table.addrs) < 5_000 and table.cap <= 8192
    live = [a for a in table.addrs if a is not None]
    assert all(table.addrs[h.hid] == a and table.ids[a] == h.hid for a, h in e.hosts.items())
    assert len(live) == len(e.hosts)  # (the other-hosts row has an id too)


def test_the_row_in_queries_and_filters():
    e = engine(flow_timeout=5, max_hosts=8)
    flood(e, 40)
    runner = QueryRunner(e)
    page = runner.run(Query(view="hosts", sort="bytes", limit=100))
    assert OTHER_HOSTS_TEXT in [r.address for r in page.rows]
    assert page.keys[:2] == [parse_address("192.0.2.1"), OTHER_HOSTS]  # the sum of many
    page = runner.run(Query(view="hosts", cursor_key=OTHER_HOSTS, sort="address", limit=100))
    assert page.rows[page.cursor].address == OTHER_HOSTS_TEXT
    assert [r.address for r in runner.run(Query(view="hosts", filter="other")).rows] == \
        [OTHER_HOSTS_TEXT]
    for text in ("proto ipv4", "net 10.0.0.0/8", "proto ipv6", "port 53", "host 10.0.0.1"):
        rows = runner.run(Query(view="hosts", filter=text, limit=100)).rows
        assert OTHER_HOSTS_TEXT not in [r.address for r in rows], text
    assert runner.run(Query(view="hosts", filter="proto ipv4", limit=100)).total == len(e.hosts) - 1


def test_hosts_csv_and_summary(tmp_path):
    e = engine(flow_timeout=5, max_hosts=8)
    flood(e, 40)
    snap = e.snapshot()
    export_snapshot(snap, str(tmp_path))
    with open(tmp_path / "hosts.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    (other,) = [r for r in rows if r["address"] == OTHER_HOSTS_TEXT]
    row = e.host_rows([e.hosts[OTHER_HOSTS]])[0]
    assert [int(other[k]) for k in SUMS] == [getattr(row, k) for k in SUMS]
    assert other["first_seen"].startswith("2023-11-14T22:14:00")
    assert sum(int(r["bytes"]) for r in rows) == 2 * snap.totals.bytes
    text = render_summary(snap)
    assert f"{snap.totals.hosts} hosts ({snap.totals.hosts_folded} folded into (other hosts))" \
        in text


def test_the_option(capsys):
    parse = build_parser().parse_args
    assert config_from(parse(["-r", "x.pcap"])).max_hosts == 200_000 == Config().max_hosts
    assert config_from(parse(["-r", "x.pcap", "--max-hosts", "0"])).max_hosts == 0
    with pytest.raises(SystemExit) as exit:
        main(["-r", "x.pcap", "--max-hosts", "-1", "--no-ui"])
    assert exit.value.code == 2
    assert "--max-hosts: not a whole number" in capsys.readouterr().err


def test_the_history_keeps_what_a_folded_host_counted(tmp_path):
    """A host that folds is written under its address up to its last packet; the
    other-hosts row is never written (its traffic was, under each address)."""
    path = str(tmp_path / "h.sqlite")
    e = engine(rates=False, flow_timeout=5, max_hosts=4)
    rec = HistoryRecorder.attach(e, path)
    for i in range(30):
        src = f"10.0.0.{i}"
        rec.ingest([record(src, "192.0.2.1", 5000, 53, proto=17, size=80, ts=T0 + 2 * i)],
                   e.ingest)
        e.fold()
    rec.ingest([record("10.0.0.0", "192.0.2.1", 5000, 53, proto=17, size=80, ts=T0 + 100)],
               e.ingest)  # came back after it folded
    rec.finish()
    assert e.hosts_folded > 20
    db = sqlite3.connect(path)
    got = dict(db.execute("SELECT address, SUM(tx_packets) FROM host_minutes GROUP BY 1"))
    assert OTHER_HOSTS_TEXT not in got
    assert got == {**{f"10.0.0.{i}": 1 for i in range(1, 30)}, "10.0.0.0": 2, "192.0.2.1": 0}
