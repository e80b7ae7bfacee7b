"""``tuimon report``: the history database's figures over a period, as a table on standard
output or a CSV file, without the app.

``--by interface|host|protocol`` adds up each one's rows over the period, most bytes
first; ``--by hour|day`` gives the traffic of every interface per period, oldest first;
``--by hour-of-day`` the 24 hours of the day (UTC), with the average per day that had
traffic. ``--since this-period`` starts at the accounting period's billing day
(``--billing-day``, :mod:`tuimon.sinks.history_totals`). The period is read from the coarsest table that holds it exactly (days when it
starts and ends at midnight, hours when on the hour, else minutes), so a month's report
still works when its minutes are gone.
"""

from __future__ import annotations

import argparse
import calendar
import os
import sqlite3
import sys
import time
from collections import namedtuple

from tuimon.errors import TuimonError
from tuimon.sinks.csv import write_csv
from tuimon.sinks.history import default_path
from tuimon.sinks.history_schema import GRAINS, KINDS, PERIOD, VERSION, table
from tuimon.sinks.history_totals import check_billing_day, period_start, week_start

BY = ("interface", "host", "protocol", "hour", "day", "hour-of-day")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise TuimonError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tuimon report", description="Traffic from the history database.")
    p.add_argument("--history", metavar="PATH", help="the database (default: the live one)")
    p.add_argument("--since", metavar="WHEN", help="from WHEN (ISO date or time UTC, today, "
                   "yesterday, Nd, Nh, this-week, this-month, this-period); default: "
                   "everything")
    p.add_argument("--until", metavar="WHEN", help="up to WHEN, not included; default: now")
    p.add_argument("--by", choices=BY, default="host", help="what a row is (default host)")
    p.add_argument("--top", type=int, metavar="N",
                   help="only the first N rows (default 20 on screen, all in CSV)")
    p.add_argument("--csv", metavar="DIR", help="write report-BY.csv into DIR instead")
    p.add_argument("--billing-day", type=int, default=1, metavar="N",
                   help="this-period starts on day N (1-28) of the month (default 1)")
    return p


def parse_when(text: str, now: float, billing_day: int = 1) -> int:
    """WHEN as Unix seconds UTC: ``2024-01-31``, ``2024-01-31T12:00[:00][Z]``, ``today``,
    ``yesterday``, ``this-week`` (from Monday), ``this-month``, ``this-period`` (from the
    last ``billing_day``), ``7d`` (today and the 6 days before), ``12h`` (this hour and the
    11 before)."""
    day = int(now) - int(now) % 86400
    word = text.strip().lower()
    if word == "today":
        return day
    if word == "yesterday":
        return day - 86400
    if word == "this-week":
        return week_start(now)
    if word == "this-period":
        return period_start(now, billing_day)
    if word == "this-month":
        t = time.gmtime(now)
        return calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    if word[:-1].isdigit() and word[-1:] in ("d", "h") and int(word[:-1]) > 0:
        n = int(word[:-1])
        if word[-1] == "d":
            return day - (n - 1) * 86400
        return int(now) - int(now) % 3600 - (n - 1) * 3600
    iso = text.strip().rstrip("Zz").replace(" ", "T")
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return calendar.timegm(time.strptime(iso, fmt))
        except ValueError:
            continue
    raise TuimonError(f"not a time: {text!r} (an ISO date such as 2024-01-31, today, "
                      f"yesterday, 7d, 12h, this-week, this-month or this-period)")


def grain_for(since: int | None, until: int | None, by: str) -> str:
    """The coarsest table whose periods fit between ``since`` and ``until`` exactly."""
    if by == "day":
        return "days"
    if by in ("hour", "hour-of-day"):
        return "hours"
    edges = [t for t in (since, until) if t is not None]
    for grain in ("days", "hours"):
        if all(t % GRAINS[grain] == 0 for t in edges):
            return grain
    return "minutes"


