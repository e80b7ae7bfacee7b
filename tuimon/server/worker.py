"""The engine process behind the UI: :class:`~tuimon.server.driver.Driver` with a pipe to it.

The UI never counts packets. It starts :func:`worker_main` in a process of its own
(multiprocessing, "spawn" context, by :class:`tuimon.server.client.ProcessClient`) and
talks to it over two one-way pipes carrying the messages of :mod:`tuimon.server.protocol`.
The driver counts and answers in one thread; drill-down's slow jobs run in a thread of
their own. Every blocking read has a timeout, and the process exits when the UI's end of
the pipe closes.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable
from functools import partial

from tuimon.capture.open import open_source
from tuimon.config import Config
from tuimon.server.driver import Driver
from tuimon.server.protocol import PassFd
from tuimon.server.service import EngineService
from tuimon.server.session import tune_gc


class PipeChannel:
    """The driver's :class:`~tuimon.server.driver.Channel` over the two pipes."""

    def __init__(self, requests, replies) -> None:
        self.requests = requests
        self.replies = replies
        self._sending = threading.Lock()  # the driver and the drill thread both reply

    def fileno(self) -> int:
        return self.requests.fileno()

    def poll(self, timeout: float) -> list:
        pending = []
        wait = timeout
        while len(pending) < 64 and self.requests.poll(wait):
            wait = 0.0
            pending.append(self.requests.recv())
        return pending

    def send(self, message) -> bool:
        try:
            with self._sending:
                self.replies.send(message)
            return True
        except (OSError, ValueError, EOFError):
            return False


def debug_log() -> None:
    """The exception being handled, appended to $TUIMON_DEBUG_LOG when it is set (the
    engine processes' traceback, never shown to the user)."""
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


ENGINE_NICE = 5  # the app's engine process (and the dumpcap it starts): a key press first


def _behind_the_ui() -> None:
    """The app's engine yields to its UI: a few steps of nice, which needs no privilege. The
    UI sleeps most of the time and wakes for a key press or the second's refresh; at the
    same nice, on a machine whose cores the capture keeps busy (dumpcap, the counting, the
    traffic itself), a woken UI waited its turn behind them. Measured at 150,000 packets/s
    (bench/app_live.py, 2 runs each): a key to the screen in 221-267 ms at nice 5 against
    329-390 ms at nice 0, and drops no different (the UI's CPU is small, and while it sleeps
    the engine gets all of its share). Linux's autogroup puts the app's processes in one
    group, so this weighs the engine against the UI, not against other sessions. Headless
    has no UI and keeps its nice."""
    try:
        os.nice(ENGINE_NICE)
    except OSError:
        pass


def worker_main(requests, replies, config: Config, factory: Callable | None = None,
                stdin: PassFd | None = None, budget: float = 0.05) -> None:
    """The engine process: count the source, answer requests until Stop or the pipe closes.
    ``stdin``: the capture's pipe for ``-r -`` (fd 0 is the terminal's)."""
    _quiet()
    _behind_the_ui()
    tune_gc()
    if factory is None:
        stream = os.fdopen(stdin.fd, "rb") if stdin is not None else None
        factory = partial(open_source, stdin=stream)
    service = EngineService(config, factory)
    driver = Driver(service, PipeChannel(requests, replies), budget=budget)
    signal.signal(signal.SIGTERM, lambda signum, frame: driver.stop.set())
    try:
        driver.run()
    except Exception as err:  # noqa: BLE001 - report, never print a traceback
        debug_log()
        driver.fail(err)
    finally:
        driver.close()
