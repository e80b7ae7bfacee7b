"""Rates over iftop's windows: 2 s, 10 s and 40 s of capture time.

Two forms of history, both sparse (one entry per second in which the thing counted
anything, none older than the longest window):

* interfaces and protocols: a list of ``[second, bytes, packets]`` (packet rates too);
* hosts and conversations, of which there are millions: a *packed* history, bytes only,
  each entry one int ``second << 48 | bytes`` -- ``None`` when empty, the int itself when
  it holds one second, a list of them otherwise. See :func:`bump_packed`.
"""

from __future__ import annotations

WINDOWS = (2, 10, 40)
_LONGEST = WINDOWS[-1]
SHIFT = 48
MASK = (1 << SHIFT) - 1


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


def bump_packed(hist, sec: int, nbytes: int):
    """Add ``nbytes`` at second ``sec`` to a packed history; return the new history
    (``obj.hist = bump_packed(obj.hist, sec, n)``)."""
    if hist is None:
        return sec << SHIFT | nbytes
    if hist.__class__ is int:
        s = hist >> SHIFT
        if s == sec:
            return hist + nbytes
        if s <= sec - _LONGEST:
            return sec << SHIFT | nbytes
        return [hist, sec << SHIFT | nbytes]
    last = hist[-1]
    if last >> SHIFT == sec:
        hist[-1] = last + nbytes
        return hist
    hist.append(sec << SHIFT | nbytes)
    cutoff = (sec - _LONGEST) << SHIFT | MASK
    while hist[0] <= cutoff:
        del hist[0]
    if len(hist) == 1:
        return hist[0]
    return hist


def packed_last_second(hist) -> int | None:
    if hist is None:
        return None
    return (hist if hist.__class__ is int else hist[-1]) >> SHIFT


def rates_packed(hist, now: float | None) -> tuple[float, float, float]:
    """Bytes per second over each window ending at ``now``, from a packed history."""
    if hist is None or now is None:
        return (0.0, 0.0, 0.0)
    sec = int(now)
    r2 = r10 = r40 = 0
    for entry in ((hist,) if hist.__class__ is int else hist):
        age = sec - (entry >> SHIFT)
        if age < 40:
            nbytes = entry & MASK
            r40 += nbytes
            if age < 10:
                r10 += nbytes
                if age < 2:
                    r2 += nbytes
    return (r2 / 2, r10 / 10, r40 / 40)


# Conversations, of which there may be a million, most of them active in one second only:
# their history may also be just that second (an int below 2**SHIFT, the fold's own int
# object, so it costs no memory), meaning "every byte so far came in that second".


def bump_total(hist, sec: int, nbytes: int, before: int):
    """:func:`bump_packed` for a history that may be a bare second; ``before``: the bytes
    the thing had counted before these ``nbytes``."""
    if hist is None:
        return sec
    if hist.__class__ is int and hist >> SHIFT == 0:
        if hist == sec:
            return hist
        if hist <= sec - _LONGEST:
            return sec << SHIFT | nbytes
        return [hist << SHIFT | before, sec << SHIFT | nbytes]
    return bump_packed(hist, sec, nbytes)


def rates_total(hist, total: int, now: float | None) -> tuple[float, float, float]:
    """:func:`rates_packed` for a history that may be a bare second of ``total`` bytes."""
    if hist.__class__ is int and hist >> SHIFT == 0:
        return rates_packed(hist << SHIFT | total, now)
    return rates_packed(hist, now)
