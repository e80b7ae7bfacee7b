"""Queries: sorting, the visible window, following the cursor row, freezing, cost."""

from __future__ import annotations

import pytest

from tuimon.core.engine import Engine
from tuimon.server.query import COLUMNS, QueryRunner, window
from tuimon.server.protocol import VIEWS, Query, default_descending


record = build_engine = None  # set by the autouse fixture below


@pytest.fixture(autouse=True)
def _builders(kit):
    global record, build_engine
    record, build_engine = kit.record, kit.engine


def conv_engine(n: int, base_ts: float = 1000.0) -> Engine:
    """n TCP conversations 10.0.x.y:1000+i -> 192.0.2.1:80; conversation i has i+1 packets."""
    records = []
    for i in range(n):
        src = f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        for _ in range(i % 7 + 1):
            records.append(record(src, "192.0.2.1", 1000 + i, 80, size=100 + i, ts=base_ts))
    return build_engine(records)


def endpoints(page) -> list[str]:
    return [r.address_a for r in page.rows]


def test_default_sort_is_bytes_descending(small_engine):
    runner = QueryRunner(small_engine)
    for view in VIEWS:
        page = runner.run(Query(view=view, limit=10))
        if view == "protocols":  # a tree: largest first among the rows of one parent
            siblings: dict = {}
            for r in page.rows:
                siblings.setdefault(r.path.rpartition("/")[0], []).append(r.bytes)
            assert len(siblings) > 2
            for sizes in siblings.values():
                assert sizes == sorted(sizes, reverse=True), view
        else:
            sizes = [r.bytes for r in page.rows]
            assert sizes == sorted(sizes, reverse=True), view
        assert page.sort == "bytes" and page.descending
        assert page.totals.packets == 6


@pytest.mark.parametrize("view", VIEWS)
def test_every_column_sorts_both_ways(small_engine, view):
    runner = QueryRunner(small_engine)
    for column in COLUMNS[view]:
        for descending in (True, False):
            page = runner.run(Query(view=view, sort=column, descending=descending, limit=50))
            assert page.sort == column
            assert page.total == len(page.rows)


def test_sort_ascending_by_address_and_by_rate(small_engine):
    runner = QueryRunner(small_engine)
    page = runner.run(Query(view="hosts", sort="address", descending=False, limit=10))
    assert [r.address for r in page.rows] == [
        "10.0.0.1", "10.0.0.2", "10.0.0.53", "93.184.216.34", "2001:db8::1", "2001:db8::2"]
    page = runner.run(Query(view="conversations", sort="rate_40s", limit=10))
    rates = [r.rate_40s for r in page.rows]
    assert rates == sorted(rates, reverse=True) and rates[0] > 0


def test_text_columns_sort_a_to_z_first():
    assert default_descending("bytes") and default_descending("rate_2s")
    assert not default_descending("address") and not default_descending("service")


def test_unknown_sort_column_falls_back_to_bytes(small_engine):
    page = QueryRunner(small_engine).run(Query(view="protocols", sort="address"))
    assert page.sort == "bytes"


def test_window_materialises_only_visible_rows(monkeypatch):
    engine = conv_engine(1000)
    built = []
    real = engine.conversation_rows
    monkeypatch.setattr(engine, "conversation_rows", lambda convs=None: built.append(len(convs))
                        or real(convs))
    page = QueryRunner(engine).run(Query(view="conversations", offset=100, limit=20, margin=5,
                                        cursor=110))
    assert built == [30]
    assert page.total == 1000 and page.count == 1000
    assert page.offset == 100 and page.start == 95 and len(page.rows) == 30
    assert len(page.keys) == 30


def test_window_is_clamped_at_the_end():
    engine = conv_engine(50)
    page = QueryRunner(engine).run(Query(view="conversations", offset=45, limit=20, cursor=48))
    assert page.offset == 30 and page.cursor == 48
    assert len(page.rows) == 20


def test_cursor_follows_its_row_when_rows_move():
    engine = build_engine([record("10.0.0.1", "192.0.2.1", 1, 80, size=500),
                           record("10.0.0.2", "192.0.2.1", 2, 80, size=400),
                           record("10.0.0.3", "192.0.2.1", 3, 80, size=300),
                           record("10.0.0.4", "192.0.2.1", 4, 80, size=200)])
    runner = QueryRunner(engine)
    page = runner.run(Query(view="conversations", limit=2, cursor=2), version=1)
    key = page.keys[page.cursor - page.start]
    assert page.rows[page.cursor - page.start].address_a == "10.0.0.3"
    # 10.0.0.3 becomes the top talker: the cursor goes with it.
    engine.ingest([record("10.0.0.3", "192.0.2.1", 3, 80, size=5000, ts=1001.0)])
    engine.fold()
    page = runner.run(Query(view="conversations", limit=2, offset=1, cursor=2, cursor_key=key),
                      version=2)
    assert page.cursor == 0 and page.cursor_key == key
    assert page.offset == 0
    assert page.rows[page.cursor - page.start].address_a == "10.0.0.3"
    # Without a key the cursor keeps its index (the top row stays on top).
    page = runner.run(Query(view="conversations", limit=2, cursor=2), version=2)
    assert page.cursor == 2 and page.rows[2 - page.start].address_a == "10.0.0.2"


