"""Playback of a recorded capture at its recorded pace, inside the engine process.

:class:`Player` puts a :class:`~tuimon.server.pacer.Pacer` between a file source's batches
and the engine and works out the progress the UI shows (:class:`Progress`). It never
sleeps: its owner polls it with its own clock (the worker with ``time.monotonic``, tests
with a fake one) and waits as long as it is told.

The batches come through a :class:`Feed`: each with the position in the file reached once
it was read, so the progress counts the bytes of the file the playback has consumed, not
what the reader has read ahead. A feed reads its source directly (:func:`positioned`, in
the calling thread) or from the worker's reader thread (:func:`from_queue`).

Pure Python: no Textual, no Rich; :class:`Progress` crosses the process boundary by pickle.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator

from tuimon.server.pacer import IDLE, Pacer
from tuimon.server.protocol import Progress
from tuimon.errors import TuimonError

END = "end of the capture"  # what the reader thread puts last (a str survives any queue)


def positioned(source) -> Iterator[tuple[list, int]]:
    """The source's batches, each with the file position reached after reading it."""
    for batch in source.batches():
        yield batch, source.position()


def from_queue(q: queue.Queue) -> Iterator:
    """What the reader thread puts: (batch, position) items, an exception, then END;
    ``None`` while nothing is ready."""
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            yield None
            continue
        if isinstance(item, str) and item == END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


class Feed:
    """An iterator of batches for the pacer, remembering where in the file the current one
    starts and ends, and the error that ended the capture, if any."""

    def __init__(self, items: Iterator) -> None:
        self.items = items
        self.start = self.end = 0
        self.error: str | None = None
        self.exception: TuimonError | None = None  # the typed error behind ``error``

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> list | None:
        try:
            item = next(self.items)
        except StopIteration:
            raise
        except TuimonError as err:
            self.error, self.exception = str(err), err
            raise StopIteration from None
        except Exception as err:  # noqa: BLE001 - the user sees one line
            self.error = f"capture failed: {type(err).__name__}: {err}"
            raise StopIteration from None
        if item is None:
            return None
        batch, position = item
        self.start, self.end = self.end, max(self.end, position)
        return batch


class Player:
    """A paced playback: ``poll(now)`` gives the records due, ``progress(now)`` the figures."""

    def __init__(self, feed: Feed, size: int | None, speed: float = 1.0,
                 max_gap: float = 5.0) -> None:
        self.feed = feed
        self.size = size
        self.pacer = Pacer(feed, speed=speed, max_gap=max_gap)
        self.first: float | None = None

    @property
    def finished(self) -> bool:
        return self.pacer.finished

    @property
    def error(self) -> str | None:
        return self.feed.error

    def poll(self, now: float) -> tuple[list, float]:
        records, wait = self.pacer.poll(now)
        if records and self.first is None:
            self.first = min(r[1] for r in records[:100])
        return records, (IDLE if self.pacer.finished else wait)

    def pause(self, now: float) -> None:
        self.pacer.pause(now)

    def resume(self, now: float) -> None:
        self.pacer.resume(now)

    def step_speed(self, step: int, now: float) -> float:
        return self.pacer.faster(now) if step > 0 else self.pacer.slower(now)

    def reached(self, now: float) -> float | None:
        return self.pacer.capture_now(now)

    def progress(self, now: float) -> Progress:
        pacer, feed = self.pacer, self.feed
        position = feed.start + (feed.end - feed.start) * pacer.batch_done()
        if pacer.finished:
            position = max(feed.end, self.size or 0) if self.size is not None else feed.end
        return Progress(packets=pacer.packets, first=self.first, reached=self.reached(now),
                        position=int(position), size=self.size, speed=pacer.speed,
                        paused=pacer.paused, finished=pacer.finished, gaps=len(pacer.gaps),
                        skipped=sum(seconds for _, seconds in pacer.gaps),
                        max_gap=pacer.max_gap)


def paced(pacer: Pacer, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, most: float = 0.25) -> Iterator[list]:
    """Headless playback at the pacer's speed: the records as they fall due, sleeping in
    between (an empty list after each sleep of at most ``most`` seconds, so the consumer can
    check whether it should stop)."""
    while True:
        records, wait = pacer.poll(clock())
        if records:
            yield records
        if pacer.finished:
            return
        if wait > 0:
            sleep(min(wait, most))
            yield []
