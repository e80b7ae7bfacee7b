"""Clients: how the app reaches the engine, without knowing whether it is a process.

* :class:`ProcessClient` (the real app): the engine runs in its own process
  (:func:`tuimon.server.worker.worker_main`, "spawn" context). A receiver thread reads the
  replies with a timeout and hands each one to ``deliver`` (the app posts it to itself as
  a message, which is thread-safe).
* :class:`LocalClient` (tests): an :class:`~tuimon.server.service.EngineService` in this
  process, answering synchronously. Deterministic, no timers; only drill-down requests
  run in a thread (as in the engine process), their replies arriving later.

Both offer what :class:`tuimon.server.protocol.EngineClient` describes; the UI sees no more.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable

from tuimon.config import Config
from tuimon.server.protocol import DRILL_REQUESTS, ERROR, PassFd, Status, Stop
from tuimon.server.service import EngineService
from tuimon.server.worker import worker_main


class LocalClient:
    """An :class:`EngineService` in this process, answering synchronously (tests)."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.label = service.status.source
        self.deliver: Callable | None = None
        self._jobs: queue.Queue | None = None

    def start(self, deliver: Callable[[object], None]) -> None:
        self.deliver = deliver
        deliver(self.service.status)

    def send(self, request) -> None:
        if isinstance(request, DRILL_REQUESTS):
            self._drill(self.service.drill_job(request))
            return
        reply = self.service.handle(request)
        if reply is not None and self.deliver is not None:
            self.deliver(reply)

    def _drill(self, job) -> None:
        if self._jobs is None:
            self._jobs = queue.Queue()
            threading.Thread(target=self._run_jobs, name="tuimon-drill", daemon=True).start()
        self._jobs.put(job)

    def _run_jobs(self) -> None:
        while True:
            reply = self._jobs.get()()
            try:
                if self.deliver is not None:
                    self.deliver(reply)
            except RuntimeError:  # the app has gone
                pass


class ProcessClient:
    """The engine in a process of its own (the real app)."""

    def __init__(self, config: Config, factory: Callable | None = None,
                 context: str = "spawn", stdin: PassFd | None = None) -> None:
        """``stdin``: the capture's pipe for ``-r -``, handed to the engine process."""
        self.config = config
        self.factory = factory
        self.stdin = stdin
        self.context = multiprocessing.get_context(context)
        self.process = None
        self._requests = self._replies = None
        self._deliver: Callable | None = None
        self._stopping = threading.Event()
        self._receiver: threading.Thread | None = None
        self._lock = threading.Lock()
        self.label = config.label()
        self.first_status: Status | None = None

    def launch(self, timeout: float = 30.0) -> Status:
        """Start the engine process and wait for its first Status (the source opened, or not)."""
        ctx = self.context
        req_read, self._requests = ctx.Pipe(duplex=False)
        self._replies, rep_write = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=worker_main, name="tuimon-engine", daemon=True,
                                   args=(req_read, rep_write, self.config, self.factory,
                                         self.stdin))
        self.process.start()
        req_read.close()
        rep_write.close()
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            try:
                if self._replies.poll(0.1):
                    status = self._replies.recv()
                    break
            except (EOFError, OSError):
                break
            if not self.process.is_alive():
                break
        if not isinstance(status, Status):
            status = Status(ERROR, "the engine process did not start", self.label)
        self.first_status = status
        return status

    def start(self, deliver: Callable[[object], None]) -> None:
        if self.process is None:
            self.launch()
        self._deliver = deliver
        if self.first_status is not None:
            deliver(self.first_status)
        self._receiver = threading.Thread(target=self._receive, name="tuimon-receiver",
                                          daemon=True)
        self._receiver.start()

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._replies.poll(0.2):
                    continue
                reply = self._replies.recv()
            except (EOFError, OSError):
                if not self._stopping.is_set():
                    self._safe_deliver(Status(ERROR, "the engine process stopped", self.label,
                                              True))
                return
            self._safe_deliver(reply)

    def _safe_deliver(self, reply) -> None:
        try:
            self._deliver(reply)
        except RuntimeError:  # the app's loop is closing
            pass

    def send(self, request) -> None:
        if self._requests is None or self._stopping.is_set():
            return
        try:
            with self._lock:
                self._requests.send(request)
        except (OSError, ValueError):
            self._safe_deliver(Status(ERROR, "the engine process stopped", self.label, True))

    def stop(self, timeout: float = 7.0) -> None:
        if self.process is None:
            return
        try:
            with self._lock:
                self._requests.send(Stop())
        except (OSError, ValueError, AttributeError):
            pass
        self._stopping.set()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        if self._receiver is not None:
            self._receiver.join(1.0)
        for conn in (self._requests, self._replies):
            try:
                conn.close()
            except (OSError, AttributeError):
                pass
