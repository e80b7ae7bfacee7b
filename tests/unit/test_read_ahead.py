"""A headless playback's reader thread (server/driver.read_ahead): the source's batches in
order, its error in its place after what came before it, and an early stop that stops
the thread and closes the source's batches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tuimon.errors import BadCaptureFile, CaptureFailed
from tuimon.server import driver

DATA = Path(__file__).resolve().parents[1] / "data"


class Source:
    def __init__(self, n: int, error: BaseException | None = None) -> None:
        self.n, self.error, self.given, self.closed = n, error, 0, False
        self.thread: threading.Thread | None = None

    def batches(self):
        self.thread = threading.current_thread()
        try:
            for i in range(self.n):
                self.given += 1
                yield [i] * 3
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


def test_batches_in_order_from_another_thread():
    src = Source(50)
    assert list(driver.read_ahead(src)) == [[i] * 3 for i in range(50)]
    assert src.closed and src.thread is not threading.current_thread()


@pytest.mark.parametrize("error, expected", [
    (BadCaptureFile("x.pcap: cut short"), BadCaptureFile("x.pcap: cut short")),
    (ValueError("odd"), CaptureFailed("capture failed: ValueError: odd"))])
def test_the_error_comes_after_the_batches_before_it(error, expected):
    got = []
    with pytest.raises(type(expected)) as err:
        for batch in driver.read_ahead(Source(7, error)):
            got.append(batch)
    assert str(err.value) == str(expected)
    assert got == [[i] * 3 for i in range(7)]


def test_stopping_early_stops_the_reader(monkeypatch):
    monkeypatch.setattr(driver, "READ_AHEAD", 2)
    src = Source(10_000)
    it = driver.read_ahead(src)
    assert next(it) == [0] * 3
    it.close()  # what a stop does: the loop ends, the generator is closed
    assert src.closed and not src.thread.is_alive()
    assert src.given <= 2 + 3  # at most the queue's worth ahead (and one in hand)


def test_each_batch_is_prepared_on_the_reader_thread_before_it_is_handed_over(monkeypatch):
    monkeypatch.setattr(driver, "READ_AHEAD", 2)
    src = Source(500)
    seen = []

    def prepare(batch):
        seen.append(threading.current_thread())
        batch.append("ready")

    it = driver.read_ahead(src, prepare)
    got = [next(it) for _ in range(3)]
    assert got == [[i] * 3 + ["ready"] for i in range(3)]
    it.close()
    assert src.closed and not src.thread.is_alive()
    assert set(seen) == {src.thread} and len(seen) <= 3 + 2 + 1


def test_a_prepared_batch_counts_as_one_grouped_by_the_engine():
    """grouping.prepare's groups (made ahead) give the engine the same tables as the
    groups it makes itself: the capture's CSV files are the same."""
    import io

    from tuimon.capture.file import FileSource
    from tuimon.core.engine import Engine
    from tuimon.core.grouping import prepare
    from tuimon.sinks import csv as csvmod

    def tables(ahead: bool) -> str:
        engine = Engine(rates=False)
        src = FileSource(str(DATA / "1kxun.pcap"))
        for batch in src.batches():
            if ahead:
                prepare(batch)
                assert batch.groups is not None
            engine.ingest(batch)
        engine.fold()
        out = io.StringIO(newline="")
        csvmod.write_conversations(out, csvmod.csv.writer(out), engine.conversation_rows())
        return out.getvalue() + repr(engine.host_rows()) + repr(engine.totals())

    assert tables(True) == tables(False)


def test_room_made_from_the_files_size_counts_the_same():
    """Engine.reserve (a headless playback makes room from its file's size): the store
    and its index grow once; the tables are those of an engine that grew its way up."""
    from tuimon.capture.cwalk import walker
    from tuimon.capture.file import FileSource
    from tuimon.core.engine import Engine
    from tuimon.core.slotindex import slot_index

    def tables(room: int):
        engine = Engine(rates=False, index=slot_index(walker()))
        engine.reserve(room)
        for batch in FileSource(str(DATA / "1kxun.pcap")).batches():
            engine.ingest(batch)
        engine.fold()
        return (repr(engine.conversation_rows()) + repr(engine.host_rows())
                + repr(engine.totals())), engine._store

    grown, _ = tables(0)
    made, store = tables(100_000)
    assert made == grown
    assert store.cap >= 100_000 and store.index.count == len(store.slots(1, None))
    capped = Engine(rates=False, max_flows=1000)
    capped.reserve(10**9)
    assert capped._store.cap == 2048  # max_flows and its eighth: 1,125 -> 2,048
