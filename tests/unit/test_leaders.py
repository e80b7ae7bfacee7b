"""The engine's leaders (core/leaders.py): the conversations with the most bytes, exactly as
a sort of the whole listing gives them, through folds, expiry, kept and dropped ones."""

from __future__ import annotations

import random

import pytest

import tuimon.core.leaders as leaders_mod
from tuimon.core.engine import Engine
from tuimon.core.leaders import Leaders, total_bytes


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch):
    """Bounds small enough that a few hundred conversations raise the floor often."""
    monkeypatch.setattr(leaders_mod, "HIGH", 40)
    monkeypatch.setattr(leaders_mod, "LOW", 8)


def listing(engine: Engine) -> list:
    return [*engine.conversations, *engine.left_conversations]


def expected(engine: Engine, need: int) -> list:
    return sorted(listing(engine), key=total_bytes, reverse=True)[:need]


def traffic(kit, rng: random.Random, ts: float, n: int) -> list:
    """``n`` packets among a few hundred conversations, sizes from a short list (many
    conversations end up with equal bytes: ties), some ICMP, some port-less fragments."""
    records = []
    for _ in range(n):
        i = rng.randrange(300)
        size = rng.choice([60, 60, 100, 1500])
        if i % 17 == 0:
            records.append(kit.record(f"10.1.0.{i % 250 + 1}", "10.9.9.9", proto=1, size=size,
                                      ts=ts))
        elif i % 29 == 0:  # a fragment without ports: not listed
            records.append(kit.record(f"10.2.0.{i % 250 + 1}", "10.9.9.9", proto=17,
                                      size=size, ts=ts))
        else:
            records.append(kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000 + i,
                                      80, size=size, ts=ts))
    return records


@pytest.mark.parametrize("keep", [True, False])
def test_leading_is_the_sorts_first_rows(kit, keep):
    """Between and after folds, as conversations expire (kept listed or not) and kept ones
    are dropped past max_flows: every answer equals the full sort's first rows, ties in
    listed order."""
    rng = random.Random(3)
    engine = Engine(flow_timeout=4, max_flows=250)
    engine.set_interface(0, "eth0", "ether")
    if keep:
        engine.keep_left()
    checked = 0
    for second in range(40):
        ts = 1000.0 + second
        engine.ingest(traffic(kit, rng, ts, rng.choice([5, 50, 400])))
        for need in (1, 7, 30, 100):  # before the fold: counted since are not folded yet
            assert engine.leading(need) == expected(engine, need), (second, need)
            checked += 1
        engine.advance(ts + 0.9)
        engine.fold()
        for need in (1, 7, 30):
            assert engine.leading(need) == expected(engine, need), (second, need)
    assert engine.expired and checked
    if keep:
        assert engine.left_conversations and engine.left_dropped


def test_removed_conversations_leave_the_leaders(kit):
    engine = kit.engine([kit.record("10.0.0.1", "10.0.0.2", 1000 + i, 80, size=100 + i)
                         for i in range(60)])
    top = engine.leading(5)
    assert top == expected(engine, 5)
    engine.remove_conversations(top[:2])
    assert engine.leading(5) == expected(engine, 5)
    assert not set(top[:2]) & set(engine.leading(60))


def test_the_floor_rises_and_the_members_stay_few(kit):
    """Past HIGH members the floor rises to the LOW-th largest; every conversation at or
    above it is still a member."""
    engine = kit.engine([kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000, 80,
                                    size=60 + i) for i in range(500)])
    lead = engine._leaders
    assert lead.floor > 0 and len(lead.members) <= leaders_mod.HIGH
    above = {c for c in engine.conversations if total_bytes(c) >= lead.floor}
    assert above <= lead.members


def test_a_query_past_the_members_starts_them_again(kit):
    engine = kit.engine([kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000, 80,
                                    size=60 + i % 9) for i in range(300)])
    assert len(engine._leaders.members) < 200
    assert engine.leading(200) == expected(engine, 200)  # a reset, from one pass
    assert engine.leading(400) == expected(engine, 400)  # more than there are: all of them


def test_ties_come_in_listed_order():
    class C:
        def __init__(self, b):
            self.ab_b, self.ba_b = b, 0

    listed = [C(v) for v in (5, 9, 5, 9, 7, 5, 1)]
    lead = Leaders()
    lead.reset(listed, 6)
    assert lead.top(4, (), lambda: iter(listed)) == \
        sorted(listed, key=total_bytes, reverse=True)[:4]
    assert lead.top(4, (), lambda: iter(listed)) == [listed[1], listed[3], listed[4], listed[0]]


def test_a_flood_of_equal_conversations_keeps_the_members_few(kit):
    """Hundreds of conversations with the same bytes (a scan, a replayed capture): the floor
    rises above them rather than keeping them all (memory), and answers stay exact."""
    engine = kit.engine([kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000, 80,
                                    size=100 if i % 50 else 200 + i) for i in range(600)])
    assert len(engine._leaders.members) <= leaders_mod.HIGH
    for need in (3, 12, 20, 100):
        assert engine.leading(need) == expected(engine, need), need


def test_ties_are_placed_once_until_one_of_them_moves():
    """The walk that orders ties is not repeated while the tied ones keep their places; one
    leaving the table (listed again at the end, among the kept) is placed anew."""
    class C:
        def __init__(self, b):
            self.ab_b, self.ba_b = b, 0

    listed = [C(v) for v in (5, 9, 5, 9, 7, 5, 1)]
    walks = []

    def walk():
        walks.append(1)
        return iter(listed)

    lead = Leaders()
    lead.reset(listed, 6)
    want = sorted(listed, key=total_bytes, reverse=True)[:4]
    assert lead.top(4, (), walk) == want and len(walks) == 1
    assert lead.top(4, (), walk) == want and len(walks) == 1  # placed before: no walk
    moved = listed.pop(1)  # the first 9 expires into the kept: listed last now
    listed.append(moved)
    lead.left([moved])
    assert lead.top(4, (), walk) == sorted(listed, key=total_bytes, reverse=True)[:4]
    assert lead.top(4, (), walk)[:2] == [listed[2], moved] and len(walks) == 2
