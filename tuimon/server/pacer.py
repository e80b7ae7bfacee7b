"""Recorded-pace playback: hands out a file's packet records when their time comes.

The pacer never sleeps; its owner asks ``poll(now)`` with its own clock and gets the
records that are due plus how long to wait before asking again. So the engine process can
answer the UI between polls, and tests drive it with a fake clock.

Capture time maps to wall time as ``wall = anchor_wall + (ts - anchor_ts) / speed``; the
anchor moves on pause, resume and speed changes, and over gaps longer than ``max_gap``
(a quiet night), which are skipped and remembered in ``gaps``.

The batches may include ``None``: nothing is ready yet (the reader is behind, standard
input is slow); ``poll`` then returns what it has and asks to be polled again soon, and the
playback is not finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MAX_BATCH = 5000  # records per poll at most, so the owner stays responsive
IDLE = 0.25  # seconds to wait when paused or finished
STARVED = 0.01  # seconds to wait when the next batch is not ready yet
_NOT_READY = object()
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
        self.starved = False  # the last poll found no batch ready
        self._pending: list = []
        self._i = 0
        self._anchor_ts: float | None = None
        self._anchor_wall = 0.0
        self._held: float | None = None

    # -- control ---------------------------------------------------------------------

    def _reanchor(self, now: float, reached: float | None) -> None:
        if reached is not None:
            self._anchor_ts, self._anchor_wall = reached, now

    def pause(self, now: float) -> None:
        if not self.paused:
            self._held = self.capture_now(now)  # resume goes on from here, between packets too
            self.paused = True

    def resume(self, now: float) -> None:
        if self.paused:
            self.paused = False
            self._reanchor(now, self._held)

    def set_speed(self, speed: float, now: float) -> None:
        reached = self._held if self.paused else self.capture_now(now)
        self.speed = max(0.0, speed)
        self._reanchor(now, reached)

    def faster(self, now: float) -> float:
        return self._step(+1, now)

    def slower(self, now: float) -> float:
        return self._step(-1, now)

    def _step(self, direction: int, now: float) -> float:
        """The next step up (0 = as fast as possible is the top) or down from the speed,
        which need not be one of the steps (``--speed 3``: up 5, down 2)."""
        steps = sorted(s for s in SPEEDS if s)
        speed = self.speed
        if direction > 0:
            above = [s for s in steps if s > speed + 1e-9]
            new = 0.0 if speed == 0 or not above else above[0]
        else:
            below = [s for s in steps if s < speed - 1e-9]
            new = steps[-1] if speed == 0 else below[-1] if below else steps[0]
        self.set_speed(new, now)
        return self.speed

    def capture_now(self, now: float) -> float | None:
        """The capture time the playback has reached at wall time ``now`` (between packets too)."""
        if self.paused:
            return self._held
        if self._anchor_ts is None or self.speed == 0 or self.finished or self.starved:
            return self.position
        return max(self.position, self._anchor_ts + (now - self._anchor_wall) * self.speed)

    # -- the feed --------------------------------------------------------------------

    def batch_done(self) -> float:
        """The share of the current batch handed out (1.0 between batches)."""
        return self._i / len(self._pending) if self._pending else 1.0

    def _next_record(self):
        while self._i >= len(self._pending):
            try:
                batch = next(self._batches)
            except StopIteration:
                self.finished = True
                self._pending, self._i = [], 0
                return None
            if batch is None:
                return _NOT_READY
            # a batch of columns (PacketColumns) as tuples once, not one index at a time
            self._pending, self._i = (batch if isinstance(batch, list) else list(batch)), 0
        return self._pending[self._i]

    def poll(self, now: float) -> tuple[list, float]:
        """Records due at ``now``, and the seconds until the next one is due."""
        out: list = []
        if self.paused:
            return out, IDLE
        self.starved = False
        while len(out) < MAX_BATCH:
            rec = self._next_record()
            if rec is None:
                return out, IDLE
            if rec is _NOT_READY:
                self.starved = True
                return out, STARVED
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
