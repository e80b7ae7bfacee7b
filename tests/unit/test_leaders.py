"""The engine's leading conversations (Engine.leading, the default view's first rows): the
conversations with the most bytes, exactly as a sort of the whole listing gives them,
through folds, expiry, kept and dropped ones (one numpy pass over the store's columns)."""

from __future__ import annotations

import random

import pytest

from tuimon.core.engine import Engine


def total_bytes(c) -> int:
    return c.ab_b + c.ba_b


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


def test_more_than_there_are_gives_all_of_them(kit):
    engine = kit.engine([kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000, 80,
                                    size=60 + i % 9) for i in range(300)])
    assert engine.leading(200) == expected(engine, 200)
    assert engine.leading(400) == expected(engine, 400)
    assert len(engine.leading(400)) == 300 and engine.leading(0) == []


def test_a_flood_of_equal_conversations_answers_exactly(kit):
    """Hundreds of conversations with the same bytes (a scan, a replayed capture): ties in
    listed order, whatever the need."""
    engine = kit.engine([kit.record(f"10.0.{i // 250}.{i % 250 + 1}", "10.9.9.9", 1000, 80,
                                    size=100 if i % 50 else 200 + i) for i in range(600)])
    for need in (3, 12, 20, 100, 599, 600):
        assert engine.leading(need) == expected(engine, need), need
