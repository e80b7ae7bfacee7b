"""SIGTERM and SIGHUP for the running app: stop the way ``q`` does (saving first into
``--csv DIR``), instead of dying with the terminal left in raw mode and the counts lost.

When the terminal is gone (the SSH session dropped: SIGHUP, or SIGTERM from whoever
cleans up after it) every later write to it would fail, and Textual's output thread would
stop and, its queue full, block the app. So the terminal's descriptors are pointed at
/dev/null first; the app then saves and exits unseen, and what it would have printed is
lost with the terminal, nothing else.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def terminal_gone() -> bool:
    """Whether the terminal hung up: a write of nothing to a hung-up tty fails with EIO."""
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                os.write(fd, b"")
        except OSError:
            return True
    return False


def detach_from_terminal() -> None:
    """Standard input, output and error onto /dev/null (the terminal hung up)."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


class SignalStop:
    """Installs the handlers on the running asyncio loop; ``on_stop(signum)`` is called in
    the loop, once per signal."""

    def __init__(self, on_stop: Callable[[int], None]) -> None:
        self.on_stop = on_stop
        self.installed: list[int] = []
        self.hung_up = False

    def install(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            for signum in SIGNALS:
                loop.add_signal_handler(signum, self._received, signum)
                self.installed.append(signum)
        except (RuntimeError, NotImplementedError, ValueError):  # not the main thread
            pass

    def uninstall(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for signum in self.installed:
            loop.remove_signal_handler(signum)
        self.installed = []

    def _received(self, signum: int) -> None:
        # A hang-up sent by hand (kill -HUP) leaves a working terminal: the app restores it.
        if not self.hung_up and terminal_gone():
            self.hung_up = True
            detach_from_terminal()
        self.on_stop(signum)

    def check_terminal(self) -> None:
        """Called on the app's timer: a terminal that went away without a SIGHUP reaching
        us (nohup, another process group) is a hang-up all the same."""
        if not self.hung_up and terminal_gone():
            self._received(signal.SIGHUP)

    def mark_hung_up(self) -> None:
        """The terminal is gone though the probe did not see it (the driver did)."""
        if not self.hung_up:
            self.hung_up = True
            detach_from_terminal()
