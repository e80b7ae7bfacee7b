"""Conversation expiry and the table bound: what leaves the table is never lost from the
host, protocol and interface totals."""

from __future__ import annotations

import csv

from pathlib import Path

import pytest

from tuimon.cli import main
from tuimon.core.engine import Engine
from tuimon.core.names import parse_address
from tuimon.server.query import QueryRunner
from tuimon.server.protocol import Query

DATA = Path(__file__).resolve().parents[1] / "data"
RST, FIN, SYN, ACK = 0x04, 0x01, 0x02, 0x10

record = None


@pytest.fixture(autouse=True)
def _builders(kit):
    global record
    record = kit.record


def engine(**options) -> Engine:
    e = Engine(**options)
    e.set_interface(0, "eth0", "ether")
    return e


def feed(e: Engine, *records) -> None:
    e.ingest(list(records))
    e.fold()


def tick(e: Engine, now: float) -> None:
    e.advance(now)
    e.fold()


def keys(e: Engine) -> set:
    return {(c.proto, c.pa, c.pb) for c in e.conversations}


def test_one_record_per_conversation_both_directions():
    e = engine()
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 80, size=60, flags=SYN),
         record("10.0.0.2", "10.0.0.1", 80, 40000, size=70, flags=SYN | ACK),
         record("10.0.0.1", "10.0.0.2", 40000, 80, size=80))
    assert len(e.conversations) == 1
    (row,) = e.conversation_rows()
    assert (row.address_a, row.port_a, row.packets_a_to_b, row.bytes_a_to_b,
            row.packets_b_to_a, row.bytes_b_to_a, row.tcp_flags) == (
        "10.0.0.1", 40000, 2, 140, 1, 70, "SA")
    c = e.conversation((6, parse_address("10.0.0.2"), 80, parse_address("10.0.0.1"), 40000))
    assert c is None  # B first is not how the row is named
    assert e.conversation((6, parse_address("10.0.0.1"), 40000, parse_address("10.0.0.2"), 80))


@pytest.mark.parametrize("proto,sport,dport,timeout", [(17, 5000, 53, 180), (6, 40000, 443, 300),
                                                       (1, None, None, 180)])
def test_idle_conversations_leave_after_their_timeout(proto, sport, dport, timeout):
    e = engine()
    feed(e, record("10.0.0.1", "10.0.0.2", sport, dport, proto=proto, ts=1000.0))
    tick(e, 1000.0 + timeout - 0.5)
    assert len(e.conversations) == 1 and e.expired == 0
    tick(e, 1000.0 + timeout + 1.0)
    assert len(e.conversations) == 0 and e.expired == 1
    assert e.totals().expired == 1 and e.totals().conversations == 0
    assert e.hosts[parse_address("10.0.0.1")].packets == 1  # the host keeps what it sent


def test_activity_keeps_a_conversation():
    e = engine()
    for t in range(0, 1000, 100):  # a packet every 100 s for 1000 s: never idle for 180 s
        feed(e, record("10.0.0.1", "10.0.0.2", 5000, 53, proto=17, ts=1000.0 + t))
    tick(e, 1000.0 + 900 + 179)
    assert len(e.conversations) == 1 and e.expired == 0
    (row,) = e.conversation_rows()
    assert row.packets_a_to_b == 10


@pytest.mark.parametrize("flags,gone", [
    ((RST, 0), True), ((0, RST), True), ((FIN | ACK, FIN | ACK), True), ((FIN | ACK, ACK), False)])
def test_closed_tcp_conversations_leave_sooner(flags, gone):
    e = engine()
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 443, flags=SYN, ts=1000.0),
         record("10.0.0.1", "10.0.0.2", 40000, 443, flags=flags[0] or ACK, ts=1001.0),
         record("10.0.0.2", "10.0.0.1", 443, 40000, flags=flags[1] or ACK, ts=1001.0))
    tick(e, 1012.0)
    assert (len(e.conversations) == 0) == gone
    tick(e, 1302.0)
    assert len(e.conversations) == 0


def test_flow_timeout_option_and_never():
    e = engine(flow_timeout=30)
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 443, ts=1000.0),
         record("10.0.0.1", "10.0.0.2", 5000, 53, proto=17, ts=1000.0))
    tick(e, 1029.0)
    assert len(e.conversations) == 2
    tick(e, 1031.0)
    assert len(e.conversations) == 0 and e.expired == 2
    e = engine(flow_timeout=0)
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 443, flags=RST, ts=1000.0))
    tick(e, 10_000_000.0)
    assert len(e.conversations) == 1 and e.expired == 0


def test_a_conversation_that_comes_back_is_a_new_one():
    e = engine()
    feed(e, record("10.0.0.1", "10.0.0.2", 5000, 53, proto=17, ts=1000.0))
    tick(e, 1200.0)
    feed(e, record("10.0.0.2", "10.0.0.1", 53, 5000, proto=17, size=77, ts=1201.0))
    (row,) = e.conversation_rows()
    assert (row.address_a, row.port_a, row.packets_a_to_b, row.bytes_a_to_b, row.packets_b_to_a,
            row.first_seen) == ("10.0.0.2", 53, 1, 77, 0, 1201.0)
    assert e.expired == 1


