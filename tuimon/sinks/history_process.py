"""The history's writer process: every SQLite statement of the recording runs here, in a
plain child process (``python -c ...``, not multiprocessing), so the counting process
never shares its interpreter lock, or a core, with the upserts, rollups and commits.

The counting process (:class:`WriterProcess`, used by :class:`HistoryRecorder
<tuimon.sinks.history.HistoryRecorder>` and its writer thread) sends length-prefixed
:mod:`marshal` frames on the child's standard input; each is answered by one frame on
its standard output, ``("ok", value)`` or ``("error", text)``:

* ``("open", path, retention)``, the first: open (and migrate) the database;
* ``("minute", minute, now, deltas, rows)``: one minute in one transaction
  (:func:`tuimon.sinks.history.commit_minute`): ``deltas`` kind -> {key: figures} as the
  recorder diffed them (hosts keyed by their address as an int), ``rows`` the conversation
  rows, ready to insert;
* ``("execute", sql)``: a statement's rows (tests: a full disk, ``max_page_count``).

Frames are small and cheap to build: the diffs the counting thread takes anyway, marshalled
(22,000 hosts: about 15 ms, 0.9 MB). The child reads until its standard input ends, then
closes the database (SQLite's checkpoint) and exits; a frame cut short (the sender killed
mid-write) is dropped whole. Since it runs in a session of its own, a Ctrl-C at the
terminal does not reach it, and when the counting process dies (``kill -9``) the child still
commits every minute it had been handed before it ends. After an error (a full disk) it
answers every later frame with the same error and writes nothing more.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time

HEADER = struct.Struct("<I")  # a frame's length, then its marshal bytes
PIPE_SIZE = 1 << 20  # a minute of a busy gateway's hosts in one pipe buffer (Linux)
# the folder this tuimon was imported from comes first, unless the path has it already
_BOOT = ("import sys; sys.argv[1] in sys.path or sys.path.insert(0, sys.argv[1]); "
         "from tuimon.sinks.history_process import main; main()")


class WriterGone(Exception):
    """The writer process cannot be reached (it died, or never started)."""


def _read_frame(stream) -> object | None:
    """The next message on ``stream``; None at its end (or a frame cut short)."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    size, = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return marshal.loads(body)


def _frame(message) -> bytes:
    body = marshal.dumps(message)
    return HEADER.pack(len(body)) + body


class WriterProcess:
    """The counting process's end of the writer process: :meth:`call` (send a message,
    wait for its answer), :meth:`send` (without waiting), :meth:`close_input` and
    :meth:`wait` (every answer owed, then the process's end)."""

    def __init__(self, path: str, retention: dict) -> None:
        """Start the process and ask it to open ``path`` (answered later). OSError when it
        cannot be started."""
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, root], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
            start_new_session=True)
        try:
            fcntl.fcntl(self.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except (OSError, AttributeError):  # a smaller pipe only makes a send wait longer
            pass
        self._lock = threading.Lock()
        self._owed = 0  # answers not read yet
        self.ended = False  # every answer read and the process gone
        self.send(("open", path, retention))

    def _gone(self) -> WriterGone:
        try:
            code = self.proc.wait(1.0)  # a pipe broken as it died: its status in a moment
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return WriterGone("its writing process stopped answering")
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return WriterGone(f"its writing process ended ({how})")

    def send(self, message) -> None:
        """Hand ``message`` over; its answer is read by the next :meth:`call` or
        :meth:`wait`."""
        data = _frame(message)
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise self._gone() from None
        self._owed += 1

    def _read(self, size: int, deadline: float | None) -> bytes:
        """``size`` bytes of the process's answers (read from its pipe unbuffered, so a
        wait can be bounded); fewer at its end. WriterGone past ``deadline``."""
        fd = self.proc.stdout.fileno()
        out = b""
        while len(out) < size:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise WriterGone("its writing process did not finish in time")
            chunk = os.read(fd, size - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def _answers(self, deadline: float | None = None):
        """Read every answer owed; the last one's value (raises on an error answer: the
        first, which is the one every later answer repeats)."""
        value, error = None, None
        while self._owed:
            reply = None
            try:
                head = self._read(HEADER.size, deadline)
                if len(head) == HEADER.size:
                    size, = HEADER.unpack(head)
                    body = self._read(size, deadline)
                    if len(body) == size:
                        reply = marshal.loads(body)
            except (OSError, ValueError, EOFError):
                reply = None
            if reply is None:
                self._owed = 0
                raise self._gone()
            self._owed -= 1
            kind, value = reply
            if kind == "error" and error is None:
                error = value
        if error is not None:
            raise WriterGone(error)
        return value

    def call(self, message):
        """Send ``message`` and wait for its answer (and any still owed before it)."""
        data = _frame(message)
        with self._lock:
            self._write(data)
            return self._answers()

    def execute(self, sql: str) -> list:
        """``sql``'s rows, on the writer's own connection (tests: ``PRAGMA``s)."""
        return self.call(("execute", sql))

    def close_input(self, timeout: float | None = None) -> bool:
        """No more messages: the process writes what it has, closes the database and
        ends. False when a sender still held the pipe after ``timeout``."""
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        finally:
            self._lock.release()
        return True

    def wait(self, timeout: float | None = 60.0) -> None:
        """Read the answers still owed (raises WriterGone on an error answer), then wait
        for the process to end. Past ``timeout`` it is left to finish on its own
        (WriterGone: not known to be written)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        late = WriterGone("its writing process did not finish in time")
        if not self.close_input(timeout) or not self._lock.acquire(
                timeout=-1 if deadline is None else max(0.0, deadline - time.monotonic())):
            raise late
        try:
            if self.ended:
                return
            self.ended = True
            try:
                self._answers(deadline)
                self.proc.wait(None if deadline is None
                               else max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise late from None
            finally:
                self.proc.stdout.close()  # past a timeout it writes on, unheard
        finally:
            self._lock.release()


# -- the child ------------------------------------------------------------------------

def main() -> None:
    """The writer process: answer each frame on standard input until it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the counting process decides when to stop
    from tuimon.sinks.history import commit_minute, connect

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    db, failed, expired_at, retention = None, "", None, {}

    def answer(reply) -> None:
        nonlocal out
        if out is None:
            return
        try:
            out.write(_frame(reply))
            out.flush()
        except (OSError, ValueError):  # the counting process is gone: write on regardless
            out = None

    while True:
        try:
            message = _read_frame(inp)
        except (OSError, ValueError, EOFError):
            message = None
        if message is None:
            break
        if failed:
            answer(("error", failed))
            continue
        kind = message[0]
        try:
            if kind == "open":
                _, path, retention = message
                db = connect(path)
                answer(("ok", None))
            elif kind == "minute":
                _, minute, now, deltas, rows = message
                expired_at = commit_minute(db, minute, now, deltas, rows, retention,
                                           expired_at)
                answer(("ok", None))
            elif kind == "execute":
                answer(("ok", db.execute(message[1]).fetchall()))
            else:
                answer(("error", f"unknown message {kind!r}"))
        except Exception as err:  # noqa: BLE001 - a full disk: recording stops, said once
            if db is not None:
                try:
                    db.rollback()
                except Exception:  # noqa: BLE001
                    pass
            failed = str(err) or type(err).__name__
            answer(("error", failed))
    if db is not None:
        try:
            db.close()
        except Exception:  # noqa: BLE001
            pass
