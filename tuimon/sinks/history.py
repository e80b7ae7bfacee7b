"""Recording into the embedded history database (SQLite, WAL): traffic per minute, hour
and day that survives a restart, and every conversation that left the table.

The recorder is fed between batches, never per packet: :meth:`HistoryRecorder.ingest`
splits a batch where a new minute of capture time starts (a look at its last record;
a scan only for the one batch a minute that crosses), folds the engine, and closes the
minute: what the hosts (only those the engine's folds touched, :attr:`Engine.touched`),
interfaces and protocols counted since the last close (their cumulative totals, diffed)
and the conversations that left meanwhile are handed to the writer thread
(:mod:`tuimon.sinks.history_writer`), which sends them to the writer process
(:mod:`tuimon.sinks.history_process`): it upserts them into the minute, hour and day that
hold them (:func:`commit_minute`) and commits. So a ``kill -9`` loses at most the open
minute (the writer process still commits what it had been handed). Several sessions add
to the same rows (``ON CONFLICT DO UPDATE SET packets = packets + excluded.packets``). The
schema is in :mod:`tuimon.sinks.history_schema`; the contract in docs/history.md.
"""

from __future__ import annotations

import math
import os
import sqlite3

from tuimon.core.names import OTHER_HOSTS, address_text
from tuimon.errors import TuimonError
from tuimon.sinks.csv import CONVERSATION_COLUMNS, protocol_totals
from tuimon.sinks.history_process import WriterGone, WriterProcess
from tuimon.sinks.history_schema import GRAINS, KINDS, PERIOD, migrate, table
from tuimon.sinks.history_where import default_path, history_path  # noqa: F401 - theirs too
from tuimon.sinks.history_writer import DEPTH, HistoryWriter, Minute, add_into

# seconds each grain is kept (None: for ever); conversations go with the minutes
RETENTION = {"minutes": 7 * 86400, "hours": 366 * 86400, "days": None,
             "conversations": 7 * 86400}
_LAYERS = ("transport", "application")
# Test only (docs/testing.md): commit every N seconds (a divisor of 60) rather than once a
# minute, so a live test sees several commits in seconds. Rows stay per minute: each
# commit adds into the minute that holds it.
COMMIT_ENV = "TUIMON_TEST_HISTORY_COMMIT"


def commit_seconds() -> int:
    """60, or the test-only :data:`COMMIT_ENV` when it divides 60."""
    try:
        step = int(os.environ.get(COMMIT_ENV, "60"))
    except ValueError:
        return 60
    return step if step > 0 and 60 % step == 0 else 60


class HistoryFailed(TuimonError):
    """The history database cannot be opened or written."""


def connect(path: str) -> sqlite3.Connection:
    """Open (or create) the database at ``path``, WAL, migrated to the current schema."""
    try:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
        return db
    except (OSError, sqlite3.Error, ValueError) as err:
        raise HistoryFailed(f"cannot open the history {path}: {err}") from None


def _upsert(kind: str, grain: str, source: str) -> str:
    """Add the rows ``source`` gives (``VALUES (...)`` or a ``SELECT``) to ``kind``'s table
    of ``grain``: a row already there for the period and key gets them added."""
    keys, values = KINDS[kind]
    cols = (PERIOD[grain], *keys, *values)
    sets = ", ".join(f"{v} = {v} + excluded.{v}" for v in values)
    return (f"INSERT INTO {table(kind, grain)} ({', '.join(cols)}) {source} "
            f"ON CONFLICT ({', '.join((PERIOD[grain], *keys))}) DO UPDATE SET {sets}")


def _upsert_sql(kind: str, grain: str) -> str:
    keys, values = KINDS[kind]
    return _upsert(kind, grain, f"VALUES ({', '.join('?' * (1 + len(keys) + len(values)))})")


_CONV_SQL = (f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
             f"VALUES ({', '.join('?' * len(CONVERSATION_COLUMNS))})")


# A minute with at least this many rows of a kind binds them once, into a temporary table,
# and adds that table to the minute, hour and day (INSERT ... SELECT): a third of the
# binding, which is what the writer spends its time on (22,000 hosts: 0.25 -> 0.1 s).
BULK = 256


def _bulk_sql(kind: str, grain: str) -> str:
    keys, values = KINDS[kind]
    return _upsert(kind, grain, f"SELECT ?, {', '.join((*keys, *values))} "
                                f"FROM temp.delta_{kind} WHERE true")


