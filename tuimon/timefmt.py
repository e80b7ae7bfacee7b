"""Times as text: every timestamp a capture can hold, however far from any clock.

A pcapng's ``if_tsoffset`` or a 1-second ``if_tsresol`` can put a packet billions of years
away; ``time.gmtime`` and ``time.localtime`` refuse such times (OverflowError, or OSError
"Value too large"). Here dates come from the proleptic Gregorian calendar in integer
arithmetic, so any time is written as what it is: ``+292277026596-12-04T15:30:07Z``,
``-0100-...`` (ISO 8601's expanded years past 9999 and before year 0). Every ISO or
clock time tuimon formats goes through this module.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache


def civil_date(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the day ``days`` after 1970-01-01, any integer (H. Hinnant's
    days-to-civil algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _year(year: int) -> str:
    if 0 <= year <= 9999:
        return f"{year:04d}"
    return f"+{year}" if year > 0 else f"-{-year:04d}"


def _parts(sec: int) -> tuple[str, int, int, int, int, int]:
    days, rest = divmod(sec, 86400)
    year, month, day = civil_date(days)
    hour, rest = divmod(rest, 3600)
    return _year(year), month, day, hour, rest // 60, rest % 60


@lru_cache(maxsize=4096)
def iso_second(sec: int) -> str:
    """``2024-01-31T12:00:00``: the UTC second ``sec`` seconds after the epoch."""
    year, month, day, hour, minute, second = _parts(sec)
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def iso_utc(ts: float | None) -> str:
    """ISO 8601 UTC with microseconds: ``2024-01-31T12:00:00.123456Z`` ("" for None, or
    for a time that is not a number)."""
    if ts is None or not math.isfinite(ts):
        return ""
    sec, micro = divmod(round(ts * 1_000_000), 1_000_000)
    return f"{iso_second(sec)}.{micro:06d}Z"


def _local_seconds(ts: float) -> int:
    """``ts`` as seconds of local time: the system's clock offset where it knows the time,
    else today's offset from UTC."""
    return math.floor(ts) + time.localtime().tm_gmtoff


def clock(ts: float | None) -> str:
    """Local wall-clock time, ``HH:MM:SS`` ("" for None)."""
    if ts is None:
        return ""
    try:
        return time.strftime("%H:%M:%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        if not math.isfinite(ts):
            return "--:--:--"
        _, _, _, hour, minute, second = _parts(_local_seconds(ts))
        return f"{hour:02d}:{minute:02d}:{second:02d}"


def clock_micro(ts: float) -> str:
    """Local time of day with microseconds, ``HH:MM:SS.ffffff``."""
    if not math.isfinite(ts):
        return "--:--:--.------"
    return f"{clock(ts)}.{int(round(ts % 1 * 1e6)) % 1000000:06d}"


def stamp(ts: float) -> str:
    """``20240131-120000``, local time: for file names."""
    try:
        return time.strftime("%Y%m%d-%H%M%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        if not math.isfinite(ts):
            return "unknown-time"
        year, month, day, hour, minute, second = _parts(_local_seconds(ts))
        return f"{year}{month:02d}{day:02d}-{hour:02d}{minute:02d}{second:02d}"
