"""The engine process behind the UI.

The UI never counts packets. It starts :func:`worker_main` in a process of its own
(multiprocessing, "spawn" context) and talks to it over two one-way pipes:

UI -> worker (``requests``)
    ``Query``                 answer with a :class:`~tuimon.server.query.Page`
    ``Save(folder, seq)``     write the four CSV files; answer ``Saved`` (``final``: stop a
                              live capture first, save once it has ended)
    ``Ping(seq)``             answer ``Pong`` (the worker's pid and loaded top-level modules)
    ``Speed(step)``           playback: one step faster (+1) or slower (-1); answer ``Progress``
    ``Hold(paused)``          playback: pause or resume the recorded pace; answer ``Progress``
    ``Packets(key)``, ``Dissect(key, index)``, ``WritePcap(key, folder)``
                              drill-down (:mod:`tuimon.server.drill`): answered by the drill
                              thread with ``PacketList``, ``Dissection``, ``Written``
    ``Stop()``                close the source and exit

worker -> UI (``replies``)
    ``Status``                on every change of state: starting, playing (a file),
                              capturing (live), finished, error -- with a one-line message
    ``Page`` (with the playback's ``Progress``), ``Saved``, ``Pong``, ``Progress``

Inside the worker a reader thread iterates the capture source and hands batches over a
bounded queue; the main thread counts them (:class:`~tuimon.server.session.Session`) and
answers requests between batches, so the engine is touched by one thread only. A file is
played at its recorded pace (:class:`~tuimon.server.playback.Player`, ``--speed``,
``--max-gap``): the main thread polls the player, which says how long until the next
packet is due, and answers requests meanwhile. Drill-down requests are looked up there
and run in a drill thread (they read files and run tshark), so counting and queries go on
meanwhile. Every blocking read has a timeout, and the worker exits when the UI's end of
the pipe closes.

:class:`~tuimon.server.service.EngineService` is the same logic without the process, for tests;
the messages are in :mod:`tuimon.server.protocol`.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
import traceback
from argparse import Namespace
from collections.abc import Callable

from tuimon.server.pacer import IDLE
from tuimon.server.drill import DRILL_REQUESTS
from tuimon.server.protocol import (
    CAPTURING,
    ERROR,
    PLAYING,
    PassFd,
    Save,
    Status,
    Stop,
    one_line,
)
from tuimon.server.playback import (
    END,
    Feed,
    from_queue,
    positioned,
)
from tuimon.server.query import Query
from tuimon.server.service import EngineService, open_source
from tuimon.server.session import tune_gc
from tuimon.errors import CaptureFailed, TuimonError


def _read_batches(items, out: queue.Queue, stop: threading.Event) -> None:
    """Reader thread: the source's batches (a file's with their positions) into ``out``;
    then END or the error."""
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
        _debug_log()
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _drill(jobs: queue.Queue, send: Callable, stop: threading.Event) -> None:
    """Drill thread: run drill-down jobs one after the other, send their replies."""
    while not stop.is_set():
        try:
            job = jobs.get(timeout=0.2)
        except queue.Empty:
            continue
        send(job())


def _debug_log() -> None:
    path = os.environ.get("TUIMON_DEBUG_LOG")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(traceback.format_exc())
        except OSError:
            pass


def _quiet() -> None:
    """The terminal belongs to the UI: nothing the worker (or a library) prints may reach it.
    Terminal signals are the UI's too: on a hang-up the worker outlives the UI by a moment,
    sees its pipe close, and shuts its capture down (dumpcap runs in a session of its own
    and would otherwise keep capturing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def _play(service: EngineService, send: Callable, budget: float) -> float:
    """Count what the playback has due; say so when it finished. Returns the wait."""
    before = service.status
    try:
        due = service.pump(budget)
    except Exception as err:  # noqa: BLE001
        _debug_log()
        due = IDLE
        service.finish(f"counting failed: {type(err).__name__}: {err}")
    if service.status is not before:
        send(service.status)
    return due


def _count_live(service: EngineService, batches: queue.Queue, send: Callable,
                budget: float) -> None:
    deadline = time.monotonic() + budget
    while service.status.state in (PLAYING, CAPTURING) and time.monotonic() < deadline:
        try:
            item = batches.get_nowait()
        except queue.Empty:
            break
        if isinstance(item, str) and item == END:
            send(service.finish())
        elif isinstance(item, BaseException):
            send(service.finish(str(item)))
        else:
            try:
                service.ingest(item)
            except Exception as err:  # noqa: BLE001
                _debug_log()
                send(service.finish(f"counting failed: {type(err).__name__}: {err}"))


def worker_main(requests, replies, args: dict, factory: Callable | None = None,
                batch_budget: float = 0.05) -> None:
    """The engine process: count the source, answer requests until Stop or the pipe closes."""
    _quiet()
    tune_gc()
    args = dict(args)
    passed = args.pop("stdin_fd", None)
    if isinstance(passed, PassFd):  # -r - in the app: the capture's pipe, not fd 0
        args["stdin"] = os.fdopen(passed.fd, "rb")
    service = EngineService(Namespace(**args), factory or open_source)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())  # stop, close the source
    sending = threading.Lock()  # the main thread and the drill thread both reply

    def send(message) -> bool:
        try:
            with sending:
                replies.send(message)
            return True
        except (OSError, ValueError, EOFError):
            stop.set()
            return False

    drill_jobs: queue.Queue = queue.Queue()
    driller = threading.Thread(target=_drill, args=(drill_jobs, send, stop),
                               name="tuimon-drill", daemon=True)
    driller.start()

    send(service.open())
    batches: queue.Queue = queue.Queue(maxsize=8)
    reader = None
    duration = getattr(service.args, "duration", None) if service.live else None
    if service.status.state != ERROR:
        items = service.source.batches() if service.live else positioned(service.source)
        if not service.live:
            service.play(Feed(from_queue(batches)))
        reader = threading.Thread(target=_read_batches, args=(items, batches, stop),
                                  name="tuimon-reader", daemon=True)
        reader.start()
    next_tick = time.monotonic() + 1.0
    stopping = False
    due = 0.0  # playback: seconds until the next packet is due
    final_save = None  # a Save(final=True) waiting for the live capture to end
    try:
        while not stop.is_set():
            # 1. requests (wait a little only when there is nothing to count)
            if service.player is not None:
                wait = min(0.05, due) if service.status.state == PLAYING else 0.05
            else:
                wait = 0.0 if not batches.empty() else 0.05
            pending = []
            try:
                while len(pending) < 64 and requests.poll(wait):
                    wait = 0.0
                    pending.append(requests.recv())
            except (EOFError, OSError):
                break  # the UI is gone
            # A query superseded by a newer one in the same read is not answered.
            last_query = max((i for i, r in enumerate(pending) if isinstance(r, Query)),
                             default=-1)
            for i, request in enumerate(pending):
                if isinstance(request, Stop):
                    stop.set()
                    break
                if isinstance(request, Query) and i != last_query:
                    continue
                if isinstance(request, DRILL_REQUESTS):
                    drill_jobs.put(service.drill_job(request))
                    continue
                if isinstance(request, Save) and request.final and \
                        service.status.state == CAPTURING:
                    final_save = request
                    if not stopping:
                        stopping = True
                        service.stop_capture()
                    continue
                reply = service.handle(request)
                if reply is not None and not send(reply):
                    break
            if stop.is_set():
                break
            # 2. count for a while: what the playback has due, or what the capture brought
            if service.player is not None:
                due = _play(service, send, batch_budget)
            else:
                _count_live(service, batches, send, batch_budget)
            if final_save is not None and service.status.state not in (PLAYING, CAPTURING):
                if not send(service.save(final_save)):
                    break
                final_save = None
            service.poll_labels()
            # 3. the clock of a live capture, and --duration
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + 1.0
                service.tick()
                news = service.capture_news() if service.live else None
                if news is not None:
                    send(news)
                if duration and not stopping and service.elapsed() >= duration:
                    stopping = True
                    service.stop_capture()
    except Exception as err:  # noqa: BLE001 - report, never print a traceback
        _debug_log()
        send(Status(ERROR, one_line(f"engine failed: {type(err).__name__}: {err}"),
                    service.status.source, True))
    finally:
        stop.set()
        service.close()
        if reader is not None:
            reader.join(timeout=1.0)