def write_deltas(db: sqlite3.Connection, minute: int, deltas: dict) -> None:
    """Add ``deltas`` (kind -> [(key..., value...)], one row per key) to ``minute`` and to
    the hour and day that hold it (inside the caller's transaction)."""
    for kind, rows in deltas.items():
        if not rows:
            continue
        if len(rows) >= BULK:
            keys, values = KINDS[kind]
            names = (*keys, *values)
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS delta_{kind} ({', '.join(names)})")
            db.execute(f"DELETE FROM temp.delta_{kind}")
            db.executemany(f"INSERT INTO temp.delta_{kind} VALUES "
                           f"({', '.join('?' * len(names))})", rows)
            for grain, seconds in GRAINS.items():
                db.execute(_bulk_sql(kind, grain), (minute - minute % seconds,))
            continue
        for grain, seconds in GRAINS.items():
            start = minute - minute % seconds
            db.executemany(_upsert_sql(kind, grain), [(start, *r) for r in rows])


def commit_minute(db: sqlite3.Connection, minute: int, now: float, deltas: dict,
                  rows: list, retention: dict, expired_at: float | None) -> float | None:
    """Write one minute in one transaction (the writer process): ``deltas`` kind -> {key:
    figures} (hosts keyed by their address as an int), ``rows`` the conversations' rows;
    retention runs when an hour of the recording's clock has passed since ``expired_at``.
    Returns when retention last ran."""
    hosts = deltas.get("host", {})
    # hosts in key order: a new minute's rows are appended to its tables' B-trees rather
    # than inserted all over them (22,000 hosts: the commit 104 -> 82 ms of CPU)
    lists = {"interface": [(k, *v) for k, v in deltas.get("interface", {}).items()],
             "host": sorted([(address_text(a), *v) for a, v in hosts.items()]),
             "protocol": [(*k, *v) for k, v in deltas.get("protocol", {}).items()],
             "counter": [(k, *v) for k, v in deltas.get("counter", {}).items()]}
    db.execute("BEGIN IMMEDIATE")
    write_deltas(db, minute, lists)
    if rows:
        db.executemany(_CONV_SQL, rows)
    if expired_at is None or now - expired_at >= 3600:
        expire(db, now, retention)
        expired_at = now
    db.execute("COMMIT")
    return expired_at


def expire(db: sqlite3.Connection, now: float, retention: dict = RETENTION) -> None:
    """Rows older than their grain's retention before ``now`` go (inside a transaction)."""
    for grain, seconds in GRAINS.items():
        keep = retention.get(grain)
        if keep is None:
            continue
        cutoff = int(now) - keep
        for kind in KINDS:
            db.execute(f"DELETE FROM {table(kind, grain)} WHERE {PERIOD[grain]} < ?",
                       (cutoff - cutoff % seconds,))
    keep = retention.get("conversations")
    if keep is not None:
        db.execute("DELETE FROM conversations WHERE last_seen < ?", (int(now) - keep,))


