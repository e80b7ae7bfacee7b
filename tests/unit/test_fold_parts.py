"""A long fold in parts (Engine.between, FOLD_STEP): the app's driver answers a key's query
between the parts. The fold's result is the same as in one go; a fold asked for meanwhile
(by a query) does nothing; the driver answers queries there and keeps every other request
for after the fold."""

from __future__ import annotations

import pytest

import tuimon.core.engine as engine_mod
from tuimon.config import Config
from tuimon.core.engine import Engine
from tuimon.server.protocol import Page, Query, Save
from tuimon.server.service import EngineService


def traffic(kit, n: int, ts: float) -> list:
    return [kit.record(f"10.0.{i // 200}.{i % 200 + 1}", "10.9.9.9", 1000 + i % 7, 80,
                       size=60 + i % 13, ts=ts) for i in range(n)]


def state(engine: Engine) -> tuple:
    hosts = sorted((a, h.packets, h.bytes, h.tx_b, h.rx_b, h.peak, repr(h.hist))
                   for a, h in engine.hosts.items())
    return hosts, repr(engine.protocol_rows()), [c.key for c in engine.leading(50)]


def test_a_fold_in_parts_ends_as_a_fold_in_one_go(kit, monkeypatch):
    monkeypatch.setattr(engine_mod, "FOLD_STEP", 16)
    one, parts = Engine(rates=True), Engine(rates=True)
    calls = []
    parts.between = lambda: calls.append(1)
    for second in range(3):
        batch = traffic(kit, 300, 1000.0 + second)
        for e in (one, parts):
            e.ingest(batch)
            e.advance(1000.5 + second)
            e.fold()
    assert calls and len(calls) == 3 * (-(-len(one.conversations) // 16) - 1)
    assert [(c.key, c.m_ab_b) for c in parts.conversations] == \
        [(c.key, c.m_ab_b) for c in one.conversations]
    assert state(parts) == state(one)


def test_each_views_fold_is_a_part_of_its_own(kit, monkeypatch):
    """The views' folds (pairs, processes: 10-15 ms at a second of 150,000 packets/s) come
    after the conversations' parts, a part each: the queries waiting are answered before
    each; each view is handed every change of the fold. A short fold is one part."""
    monkeypatch.setattr(engine_mod, "FOLD_STEP", 16)
    engine = Engine(rates=True)
    log = []
    engine.between = lambda: log.append("between")
    for name in ("pairs", "processes"):
        engine.fold_watchers.append(
            lambda changes, sec, now, name=name: log.append((name, len(changes))))
    engine.ingest(traffic(kit, 300, 1000.0))
    engine.fold()
    n = len(engine.conversations)
    assert log[-4:] == ["between", ("pairs", n), "between", ("processes", n)]
    assert log.count("between") == -(-n // 16) - 1 + 2
    log.clear()
    engine.ingest(traffic(kit, 10, 1001.0))
    engine.fold()
    assert log == [("pairs", 10), ("processes", 10)]


def test_a_fold_asked_for_between_the_parts_does_nothing(kit, monkeypatch):
    monkeypatch.setattr(engine_mod, "FOLD_STEP", 16)
    engine = Engine(rates=True)
    seen = []

    def between():
        before = sum(h.bytes for h in engine.hosts.values())
        engine.fold()  # a refresh's query: must not fold again from the middle
        seen.append(sum(h.bytes for h in engine.hosts.values()) == before)

    engine.between = between
    engine.ingest(traffic(kit, 200, 1000.0))
    engine.fold()
    assert seen and all(seen)
    assert sum(h.bytes for h in engine.hosts.values()) == 2 * sum(60 + i % 13 for i in range(200))


class Channel:
    """The UI's end: ``asks`` are found at the first look inside a fold."""

    def __init__(self, asks: list) -> None:
        self.asks = asks
        self.replies: list = []
        self.looks = 0

    def fileno(self) -> int:
        return -1

    def poll(self, timeout: float) -> list:
        self.looks += 1
        found, self.asks = self.asks, []
        return found

    def send(self, message) -> bool:
        self.replies.append(message)
        return True


def test_the_driver_answers_queries_between_the_parts_and_the_rest_after(kit, monkeypatch,
                                                                          tmp_path):
    from tuimon.server.driver import Driver

    monkeypatch.setattr(engine_mod, "FOLD_STEP", 16)
    svc = EngineService(Config(read="unused", dissect_packets=0, no_history=True), rates=True)
    driver = Driver(svc, Channel([]))
    svc.engine.between = driver._between
    svc.engine.ingest(traffic(kit, 200, 1000.0))
    folded_at_answer = []
    answer = svc.answer

    def spy(q):
        folded_at_answer.append(svc.engine._folding)
        return answer(q)

    monkeypatch.setattr(svc, "answer", spy)
    save = Save(str(tmp_path), final=False)
    driver.channel.asks = [Query(view="hosts", seq=5), save]
    svc.engine.fold()
    pages = [r for r in driver.channel.replies if isinstance(r, Page)]
    assert [p.seq for p in pages] == [5] and folded_at_answer == [True]
    assert driver._deferred == [save]  # kept for the look after the fold
