"""The one loop that counts: read a batch, ingest, label, fold, expire, answer, tick.

The app's engine process (:mod:`tuimon.server.worker`, with a :class:`Channel` to the UI)
and ``--no-ui`` (:mod:`tuimon.server.headless`, with none) both run :class:`Driver`, so
the app counts as fast as headless does: in one thread, straight from the source.

* **Live**: the source's batches are read here, in this thread (dumpcap's pipes through
  ``select``); the request pipe is one more descriptor that wakes the wait, so a key press
  is answered at once when the link is quiet and between two batches when it is busy.
* **Playback**: a :class:`~tuimon.server.playback.Player` releases what its recorded pace
  has due. The app reads the file in a reader thread (a pipe on standard input may block);
  headless reads it here, and as fast as possible unless ``--speed`` is given.
* **Once a second**: the live clock moves on (rates decay on a quiet link), the kernel's
  counters are sampled, the capture's news (an interface gone, dumpcap exited) is said,
  and ``--duration`` is checked.

Requests are answered by :meth:`EngineService.handle <tuimon.server.service.EngineService.handle>`;
drill-down's slow jobs go to a thread of their own (``drill``), so counting goes on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from tuimon.capture.source import Source
from tuimon.config import Config
from tuimon.core.engine import Engine
from tuimon.core.grouping import prepare
from tuimon.errors import CaptureFailed, TuimonError
from tuimon.server.labeler import DEFAULT_PACKETS
from tuimon.server.pacer import IDLE
from tuimon.server.playback import END, Feed, from_queue, positioned
from tuimon.server.protocol import (
    CAPTURING,
    DRILL_REQUESTS,
    ERROR,
    PLAYING,
    Query,
    Save,
    Status,
    Stop,
    one_line,
)
from tuimon.server.service import EngineService

STOP_GRACE = 5.0  # a live source asked to stop: how long it may stay silent before it is ended
TICK = 1.0
READ_AHEAD = 4  # batches a headless playback's reader thread may be ahead of the counting
# a headless playback makes room at once for a conversation per this many bytes of its file
# (room only: a file of fewer, larger conversations leaves it unused, a virtual memory
# but for the index's 16 bytes each; one of more grows as ever)
RESERVE_BYTES = 4096
RESERVE_MOST = 1 << 18  # ... and room for at most this many (the index's 4 MiB at most)


class Channel(Protocol):
    """The UI's end as the driver sees it."""

    def fileno(self) -> int: ...  # readable when a request waits

    def poll(self, timeout: float) -> list:
        """The requests waiting (at most a few dozen), waiting up to ``timeout`` for the
        first; raises EOFError or OSError when the UI has gone."""

    def send(self, message) -> bool:
        """Send a reply; False when the UI has gone."""


