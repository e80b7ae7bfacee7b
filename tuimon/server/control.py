"""The daemon's control socket: where it is, who may open it, and the driver's channel over it.

``tuimon serve`` listens on a local Unix socket (never on the network): by default
``/run/tuimon/NAME.sock`` as root, else ``$XDG_RUNTIME_DIR/tuimon/NAME.sock``; mode 0660,
its group ``--control-group`` (else the daemon's). :class:`ControlChannel` is the
:class:`~tuimon.server.driver.Channel` the daemon's :class:`~tuimon.server.driver.Driver`
answers, as the app's engine process answers its pipe, with these differences:

* several clients at once (apps attached, a browser session, ``tuimon ctl``): each poll
  hands the driver one client's requests, and the replies the driver sends meanwhile go to
  that client; drill-down's replies (the drill thread answers them in order) go to the
  clients that asked, in the same order; a ``Status`` goes to every client;
* a client that goes away is forgotten; the driver never hears of it and counts on;
* ``Stop`` from a client detaches it, it never stops the daemon; a save is never ``final``
  (that would stop a live capture) and goes where the daemon decides (its ``--csv`` folder,
  else a new folder in its working directory), a pcapng of drill-down into its working
  directory: the socket's group does not choose where the daemon writes;
* requests are unpickled with a closed list of classes (:mod:`tuimon.server.wire`).
"""

from __future__ import annotations

import collections
import grp
import itertools
import os
import queue
import select
import socket
import stat
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection

from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.protocol import DRILL_REQUESTS, Save, Status, Stop, WritePcap
from tuimon.server.wire import BadMessage, dumps, loads_request

SOCKET_MODE = 0o660
DRILL_REPLIES = ("PacketList", "Dissection", "Written", "HistoryChart")


class ControlError(TuimonError):
    """The control socket cannot be made, found or reached."""


def socket_dir() -> str:
    """The default folder of the daemons' sockets."""
    if os.geteuid() == 0:
        return "/run/tuimon"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "tuimon")
    return f"/tmp/tuimon-{os.getuid()}"


def default_socket(config: Config) -> str:
    """The daemon's socket when ``--control`` is not given: named after what it counts."""
    if config.read is not None:
        name = "stdin" if config.read == "-" else os.path.basename(config.read)
    elif config.conntrack:
        name = "conntrack"
    else:
        name = "-".join(config.interfaces) or "default"
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return os.path.join(socket_dir(), f"{name}.sock")


def find_socket(path: str | None) -> str:
    """The socket ``attach``/``web``/``ctl`` talk to: ``path``, else the only one in the
    default folder."""
    if path:
        return path
    folder = socket_dir()
    try:
        found = sorted(n for n in os.listdir(folder) if n.endswith(".sock"))
    except OSError:
        found = []
    if len(found) == 1:
        return os.path.join(folder, found[0])
    if not found:
        raise ControlError(f"no tuimon serve socket in {folder}: name one (tuimon attach "
                           f"SOCKET)")
    raise ControlError(f"several tuimon serve sockets in {folder} ({', '.join(found)}): "
                       f"name one")


def _group_id(name: str | None) -> int:
    if name is None:
        return -1
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ControlError(f"--control-group: no group named {name!r}") from None


def _clear_stale(path: str) -> None:
    """A socket left by a daemon that died is removed; one that answers is another
    daemon's, and anything else at ``path`` is not ours to remove."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise ControlError(f"--control {path}: {err.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"--control {path}: exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a dead daemon's
        return
    finally:
        probe.close()
    raise ControlError(f"--control {path}: another tuimon serve is listening there")


def open_listener(path: str, group: str | None) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0660 from the start (umask), group
    ``group``."""
    gid = _group_id(group)
    folder = os.path.dirname(os.path.abspath(path))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o755 if os.geteuid() == 0 else 0o700, exist_ok=True)
        _clear_stale(path)
        old = os.umask(0o117)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, SOCKET_MODE)
        if gid != -1:
            os.chown(path, -1, gid)
        sock.listen(8)
    except ControlError:
        sock.close()
        raise
    except OSError as err:
        sock.close()
        raise ControlError(f"cannot listen on {path}: {err.strerror or err}") from None
    return sock


def connect(path: str) -> Connection:
    """A client's connection to the daemon at ``path`` (one line when it cannot)."""
    try:
        return Client(path, family="AF_UNIX")
    except FileNotFoundError:
        raise ControlError(f"no tuimon serve listens on {path} (no such socket)") from None
    except PermissionError:
        raise ControlError(f"{path}: permission denied (the socket is for its group: "
                           f"tuimon serve --control-group)") from None
    except OSError as err:
        raise ControlError(f"cannot reach tuimon serve on {path}: "
                           f"{err.strerror or err}") from None


class Attached:
    """One client on the socket. Its replies go through a bounded outbox and a sender
    thread of its own: a client that stops reading (a suspended ``tuimon attach``) never
    blocks the daemon's counting loop; once its outbox is full it is disconnected."""

    OUTBOX = 256

    def __init__(self, number: int, sock: socket.socket) -> None:
        self.number = number
        self.sock = sock
        self.conn = Connection(os.dup(sock.fileno()))
        self.pending: collections.deque = collections.deque()
        self.outbox: queue.Queue = queue.Queue(self.OUTBOX)
        self.gone = False
        self.too_slow = False

    def send(self, message) -> None:
        if self.gone:
            return
        try:
            self.outbox.put_nowait(message)
        except queue.Full:
            self.too_slow = True
            self.hang_up()

    def run_sender(self) -> None:
        while not self.gone:
            try:
                message = self.outbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if message is None:
                return
            try:
                self.conn.send_bytes(dumps(message))
            except (OSError, ValueError, EOFError):
                self.hang_up()
                return

    def hang_up(self) -> None:
        """Wake the reader and the sender; the reader forgets the client."""
        self.gone = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.outbox.put_nowait(None)
        except queue.Full:
            pass


