"""The history's writer thread: hands each minute to the writer process
(:mod:`tuimon.sinks.history_process`, where the SQLite upserts, rollups and commits run)
and waits for its answer, off the counting thread.

The counting thread hands over a :class:`Minute` (what each interface, host and protocol
counted since the last one, and the conversations that left) with :meth:`HistoryWriter.put`.
The queue is bounded at :data:`DEPTH` minutes. Live (``merge=True``) ``put`` never waits
for the disk: when the writer is that far behind, a new minute is added into the newest
one waiting (its figures recorded in the later minute) rather than dropped, so nothing
counted is lost and memory stays bounded. A playback (``merge=False``) waits for room
instead: its minutes stay exact, and only its speed pays. Each minute is one transaction.
An error (a full disk) stops the writer for good; the reason is kept in
:attr:`HistoryWriter.error` and later minutes are dropped, the counting never stops.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from typing import Callable

DEPTH = 8  # minutes waiting for the writer before new ones are added into the newest


def add_into(into: dict, key, values: tuple) -> None:
    """``into[key] += values``, element by element (a new key: ``values``)."""
    old = into.get(key)
    into[key] = values if old is None else tuple(a + b for a, b in zip(old, values))


class Minute:
    """One minute's work for the writer: ``deltas`` kind -> {key: figures} (hosts keyed by
    their address as an int, turned into text by the writer), the conversations that left
    (``left``) and, at the end of a session, those still in the table (``active``)."""

    __slots__ = ("minute", "now", "deltas", "left", "active", "merged")

    def __init__(self, minute: int, now: float, deltas: dict, left: list,
                 active: list | tuple = ()) -> None:
        self.minute = minute
        self.now = now
        self.deltas = deltas
        self.left = left
        self.active = list(active)
        self.merged = 1  # minutes added up in this one

    def merge(self, later: Minute) -> None:
        """Add ``later`` into this one, which takes its minute and time."""
        for kind, rows in later.deltas.items():
            mine = self.deltas.setdefault(kind, {})
            for key, values in rows.items():
                add_into(mine, key, values)
        self.left.extend(later.left)
        self.active.extend(later.active)
        self.minute = max(self.minute, later.minute)
        self.now = max(self.now, later.now)
        self.merged += later.merged


class HistoryWriter:
    """Writes each :class:`Minute` with ``write(db, minute)`` (one transaction, committed)
    in a thread of its own; ``db`` is used by that thread only once it starts (None: the
    write function has its own, e.g. the writer process's, and nothing is closed here).
    ``start``: called first on the thread (the recorder closes the connection that checked
    the database there, off the counting thread)."""

    def __init__(self, db: sqlite3.Connection | None,
                 write: Callable[[sqlite3.Connection | None, Minute], None],
                 failed: Callable[[Minute, BaseException], str], depth: int = DEPTH,
                 merge: bool = False, start: Callable[[], None] | None = None) -> None:
        self.db = db
        self._start = start
        self.merge = merge
        self._write = write
        self._failed = failed
        self.depth = max(1, depth)
        self._queue: deque[Minute] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self.error = ""  # why recording stopped, or ""
        self.written = 0  # minutes committed (a merged one counts once)
        self.merged = 0  # minutes added into another because the writer was behind
        self._thread = threading.Thread(target=self._run, name="tuimon-history", daemon=True)
        self._thread.start()

    def put(self, minute: Minute) -> None:
        """Queue ``minute``; when :attr:`depth` are waiting, add it into the newest
        (:attr:`merge`) or wait for room."""
        with self._cond:
            if not self.merge:
                self._cond.wait_for(lambda: len(self._queue) < self.depth or self.error
                                    or not self._thread.is_alive())
            if self.error or self._closing or not self._thread.is_alive():
                return
            if len(self._queue) >= self.depth:
                self._queue[-1].merge(minute)
                self.merged += minute.merged
            else:
                self._queue.append(minute)
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued minute is written (or the writer stopped)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._queue and not self._busy or not self._thread.is_alive(),
                timeout)

    def close(self, timeout: float | None = 60.0) -> bool:
        """Write what is queued, then end the thread and close the database; False when
        the writer did not finish within ``timeout``."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self._start is not None:
                try:
                    self._start()
                except Exception:  # noqa: BLE001 - a courtesy (closing a connection)
                    pass
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if not self._queue:
                        break
                    job = self._queue.popleft()
                    self._busy = True
                    self._cond.notify_all()  # room for a waiting put
                try:
                    self._write(self.db, job)
                    self.written += 1
                except Exception as err:  # noqa: BLE001 - a full disk: recording stops
                    if self.db is not None:
                        try:
                            self.db.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    with self._cond:
                        self.error = self._failed(job, err)
                        self._queue.clear()
                        self._closing = True
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
        finally:
            if self.db is not None:
                try:
                    self.db.close()
                except sqlite3.Error:
                    pass
            with self._cond:
                self._cond.notify_all()