class Driver:
    """Counts one service's source to its end, or until stopped."""

    def __init__(self, service: EngineService, channel: Channel | None = None,
                 stop: threading.Event | None = None, budget: float = 0.05,
                 on_tick: Callable[[], None] | None = None,
                 reader_thread: bool | None = None,
                 until: Callable[[], bool] | None = None,
                 linger: bool | None = None) -> None:
        """``stop``: set to end (a signal, a Stop request); a live capture is then asked to
        stop gracefully and what it still holds is counted. ``budget``: seconds of counting
        between two looks at the requests. ``on_tick``: called once a second (headless
        says the capture's news on stderr). ``reader_thread``: read a playback's file in a
        thread of its own (default: when there is a channel). ``until``: stop as soon as
        it says so (checked after every batch; tests). ``linger``: once the source has
        ended, keep answering requests until stopped (default: when there is a channel;
        the daemon lingers after a playback, not after a live capture that ended on its
        own)."""
        self.service = service
        self.channel = channel
        self.stop = stop or threading.Event()
        self.budget = budget
        self.on_tick = on_tick
        self.reader_thread = channel is not None if reader_thread is None else reader_thread
        self.until = until
        self.linger = channel is not None if linger is None else linger
        self._drill_jobs: queue.Queue | None = None
        self._final_save: Save | None = None
        self._stopping_at: float | None = None
        self._reader: threading.Thread | None = None
        self._batches: queue.Queue | None = None
        self._closing = threading.Event()  # the reader thread's own stop
        self.error: TuimonError | None = None  # what ended the source, if it failed
        self._deferred: list = []  # requests seen in the middle of a fold, not yet handled

    # -- talking -----------------------------------------------------------------------

    def send(self, message) -> bool:
        if self.channel is None or message is None:
            return True
        if not self.channel.send(message):
            self.stop.set()
            return False
        return True

    # -- the loop ------------------------------------------------------------------------

    def run(self, opened: bool = False) -> Status:
        """Open the source (unless ``opened`` already), count it, return the last status.
        The source is closed by :meth:`close` (the owner saves first)."""
        service = self.service
        if not opened:
            self.send(service.open())
        if service.status.state == ERROR:
            return service.status
        if self.channel is not None and service.engine is not None:
            service.engine.between = self._between
        if service.live:
            self._run_live()
        else:
            self._run_playback()
        return service.status

    def _run_live(self) -> None:
        service = self.service
        source = service.source
        if self.channel is not None:
            source.wake_on(self.channel.fileno())
        batches = source.batches()
        next_tick = time.monotonic() + TICK
        duration = service.config.duration
        try:
            while service.status.state == CAPTURING:
                if self._requests(0.0):
                    break  # Stop, or the UI has gone
                self._stop_if_asked()
                try:
                    batch = next(batches)
                except StopIteration:
                    self.send(service.finish(drain=self.channel is None))
                    break
                except TuimonError as err:
                    self.error = err
                    self.send(service.finish(str(err), drain=self.channel is None))
                    break
                # a key that came while the batch was read is answered before it is counted
                ended = bool(batch) and self._requests(0.0)
                service.ingest(batch)
                if ended:
                    break  # Stop, or the UI has gone: what was read is counted first
                service.poll_labels()
                if self.until is not None and self.until():
                    self.stop.set()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + TICK
                    self._tick()
                    if duration and service.elapsed() >= duration:
                        self.stop.set()
                if self._stopping_at is not None and batch:
                    # what dumpcap still hands over is counted, however long the backlog
                    # (its pipe and the kernel's buffer) takes: the grace is since the last
                    self._stopping_at = now + STOP_GRACE
                if self._stopping_at is not None and now > self._stopping_at:
                    self.send(service.finish(drain=self.channel is None))
                    break  # closing the generator kills what is left of the capture
        finally:
            batches.close()
        self._after_end()

    def _stop_if_asked(self) -> None:
        if self.stop.is_set():
            self._stop_capture()

    def _stop_capture(self) -> None:
        """Ask the live source to stop: what it holds is still counted, for a while."""
        if self._stopping_at is None:
            self._stopping_at = time.monotonic() + STOP_GRACE
            self.service.stop_capture()

    def _run_playback(self) -> None:
        service = self.service
        if self.channel is None and service.config.play_speed == 0:
            self._run_file_at_once()
            return
        if self.reader_thread:
            self._batches = queue.Queue(maxsize=8)
            self._reader = threading.Thread(
                target=_read_batches, args=(positioned(service.source), self._batches,
                                            self._closing),
                name="tuimon-reader", daemon=True)
            service.play(Feed(from_queue(self._batches)))
            self._reader.start()
        else:
            service.play(Feed(positioned(service.source)))
        next_tick = time.monotonic() + TICK
        due = 0.0
        while service.status.state == PLAYING and not self.stop.is_set():
            wait = min(0.05, due) if self.channel is not None else 0.0
            if self._requests(wait):
                return
            if self.channel is None and due > 0:
                time.sleep(min(due, 0.25))  # headless --speed: nothing else to do meanwhile
            due = self._pump()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + TICK
                self._tick()
        if service.status.state == PLAYING:  # stopped by a signal: what was read is counted
            self.send(service.finish())
        if self.channel is None:  # headless: the last verdicts before the report
            service.drain()
        if service.player is not None and service.player.feed.exception is not None:
            self.error = service.player.feed.exception
        self._after_end()

    def _run_file_at_once(self) -> None:
        """Headless, as fast as possible: no pace to keep and no UI to answer, so the
        batches go from the reader thread (:func:`read_ahead`) to the engine with nothing
        between (the player's record-by-record pacing cost a tenth of a large file's
        playback)."""
        service = self.service
        error = None
        size = service.source.size
        if size:  # the file's size: room for its conversations at once (about)
            service.engine.reserve(min(size // RESERVE_BYTES, RESERVE_MOST))
        try:
            for batch in read_ahead(service.source, prepare):
                service.ingest(batch)
                if service.metrics is not None:  # --metrics: at most once a second
                    service.metrics.publish(service)
                if self.stop.is_set():
                    break
        except TuimonError as err:
            self.error, error = err, str(err)
        service.finish(error, drain=True)

    def _pump(self) -> float:
        service = self.service
        before = service.status
        try:
            due = service.pump(self.budget)
        except Exception as err:  # noqa: BLE001 - one line for the user, never a traceback
            due = IDLE
            service.finish(f"counting failed: {type(err).__name__}: {err}")
        if service.status is not before:
            self.send(service.status)
        return due

    def _after_end(self) -> None:
        """The source has ended: with a UI, keep answering (and applying late verdicts)
        until Stop; a save that waited for the end is done now."""
        if self.channel is None or not self.linger:
            return
        if self._final_save is not None:
            self.send(self.service.save(self._final_save))
            self._final_save = None
        while not self.stop.is_set():
            if self._requests(0.1):
                return
            self.service.poll_labels()

    def _tick(self) -> None:
        service = self.service
        service.tick()
        if service.live:
            self.send(service.capture_news())
        if self.on_tick is not None:
            self.on_tick()

    def _requests(self, wait: float, queries_only: bool = False) -> bool:
        """Answer what the UI asked; True when the loop must end (Stop, the UI gone).
        ``queries_only``: answer the queries, keep the rest for the next look (the middle
        of a fold)."""
        if self.channel is None:
            return False
        try:
            pending = self.channel.poll(wait)
        except (EOFError, OSError):
            self.stop.set()
            return True
        if self._deferred:
            pending, self._deferred = self._deferred + pending, []
        if queries_only:
            self._deferred = [r for r in pending if not isinstance(r, Query)]
            pending = [r for r in pending if isinstance(r, Query)]
        # A query superseded by a newer one in the same read is not answered.
        last_query = max((i for i, r in enumerate(pending) if isinstance(r, Query)),
                         default=-1)
        service = self.service
        for i, request in enumerate(pending):
            if isinstance(request, Stop):
                self.stop.set()
                return True
            if isinstance(request, Query) and (
                    i != last_query or (request.refresh and not service.refresh_due())):
                continue
            if isinstance(request, DRILL_REQUESTS):
                self._drill(service.drill_job(request))
                continue
            if isinstance(request, Save) and request.final and \
                    service.status.state == CAPTURING:
                self._final_save = request  # saved once the capture has handed over all
                self._stop_capture()
                continue
            if not self.send(service.handle(request)):
                return True
        return False

    def _between(self) -> None:
        """Between the parts of a long fold: the queries waiting are answered (a key press
        waits for a part, not the whole fold); the rest waits for the fold's end."""
        self.service.version += 1  # the counts moved since the last answer
        self._requests(0.0, queries_only=True)

    def _drill(self, job: Callable[[], object]) -> None:
        if self._drill_jobs is None:
            self._drill_jobs = queue.Queue()
            threading.Thread(target=self._run_drill_jobs, name="tuimon-drill",
                             daemon=True).start()
        self._drill_jobs.put(job)

    def _run_drill_jobs(self) -> None:
        while not self._closing.is_set():
            try:
                job = self._drill_jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            self.send(job())

    def fail(self, err: BaseException) -> None:
        """The loop itself failed: say so in one line (never a traceback)."""
        service = self.service
        self.send(Status(ERROR, one_line(f"engine failed: {type(err).__name__}: {err}"),
                         service.status.source, True))

    def close(self) -> None:
        self._closing.set()
        self.service.close()
        if self._reader is not None:
            self._reader.join(timeout=1.0)


def count_source(source: Source, engine: Engine | None = None,
                 dissect_packets: int = DEFAULT_PACKETS,
                 until: Callable[[], bool] | None = None) -> EngineService:
    """Count ``source`` to its end (or until ``until()`` says so) with the headless
    driver, as fast as it comes; returns the service (``.engine`` holds the counts). A
    file's damage is raised as its typed error, as ``--no-ui`` reports it."""
    live = source.kind != "file"
    config = Config(read=None if live else (source.name or "-"), no_ui=True,
                    dissect_packets=dissect_packets)
    service = EngineService(config, factory=lambda config: source, engine=engine,
                            keep_expired=False)
    driver = Driver(service, until=until)
    try:
        driver.run()
    finally:
        service.close_capture()
    if driver.error is not None and not live:
        raise driver.error
    return service


def read_ahead(source, prepare: Callable | None = None) -> Iterator[list]:
    """``source``'s batches, read and decoded by a thread of their own a few batches
    ahead of the counting, each handed to ``prepare`` there first (the grouping by
    conversation, :func:`tuimon.core.grouping.prepare`): the reading, the compiled walk
    and grouping and numpy let go of the interpreter's lock, so they run on the other
    core while the engine counts (no UI here: a thread beside Textual is what costs
    keys). Its error is raised here, in its place; stopping early stops it."""
    batches: queue.Queue = queue.Queue(maxsize=READ_AHEAD)
    closing = threading.Event()
    items = source.batches() if prepare is None else _prepared(source.batches(), prepare)
    reader = threading.Thread(target=_read_batches, args=(items, batches, closing),
                              name="tuimon-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = batches.get()
            if isinstance(item, str) and item == END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        closing.set()
        reader.join()


def _prepared(batches, prepare: Callable) -> Iterator:
    for batch in batches:
        prepare(batch)
        yield batch


def _read_batches(items, out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: ``items`` into ``out`` (the app's playback: (batch, position)
    items; a headless one: batches); then END or the error."""
    item = END
    try:
        for batch in items:
            while not stop.is_set():
                try:
                    out.put(batch, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except TuimonError as err:
        item = err
    except Exception as err:  # noqa: BLE001
        item = CaptureFailed(f"capture failed: {type(err).__name__}: {err}")
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue
