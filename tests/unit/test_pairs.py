"""Host pairs (core/pairs.py): folded from the conversations that changed, both directions
apart, rates each way, the peak 2 s rate, by addresses or with ports, the query's view."""

from __future__ import annotations

import pytest

from tuimon.core.engine import Engine
from tuimon.server.protocol import COLUMNS, Query
from tuimon.server.query import QueryRunner

record = None


@pytest.fixture(autouse=True)
def _builders(kit):
    global record
    record = kit.record


def engine_with_pairs(ports: bool = False, **kw) -> Engine:
    engine = Engine(**kw)
    engine.set_interface(0, "eth0", "ether")
    engine.pairs(ports)
    return engine


def test_both_directions_apart_and_conversations_of_either_side_add_up():
    engine = engine_with_pairs()
    engine.ingest([
        record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=10.0),  # 10.0.0.1 starts the pair
        record("10.0.0.2", "10.0.0.1", 80, 1000, size=1000, ts=10.1),
        record("10.0.0.2", "10.0.0.1", 53, 53, proto=17, size=60, ts=10.2),  # started by B
        record("10.0.0.1", "10.0.0.2", 53, 53, proto=17, size=70, ts=10.3),
        record("10.0.0.1", "10.0.0.3", None, None, proto=1, size=84, ts=10.4),  # another pair
    ])
    engine.fold()
    rows = {(r.address_a, r.address_b): r for r in engine.pair_rows()}
    assert set(rows) == {("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.3")}
    r = rows["10.0.0.1", "10.0.0.2"]
    assert (r.packets_a_to_b, r.bytes_a_to_b, r.packets_b_to_a, r.bytes_b_to_a) == (2, 170, 2, 1060)
    assert r.conversations == 2 and r.protocol == "" and r.port_a is None
    assert (r.first_seen, r.last_seen) == (10.0, 10.3)
    other = rows["10.0.0.1", "10.0.0.3"]
    assert (other.bytes_a_to_b, other.bytes_b_to_a, other.conversations) == (84, 0, 1)
    # the sums over pairs are the sums over conversations
    assert sum(p.bytes for p in engine.pair_rows()) == sum(c.bytes for c in engine.conversations)


def test_with_ports_a_row_per_protocol_and_ports():
    engine = engine_with_pairs(ports=True)
    engine.ingest([
        record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=10.0),
        record("10.0.0.2", "10.0.0.1", 80, 1000, size=1000, ts=10.1),
        record("10.0.0.2", "10.0.0.1", 53, 53, proto=17, size=60, ts=10.2),
    ])
    engine.fold()
    rows = sorted(engine.pair_rows(ports=True), key=lambda r: r.protocol)
    assert [(r.protocol, r.address_a, r.port_a, r.address_b, r.port_b) for r in rows] == [
        ("tcp", "10.0.0.1", 1000, "10.0.0.2", 80), ("udp", "10.0.0.2", 53, "10.0.0.1", 53)]
    assert (rows[0].bytes_a_to_b, rows[0].bytes_b_to_a) == (100, 1000)


def test_a_is_the_sender_of_the_first_packet_even_when_folded_in_another_order():
    engine = engine_with_pairs()
    # both conversations come in one fold; the later-started one is the first of the batch's
    # conversations in key order (port 1 < port 2000), but the pair's A sent the first packet
    engine.ingest([
        record("10.0.0.9", "10.0.0.1", 2000, 2, size=10, ts=5.0),
        record("10.0.0.1", "10.0.0.9", 1, 2001, size=20, ts=5.5),
    ])
    engine.fold()
    (row,) = engine.pair_rows()
    assert (row.address_a, row.bytes_a_to_b, row.bytes_b_to_a) == ("10.0.0.9", 10, 20)


def test_rates_each_way_and_the_peak_is_the_highest_2s_rate_seen():
    engine = engine_with_pairs()
    # second 100: A sends 4000 bytes, B 1000; second 101: A 2000; then quiet until 130
    plan = {100: (4000, 1000), 101: (2000, 0), 130: (200, 0)}
    for sec, (ab, ba) in plan.items():
        engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=ab, ts=sec + 0.5)] +
                      ([record("10.0.0.2", "10.0.0.1", 80, 1000, size=ba, ts=sec + 0.6)]
                       if ba else []))
        engine.fold()
        if sec == 101:
            (row,) = engine.pair_rows()
            assert row.rate_a_to_b_2s == 3000.0  # (4000 + 2000) / 2
            assert row.rate_b_to_a_2s == 500.0
            assert row.rate_a_to_b_10s == 600.0 and row.rate_a_to_b_40s == 150.0
    (row,) = engine.pair_rows()
    assert row.rate_a_to_b_2s == 100.0  # only second 130 in the last 2 s
    assert row.peak_a_to_b == 3000.0 and row.peak_b_to_a == 500.0
    assert row.rate_2s == row.rate_a_to_b_2s + row.rate_b_to_a_2s


def test_made_late_it_starts_from_the_conversations_in_the_table():
    engine = Engine()
    engine.set_interface(0, "eth0", "ether")
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=10.0),
                   record("10.0.0.2", "10.0.0.1", 80, 1000, size=300, ts=10.1)])
    engine.fold()
    table = engine.pairs()
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=50, ts=11.0)])
    engine.fold()
    (row,) = engine.pair_rows()
    assert (row.bytes_a_to_b, row.bytes_b_to_a, row.conversations) == (150, 300, 1)
    assert len(table) == 1


def test_a_pair_idle_past_the_timeout_leaves_and_headless_keeps_no_rates():
    engine = engine_with_pairs(flow_timeout=20, rates=False)
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=10.0)])
    engine.fold()
    (row,) = engine.pair_rows()
    assert row.peak_a_to_b is None and row.rate_a_to_b_2s == 0.0  # no rates kept: unknown
    for sec in range(11, 60):  # another pair keeps the clock going
        engine.ingest([record("10.0.0.5", "10.0.0.6", 1000, 80, size=10, ts=float(sec))])
        engine.fold()
    assert [(r.address_a, r.address_b) for r in engine.pair_rows()] == [("10.0.0.5", "10.0.0.6")]


def test_the_view_sorts_by_every_column_filters_and_follows_ports():
    engine = engine_with_pairs()
    engine.ingest([
        record("10.0.0.1", "10.0.0.2", 1000, 443, size=500, ts=10.0),
        record("10.0.0.3", "10.0.0.2", 1001, 53, proto=17, size=80, ts=10.0),
        record("2001:db8::1", "2001:db8::2", 1002, 80, size=90, ts=10.0),
    ])
    engine.fold()  # (the service folds before each query)
    runner = QueryRunner(engine)
    for ports in (False, True):
        for column in COLUMNS["pairs"]:
            for descending in (True, False):
                page = runner.run(Query(view="pairs", sort=column, descending=descending,
                                        ports=ports, limit=10))
                assert page.total == 3 and len(page.rows) == 3, (column, ports)
    page = runner.run(Query(view="pairs", limit=10))
    assert [r.bytes for r in page.rows] == [500, 90, 80]
    assert page.keys[0][1:] == (engine.conversations[0].a, None, engine.conversations[0].b, None)
    assert [r.address_a for r in runner.run(Query(view="pairs", filter="port 53")).rows] == \
        ["10.0.0.3"]
    assert [r.address_a for r in runner.run(Query(view="pairs", filter="proto https")).rows] == \
        ["10.0.0.1"]
    assert [r.address_b for r in runner.run(Query(view="pairs", filter="host 10.0.0.2 and "
                                                  "not proto udp")).rows] == ["10.0.0.2"]
    assert [r.address_a for r in runner.run(Query(view="pairs", filter="proto ipv6")).rows] == \
        ["2001:db8::1"]
    ported = runner.run(Query(view="pairs", filter="port 443", ports=True, limit=10))
    assert [(r.protocol, r.port_b) for r in ported.rows] == [("tcp", 443)]


def test_made_late_its_rates_are_not_known_until_each_window_has_passed():
    engine = Engine()
    engine.set_interface(0, "eth0", "ether")
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=10.0)])
    engine.fold()
    engine.pairs(ports=True)  # p pressed at 10.0: what came before has no rates each way
    (row,) = engine.pair_rows(ports=True)
    assert (row.rate_a_to_b_2s, row.rate_b_to_a_40s, row.rate_2s) == (None, None, None)
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000, 80, size=300, ts=13.0)])
    engine.fold()
    (row,) = engine.pair_rows(ports=True)
    assert row.rate_a_to_b_2s == 150.0 and row.rate_a_to_b_10s is None
    assert row.bytes_a_to_b == 400 and row.peak_a_to_b == 150.0
    engine.advance(50.0)
    (row,) = engine.pair_rows(ports=True)
    assert row.rate_a_to_b_40s == 300 / 40  # 40 s after p: every window is known


