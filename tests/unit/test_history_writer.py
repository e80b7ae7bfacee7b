"""The history's writer thread: minutes handed over in order, added up (never dropped) when
a live writer falls behind, a playback's counting waiting for it instead, everything queued
written at shutdown, a full disk stopping the recording and never the counting, and only
the hosts the folds touched diffed each minute."""

from __future__ import annotations

import sqlite3
import threading
import time

from tests.conftest import record
from tuimon.core.engine import Engine
from tuimon.core.names import parse_address
from tuimon.sinks.history import HistoryRecorder
from tuimon.sinks.history_writer import HistoryWriter, Minute

T0 = 1_700_000_040  # the start of a minute


def minute(start: int, packets: int, host: int = 1, left=()) -> Minute:
    return Minute(start, start + 59, {"interface": {"eth0": (packets, 100 * packets)},
                                      "host": {host: (packets, 100 * packets)}}, list(left))


class Gated:
    """A write function that waits for ``gate`` and keeps what it was handed."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.jobs: list[tuple] = []

    def __call__(self, db, job: Minute) -> None:
        self.started.set()
        assert self.gate.wait(10)
        self.jobs.append((job.minute, dict(job.deltas["interface"]), dict(job.deltas["host"]),
                          list(job.left), job.merged))


def writer(write, depth: int, merge: bool) -> HistoryWriter:
    return HistoryWriter(sqlite3.connect(":memory:", check_same_thread=False), write,
                         lambda job, err: f"failed at {job.minute}: {err}", depth, merge)


def test_a_live_writer_behind_adds_minutes_up_and_never_holds_the_counting():
    write = Gated()
    w = writer(write, depth=2, merge=True)
    w.put(minute(T0, 1))
    assert write.started.wait(5)  # the writer holds T0 and waits on the disk
    began = time.monotonic()
    for i, host in ((1, 1), (2, 2), (3, 1), (4, 3)):
        w.put(minute(T0 + 60 * i, 10 * i, host, left=[f"c{i}"]))
    assert time.monotonic() - began < 1  # put never waited
    assert w.merged == 2
    write.gate.set()
    assert w.flush(10)
    assert write.jobs == [
        (T0, {"eth0": (1, 100)}, {1: (1, 100)}, [], 1),
        (T0 + 60, {"eth0": (10, 1000)}, {1: (10, 1000)}, ["c1"], 1),
        # three minutes added up into the newest, host by host
        (T0 + 240, {"eth0": (90, 9000)}, {2: (20, 2000), 1: (30, 3000), 3: (40, 4000)},
         ["c2", "c3", "c4"], 3),
    ]
    assert w.written == 3 and not w.error
    assert w.close(10)


def test_a_playback_waits_for_the_writer_and_keeps_every_minute():
    write = Gated()
    w = writer(write, depth=1, merge=False)
    w.put(minute(T0, 1))
    assert write.started.wait(5)
    w.put(minute(T0 + 60, 2))  # queued: the queue is full now
    third = threading.Thread(target=w.put, args=(minute(T0 + 120, 3),))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # waits for room rather than add up
    write.gate.set()
    third.join(5)
    assert not third.is_alive()
    assert w.close(10)
    assert [(m, i["eth0"][0], merged) for m, i, _, _, merged in write.jobs] == \
        [(T0, 1, 1), (T0 + 60, 2, 1), (T0 + 120, 3, 1)]
    assert w.merged == 0


def test_closing_writes_everything_queued_then_ends_the_thread():
    write = Gated()
    w = writer(write, depth=8, merge=True)
    for i in range(5):
        w.put(minute(T0 + 60 * i, i + 1))
    closer = threading.Thread(target=w.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # still writing
    write.gate.set()
    closer.join(10)
    assert [j[0] for j in write.jobs] == [T0 + 60 * i for i in range(5)]
    assert not w._thread.is_alive()
    w.put(minute(T0 + 600, 1))  # after the end: ignored, never an error
    assert len(write.jobs) == 5


def engine() -> Engine:
    e = Engine(rates=False)
    e.set_interface(0, "eth0", "ether")
    return e


def test_the_recorder_finishing_writes_the_minutes_still_queued(tmp_path):
    """finish() right after many minutes were handed over: every one is in the file."""
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path, live=True)
    for i in range(30):
        rec.ingest([record("10.0.0.1", f"10.0.1.{i}", 1000, 80, size=100, ts=T0 + 60 * i)],
                   e.ingest)
    rec.finish()
    db = sqlite3.connect(path)
    assert db.execute("SELECT SUM(packets) FROM interface_minutes").fetchone()[0] == 30
    assert db.execute("SELECT SUM(packets) FROM interface_hours").fetchone()[0] == 30
    assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 30
    hosts = dict(db.execute("SELECT address, SUM(packets) FROM host_minutes GROUP BY 1"))
    assert hosts == {"10.0.0.1": 30, **{f"10.0.1.{i}": 1 for i in range(30)}}


def test_a_full_disk_stops_the_recording_never_the_counting(tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path, live=True)
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0)], e.ingest)
    rec.tick(T0 + 60)
    assert rec.flush(10) and rec.minutes == 1
    # on the writer process's own connection
    pages = rec.process.execute("PRAGMA page_count")[0][0]
    rec.process.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    for m in range(1, 4):  # thousands of new hosts a minute: more pages needed
        rec.ingest([record(f"10.{m}.{i >> 8}.{i & 255}", "10.0.0.2", 1, 2, ts=T0 + 60 * m)
                    for i in range(3000)], e.ingest)
    rec.finish()
    assert "database or disk is full" in rec.error
    assert rec.error.startswith(f"history not recorded from {T0 + 60}: cannot write {path}")
    assert e.totals().packets == 9001  # everything counted
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT minute, packets FROM interface_minutes").fetchall() == [(T0, 1)]


def test_each_minute_diffs_only_the_hosts_the_folds_touched(tmp_path):
    e = engine()
    rec = HistoryRecorder.attach(e, str(tmp_path / "h.sqlite"))
    rec.ingest([record(f"10.0.0.{i}", "10.0.1.1", 1, 2, ts=T0) for i in range(50)], e.ingest)
    rec.ingest([record("10.0.0.7", "10.0.1.2", 1, 2, size=60, ts=T0 + 60)], e.ingest)
    assert e.touched == set()  # emptied by the minute's close; the new packet not folded yet
    e.fold()
    a, b = parse_address("10.0.0.7"), parse_address("10.0.1.2")
    assert e.touched == {a, b}  # not the other 50 hosts
    assert rec.deltas()["host"] == {a: (1, 60, 1, 60, 0, 0), b: (1, 60, 0, 0, 1, 60)}
    assert e.touched == set()
    rec.finish()
    assert e.touched is None  # nothing kept once the recorder is gone


def test_the_test_only_commit_interval_adds_into_whole_minutes(tmp_path, monkeypatch):
    monkeypatch.setenv("TUIMON_TEST_HISTORY_COMMIT", "20")
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    for s in (0, 25, 45, 65):
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + s)], e.ingest)
    assert rec.flush(10) and rec.minutes == 3  # a commit at T0+20, +40 and +60
    db = sqlite3.connect(path)
    assert db.execute("SELECT minute, packets FROM interface_minutes").fetchall() == [(T0, 3)]
    rec.finish()
    assert db.execute("SELECT minute, packets FROM interface_minutes ORDER BY 1").fetchall() \
        == [(T0, 3), (T0 + 60, 1)]
    monkeypatch.setenv("TUIMON_TEST_HISTORY_COMMIT", "7")  # not a divisor of 60: ignored
    other = HistoryRecorder(engine(), path)
    assert other.step == 60
    other.close()
