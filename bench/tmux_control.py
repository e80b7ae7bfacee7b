"""A tmux control-mode client for the key probe: keys in and the screen out over one pipe.

``tmux -C attach`` stays attached to the session: commands are written to its standard
input and answered in ``%begin``/``%end`` blocks, and tmux says ``%output`` each time a
pane writes. :meth:`Control.wait_screen` asks for the screen (``capture-pane``) only
after output came, so a waiting probe costs no process per poll and no CPU while the app
is quiet; it still checks exactly what ``tmux capture-pane -p`` shows.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections import deque


class Control:
    """One control-mode client of session ``target`` on tmux socket ``socket``."""

    def __init__(self, socket: str, target: str = "main", env: dict | None = None) -> None:
        self.target = target
        self.proc = subprocess.Popen(["tmux", "-L", socket, "-f", "/dev/null", "-C", "attach",
                                      "-t", target], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, bufsize=0)
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""
        self._lines: deque[bytes] = deque()
        self._pending: deque[str] = deque(["attach"])  # what each coming reply answers
        self._block: list[bytes] | None = None  # the reply being read
        self.output = False  # a pane wrote since the last capture was asked for
        self.replies: dict[str, list[str]] = {}
        self.command("display-message", "-p", "ready")
        self._reply("display-message", time.monotonic() + 10)

    def command(self, *args: str) -> None:
        """Send one tmux command (its reply is read later, in order)."""
        line = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        self._pending.append(args[0])
        os.write(self.proc.stdin.fileno(), line.encode() + b"\n")

    def send_keys(self, *keys: str) -> None:
        self.command("send-keys", "-t", self.target, *keys)

    def wait_screen(self, predicate, timeout: float) -> str | None:
        """The first screen after now (or after later output) that ``predicate`` accepts;
        None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self.output = True  # check the screen as it is now once
        while True:
            if self.output:
                self.output = False
                self.command("capture-pane", "-p", "-t", self.target)
                screen = self._reply("capture-pane", deadline)
                if screen is None:
                    return None
                if predicate(screen):
                    return screen
                continue
            if not self._read(deadline):
                return None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    # -- reading ---------------------------------------------------------------------------

    def _reply(self, name: str, deadline: float) -> str | None:
        """Read until the reply to the last ``name`` command has come; its text."""
        self.replies.pop(name, None)
        while name not in self.replies or name in self._pending:
            if not self._read(deadline):
                return None
        return "\n".join(self.replies[name])

    def _read(self, deadline: float) -> bool:
        """Handle what tmux has said; wait for more until ``deadline``. False: timed out."""
        while not self._lines:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self._fd], [], [], wait)[0]:
                return False
            data = os.read(self._fd, 1 << 16)
            if not data:
                raise RuntimeError("the tmux control client ended")
            *lines, self._buffer = (self._buffer + data).split(b"\n")
            self._lines.extend(lines)
        while self._lines:
            self._line(self._lines.popleft())
        return True

    def _line(self, line: bytes) -> None:
        if self._block is not None:
            if line.startswith((b"%end ", b"%error ")):
                name = self._pending.popleft()
                self.replies[name] = [b.decode(errors="replace") for b in self._block]
                self._block = None
            else:
                self._block.append(line)
        elif line.startswith(b"%begin "):
            self._block = []
        elif line.startswith(b"%output "):
            self.output = True
        elif line.startswith(b"%exit"):
            raise RuntimeError("the tmux control client was told to exit")