class HistoryRecorder:
    """Records one engine's counting into the database at ``path``: the diffs are taken on
    the counting thread, handed over by a :class:`HistoryWriter` thread to a
    :class:`WriterProcess`, which writes them. ``live``: a writer that falls behind gets
    minutes added up rather than hold the counting up; else (a playback) the counting waits
    for it and every minute stays exact."""

    def __init__(self, engine, path: str, retention: dict | None = None,
                 depth: int = DEPTH, live: bool = False, conversations: bool = True) -> None:
        """``conversations``: a row per conversation too (``--history-conversations``;
        each costs as much to write as a host's minute, and a busy gateway starts tens of
        thousands a second)."""
        self.engine = engine
        self.conversations = conversations
        self.path = path
        self.retention = RETENTION if retention is None else retention
        # opened (created, migrated) here, so a bad path is one line before anything is
        # counted; the writer process opens it again, and this connection is closed by
        # the writer thread (off the counting thread)
        check = connect(path)
        try:
            self.process = WriterProcess(path, dict(self.retention))
        except (OSError, WriterGone) as err:
            check.close()
            raise HistoryFailed(f"cannot open the history {path}: cannot start its "
                                f"writer: {err}") from None
        self._last: Minute | None = None  # handed over at the end, its answer not read yet
        self._last_error = ""  # why that one was not written
        self._last_written = 0
        self.step = commit_seconds()  # seconds between commits: 60 but in tests
        self.minute: int | None = None  # start of the open minute (capture clock)
        self.boundary = -math.inf  # where the next minute starts
        self._if: dict[int, tuple] = {}  # interface index -> totals at the last close
        self._hosts: dict[int, tuple] = {}  # address -> totals at the last close
        self._protos: dict[tuple, tuple] = {}  # (layer, name) -> totals at the last close
        self._counters: dict[str, tuple] = {}  # named counter -> totals at the last close
        self._left: list = []  # conversations that left, not handed over yet
        self._hosts_left: dict = {}  # address -> deltas of hosts that left the engine
        engine.touched = set()  # the hosts each fold adds to, emptied at every close
        self.closed = False
        self.writer = HistoryWriter(None, self._write, self._failed, depth, merge=live,
                                    start=check.close)

    @property
    def error(self) -> str:
        """Why recording stopped (the disk filled, the writer process died), or ""."""
        return self.writer.error or self._last_error

    @property
    def minutes(self) -> int:
        """Minutes committed (minutes added into another because the writer was behind
        count once)."""
        return self.writer.written + self._last_written

    @classmethod
    def attach(cls, engine, path: str, **kwargs) -> HistoryRecorder:
        """A recorder that also hears of every conversation leaving ``engine``'s table
        (after whoever listened before, e.g. the FlowLog)."""
        rec = cls(engine, path, **kwargs)
        before = engine.on_leave

        def on_leave(conversations: list) -> None:
            if before is not None:
                before(conversations)
            rec._left.extend(conversations)

        if rec.conversations:
            engine.on_leave = on_leave
        before_hosts = getattr(engine, "on_hosts_leave", None)

        def on_hosts_leave(hosts: list) -> None:
            if before_hosts is not None:
                before_hosts(hosts)
            rec.hosts_left(hosts)

        engine.on_hosts_leave = on_hosts_leave
        return rec

    def hosts_left(self, hosts: list) -> None:
        """Hosts that left the engine (folded into its ``(other hosts)`` row): what they
        counted since the last close is written with the open minute, and they are
        forgotten (one that comes back starts from 0)."""
        last = self._hosts
        for h in hosts:
            before = last.pop(h.addr, None) or (0,) * 6
            now = (h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b)
            if now != before:
                add_into(self._hosts_left, h.addr, tuple(a - b for a, b in zip(now, before)))

    # -- fed by the service, between batches ------------------------------------------

    def ingest(self, batch: list, count) -> None:
        """Count ``batch`` with ``count(part)``, closing a minute wherever one ends in it."""
        while batch and not self.closed and batch[-1][1] >= self.boundary:
            boundary = self.boundary
            i = 0
            if boundary != -math.inf:
                for i, record in enumerate(batch):
                    if record[1] >= boundary:
                        break
            if i:
                count(batch[:i])
                batch = batch[i:]
            self.close_minute(batch[0][1])
        if batch:
            count(batch)

    def tick(self, now: float | None) -> None:
        """The capture clock moved on without packets (a quiet link, a playback's gap)."""
        if now is not None and now >= self.boundary and self.minute is not None \
                and not self.closed:
            self.close_minute(now)

    def close_minute(self, now: float) -> None:
        """Hand what was counted since the last close to the writer as the open minute,
        and open the minute that holds ``now``."""
        if self.closed:
            return
        self.engine.fold()
        if self.minute is not None:
            self._hand_over(self.minute, now)
        start = int(now // self.step * self.step)
        if self.minute is None or start > self.minute:
            self.minute = start
            self.boundary = start + self.step

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the writer has committed every minute handed over."""
        return self.writer.flush(timeout)

    def finish(self, wait: bool = True) -> None:
        """The session ends: the open minute and the conversations still in the table are
        handed over, the writer writes everything queued, and the database is closed.
        ``wait=False``: the last minute is handed to the writer process and written while
        the caller goes on (a headless report); :meth:`wait` (or ``finish()``) waits."""
        if self.closed:
            if wait:
                self.wait()
            return
        engine = self.engine
        engine.fold()
        active = list(engine.conversations) if self.conversations else []
        if self.minute is None and (active or self._left):
            self.minute = int(engine.now // self.step * self.step)
        last = None
        if self.minute is not None:
            left, self._left = self._left, []
            last = Minute(self.minute, engine.now or self.minute, self.deltas(), left, active)
        self._end(last, wait)

    def close(self) -> None:
        """Stop recording (what was handed over is written); the database is closed."""
        self._end(None, True)

    def _end(self, last: Minute | None, wait: bool) -> None:
        if self.closed:
            if wait:
                self.wait()
            return
        self.closed = True
        self.engine.touched = None
        done = self.writer.close()  # every minute handed over before: written, answered
        if last is not None and not self.writer.error:
            try:  # straight to the process: its answer is read by wait()
                if not done:
                    raise WriterGone("the writer was still busy after a minute")
                self.process.send(self._message(last))
                self._last = last
            except Exception as err:  # noqa: BLE001 - as the writer thread: one line
                self._last_error = self._failed(last, err)
        self.process.close_input(timeout=5.0)  # (a writer thread still busy holds it)
        if wait:
            self.wait()

    def wait(self, timeout: float | None = 60.0) -> None:
        """Wait until the writer process has written everything and ended."""
        try:
            self.process.wait(timeout)
            if self._last is not None:
                self._last_written = 1
        except WriterGone as err:
            if self.writer.error or self._last_error:
                pass  # said already: the first error is the one that stopped the recording
            elif self._last is not None:
                self._last_error = self._failed(self._last, err)
            else:
                self._last_error = f"history not recorded: cannot write {self.path}: {err}"
        self._last = None

    # -- the diffs, on the counting thread -----------------------------------------------

    def deltas(self) -> dict:
        """What each interface, host and protocol counted since the last call: kind ->
        {key: figures}, hosts keyed by address (an int)."""
        engine = self.engine
        ifs = {}
        last = self._if
        for index, row in enumerate(engine.interface_rows()):
            now = (row.packets, row.bytes, row.in_packets or 0, row.in_bytes or 0,
                   row.out_packets or 0, row.out_bytes or 0)
            before = last.get(index)
            if now != before:
                before = before or (0,) * 6
                add_into(ifs, row.interface, tuple(a - b for a, b in zip(now, before)))
                last[index] = now
        hosts, self._hosts_left = self._hosts_left, {}
        last = self._hosts
        table = engine.hosts
        touched, engine.touched = engine.touched or (), set()
        for addr in touched:
            h = table.get(addr)
            if h is None or addr == OTHER_HOSTS:  # gone: its figures came by hosts_left
                continue
            now = (h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b)
            before = last.get(addr)
            if before is None:
                add_into(hosts, addr, now)
            elif before[0] != now[0]:
                add_into(hosts, addr, (now[0] - before[0], now[1] - before[1],
                                       now[2] - before[2], now[3] - before[3],
                                       now[4] - before[4], now[5] - before[5]))
            else:
                continue
            last[addr] = now
        protos = {}
        last = self._protos
        rows = [r for r in engine.protocol_rows() if r.layer in _LAYERS]
        for r in protocol_totals(rows):
            key = (r.layer, r.protocol)
            before = last.get(key, (0, 0))
            if (r.packets, r.bytes) != before:
                protos[key] = (r.packets - before[0], r.bytes - before[1])
                last[key] = (r.packets, r.bytes)
        counters = {}
        if engine.counters is not None:
            last = self._counters
            for r in engine.counters.rows(engine.now):
                before = last.get(r.name, (0, 0))
                if (r.total_packets, r.total_bytes) != before:
                    counters[r.name] = (r.total_packets - before[0], r.total_bytes - before[1])
                    last[r.name] = (r.total_packets, r.total_bytes)
        return {"interface": ifs, "host": hosts, "protocol": protos, "counter": counters}

    def _hand_over(self, minute: int, now: float) -> None:
        left, self._left = self._left, []
        self.writer.put(Minute(minute, now, self.deltas(), left))

    # -- on the writer's thread ----------------------------------------------------------

    def _message(self, job: Minute) -> tuple:
        """What the writer process needs to write ``job`` (:func:`commit_minute`)."""
        rows = self._rows(job.left, "expired") + self._rows(job.active, "active")
        return ("minute", job.minute, job.now, job.deltas, rows)

    def _write(self, _db, job: Minute) -> None:
        """Write one minute: hand it to the writer process and wait for its answer."""
        self.process.call(self._message(job))

    def _failed(self, job: Minute, err: BaseException) -> str:
        return f"history not recorded from {job.minute}: cannot write {self.path}: {err}"

    def _rows(self, conversations: list, state: str) -> list[tuple]:
        if not conversations:
            return []
        return [(*_conversation(r), state)
                for r in self.engine.conversation_rows(conversations, with_rates=False)]


def _conversation(row) -> tuple:
    """A ConversationRow as conversations.csv's cells but ``state`` (times as Unix
    seconds)."""
    (proto, a, pa, b, pb, p1, b1, p2, b2, first, last, flags, service, _, _, _, app,
     app_src, _nat) = row
    return (proto, a, pa, b, pb, p1, b1, p2, b2, first, last, flags, service, app, app_src)
