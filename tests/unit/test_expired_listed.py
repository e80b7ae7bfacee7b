"""Idle expiry bounds memory; it does not hide a recording's conversations: the app's
Conversations view lists those that left the table too, marked, within --max-flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuimon.config import Config
from tuimon.core.engine import Engine
from tuimon.server.protocol import Query
from tuimon.server.query import QueryRunner
from tuimon.server.service import EngineService
from tests.support.oracle import figures

DATA = Path(__file__).resolve().parents[1] / "data"

record = None


@pytest.fixture(autouse=True)
def _builders(kit):
    global record
    record = kit.record


def played(name: str, rates: bool = True, **options) -> EngineService:
    config = Config(read=str(DATA / name), speed=0.0, dissect_packets=0, **options)
    svc = EngineService(config, clock=lambda: 50.0, wallclock=lambda: 1.7e9, rates=rates)
    svc.run_all()
    return svc


def test_a_playback_lists_every_conversation_of_the_file_as_tshark():
    """1kxun.pcap: 68 in the table at the end, 129 idle past their timeout; all 197 listed,
    the 129 marked, the same figures as tshark's conversations."""
    svc = played("1kxun.pcap")
    e = svc.engine
    assert (len(e.conversations), e.expired) == (68, 129)
    page = QueryRunner(e).run(Query(view="conversations", limit=1000))
    assert page.total == page.count == 197 and page.totals.expired_listed == 129
    assert len(page.expired) == 129
    expired = {page.keys[i] for i in page.expired}
    assert expired == {(c.endpoints()) for c in e.left_conversations}
    tshark = figures(str(DATA / "1kxun.pcap"))["conversations"]
    ours = {}
    for row in page.rows:
        if row.protocol in ("tcp", "udp"):
            ours[(row.protocol, row.address_a, row.port_a, row.address_b, row.port_b)] = [
                row.packets_a_to_b, row.bytes_a_to_b, row.packets_b_to_a, row.bytes_b_to_a]
    assert ours == tshark


def test_the_expired_rows_are_found_by_the_filter_and_sorted_among_the_others():
    e = played("1kxun.pcap").engine
    runner = QueryRunner(e)
    page = runner.run(Query(view="conversations", sort="bytes", limit=1000))
    sizes = [r.bytes for r in page.rows]
    assert sizes == sorted(sizes, reverse=True)
    assert min(page.expired) < len(page.rows) - len(page.expired)  # among, not after, them
    page = runner.run(Query(view="conversations", filter="proto dhcp", limit=1000))
    assert page.total and len(page.expired) == page.total  # DHCP's went idle long ago


def test_the_max_flows_bound_holds_for_the_table_and_the_kept_together():
    e = Engine(max_flows=100, flow_timeout=10)
    e.set_interface(0, "eth0", "ether")
    e.keep_left()
    for second in range(10):
        e.ingest([record("10.0.0.1", "10.0.0.2", 1000 + 40 * second + i, 80, ts=100.0 + 20 * second)
                  for i in range(40)])
        e.fold()
        assert len(e.conversations) + len(e.left_conversations) <= 100
    assert e.expired == 9 * 40 and len(e.left_conversations) == 60
    assert e.left_dropped == e.expired - 60
    kept = list(e.left_conversations)
    assert [c.pa for c in kept] == list(range(1000 + 40 * 9 - 60, 1000 + 40 * 9))  # newest
    totals = e.totals()
    assert (totals.expired, totals.expired_listed) == (360, 60)


def test_a_headless_run_keeps_none_in_memory():
    """No view to list them: the report has them from the flow log (conversations.csv)."""
    svc = played("1kxun.pcap", rates=False)
    assert svc.engine.expired == 129 and len(svc.engine.left_conversations) == 0
