"""Run the real ``tuimon`` on a pseudo-terminal, as a user would: standard input, output and
error are the terminal (Textual draws on it). The process is always killed at the end."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

TUIMON = str(Path(sys.executable).parent / "tuimon")
_ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class Terminal:
    """``tuimon ARGS`` on a pty of its own, in a session of its own (so a signal reaches
    only what we started)."""

    def __init__(self, *args: str, cwd: str | None = None, prefix: list[str] | None = None,
                 env: dict | None = None, rows: int = 24, cols: int = 80,
                 controlling: bool = True, stdin: bytes | None = None) -> None:
        """``controlling``: the pty becomes the controlling terminal of tuimon's session, as
        sshd or a terminal emulator makes it (closing it then sends SIGHUP). ``stdin``: bytes
        piped to standard input instead of the terminal (``cat FILE | tuimon -r -``)."""
        self.master, slave = pty.openpty()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        full_env.update({"TERM": "xterm-256color", **(env or {})})
        def session() -> None:
            os.setsid()
            if controlling:
                fcntl.ioctl(1, termios.TIOCSCTTY, 0)

        feed = None
        if stdin is not None:
            read_end, feed = os.pipe()
        self.proc = subprocess.Popen([*(prefix or []), TUIMON, *args],
                                     stdin=slave if stdin is None else read_end, stdout=slave,
                                     stderr=slave, cwd=cwd, env=full_env, preexec_fn=session,
                                     close_fds=True)
        os.close(slave)
        if feed is not None:
            os.close(read_end)
            os.write(feed, stdin)
            os.close(feed)
        self.output = b""

    def read(self, timeout: float = 0.2) -> bytes:
        got = b""
        if self.master < 0:
            time.sleep(timeout)
            return got
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                got = os.read(self.master, 1 << 16)
            except OSError:  # the other side is gone
                got = b""
        self.output += got
        return got

    def text(self) -> str:
        """Everything written so far, escape sequences taken out."""
        return _ANSI.sub(b"", self.output).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if needle in self.text():
                return self.text()
            if self.proc.poll() is not None:
                self.read(0.5)
                if needle in self.text():
                    return self.text()
                break
        raise AssertionError(f"{needle!r} not seen; output:\n{self.text()[-3000:]}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read(0.1)
            if self.proc.poll() is not None:
                while self.read(0.2):
                    pass
                return self.proc.returncode
        raise AssertionError(f"tuimon did not exit; output:\n{self.text()[-3000:]}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def hang_up(self) -> None:
        """Close the terminal, as a dropped SSH session does: every later read or write on
        it fails, and (``controlling``) the kernel sends SIGHUP to the terminal's session."""
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