def test_cursor_row_filtered_out_keeps_the_index():
    engine = conv_engine(10)
    runner = QueryRunner(engine)
    first = runner.run(Query(view="conversations", limit=5))
    key = first.keys[0]
    page = runner.run(Query(view="conversations", limit=5, cursor=3, cursor_key=key,
                            filter="not host " + first.rows[0].address_a))
    assert page.cursor == 3 and page.cursor_key != key


def test_window_function_keeps_cursor_visible():
    q = Query(offset=10, limit=5, cursor=12)
    assert window(100, q, None) == (10, 12)
    assert window(100, q, 40) == (38, 40)  # moved 28 down: the window moves with it
    assert window(100, q, 0) == (0, 0)
    assert window(0, q, None) == (0, 0)
    assert window(3, q, None) == (0, 2)


def test_freeze_keeps_the_order_and_appends_new_rows():
    engine = build_engine([record("10.0.0.1", "192.0.2.1", 1, 80, size=500),
                           record("10.0.0.2", "192.0.2.1", 2, 80, size=400)])
    runner = QueryRunner(engine)
    assert endpoints(runner.run(Query(view="conversations", freeze=True), 1)) == [
        "10.0.0.1", "10.0.0.2"]
    engine.ingest([record("10.0.0.2", "192.0.2.1", 2, 80, size=9000, ts=1001.0),
                   record("10.0.0.3", "192.0.2.1", 3, 80, size=9999, ts=1001.0)])
    engine.fold()
    frozen = runner.run(Query(view="conversations", freeze=True), 2)
    assert endpoints(frozen) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"] and frozen.frozen
    assert endpoints(runner.run(Query(view="conversations"), 2)) == [
        "10.0.0.3", "10.0.0.2", "10.0.0.1"]


def test_filter_counts_and_errors(small_engine):
    runner = QueryRunner(small_engine)
    page = runner.run(Query(view="hosts", filter="net 10.0.0.0/8"))
    assert (page.total, page.count, page.error) == (3, 6, None)
    page = runner.run(Query(view="hosts", filter="port"))
    assert page.error == "'port' needs a port number or service name"
    assert page.total == 6 and page.filter == ""


def test_cache_is_refreshed_when_the_engine_changes():
    engine = conv_engine(3)
    runner = QueryRunner(engine)
    assert runner.run(Query(view="conversations"), version=1).total == 3
    engine.ingest([record("10.9.9.9", "192.0.2.1", 9, 80)])
    engine.fold()
    assert runner.run(Query(view="conversations"), version=1).total == 3  # same version: cached
    assert runner.run(Query(view="conversations"), version=2).total == 4


def test_a_large_table_builds_only_its_window_and_sorts_once_per_change(monkeypatch):
    """With 30,000 conversations: rows are built for the window only, the default view's
    window comes from the engine's leading conversations, another column's from the engine's
    order over its columns (numpy; the first rows, or all of it for a deep scroll), a
    filtered one near the top from the partial order, a deep scroll sorts it whole once, and
    scrolling on within the same engine version reads the cached order (no new pass over
    the table). Speed itself is make bench's (bench/ui.py), not a timed assertion here."""
    import tuimon.server.query as query

    engine = conv_engine(30_000)
    assert len(engine.conversations) == 30_000
    runner = QueryRunner(engine)
    built, passes = [], []
    real_rows, real_items = engine.conversation_rows, runner.items
    monkeypatch.setattr(engine, "conversation_rows", lambda convs=None: built.append(len(convs))
                        or real_rows(convs))
    monkeypatch.setattr(runner, "items", lambda view: passes.append(view) or real_items(view))
    picked = []
    real_pick = query.heapq.nlargest
    monkeypatch.setattr(query.heapq, "nlargest", lambda n, it, key: picked.append(n)
                        or real_pick(n, it, key=key))
    orders, objects = [], []
    real_order, real_at = engine.order_by, engine.listed_at
    monkeypatch.setattr(engine, "order_by", lambda column, descending, need=None, listed=None:
                        orders.append((column, need)) or real_order(column, descending, need,
                                                                     listed))
    monkeypatch.setattr(engine, "listed_at", lambda slots: objects.append(len(slots))
                        or real_at(slots))
    leaders = runner.run(Query(view="conversations", limit=40, margin=40), version=1)
    assert passes == [] and picked == [] and orders == []  # the engine's leading()
    runner.run(Query(view="conversations", sort="packets", limit=40, margin=40), version=1)
    # sorted over the engine's columns: the first 160 of the order, no pass over objects
    assert orders == [("packets", 160)] and picked == [] and passes == []
    runner.run(Query(view="conversations", sort="packets", offset=15_000, cursor=15_000,
                     limit=40, margin=40), version=1)  # a scroll beyond them: all of it
    assert orders[-1] == ("packets", None) and passes == []
    assert [r.bytes for r in leaders.rows] == sorted(
        (c.bytes for c in engine.conversations), reverse=True)[:80]
    key = leaders.keys[5]
    # filtered over the columns, sorted by a column numpy does not sort (NAT): the ones kept themselves, the
    # first rows partly sorted (heapq)
    runner.run(Query(view="conversations", sort="nat", filter="port 80 and not port 1005",
                     limit=40, margin=40, cursor=5, cursor_key=key), version=2)
    kept = objects[0]  # (and all of them again when the cursor's row is beyond the first)
    assert passes == [] and picked == [160] and 0 < kept < 30_000 and len(objects) <= 2
    runner.run(Query(view="conversations", sort="nat", filter="port 80 and not port 1005",
                     offset=15_000, cursor=15_000, limit=40, margin=40), version=2)  # a scroll
    sorted_whole = len(objects)  # beyond the partial order: all of them, sorted once
    runner.run(Query(view="conversations", sort="nat", filter="port 80 and not port 1005",
                     offset=15_040, cursor=15_040, limit=40, margin=40), version=2)
    assert len(objects) == sorted_whole and passes == []  # the full order is cached
    assert len(built) == 6 and max(built) <= 120  # rows for the window only, each time


