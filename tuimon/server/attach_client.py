"""SocketClient: the app's :class:`~tuimon.server.protocol.EngineClient` on a daemon's
control socket (``tuimon attach``), beside :class:`~tuimon.server.client.ProcessClient`.

The engine is the daemon's, already counting: :meth:`SocketClient.launch` connects and reads
the daemon's :class:`~tuimon.server.protocol.Served` and first Status; a receiver thread
hands every reply to the app; :meth:`SocketClient.stop` only closes the connection -- it
never sends ``Stop``, so quitting the app leaves the daemon counting. Replies are unpickled
with tuimon's own classes only (:mod:`tuimon.server.wire`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tuimon.server.control import ControlError, connect
from tuimon.server.protocol import ERROR, Served, Status
from tuimon.server.wire import BadMessage, dumps, loads_reply


class SocketClient:
    """The app attached to ``tuimon serve`` at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = None
        self.label = path
        self.served: Served | None = None
        self.first_status: Status | None = None
        self._deliver: Callable | None = None
        self._stopping = threading.Event()
        self._receiver: threading.Thread | None = None
        self._lock = threading.Lock()

    def launch(self, timeout: float = 10.0) -> Status:
        """Connect; the daemon's Served and Status (a ControlError when it cannot)."""
        self.conn = connect(self.path)
        deadline = time.monotonic() + timeout
        while self.first_status is None and time.monotonic() < deadline:
            try:
                if not self.conn.poll(0.2):
                    continue
                reply = loads_reply(self.conn.recv_bytes())
            except (EOFError, OSError, BadMessage):
                break
            if isinstance(reply, Served):
                self.served = reply
                self.label = reply.source
            elif isinstance(reply, Status):
                self.first_status = reply
        if self.served is None or self.first_status is None:
            self.close()
            raise ControlError(f"{self.path}: no answer from tuimon serve")
        return self.first_status

    def start(self, deliver: Callable[[object], None]) -> None:
        if self.conn is None:
            self.launch()
        self._deliver = deliver
        deliver(self.first_status)
        self._receiver = threading.Thread(target=self._receive, name="tuimon-receiver",
                                          daemon=True)
        self._receiver.start()

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self.conn.poll(0.2):
                    continue
                reply = loads_reply(self.conn.recv_bytes())
            except (EOFError, OSError, BadMessage) as err:
                if not self._stopping.is_set():
                    why = str(err) if isinstance(err, BadMessage) else "it closed the connection"
                    self._safe_deliver(Status(ERROR, f"detached from tuimon serve: {why}",
                                              self.label, True))
                return
            self._safe_deliver(reply)

    def _safe_deliver(self, reply) -> None:
        try:
            self._deliver(reply)
        except RuntimeError:  # the app's loop is closing
            pass

    def send(self, request) -> None:
        if self.conn is None or self._stopping.is_set():
            return
        try:
            with self._lock:
                self.conn.send_bytes(dumps(request))
        except (OSError, ValueError):
            self._safe_deliver(Status(ERROR, "detached from tuimon serve: it closed the "
                                      "connection", self.label, True))

    def request(self, request, answer: type, timeout: float = 10.0):
        """Send ``request`` and wait for the reply of type ``answer`` (``tuimon ctl``;
        without a receiver thread)."""
        if self.conn is None:
            self.launch()
        self.conn.send_bytes(dumps(request))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self.conn.poll(0.2):
                    continue
                reply = loads_reply(self.conn.recv_bytes())
            except (EOFError, OSError):
                raise ControlError(f"{self.path}: tuimon serve closed the connection") \
                    from None
            if isinstance(reply, answer):
                return reply
        raise ControlError(f"{self.path}: no answer from tuimon serve in {timeout:g} s")

    def stop(self) -> None:
        """Detach: the daemon counts on (no Stop is sent)."""
        self._stopping.set()
        if self._receiver is not None:
            self._receiver.join(1.0)
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
