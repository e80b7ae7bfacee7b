"""Rates over iftop's windows: 2 s, 10 s and 40 s of capture time.

Two forms of history, both sparse (one entry per second in which the thing counted
anything, none older than the longest window):

* interfaces and protocols: a list of ``[second, bytes, packets]`` (packet rates too);
* hosts and conversations, of which there are millions: a *packed* history, bytes only,
  each entry one int ``second << 48 | bytes`` -- ``None`` when empty, the int itself when
  it holds one second, a list of them otherwise. See :func:`bump_packed`.
"""

from __future__ import annotations

from collections.abc import Callable

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


TRAIL = 3600  # seconds of per-second history kept per interface (sparklines, History)


def bump_trail(trail: list, sec: int, nbytes: int, in_bytes: int, out_bytes: int) -> None:
    """Add a second's bytes (all, in, out) to an interface's trail, a sparse list of
    ``[second, bytes, in, out]`` no older than :data:`TRAIL` seconds."""
    if trail and trail[-1][0] == sec:
        entry = trail[-1]
        entry[1] += nbytes
        entry[2] += in_bytes
        entry[3] += out_bytes
        return
    trail.append([sec, nbytes, in_bytes, out_bytes])
    cutoff = sec - TRAIL
    while trail[0][0] <= cutoff:
        del trail[0]


def trail_series(trail: list, now: float | None, seconds: int) -> tuple[list, list, list]:
    """The ``seconds`` seconds ending at ``now`` (included) as three dense lists of bytes
    per second, oldest first: all, in, out."""
    seconds = max(0, min(seconds, TRAIL))
    total, ins, outs = [0] * seconds, [0] * seconds, [0] * seconds
    if now is None:
        return total, ins, outs
    first = int(now) - seconds + 1
    for sec, nbytes, in_bytes, out_bytes in trail:
        i = sec - first
        if 0 <= i < seconds:
            total[i] += nbytes
            ins[i] += in_bytes
            outs[i] += out_bytes
    return total, ins, outs


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


def rate2_packed(hist, sec: int) -> float:
    """The 2 s rate (bytes per second) a packed history holds at second ``sec``: its
    bytes of ``sec`` and ``sec - 1``, halved (:func:`rates_packed`'s first window, for
    the peaks the fold keeps)."""
    if hist is None:
        return 0.0
    if hist.__class__ is int:
        return (hist & MASK) / 2 if sec - (hist >> SHIFT) < 2 else 0.0
    total = 0
    for entry in reversed(hist):
        if sec - (entry >> SHIFT) >= 2:
            break
        total += entry & MASK
    return total / 2


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


def packed_seconds(hist, total: int) -> list[tuple[int, int]]:
    """A packed history (:func:`bump_total`'s, of ``total`` bytes) as ``(second, bytes)``
    pairs, oldest first."""
    if hist is None:
        return []
    if hist.__class__ is int and hist >> SHIFT == 0:  # a bare second: all of it then
        return [(hist, total)]
    return [(e >> SHIFT, e & MASK) for e in ((hist,) if hist.__class__ is int else hist)]


def move_seconds(target: list, hist, total: int, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) a packed history's seconds (``hist`` of ``total``
    bytes, :func:`bump_total`) to/from a ``[second, bytes, packets]`` history: a
    conversation's recent seconds follow it to its new application protocol."""
    seconds = packed_seconds(hist, total)
    if not seconds:
        return
    merged = {s: [s, b, p] for s, b, p in target}
    for s, b in seconds:
        entry = merged.setdefault(s, [s, 0, 0])
        entry[1] += sign * b
    target[:] = sorted((e for e in merged.values() if e[1] > 0 or e[2] > 0), key=lambda e: e[0])


def rate_key(window: int, now: float | None,
             total_of: Callable | None = None) -> Callable[[object], float]:
    """A sort key: a thing's rate over ``WINDOWS[window]`` ending at ``now``, for things
    (hosts, conversations) that keep their packed history in ``.hist``; ``total_of(thing)``:
    the bytes it holds, for a history that may be a bare second (:func:`bump_total`).
    Things idle for the longest window cost one comparison (a query sorts hundreds of
    thousands of them). Hosts kept as columns (``_t``, :mod:`tuimon.core.hosts`): every
    host's rate of their table at once, on the first one asked."""
    sec = int(now) if now is not None else 0
    idle = (sec - _LONGEST) << SHIFT  # an entry below this is older than every window
    recent = sec - _LONGEST  # a bare second above this is within the longest window

    table_rates: dict = {}  # a host table's -> its hosts' rates by id (one numpy pass)

    def packed_key(thing) -> float:
        table = thing._t  # a host of the engine's columns (tuimon.core.hosts), else None
        if table is not None:
            got = table_rates.get(id(table))
            if got is None:
                got = table_rates[id(table)] = table.all_rates(now)[window]
            return got[thing.hid]
        hist = thing.hist
        if hist is None or (hist if hist.__class__ is int else hist[-1]) < idle:
            return 0.0  # idle for the longest window: cheap zero
        return rates_packed(hist, now)[window]

    def total_key(thing) -> float:
        hist = thing.hist
        if hist is None:
            return 0.0
        if hist.__class__ is int:
            if hist >> SHIFT == 0:  # a bare second: every byte came then
                if hist <= recent:
                    return 0.0
                return rates_packed(hist << SHIFT | total_of(thing), now)[window]
            if hist < idle:
                return 0.0
        elif hist[-1] < idle:
            return 0.0
        return rates_packed(hist, now)[window]

    return packed_key if total_of is None else total_key