@pytest.mark.parametrize("view", ["hosts", "conversations"])
def test_partial_order_gives_the_full_sorts_pages(monkeypatch, view):
    """A large view's window near the top comes from a partial sort (heapq): every page,
    for every column both ways, with filters, scrolling and a followed cursor, is the one
    the full sort gives (ties included)."""
    import random

    import tuimon.server.query as query

    engine = conv_engine(2000)
    rng = random.Random(7)
    monkeypatch.setattr(query, "PARTIAL_MIN", 100)
    partial = QueryRunner(engine)
    asked = []
    real = partial.ordered
    monkeypatch.setattr(partial, "ordered", lambda q, version, need=None:
                        asked.append(need) or real(q, version, need))
    full = QueryRunner(engine)
    monkeypatch.setattr(full, "ordered", lambda q, version, need=None:
                        QueryRunner.ordered(full, q, version, None))
    keys = [None] + [k for k in QueryRunner(engine).run(
        Query(view=view, limit=2000)).keys[::97]]
    for column in COLUMNS[view]:
        for descending in (True, False):
            for _ in range(3):
                q = Query(view=view, sort=column, descending=descending,
                          filter=rng.choice(["", "port 80", "not port 1005", "host 10.0.0.9"]),
                          offset=rng.choice([0, 0, 3, 40, 1500]), limit=rng.choice([5, 30]),
                          margin=rng.choice([0, 10]), cursor=rng.choice([0, 4, 45]),
                          cursor_key=rng.choice(keys))
                a, b = partial.run(q), full.run(q)
                assert (a.rows, a.keys, a.offset, a.start, a.cursor, a.total, a.count) == \
                    (b.rows, b.keys, b.offset, b.start, b.cursor, b.total, b.count), (column, q)
    assert any(n is not None for n in asked)  # the partial path ran


def test_the_columns_order_is_the_objects_sort(kit):
    """Engine.order_by (numpy over the store's columns, what the query uses) against a
    stable sort of the conversations themselves by the query's own sort keys, for every
    column the columns sort, both ways, whole and the first rows only: an engine with
    rates over several seconds (bare seconds and longer histories, idle ones), kept
    conversations that left, IPv4 and IPv6, ICMP without ports, labels, many ties."""
    import random

    from tuimon.core.engine import Engine
    from tuimon.server.query import sort_key

    rng = random.Random(12)
    engine = Engine(rates=True, flow_timeout=6)
    engine.set_interface(0, "eth0", "ether")
    engine.keep_left()
    hosts = ["10.0.0.1", "10.0.0.2", "192.0.2.9", "2001:db8::1", "2001:db8::2"]
    for second in range(30):
        batch = []
        for _ in range(rng.randrange(5, 80)):
            a = rng.choice(hosts)
            b = rng.choice([h for h in hosts if (":" in h) == (":" in a)])
            proto = rng.choice([6, 17, 1])
            ports = (None, None) if proto == 1 else (rng.choice([53, 80, 443, 40000]),
                                                     rng.choice([53, 80, 22]))
            batch.append(kit.record(a, b, *ports, proto=proto, size=rng.choice([60, 100, 1500]),
                                    ts=1000.0 + second + rng.choice([0.0, 0.5])))
        engine.ingest(batch)
        engine.advance(1000.9 + second)
        engine.fold()
    convs = [*engine.conversations, *engine.left_conversations]
    engine.label(convs[2], "wg", "dissector")
    assert engine.left_conversations and len(convs) > 50
    assert any(c.hist.__class__ is not int for c in convs if c.hist is not None)
    for column in engine.ORDERED:
        key = sort_key("conversations", column, engine)
        for descending in (True, False):
            want = sorted(convs, key=key, reverse=descending)
            got = list(engine.order_by(column, descending))
            assert [c.key for c in got] == [c.key for c in want], (column, descending)
            assert [c.key for c in engine.order_by(column, descending, 7)] == \
                [c.key for c in want[:7]], (column, descending)