def test_a_flip_within_a_fold_keeps_the_rates_each_way():
    engine = engine_with_pairs()
    # key order puts the later conversation first in the fold; the earlier one, the other
    # way round, then makes its sender A: the bytes summed before the flip turn round too
    engine.ingest([
        record("10.0.0.9", "10.0.0.1", 2000, 2, size=1000, ts=5.5),
        record("10.0.0.1", "10.0.0.9", 1, 2001, size=10, ts=5.0),
    ])
    engine.fold()
    (row,) = engine.pair_rows()
    assert (row.address_a, row.bytes_a_to_b, row.bytes_b_to_a) == ("10.0.0.1", 10, 1000)
    assert (row.rate_a_to_b_2s, row.rate_b_to_a_2s) == (5.0, 500.0)
    assert (row.peak_a_to_b, row.peak_b_to_a) == (5.0, 500.0)


def _reference_add(pairs: dict, changes, rates: bool, before: dict) -> None:
    """The pairs by addresses one change at a time (what PairTable did before it added the
    changes up per pair): the reference for the test below."""
    from tuimon.core.pairs import Pair

    for ckey, fwd, first, last, new, dap, dab, dbp, dbb in zip(
            changes.keys, changes.fwd, changes.first, changes.last, changes.new,
            changes.dap, changes.dab, changes.dbp, changes.dbb):
        key = (ckey[1], ckey[2])
        p = pairs.get(key)
        if p is None:
            p = pairs[key] = Pair(key, fwd or ckey[1] == ckey[2], first)
            if rates:
                before[p] = [0, 0]
        elif rates and p not in before:
            before[p] = [p.ab_b, p.ba_b]
        if new:
            p.convs += 1
        if first < p.first:
            p.first = first
            if fwd != p.fwd and ckey[1] != ckey[2]:  # (to itself: all A to B, never round)
                p.flip()
                if rates:
                    before[p].reverse()
        if ckey[1] == ckey[2]:
            p.ab_p += dap + dbp
            p.ab_b += dab + dbb
        elif fwd == p.fwd:
            p.ab_p, p.ab_b, p.ba_p, p.ba_b = p.ab_p + dap, p.ab_b + dab, p.ba_p + dbp, \
                p.ba_b + dbb
        else:
            p.ab_p, p.ab_b, p.ba_p, p.ba_b = p.ab_p + dbp, p.ab_b + dbb, p.ba_p + dap, \
                p.ba_b + dab
        if last > p.last:
            p.last = last


def test_pairs_added_up_per_pair_are_those_of_one_change_at_a_time(monkeypatch):
    """The Pairs view by addresses adds a fold's changes up per pair in numpy: the same pairs
    (order, direction, counts, conversations, times, rate histories, peaks) as one change at
    a time, through folds where earlier conversations of a pair come the other way round,
    hosts talking to themselves, ties in time and conversations that come back."""
    import random

    from tuimon.core import pairs as pairs_mod

    rng = random.Random(5)
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1", "2001:db8::2"]
    per_change = engine_with_pairs(rates=True, flow_timeout=3)
    table = per_change.pairs()
    real = pairs_mod.PairTable._add

    flips = []
    real_flip = pairs_mod.Pair.flip

    def flip(self):
        flips.append(self.key)
        real_flip(self)

    monkeypatch.setattr(pairs_mod.Pair, "flip", flip)

    def one_at_a_time(self, changes, rates):
        before: dict = {}
        _reference_add(self.pairs, changes, rates, before)
        return before

    aggregated = engine_with_pairs(rates=True, flow_timeout=3)
    for second in range(12):
        batch = []
        for _ in range(rng.randrange(1, 60)):
            a, b = rng.choice(hosts), rng.choice(hosts)
            if (":" in a) != (":" in b):
                b = a
            # (some out of order: a pair's earlier conversation may come in a later fold)
            ts = 1000.0 + second + rng.choice([0.0, 0.0, 0.25, 0.5, -1.5, -4.0])
            proto = rng.choice([6, 17, 1])
            ports = (None, None) if proto == 1 else (rng.choice([1000, 2000]), 80)
            batch.append(record(a, b, *ports, proto=proto, size=rng.randrange(60, 1500), ts=ts))
        for engine, add in ((aggregated, real), (per_change, one_at_a_time)):
            monkeypatch.setattr(pairs_mod.PairTable, "_add", add)
            engine.ingest(batch)
            engine.advance(1000.9 + second)
            engine.fold()
    monkeypatch.setattr(pairs_mod.PairTable, "_add", real)

    def state(engine):
        return [(k, p.fwd, p.ab_p, p.ab_b, p.ba_p, p.ba_b, p.convs, p.first, p.last,
                 repr(p.hist_ab), repr(p.hist_ba), p.peak_ab, p.peak_ba)
                for k, p in engine.pairs().pairs.items()]

    assert state(aggregated) == state(per_change)
    assert table is per_change.pairs() and len(state(per_change)) > 5
    assert any(p.key[0] == p.key[1] for p in table.pairs.values())  # a host to itself
    assert flips, "no pair turned round: the test would not see it done wrong"