def test_max_flows_evicts_the_longest_idle():
    e = engine(max_flows=10)
    for i in range(100):
        feed(e, record("10.0.0.1", "10.0.0.2", 1000 + i, 80, ts=1000.0 + i))
    feed(e, record("10.0.0.1", "10.0.0.2", 1000, 80, ts=1100.0))  # the oldest, active again
    assert len(e.conversations) <= 10
    assert e.expired + len(e.conversations) == 101
    ports = sorted(c.pa for c in e.conversations)
    assert ports[-1] == 1099 and ports[-2] == 1098  # the newest stay
    assert e.totals().packets == 101
    assert e.hosts[parse_address("10.0.0.1")].tx_p == 101
    assert 1000 in ports  # came back: a new conversation, the newest


def test_the_bound_holds_between_folds_too():
    e = engine(max_flows=1000)
    e.ingest([record("10.0.0.1", "10.0.0.2", 1000 + i, 80, ts=1000.0) for i in range(5000)])
    assert len(e.conversations) <= 1000 + 1000 // 8
    e.fold()
    assert len(e.conversations) <= 1000


def test_a_query_for_an_expired_cursor_row_does_not_follow_it():
    e = engine()
    feed(e, record("10.0.0.1", "10.0.0.2", 5000, 53, proto=17, ts=1000.0),
         record("10.0.0.3", "10.0.0.2", 5001, 53, proto=17, ts=1100.0))
    runner = QueryRunner(e)
    page = runner.run(Query(view="conversations", sort="first_seen", descending=False))
    gone = page.keys[0]
    tick(e, 1200.0)
    page = runner.run(Query(view="conversations", cursor_key=gone))
    assert page.total == 1 and page.cursor == 0 and page.keys[0] != gone


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text()


@pytest.mark.parametrize("name", ["1kxun.pcap", "dns_fragmented.pcap", "quic.pcap",
                                  "synscan.pcap", "gre.pcapng", "mining.pcapng"])
def test_expiry_and_the_bound_keep_the_totals_exact(name, tmp_path):
    """Hosts, protocols and interfaces are those of a run that keeps every conversation."""
    runs = {"unbounded": ["--flow-timeout", "0", "--max-flows", "0"], "default": [],
            "tight": ["--flow-timeout", "1", "--max-flows", "2"]}
    for run, options in runs.items():
        assert main(["-r", str(DATA / name), "--no-ui", "--csv", str(tmp_path / run), *options]) == 0
    for file in ("hosts.csv", "protocols.csv", "interfaces.csv"):
        expected = read(tmp_path / "unbounded", file)
        assert read(tmp_path / "default", file) == expected, file
        assert read(tmp_path / "tight", file) == expected, file
    # conversations.csv: what is still in the table, then every conversation that left it
    # (a flow exporter's records), so the report loses none of them either.
    unbounded = conversations(tmp_path / "unbounded")
    for run in ("default", "tight"):
        rows = conversations(tmp_path / run)
        assert traffic(rows) == traffic(unbounded), run
        assert len(rows) >= len(unbounded), run  # a conversation idle too long comes back as a new one
    tight = conversations(tmp_path / "tight")
    assert sum(r["state"] == "active" for r in tight) <= 2
    assert all(r["state"] == "active" for r in unbounded)
    if len(unbounded) > 2:
        assert sum(r["state"] == "expired" for r in tight) >= len(unbounded) - 2


def conversations(folder: Path) -> list[dict]:
    with open(folder / "conversations.csv", newline="") as f:
        return list(csv.DictReader(f))


def traffic(rows: list[dict]) -> tuple:
    """Packets and bytes of every protocol and address pair, both directions added up."""
    total: dict[tuple, list] = {}
    for r in rows:
        key = (r["protocol"], *sorted((r["address_a"], r["address_b"])))
        entry = total.setdefault(key, [0, 0])
        entry[0] += int(r["packets_a_to_b"]) + int(r["packets_b_to_a"])
        entry[1] += int(r["bytes_a_to_b"]) + int(r["bytes_b_to_a"])
    return sorted((k, tuple(v)) for k, v in total.items())