def open_history(path: str) -> sqlite3.Connection:
    if not os.path.isfile(path):
        raise TuimonError(f"no history at {path}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as err:
        raise TuimonError(f"cannot read the history {path}: {err}") from None
    if version == 0:
        raise TuimonError(f"{path} is not a tuimon history")
    if version != VERSION:
        raise TuimonError(f"{path} has schema {version}, this tuimon reads {VERSION}: "
                          "record into it once to migrate it")
    return db


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def query(db: sqlite3.Connection, by: str, since: int | None, until: int | None,
          top: int | None = None) -> tuple[list[str], list[tuple]]:
    """The report's columns and rows."""
    grain = grain_for(since, until, by)
    period = PERIOD[grain]
    where, args = [], []
    if since is not None:
        where.append(f"{period} >= ?")
        args.append(since)
    if until is not None:
        where.append(f"{period} < ?")
        args.append(until)
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    kind = by if by in KINDS else "interface"
    keys, values = KINDS[kind]
    sums = ", ".join(f"SUM({v})" for v in values)
    if by in KINDS:
        sql = (f"SELECT {', '.join(keys)}, {sums} FROM {table(kind, grain)}{cond} "
               f"GROUP BY {', '.join(keys)} ORDER BY SUM(bytes) DESC, {', '.join(keys)}")
        columns = [*keys, *values]
    elif by == "hour-of-day":
        sql = (f"SELECT ({period} % 86400) / 3600 AS h, {sums}, "
               f"COUNT(DISTINCT {period} / 86400) FROM {table(kind, grain)}{cond} "
               f"GROUP BY h ORDER BY h")
        columns = ["hour_of_day", *values, "days", "bytes_per_day"]
    else:
        sql = (f"SELECT {period}, {sums} FROM {table(kind, grain)}{cond} "
               f"GROUP BY {period} ORDER BY {period}")
        columns = [by, *values]
    if top is not None:
        sql += f" LIMIT {int(top)}"
    rows = db.execute(sql, args).fetchall()
    if by == "hour-of-day":
        rows = [(*r, round(r[2] / r[-1])) for r in rows]
    elif by in ("hour", "day"):
        rows = [(_iso(r[0]), *r[1:]) for r in rows]
    return columns, rows


def render(columns: list[str], rows: list[tuple]) -> str:
    """A plain table, numbers right-aligned."""
    cells = [columns] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    numeric = [all(isinstance(r[i], int) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if n else c.ljust(w)
                       for c, w, n in zip(r, widths, numeric)).rstrip() for r in cells]
    return "\n".join(lines)


def main(argv: list[str], now: float | None = None) -> int:
    from tuimon.text import printable

    try:
        args = build_parser().parse_args(argv)
        now = time.time() if now is None else now
        try:
            check_billing_day(args.billing_day)
        except ValueError as err:
            raise TuimonError(f"--billing-day: {err}") from None
        since = parse_when(args.since, now, args.billing_day) if args.since else None
        until = parse_when(args.until, now, args.billing_day) if args.until else None
        if since is not None and until is not None and until <= since:
            raise TuimonError("--until must come after --since")
        if args.top is not None and args.top < 1:
            raise TuimonError("--top must be 1 or more")
        top = args.top if args.top is not None or args.csv else 20
        db = open_history(args.history or default_path())
        try:
            columns, rows = query(db, args.by, since, until, top)
        finally:
            db.close()
        if args.csv:
            Row = namedtuple("Row", [c.replace("-", "_") for c in columns])
            path = os.path.join(args.csv, f"report-{args.by}.csv")
            try:
                os.makedirs(args.csv, exist_ok=True)
                write_csv(path, list(Row._fields), [Row(*r) for r in rows])
            except OSError as err:
                raise TuimonError(f"cannot write {path}: {err.strerror or err}") from None
            print(path)
        else:
            print(render(columns, rows))
        return 0
    except TuimonError as err:
        print(f"tuimon report: {printable(str(err), 1000)}", file=sys.stderr)
        return err.exit_code
    except sqlite3.Error as err:
        print(f"tuimon report: cannot read the history: {err}", file=sys.stderr)
        return 2
