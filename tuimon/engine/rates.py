"""Rates over iftop's windows: 2 s, 10 s and 40 s of capture time.

A history is a short list of ``[second, bytes, packets]``, one entry per second in which
the thing counted anything, none older than the longest window.
"""

from __future__ import annotations

WINDOWS = (2, 10, 40)
_LONGEST = WINDOWS[-1]


def bump(hist: list, sec: int, nbytes: int, npackets: int = 0) -> None:
    if hist and hist[-1][0] == sec:
        entry = hist[-1]
        entry[1] += nbytes
        entry[2] += npackets
        return
    hist.append([sec, nbytes, npackets])
    cutoff = sec - _LONGEST
    while hist[0][0] <= cutoff:
        del hist[0]


def rates(hist: list, now: float | None) -> tuple[float, float, float]:
    """Bytes per second over each window ending at ``now``."""
    if not hist or now is None:
        return (0.0, 0.0, 0.0)
    sec = int(now)
    r2 = r10 = r40 = 0
    for s, nbytes, _ in hist:
        age = sec - s
        if age < 40:
            r40 += nbytes
            if age < 10:
                r10 += nbytes
                if age < 2:
                    r2 += nbytes
    return (r2 / 2, r10 / 10, r40 / 40)


def packet_rate(hist: list, now: float | None, window: int = 2) -> float:
    if not hist or now is None:
        return 0.0
    sec = int(now)
    return sum(p for s, _, p in hist if sec - s < window) / window