def test_the_summary_says_how_many_conversations_left(capsys):
    assert main(["-r", str(DATA / "1kxun.pcap"), "--no-ui", "--max-flows", "5"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "5 conversations (" in first and " expired)" in first


@pytest.mark.parametrize("bad", [["--flow-timeout", "x"], ["--flow-timeout", "-1"],
                                 ["--max-flows", "-3"], ["--max-flows", "1.5"]])
def test_bad_options_are_one_line(bad, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["-r", str(DATA / "1kxun.pcap"), "--no-ui", *bad])
    assert exit.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_conversation_rate_history_over_several_seconds():
    """The compact history (a bare second, then entries) gives iftop's windows exactly."""
    e = engine()
    for ts, size in ((1000.2, 100), (1000.7, 50)):
        feed(e, record("10.0.0.1", "10.0.0.2", 40000, 443, size=size, ts=ts))
    (row,) = e.conversation_rows()
    assert (row.rate_2s, row.rate_10s, row.rate_40s) == (75.0, 15.0, 150 / 40)
    for ts, size in ((1001.5, 30), (1005.0, 20)):
        feed(e, record("10.0.0.2", "10.0.0.1", 443, 40000, size=size, ts=ts))
    (row,) = e.conversation_rows()
    host = [h for h in e.host_rows() if h.address == "10.0.0.1"][0]
    assert (row.rate_2s, row.rate_10s, row.rate_40s) == (10.0, 20.0, 200 / 40)
    assert (host.rate_2s, host.rate_10s, host.rate_40s) == (10.0, 20.0, 200 / 40)
    runner = QueryRunner(e)
    page = runner.run(Query(view="conversations", sort="rate_10s"))
    assert page.rows[0].rate_10s == 20.0
    tick(e, 1045.0)
    (row,) = e.conversation_rows()
    assert (row.rate_2s, row.rate_10s, row.rate_40s) == (0.0, 0.0, 0.0)


def test_saved_reports_list_the_conversations_that_left(tmp_path):
    """A save (the app's `s`, the headless end) lists the table's conversations, then the
    expired ones with their final figures; the spool's bound is counted, never silent."""
    from tuimon.sinks.csv import export_snapshot
    from tuimon.sinks.flowlog import FlowLog

    e = engine(flow_timeout=10)
    log = FlowLog.attach(e)
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 53, proto=17, size=100, ts=1000.0),
         record("10.0.0.2", "10.0.0.1", 53, 40000, proto=17, size=200, ts=1000.5))
    tick(e, 1030.0)  # idle for 30 s: it leaves the table
    feed(e, record("10.0.0.3", "10.0.0.4", 40001, 53, proto=17, size=300, ts=1031.0))
    assert len(e.conversations) == 1 and log.rows == 1
    export_snapshot(e.snapshot(), str(tmp_path), log)
    rows = conversations(tmp_path)
    assert [(r["address_a"], r["packets_a_to_b"], r["bytes_a_to_b"], r["packets_b_to_a"],
             r["bytes_b_to_a"], r["state"]) for r in rows] == [
        ("10.0.0.3", "1", "300", "0", "0", "active"),
        ("10.0.0.1", "1", "100", "1", "200", "expired")]
    export_snapshot(e.snapshot(), str(tmp_path), log)  # saving again lists it once
    assert len(conversations(tmp_path)) == 2

    full = FlowLog.attach(engine(flow_timeout=10), limit=0, hold=0)
    feed(full.engine, record("10.0.0.1", "10.0.0.2", 40000, 53, proto=17, ts=1000.0))
    tick(full.engine, 1030.0)
    assert (full.rows, full.lost) == (0, 1)


def test_a_verdict_after_the_conversation_left_is_in_the_report(tmp_path):
    """Wireshark's verdict may come after the conversation expired: the report has it."""
    from tuimon.sinks.csv import export_snapshot
    from tuimon.sinks.flowlog import FlowLog

    e = engine(flow_timeout=10)
    log = FlowLog.attach(e)
    feed(e, record("10.0.0.1", "10.0.0.2", 40000, 5353, proto=17, size=100, ts=1000.0))
    tick(e, 1030.0)
    [gone] = log._held
    e.label(gone, "mdns", "dissector")  # as the labeler does when tshark answers late
    export_snapshot(e.snapshot(), str(tmp_path), log)
    [row] = conversations(tmp_path)
    assert (row["app_protocol"], row["app_source"], row["state"]) == ("mdns", "dissector", "expired")


def test_the_apps_save_lists_expired_conversations_too(tmp_path):
    from tests.support.worker import args_for
    from tuimon.server.protocol import Save
    from tuimon.server.service import EngineService

    path = str(DATA / "1kxun.pcap")
    svc = EngineService(args_for(path, flow_timeout=None, max_flows=5),
                        clock=lambda: 50.0, wallclock=lambda: 1700000000.0)
    svc.run_all()
    saved = svc.save(Save(str(tmp_path / "bounded")))
    svc.close()
    assert saved.error is None and svc.engine.expired > 0
    rows = conversations(tmp_path / "bounded")
    assert sum(r["state"] == "active" for r in rows) == len(svc.engine.conversations) <= 5
    assert sum(r["state"] == "expired" for r in rows) == svc.engine.expired
    assert main(["-r", path, "--no-ui", "--csv", str(tmp_path / "all"), "--flow-timeout", "0",
                 "--max-flows", "0"]) == 0
    assert traffic(rows) == traffic(conversations(tmp_path / "all"))
