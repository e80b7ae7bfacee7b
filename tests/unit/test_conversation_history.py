"""A conversation's History (issue 15): the watch's per-second trail (tuimon.core.watch),
the average-rate spread of recorded lifetimes (tuimon.sinks.history_spread) and the
engine service's chart of both (tuimon.server.conversation_history)."""

from __future__ import annotations

import sqlite3

import pytest

from tuimon.config import Config
from tuimon.core.engine import Engine
from tuimon.core.watch import WATCH_MAX
from tuimon.server.conversation_history import conversation_job
from tuimon.server.protocol import HistoryOf
from tuimon.sinks.csv import CONVERSATION_COLUMNS
from tuimon.sinks.history_schema import migrate
from tuimon.sinks.history_spread import Span, hours_of_day, spread

record = None


@pytest.fixture(autouse=True)
def _builders(kit):
    global record
    record = kit.record


def engine() -> Engine:
    e = Engine(flow_timeout=0)
    e.set_interface(0, "eth0", "ether")
    return e


# -- spread ---------------------------------------------------------------------------

@pytest.mark.parametrize("span", [Span(30, 150, 1000, 10), Span(0, 240, 7, 3),
                                  Span(59.5, 61.25, 999_999, 1), Span(12, 12, 5, 6)])
def test_a_span_inside_the_range_keeps_every_byte(span):
    total, ab, ba = spread([span], 0, 60, 5)
    assert (sum(ab), sum(ba), sum(total)) == (span.a_to_b, span.b_to_a,
                                              span.a_to_b + span.b_to_a)
    assert total == [x + y for x, y in zip(ab, ba)]


def test_a_span_is_shared_in_proportion_to_its_overlap():
    # 120 s from 30 to 150: a quarter, a half, a quarter of it in minutes 0, 1 and 2
    assert spread([Span(30, 150, 1000, 0)], 0, 60, 4)[1] == [250, 500, 250, 0]


def test_only_the_part_inside_the_range_counts():
    # half of its lifetime before the range: half of its bytes in it
    assert spread([Span(-60, 60, 800, 0)], 0, 60, 3)[1] == [400, 0, 0]
    assert spread([Span(100, 300, 800, 0)], 0, 60, 3)[1] == [0, 80, 240]
    assert spread([Span(500, 600, 800, 0)], 0, 60, 3)[0] == [0, 0, 0]


def test_hours_of_day_average_over_the_days_with_traffic():
    day = 86400 * 100
    spans = [Span(day + 3 * 3600, day + 3 * 3600, 100, 0),
             Span(day + 86400 + 3 * 3600 + 10, day + 86400 + 3 * 3600 + 10, 300, 0)]
    profile = hours_of_day(spans, day, day + 2 * 86400)
    assert profile[3] == (3, 2, 200.0, 200.0, 0.0)
    assert all(p[1] == 0 for h, p in enumerate(profile) if h != 3)


# -- the watch ------------------------------------------------------------------------

def test_a_watched_conversation_keeps_its_seconds_each_way():
    e = engine()
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=100, ts=1000.2)])
    e.fold()
    key = e.conversations[0].endpoints()
    w = e.watches.watch(key, e.conversation(key), e.now)
    assert (w.since, w.before_ab, w.before_ba) == (1000, 100, 0)
    for t, src, dst, sp, dp, size in ((1001.5, "10.0.0.1", "10.0.0.2", 40000, 80, 60),
                                      (1001.7, "10.0.0.2", "10.0.0.1", 80, 40000, 1500),
                                      (1003.1, "10.0.0.2", "10.0.0.1", 80, 40000, 700)):
        e.ingest([record(src, dst, sp, dp, size=size, ts=t)])
        e.fold()
    total, ab, ba = e.watches.series(key, e.now, 4)  # seconds 1000..1003
    assert (total, ab, ba) == ([0, 1560, 0, 700], [0, 60, 0, 0], [0, 1500, 0, 700])


def test_a_conversation_that_comes_back_is_counted_from_its_first_packet():
    e = engine()
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=100, ts=1000.0)])
    e.fold()
    key = e.conversations[0].endpoints()
    e.watches.watch(key, e.conversation(key), e.now)
    e.remove_conversations(list(e.conversations))
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=40, ts=1002.0)])
    e.fold()
    assert e.watches.series(key, e.now, 3)[1] == [0, 0, 40]


