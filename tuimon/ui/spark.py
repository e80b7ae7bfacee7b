"""Text charts for the Line-API widgets: sparklines, column groups, bar heights in eighths,
round axis peaks, time labels. Pure functions of numbers to characters, nothing Textual.

Block characters carry the shape, so a chart reads the same with ``NO_COLOR``.
"""

from __future__ import annotations

import math
import time

BLOCKS = " ▁▂▃▄▅▆▇█"  # 0 to 8 eighths of a cell


def eighths(value: float, peak: float, cells: int) -> int:
    """How many eighths of ``cells`` cells ``value`` fills on a scale up to ``peak``; at
    least one for anything above zero (a quiet second still shows)."""
    if value <= 0 or peak <= 0:
        return 0
    return max(1, min(cells * 8, round(value / peak * cells * 8)))


def sparkline(values: list, peak: float) -> str:
    """One character per value, ``▁`` to ``█`` on a scale up to ``peak``; blank for 0."""
    return "".join(BLOCKS[eighths(v, peak, 1)] for v in values)


def columns(values: list, width: int) -> list[float]:
    """``values`` in at most ``width`` columns, each the average of the values it holds
    (the newest value always ends the last column)."""
    n = len(values)
    if n <= width or width <= 0:
        return list(values)
    per = math.ceil(n / width)
    start = n - (n // per) * per  # a partial group at the start is dropped, not the end
    return [sum(values[i:i + per]) / per for i in range(start, n, per)]


def nice_peak(value: float) -> float:
    """The axis' top: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def cell(fill: int) -> str:
    """The block for ``fill`` eighths of one cell (clamped to 0..8)."""
    return BLOCKS[max(0, min(8, fill))]


def time_label(ts: float, step: int) -> str:
    """A local time for an axis: ``HH:MM`` for points of minutes or seconds, ``MM-DD HH`` for
    hours, ``YYYY-MM-DD`` for days."""
    t = time.localtime(ts)
    if step >= 86400:
        return time.strftime("%Y-%m-%d", t)
    if step >= 3600:
        return time.strftime("%m-%d %Hh", t)
    return time.strftime("%H:%M", t)
