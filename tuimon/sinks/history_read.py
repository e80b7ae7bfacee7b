"""Reading the history database for the app's History view: one interface's, host's or
protocol's bytes per minute, hour or day between two times, and its time-of-day profile.

The database is opened read-only (a recorder may be writing it meanwhile: WAL lets both
go on). Nothing here writes; the schema is :mod:`tuimon.sinks.history_schema`'s. In and
out are the interface's ``in_bytes`` / ``out_bytes`` and the host's ``rx_bytes`` /
``tx_bytes`` (received, sent); a protocol's rows have no direction (``out`` is None).
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple
from urllib.parse import quote

from tuimon.sinks.history_schema import GRAINS, PERIOD, VERSION, table
from tuimon.sinks.history_spread import Span
from tuimon.sinks.history_totals import PERIODS, starts

KINDS = ("interface", "host", "protocol")
# kind -> (the key's columns, the "in" column, the "out" column or None)
_COLUMNS = {
    "interface": (("interface",), "in_bytes", "out_bytes"),
    "host": (("address",), "rx_bytes", "tx_bytes"),
    "protocol": (("layer", "protocol"), "bytes", None),
}


class HistoryUnreadable(Exception):
    """The file is missing, not SQLite, or not a tuimon history this tuimon can read."""


class Point(NamedTuple):
    """One period's figures: its start (Unix seconds UTC), all bytes, in, out (None:
    the rows have no direction)."""

    start: int
    bytes: int
    in_bytes: int
    out_bytes: int | None


class HourOfDay(NamedTuple):
    """One hour of the day (UTC): the days that had traffic in it, and their average."""

    hour: int
    days: int
    bytes: float
    in_bytes: float
    out_bytes: float | None


def key_values(kind: str, key) -> tuple:
    """The key columns' values: a name (interface), an address (host), ``(layer,
    protocol)`` (protocol)."""
    if kind == "protocol":
        layer, protocol = key
        return (layer, protocol)
    return (key,)


class HistoryReader:
    """A read-only connection to a history database."""

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise HistoryUnreadable(f"no history database at {path}")
        try:
            self.db = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True,
                                      check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 2000")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as err:
            raise HistoryUnreadable(f"cannot read the history {path}: {err}") from None
        if not 1 <= version <= VERSION:
            self.db.close()
            raise HistoryUnreadable(f"{path} is not a tuimon history this tuimon can read "
                                    f"(schema {version})")
        self.path = path

    def close(self) -> None:
        self.db.close()

    def _where(self, kind: str, key) -> tuple[str, tuple]:
        keys, _, _ = _COLUMNS[kind]
        return " AND ".join(f"{k} = ?" for k in keys), key_values(kind, key)

    def series(self, kind: str, key, grain: str, since: int, until: int) -> list[Point]:
        """Every period of ``grain`` (minutes, hours, days) from ``since`` up to ``until``
        (not included; both on the grain), oldest first, zero where nothing was recorded."""
        step = GRAINS[grain]
        period = PERIOD[grain]
        _, in_col, out_col = _COLUMNS[kind]
        where, values = self._where(kind, key)
        out_sql = f"SUM({out_col})" if out_col else "NULL"
        try:
            rows = self.db.execute(
                f"SELECT {period}, SUM(bytes), SUM({in_col}), {out_sql} "
                f"FROM {table(kind, grain)} WHERE {where} AND {period} >= ? AND {period} < ? "
                f"GROUP BY {period}", (*values, since, until)).fetchall()
        except sqlite3.Error as err:
            raise HistoryUnreadable(f"cannot read the history {self.path}: {err}") from None
        found = {row[0]: row[1:] for row in rows}
        points = []
        for start in range(since, until, step):
            nbytes, in_b, out_b = found.get(start, (0, 0, 0 if out_col else None))
            points.append(Point(start, nbytes, in_b, out_b))
        return points

    def periods(self, kind: str, key, now: float, billing_day: int = 1) -> list[tuple]:
        """Today's, this week's and this accounting period's totals up to ``now``, from the
        days table (they survive restarts): ``(period, start, Point)`` each, period one of
        ``today``, ``week``, ``period`` (the billing day's, :mod:`history_totals`)."""
        _, in_col, out_col = _COLUMNS[kind]
        where, values = self._where(kind, key)
        begin = starts(now, billing_day)
        cols = ["bytes", in_col] + ([out_col] if out_col else [])
        sums = ", ".join(f"SUM(CASE WHEN day >= ? THEN {c} ELSE 0 END)"
                         for p in PERIODS for c in cols)
        args = [begin[p] for p in PERIODS for _ in cols]
        try:
            row = self.db.execute(
                f"SELECT {sums} FROM {table(kind, 'days')} WHERE {where} AND day >= ? "
                f"AND day <= ?", (*args, *values, min(begin.values()), int(now))).fetchone()
        except sqlite3.Error as err:
            raise HistoryUnreadable(f"cannot read the history {self.path}: {err}") from None
        out = []
        for i, p in enumerate(PERIODS):
            figures = [v or 0 for v in row[i * len(cols):(i + 1) * len(cols)]]
            out.append((p, begin[p], Point(begin[p], figures[0], figures[1],
                                           figures[2] if out_col else None)))
        return out

    def hours_of_day(self, kind: str, key, since: int, until: int) -> list[HourOfDay]:
        """The 24 hours of the day (UTC) between ``since`` and ``until`` (on the hour): for
        each, how many days had traffic in it and their average bytes (as ``tuimon report
        --by hour-of-day``)."""
        _, in_col, out_col = _COLUMNS[kind]
        where, values = self._where(kind, key)
        out_sql = f"SUM({out_col})" if out_col else "NULL"
        try:
            rows = self.db.execute(
                f"SELECT (hour / 3600) % 24, COUNT(DISTINCT hour / 86400), SUM(bytes), "
                f"SUM({in_col}), {out_sql} FROM {table(kind, 'hours')} "
                f"WHERE {where} AND hour >= ? AND hour < ? AND bytes != 0 GROUP BY 1",
                (*values, since, until)).fetchall()
        except sqlite3.Error as err:
            raise HistoryUnreadable(f"cannot read the history {self.path}: {err}") from None
        found = {row[0]: row[1:] for row in rows}
        profile = []
        for hour in range(24):
            days, nbytes, in_b, out_b = found.get(hour, (0, 0, 0, None if out_col is None else 0))
            n = max(days, 1)
            profile.append(HourOfDay(hour, days, nbytes / n, in_b / n,
                                     None if out_b is None else out_b / n))
        return profile

    def conversation_spans(self, ends: tuple, since: int, until: int) -> list:
        """The recorded conversations between ``ends`` = ``(protocol, address A, port A,
        address B, port B)`` (as conversations.csv writes them; either way round) whose
        lifetime overlaps ``since`` .. ``until``: :class:`~tuimon.sinks.history_spread.Span`
        each, A and B as ``ends`` has them."""
        protocol, a, pa, b, pb = ends
        same = ("address_a = ? AND port_a IS ? AND address_b = ? AND port_b IS ?")
        try:
            rows = self.db.execute(
                "SELECT first_seen, last_seen, bytes_a_to_b, bytes_b_to_a, address_a = ? "
                f"AND port_a IS ? FROM conversations WHERE protocol = ? AND (({same}) OR "
                f"({same})) AND last_seen >= ? AND first_seen < ?",
                (a, pa, protocol, a, pa, b, pb, b, pb, a, pa, since, until)).fetchall()
        except sqlite3.Error as err:
            raise HistoryUnreadable(f"cannot read the history {self.path}: {err}") from None
        return [Span(first, last, ab, ba) if forward else Span(first, last, ba, ab)
                for first, last, ab, ba, forward in rows]