def test_only_the_last_conversations_opened_are_watched():
    e = engine()
    keys = [(6, 1, 1000 + i, 2, 80) for i in range(WATCH_MAX + 1)]
    for k in keys:
        e.watches.watch(k, None, 1000.0)
    assert keys[0] not in e.watches and all(k in e.watches for k in keys[1:])
    e.watches.watch(keys[1], None, 1000.0)  # opened again: now the most recent
    e.watches.watch((6, 1, 5000, 2, 80), None, 1000.0)
    assert keys[1] in e.watches and keys[2] not in e.watches


# -- the chart --------------------------------------------------------------------------

def _database(path, rows) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db)
    cols = ", ".join(CONVERSATION_COLUMNS)
    marks = ", ".join("?" * len(CONVERSATION_COLUMNS))
    for r in rows:
        values = {c: None for c in CONVERSATION_COLUMNS} | r
        db.execute(f"INSERT INTO conversations ({cols}) VALUES ({marks})",
                   [values[c] for c in CONVERSATION_COLUMNS])
    db.close()


def _conv_row(a, pa, b, pb, first, last, ab, ba) -> dict:
    return {"protocol": "tcp", "address_a": a, "port_a": pa, "address_b": b, "port_b": pb,
            "bytes_a_to_b": ab, "bytes_b_to_a": ba, "packets_a_to_b": 1, "packets_b_to_a": 1,
            "first_seen": first, "last_seen": last, "state": "idle"}


def test_the_day_adds_the_recorded_lifetimes_either_way_round_to_the_live_one(tmp_path):
    e = engine()
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=100, ts=86400 * 10 + 100.0),
              record("10.0.0.2", "10.0.0.1", 80, 40000, size=900, ts=86400 * 10 + 160.0)])
    e.fold()
    key = e.conversations[0].endpoints()
    path = str(tmp_path / "h.sqlite")
    t = 86400 * 10
    _database(path, [
        _conv_row("10.0.0.1", 40000, "10.0.0.2", 80, t - 7200, t - 3600, 5000, 7000),
        _conv_row("10.0.0.2", 80, "10.0.0.1", 40000, t - 600, t - 600, 11, 22),  # reversed
        _conv_row("10.0.0.1", 40001, "10.0.0.2", 80, t - 600, t - 600, 1, 1),  # another
        _conv_row("10.0.0.1", 40000, "10.0.0.2", 80, t - 3 * 86400, t - 3 * 86400, 9, 9),
    ])
    chart = conversation_job(e, HistoryOf("conversation", key, "day"), e.now, path, "")()
    assert (chart.step, len(chart.bytes), chart.source) == (60, 1440, "history")
    assert sum(chart.in_bytes) == 100 + 5000 + 22  # A>B: 10.0.0.1:40000 to 10.0.0.2:80
    assert sum(chart.out_bytes) == 900 + 7000 + 11
    assert len(chart.profile) == 24 and sum(p[1] for p in chart.profile) >= 3


def test_the_hour_is_per_second_from_the_watch_and_averaged_before_it():
    e = engine()
    t = 50_000.0
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=600, ts=t)])
    e.ingest([record("10.0.0.1", "10.0.0.2", 40000, 80, size=600, ts=t + 59)])
    e.fold()
    key = e.conversations[0].endpoints()
    first = conversation_job(e, HistoryOf("conversation", key, "hour"), e.now, None,
                             "no history database")()
    assert first.step == 1 and sum(first.bytes) == 1200 and "average" in first.note
    e.ingest([record("10.0.0.2", "10.0.0.1", 80, 40000, size=77, ts=t + 61.5)])
    e.fold()
    chart = conversation_job(e, HistoryOf("conversation", key, "hour"), e.now, None, "")()
    assert chart.out_bytes[-1] == 77 and sum(chart.bytes) == 1277
    assert sum(chart.in_bytes[-3:]) == 0  # before the watch: its average, up to when it began
    assert chart.in_bytes[-4] == 1200 // 60 or chart.in_bytes[-4] == 1200 // 59


def test_a_bad_key_is_one_line():
    chart = conversation_job(engine(), HistoryOf("conversation", ("x",), "day"), 0.0, None,
                             "")()
    assert chart.note.startswith("not a conversation") and not chart.bytes


def test_the_service_answers_a_conversation_without_a_database(tmp_path):
    from tuimon.server.service import EngineService

    svc = EngineService(Config(read="tests/data/dns.pcap", speed=0, dissect_packets=0,
                               flow_timeout=0))
    from tuimon.server.protocol import PLAYING

    assert svc.open().state == PLAYING
    while svc.status.state == PLAYING:
        svc.pump()
    svc.drain()
    conv = max(svc.engine.conversations, key=lambda c: c.last)  # in the last month
    chart = svc.history_of(HistoryOf("conversation", conv.endpoints(), "month"))
    assert sum(chart.bytes) == conv.ab_b + conv.ba_b
