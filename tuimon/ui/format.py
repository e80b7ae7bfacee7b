"""Numbers for humans (``34.5 MB``, ``1.2 Mb/s``) or raw, and times; pure functions."""

from __future__ import annotations

from tuimon import timefmt

_DECIMAL = ("", "k", "M", "G", "T", "P")


def _scaled(value: float) -> tuple[float, str]:
    unit = 0
    while abs(value) >= 999.95 and unit < len(_DECIMAL) - 1:
        value /= 1000
        unit += 1
    return value, _DECIMAL[unit]


def size(n: int | None, human: bool = True) -> str:
    """Bytes: ``512 B``, ``34.5 MB``; raw: ``34500000``."""
    if n is None:
        return ""
    if not human:
        return str(n)
    if n < 1000:
        return f"{n} B"
    value, prefix = _scaled(float(n))
    return f"{value:.1f} {prefix}B"


def bitrate(bytes_per_second: float | None, human: bool = True) -> str:
    """Bytes/s in, bits/s out: ``1.2 Mb/s``; raw: whole bits per second."""
    if bytes_per_second is None:
        return ""
    bits = bytes_per_second * 8
    if not human:
        return str(round(bits))
    if bits < 1000:
        return f"{bits:.0f} b/s"
    value, prefix = _scaled(bits)
    return f"{value:.1f} {prefix}b/s"


def count(n: int | None, human: bool = True) -> str:
    """Packets and such: ``9999``, ``12.3k``; raw: the number."""
    if n is None:
        return ""
    if not human or n < 10000:
        return str(n)
    value, prefix = _scaled(float(n))
    return f"{value:.1f}{prefix}"


def packet_rate(per_second: float, human: bool = True) -> str:
    if not human or per_second < 10000:
        return f"{per_second:.0f} p/s" if human else f"{per_second:.0f}"
    value, prefix = _scaled(per_second)
    return f"{value:.1f}{prefix} p/s"


def clock_time(ts: float | None) -> str:
    """Local wall-clock time of a packet, ``HH:MM:SS``."""
    return timefmt.clock(ts)


def duration(seconds: float) -> str:
    """``00:01:05``; days when longer: ``3d 04:00:00``."""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}d {text}" if days else text


def endpoint(address: str, port: int | None) -> str:
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
