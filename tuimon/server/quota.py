"""Quotas on named counters (``--quota NAME=SIZE/PERIOD``): parsing, the calendar, and
what the history says was used before this session.

``web=50GB/month`` lets counter ``web`` count 50 GB (decimal: 50,000,000,000 bytes; ``GiB``
for 2^30) each accounting month, which starts on the billing day (``--billing-day``, as
the history's totals); ``/week`` from Monday, ``/day`` from midnight, all UTC. The use is
what the counter counted in the period, frames and frame lengths like the counter: with a
history database (a live capture records into one by default), what earlier sessions of
this period counted too, read once at the start; without, since tuimon started. The
header and a notification warn at 80 % and at 100 %; the Counters view and counters.csv
show the use.
"""

from __future__ import annotations

import re
import sqlite3

from tuimon.errors import TuimonError
from tuimon.sinks.history_totals import period_start, week_start

PERIODS = ("day", "week", "month")
WARN = (0.8, 1.0)  # the shares at which the header and a notification warn
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}
_QUOTA = re.compile(r"^\s*([^=\s]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*/\s*"
                    r"([a-z]+)\s*$")


class QuotaError(TuimonError):
    """A --quota that cannot be used (one line, exit 2)."""


def parse_quota(text: str, counters: tuple[str, ...]) -> tuple[str, int, str]:
    """``NAME=SIZE/PERIOD`` -> (name, bytes, period); ``counters``: the names given."""
    m = _QUOTA.match(text)
    if not m:
        raise QuotaError(f"--quota {text!r}: give NAME=SIZE/PERIOD, e.g. web=50GB/month")
    name, number, unit, period = m.groups()
    if name not in counters:
        raise QuotaError(f"--quota {text!r}: no counter named {name!r} (give it with "
                         f"--counter {name}=EXPR)")
    scale = _UNITS.get(unit.lower())
    if scale is None:
        raise QuotaError(f"--quota {text!r}: {unit!r} is not a size unit (B, KB, MB, GB, TB, "
                         f"KiB, MiB, GiB, TiB)")
    limit = int(float(number) * scale)
    if limit <= 0:
        raise QuotaError(f"--quota {text!r}: the size must be more than 0")
    if period not in PERIODS:
        raise QuotaError(f"--quota {text!r}: the period must be day, week or month")
    return name, limit, period


def calendar(billing_day: int):
    """``(period, now) -> the period's first second`` for the core's counters."""

    def start(period: str, now: float) -> int:
        if period == "day":
            return int(now) - int(now) % 86400
        if period == "week":
            return week_start(now)
        return period_start(now, billing_day)

    return start


def used_before(path: str | None, name: str, since: int) -> int:
    """Bytes counter ``name`` counted from ``since`` in the history database at ``path``
    (0 without one, or when it cannot be read: the quota then counts from now)."""
    if not path:
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            # every period starts at midnight UTC: whole days hold it exactly
            row = db.execute("SELECT SUM(bytes) FROM counter_days WHERE name = ? AND "
                             "day >= ?", (name, since)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)
