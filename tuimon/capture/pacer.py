"""Recorded-pace playback: hands out a file's packet records when their time comes.

The pacer never sleeps; its owner asks ``poll(now)`` with its own clock and gets the
records that are due plus how long to wait before asking again. So the engine process can
answer the UI between polls, and tests drive it with a fake clock.

Capture time maps to wall time as ``wall = anchor_wall + (ts - anchor_ts) / speed``; the
anchor moves on pause, resume and speed changes, and over gaps longer than ``max_gap``
(a quiet night), which are skipped and remembered in ``gaps``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MAX_BATCH = 5000  # records per poll at most, so the owner stays responsive
IDLE = 0.25  # seconds to wait when paused or finished
SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 0.0)  # 0 = as fast as possible


class Pacer:
    def __init__(self, batches: Iterable[list], speed: float = 1.0, max_gap: float = 5.0) -> None:
        self._batches: Iterator[list] = iter(batches)
        self.speed = speed
        self.max_gap = max_gap
        self.paused = False
        self.finished = False
        self.packets = 0
        self.position: float | None = None  # capture time of the newest record handed out
        self.gaps: list[tuple[float, float]] = []  # (capture time where it starts, seconds skipped)
        self._pending: list = []
        self._i = 0
        self._anchor_ts: float | None = None
        self._anchor_wall = 0.0

    # -- control ---------------------------------------------------------------------

    def _reanchor(self, now: float) -> None:
        if self.position is not None:
            self._anchor_ts, self._anchor_wall = self.position, now

    def pause(self, now: float) -> None:
        self.paused = True

    def resume(self, now: float) -> None:
        if self.paused:
            self.paused = False
            self._reanchor(now)

    def set_speed(self, speed: float, now: float) -> None:
        self.speed = max(0.0, speed)
        self._reanchor(now)

    def faster(self, now: float) -> float:
        return self._step(+1, now)

    def slower(self, now: float) -> float:
        return self._step(-1, now)

    def _step(self, direction: int, now: float) -> float:
        try:
            i = SPEEDS.index(self.speed)
        except ValueError:
            i = min(range(len(SPEEDS) - 1), key=lambda k: abs(SPEEDS[k] - self.speed))
        self.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, i + direction))], now)
        return self.speed

    def capture_now(self, now: float) -> float | None:
        """The capture time the playback has reached at wall time ``now`` (between packets too)."""
        if self._anchor_ts is None or self.speed == 0 or self.paused or self.finished:
            return self.position
        return max(self.position, self._anchor_ts + (now - self._anchor_wall) * self.speed)

    # -- the feed --------------------------------------------------------------------

    def _next_record(self):
        while self._i >= len(self._pending):
            try:
                self._pending, self._i = next(self._batches), 0
            except StopIteration:
                self.finished = True
                return None
        return self._pending[self._i]

    def poll(self, now: float) -> tuple[list, float]:
        """Records due at ``now``, and the seconds until the next one is due."""
        out: list = []
        if self.paused:
            return out, IDLE
        while len(out) < MAX_BATCH:
            rec = self._next_record()
            if rec is None:
                return out, IDLE
            ts = rec[1]
            if self._anchor_ts is None:
                self._anchor_ts, self._anchor_wall = ts, now
                self.position = ts
            elif ts - self.position > self.max_gap:
                # Skip the gap: this record is due when the one before it was.
                self.gaps.append((self.position, ts - self.position))
                self._anchor_ts, self._anchor_wall = ts, self._due(self.position) if self.speed else now
            if self.speed:
                due = self._due(ts)
                if due > now:
                    return out, due - now
            out.append(rec)
            self._i += 1
            self.packets += 1
            if ts > self.position:
                self.position = ts
        return out, 0.0

    def _due(self, ts: float) -> float:
        return self._anchor_wall + (ts - self._anchor_ts) / self.speed if self.speed else 0.0
