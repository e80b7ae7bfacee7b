"""A conversation's traffic over time, from rows that hold only its totals.

The history records a conversation as one row when it leaves the table (the columns of
conversations.csv: its first and last packet and its bytes each way), not per minute:
per-minute rows for every conversation would take a busy gateway's database from a few
GB a day to a hundred and more (docs/history.md). Its History chart therefore draws each
such row as its *average* rate over its lifetime, as MRTG averages a counter over its
interval: :func:`spread` divides a row's bytes among the periods its lifetime overlaps,
in proportion, so the periods add up exactly to the row's bytes.
"""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """One conversation's lifetime and bytes each way (A to B, B to A)."""

    first: float
    last: float
    a_to_b: int
    b_to_a: int


def _shares(total: int, cuts: list[float]) -> list[int]:
    """``total`` split by the cumulative fractions ``cuts`` (ascending, the last 1.0 or
    less) into whole bytes that add up to round(total * cuts[-1])."""
    out, before = [], 0
    for c in cuts:
        upto = round(total * c)
        out.append(upto - before)
        before = upto
    return out


def spread(spans: list[Span], start: int, step: int, points: int
           ) -> tuple[list[int], list[int], list[int]]:
    """Bytes (both ways, A to B, B to A) per period of ``step`` seconds from ``start``,
    ``points`` periods: each span's bytes shared among the periods its lifetime overlaps
    in proportion to the overlap (all of it in one period when it lasted no time)."""
    total, ab, ba = [0] * points, [0] * points, [0] * points
    end = start + step * points
    for s in spans:
        first, last = s.first, max(s.first, s.last)
        if last < start or first >= end:
            continue
        if last == first:
            i = int((first - start) // step)
            ab[i] += s.a_to_b
            ba[i] += s.b_to_a
            total[i] += s.a_to_b + s.b_to_a
            continue
        life = last - first
        lo = max(0, int((first - start) // step))
        hi = min(points - 1, int((last - start) // step))
        cuts = [(min(last, start + (i + 1) * step) - first) / life for i in range(lo, hi + 1)]
        cut0 = (max(first, start + lo * step) - first) / life
        base_ab, base_ba = round(s.a_to_b * cut0), round(s.b_to_a * cut0)
        for k, (x, y) in enumerate(zip(_shares(s.a_to_b, cuts), _shares(s.b_to_a, cuts))):
            if k == 0:
                x, y = x - base_ab, y - base_ba
            ab[lo + k] += x
            ba[lo + k] += y
            total[lo + k] += x + y
    return total, ab, ba


def hours_of_day(spans: list[Span], since: int, until: int) -> list[tuple]:
    """The 24 hours of the day (UTC) between ``since`` and ``until`` (on the hour), as
    :meth:`tuimon.sinks.history_read.HistoryReader.hours_of_day` gives them: ``(hour,
    days, bytes, A to B, B to A)``, each the average over the days with traffic in it."""
    n = (until - since) // 3600
    total, ab, ba = spread(spans, since, 3600, n)
    days: list[set] = [set() for _ in range(24)]
    sums = [[0, 0, 0] for _ in range(24)]
    for i in range(n):
        if total[i]:
            hour = since + i * 3600
            h = hour // 3600 % 24
            days[h].add(hour // 86400)
            sums[h][0] += total[i]
            sums[h][1] += ab[i]
            sums[h][2] += ba[i]
    out = []
    for h in range(24):
        d = max(len(days[h]), 1)
        out.append((h, len(days[h]), sums[h][0] / d, sums[h][1] / d, sums[h][2] / d))
    return out
