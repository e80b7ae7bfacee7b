"""Part of a headless report written by a child process, on the other CPU core.

A headless run's report is written in one go once counting is over, by one process on one
core unless a child takes a share. :func:`start_part` forks a child that writes temporary
files beside the report (one per name it is given) while the parent writes the rest:
where the compiled stage formats conversations.csv, whole files the child builds itself
(stations.csv and pairs.csv, :meth:`Part.wait` hands them over to be renamed with the
others); where Python does, the last rows of conversations.csv, which
:meth:`Part.append_to` appends to the parent's file, in kernel space. The result is byte
for byte what one process writes.

Only where forking is safe and worth it: a process with no other thread (a fork copies
just the calling thread, and a lock another one held would stay locked in the child),
more than one core, and enough rows. Otherwise :func:`start_part` returns None and the
caller writes everything itself.
"""

from __future__ import annotations

import errno
import gc
import os
import tempfile
import threading

MIN_ROWS = 20_000  # below this, the fork costs more than it saves


_threads = threading.active_count  # (tests stand in for it: pytest's process has others)


def can_fork(rows: int) -> bool:
    return (hasattr(os, "fork") and rows >= MIN_ROWS and (os.cpu_count() or 1) > 1
            and _threads() == 1)


class Part:
    """A child writing into ``paths`` (one file each name it was given): ``append_to``
    waits for it and takes its (first) file, ``wait`` waits and hands the files over."""

    def __init__(self, pid: int, paths: list[str], errors: int) -> None:
        self.pid, self.paths, self._errors = pid, paths, errors

    @property
    def path(self) -> str:
        return self.paths[0]

    def wait(self) -> list[str]:
        """Wait for the child; its files, complete (raises OSError as it failed). They are
        the caller's from now on: :meth:`abandon` no longer removes them."""
        self._wait()
        paths, self.paths = self.paths, []
        return paths

    def _wait(self) -> None:
        """Wait for the child; raise OSError with its reason when it failed."""
        try:
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
            with os.fdopen(self._errors, "rb") as f:
                self._errors = -1
                said = f.read(4096).decode("utf-8", "replace")
        except BaseException:
            self.abandon()
            raise
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return
        code, _, text = said.partition("\n")
        if code.isdigit() and text:
            raise OSError(int(code), text)
        raise OSError(errno.EIO, "the process writing part of the CSV files stopped "
                                 f"({_status_text(status)})")

    def append_to(self, f) -> None:
        """Wait for the child, then append its rows to the open text file ``f``."""
        try:
            self._wait()
            f.flush()
            out = f.fileno()
            with open(self.path, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                offset = 0
                while offset < size:
                    sent = os.sendfile(out, src.fileno(), offset, size - offset)
                    if sent == 0:
                        raise OSError(errno.EIO, "short copy of part of conversations.csv")
                    offset += sent
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Stop the child if it still runs and remove its file (idempotent)."""
        if self.pid:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0
        if self._errors >= 0:
            os.close(self._errors)
            self._errors = -1
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this child when its parent dies (a SIGKILL mid-save), so it
    does not go on writing a part nobody will take."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before that was set
        os._exit(1)


def start_part(folder: str, rows: int, write, names: tuple[str, ...] = ("conversations.csv",)
               ) -> Part | None:
    """Fork a child that calls ``write(f, ...)`` with a temporary text file in ``folder``
    for each of ``names`` (``rows``: how many lines it writes); None when that is not
    possible or not worth it (the caller writes them itself)."""
    if not can_fork(rows):
        return None
    # named after this process, as the report's own temporary files (sinks/csv.py): a killed
    # tuimon's part is removed by the next save into the folder
    fds, paths = [], []
    try:
        for name in names:
            fd, path = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".part",
                                        dir=folder)
            fds.append(fd)
            paths.append(path)
        r, w = os.pipe()
    except OSError:
        _drop(fds, paths)
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        _drop(fds + [r, w], paths)
        return None
    if pid == 0:  # the child: write, say why not if it cannot, and leave at once
        status = 1
        try:
            gc.disable()  # a collection would touch (and so copy) every page of the parent
            _die_with(parent)
            os.close(r)
            files = [os.fdopen(fd, "w", newline="", encoding="utf-8") for fd in fds]
            write(*files)
            for f in files:
                f.flush()
                os.fsync(f.fileno())
                f.close()
            status = 0
        except BaseException as err:  # noqa: BLE001 - the parent reports it
            code = getattr(err, "errno", None) or errno.EIO
            text = getattr(err, "strerror", None) or f"{type(err).__name__}: {err}"
            try:
                os.write(w, f"{code}\n{text}".encode("utf-8", "replace")[:4096])
            except OSError:
                pass
        finally:
            os._exit(status)
    for fd in fds:
        os.close(fd)
    os.close(w)
    return Part(pid, paths, r)


def _drop(fds: list[int], paths: list[str]) -> None:
    for fd in fds:
        os.close(fd)
    for path in paths:
        os.unlink(path)