class ControlChannel:
    """The daemon's driver channel over the control socket (see the module's text)."""

    PENDING = 1000  # requests a client may have waiting; more is a flood: disconnected

    def __init__(self, listener: socket.socket, greeting: Callable[[], list],
                 config: Config, log: Callable[[str], None]) -> None:
        """``greeting``: the messages a new client gets first (the daemon's Served and
        its Status). ``log``: one line on the daemon's stderr."""
        self.listener = listener
        self.path = listener.getsockname()
        self.greeting = greeting
        self.config = config
        self.log = log
        self.clients: dict[int, Attached] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._order: collections.deque = collections.deque()  # round robin of client numbers
        self._drill_to: collections.deque = collections.deque()  # who asked, in order
        self._current: Attached | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="tuimon-control",
                                          daemon=True)

    def start(self) -> None:
        self._acceptor.start()

    # -- the driver's side ---------------------------------------------------------------

    def fileno(self) -> int:
        return self._wake_r

    def poll(self, timeout: float) -> list:
        """One client's waiting requests (at most 64); the replies sent until the next poll
        go to that client. Never raises: clients come and go, the daemon counts on."""
        if not self._any_pending() and timeout > 0:
            select.select([self._wake_r], [], [], timeout)
        self._drain_wake()
        with self._lock:
            for _ in range(len(self._order)):
                number = self._order[0]
                self._order.rotate(-1)
                client = self.clients.get(number)
                if client is None or not client.pending:
                    continue
                batch = []
                while client.pending and len(batch) < 64:
                    batch.append(client.pending.popleft())
                self._current = client
                self._drill_to.extend(client for r in batch if isinstance(r, DRILL_REQUESTS))
                if self._any_pending_locked():
                    self._wake()
                return batch
        return []

    def send(self, message) -> bool:
        """To the client the message is for; True always (a client gone is not the end)."""
        name = type(message).__name__
        if isinstance(message, Status):
            with self._lock:
                clients = list(self.clients.values())
            for client in clients:
                client.send(message)
        elif name in DRILL_REPLIES:
            with self._lock:
                client = self._drill_to.popleft() if self._drill_to else None
            if client is not None:
                client.send(message)
        elif self._current is not None:
            self._current.send(message)
        return True

    # -- the clients' side ---------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self.listener], [], [], 0.5)
                if not ready:
                    continue
                sock, _ = self.listener.accept()
            except (OSError, ValueError):
                if self._closed.is_set():
                    return
                continue
            client = Attached(next(self._numbers), sock)
            for message in self.greeting():
                client.send(message)
            with self._lock:
                self.clients[client.number] = client
                self._order.append(client.number)
            for target, name in ((self._read, "reader"), (client.run_sender, "sender")):
                threading.Thread(target=target, args=(client,) if name == "reader" else (),
                                 daemon=True, name=f"tuimon-client-{client.number}-{name}"
                                 ).start()

    def _read(self, client: Attached) -> None:
        while not client.gone and not self._closed.is_set():
            try:
                request = loads_request(client.conn.recv_bytes(1 << 20))
            except BadMessage as err:
                self.log(f"client {client.number}: {err}; disconnected")
                break
            except (EOFError, OSError):
                break
            if client.too_slow:
                break
            if isinstance(request, Stop):
                break  # the client detaches; the daemon counts on
            request = self._as_daemon_decides(request)
            with self._lock:
                flooding = len(client.pending) >= self.PENDING
                if not flooding:
                    client.pending.append(request)
            if flooding:
                self.log(f"client {client.number} asked more than {self.PENDING} requests "
                         f"ahead of the answers: disconnected")
                break
            self._wake()
        self._forget(client)

    def _as_daemon_decides(self, request):
        if isinstance(request, Save):
            return Save(self.config.csv, request.seq, final=False)
        if isinstance(request, WritePcap):
            return WritePcap(request.key, None, request.seq)
        return request

    def _forget(self, client: Attached) -> None:
        if client.too_slow:
            self.log(f"client {client.number} read nothing for too long: disconnected")
        client.hang_up()
        with self._lock:
            self.clients.pop(client.number, None)
            try:
                self._order.remove(client.number)
            except ValueError:
                pass
        for end in (client.conn, client.sock):
            try:
                end.close()
            except OSError:
                pass

    def _any_pending(self) -> bool:
        with self._lock:
            return self._any_pending_locked()

    def _any_pending_locked(self) -> bool:
        return any(c.pending for c in self.clients.values())

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Stop accepting, say goodbye to every client (their connections close)."""
        self._closed.set()
        if self._acceptor.ident is not None:
            self._acceptor.join(timeout=2.0)
        try:
            self.listener.close()
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass
        with self._lock:
            clients = list(self.clients.values())
        for client in clients:
            self._forget(client)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def log_line(text: str) -> None:
    print(f"tuimon: {text}", file=sys.stderr, flush=True)
