"""Per-second trails of the few conversations whose History the user opened.

An interface keeps its last hour per second (:data:`tuimon.core.rates.TRAIL`) from the
start; a conversation, of which there may be a million, keeps only 40 seconds of rate
history. Opening a conversation's History *watches* it: from then on each fold adds the
bytes it counted each way to a per-second trail of its own (an hour at most), as an
interface's. The last :data:`WATCH_MAX` conversations opened are watched; opening another
forgets the longest unopened one. A watch costs the fold one lookup per watched
conversation, nothing per packet.
"""

from __future__ import annotations

from collections.abc import Callable

from tuimon.core.rates import bump_trail, trail_series

WATCH_MAX = 16


class Watch:
    """One watched conversation: its trail, the conversation object and its bytes each way
    as the last fold saw them, the capture second the watch began (None until the first
    fold after it), and what it had counted each way before (``before_*``)."""

    __slots__ = ("trail", "conv", "ab", "ba", "since", "before_ab", "before_ba")

    def __init__(self, conv, since: int | None) -> None:
        self.trail: list = []
        self.conv = conv
        self.ab, self.ba = (conv.ab_b, conv.ba_b) if conv is not None else (0, 0)
        self.before_ab, self.before_ba = self.ab, self.ba
        self.since = since


class Watches:
    """Row key of a conversation -> its :class:`Watch`, the most recently opened last."""

    def __init__(self) -> None:
        self._watched: dict[tuple, Watch] = {}

    def __bool__(self) -> bool:
        return bool(self._watched)

    def __contains__(self, key: tuple) -> bool:
        return key in self._watched

    def watch(self, key: tuple, conv, now: float | None) -> Watch:
        """Watch the conversation under ``key`` (``conv``: it, or None if not in the table);
        returns its watch (the one it had if it was watched already)."""
        w = self._watched.pop(key, None)
        if w is None:
            w = Watch(conv, int(now) if now is not None else None)
            while len(self._watched) >= WATCH_MAX:
                del self._watched[next(iter(self._watched))]
        self._watched[key] = w
        return w

    def fold(self, find: Callable[[tuple], object], sec: int) -> None:
        """Add what each watched conversation counted since the last fold at ``sec``."""
        for key, w in self._watched.items():
            conv = find(key)
            if conv is None:
                continue
            ab, ba = conv.ab_b, conv.ba_b
            if conv is w.conv:
                d_ab, d_ba = ab - w.ab, ba - w.ba
            else:  # it was not in the table, or left and came back: a new conversation
                d_ab, d_ba = ab, ba
                w.conv, w.before_ab, w.before_ba = conv, 0, 0
            if d_ab or d_ba:
                bump_trail(w.trail, sec, d_ab + d_ba, d_ab, d_ba)
                w.ab, w.ba = ab, ba
            if w.since is None:
                w.since = sec

    def series(self, key: tuple, now: float | None, seconds: int):
        """``(both ways, a to b, b to a)`` per second over the ``seconds`` ending at ``now``
        (dense lists, oldest first); None when the conversation is not watched."""
        w = self._watched.get(key)
        if w is None:
            return None
        return trail_series(w.trail, now, seconds)
