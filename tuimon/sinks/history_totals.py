"""Totals that survive a restart: today, this week and this accounting period, per host or
per interface, read from the history database.

Periods are UTC, as the database's: today from midnight, the week from Monday, the
accounting period from its billing day (1-28, ``--billing-day``) of this month, or of the
month before when that day has not come yet. Each starts at midnight, so the ``*_days``
tables hold them exactly (a day's row is written with its minutes, today's included) and
the figures of several sessions add up.
"""

from __future__ import annotations

import calendar
import sqlite3
import time

from tuimon.sinks.history_schema import KINDS, table

PERIODS = ("today", "week", "period")


def check_billing_day(day: int) -> int:
    """``day`` when it is 1 to 28 (every month has it), else ValueError."""
    if not 1 <= day <= 28:
        raise ValueError(f"the billing day must be 1 to 28, not {day}")
    return day


def period_start(now: float, billing_day: int = 1) -> int:
    """The accounting period holding ``now``: midnight UTC of its first day."""
    check_billing_day(billing_day)
    t = time.gmtime(now)
    year, month = t.tm_year, t.tm_mon
    if t.tm_mday < billing_day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return calendar.timegm((year, month, billing_day, 0, 0, 0))


def week_start(now: float) -> int:
    """Monday 00:00 UTC of the week holding ``now``."""
    day = int(now) - int(now) % 86400
    return day - time.gmtime(day).tm_wday * 86400


def starts(now: float, billing_day: int = 1) -> dict[str, int]:
    """Each period's first second (Unix, UTC)."""
    return {"today": int(now) - int(now) % 86400, "week": week_start(now),
            "period": period_start(now, billing_day)}


def totals(db: sqlite3.Connection, kind: str, now: float, billing_day: int = 1
           ) -> dict[str, dict[str, tuple]]:
    """``{period: {key: figures}}`` for ``kind`` ``host`` (key: the address) or
    ``interface`` (its name), figures in the order of :data:`KINDS`
    (``packets, bytes, ...``), up to ``now``; a key with nothing in a period is absent."""
    if kind not in ("host", "interface"):
        raise ValueError(f"totals are per host or interface, not {kind}")
    keys, values = KINDS[kind]
    begin = starts(now, billing_day)
    sums = ", ".join(f"SUM(CASE WHEN day >= ? THEN {v} ELSE 0 END)"
                     for _ in PERIODS for v in values)
    args = [begin[p] for p in PERIODS for _ in values]
    sql = (f"SELECT {keys[0]}, {sums} FROM {table(kind, 'days')} "
           f"WHERE day >= ? AND day <= ? GROUP BY {keys[0]}")
    out: dict[str, dict[str, tuple]] = {p: {} for p in PERIODS}
    n = len(values)
    for row in db.execute(sql, [*args, min(begin.values()), int(now)]):
        for i, p in enumerate(PERIODS):
            figures = tuple(row[1 + i * n:1 + (i + 1) * n])
            if any(figures):
                out[p][row[0]] = figures
    return out
