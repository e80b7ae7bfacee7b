"""A Textual terminal driver that outlives its terminal.

When the terminal goes away (an SSH session drops), Textual's own driver fails: its output
thread dies on the first write (EIO) and the app then blocks on the full output queue, and
its input thread's failed read makes the app panic with a traceback. Either way a session
given ``--csv DIR`` would never be saved. This driver drops what can no longer be written,
ends its input quietly, and tells the app, which saves and exits as on SIGHUP.
"""

from __future__ import annotations

import threading

from textual.drivers.linux_driver import LinuxDriver


class _TerminalFile:
    """The terminal's file as Textual's output thread sees it: writes after a failure are
    dropped instead of raising."""

    def __init__(self, file, gone) -> None:
        self._file = file
        self._gone = gone
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                return self._file.write(text)
            except (OSError, ValueError):
                self._fail()
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self._fail()

    def _fail(self) -> None:
        self.failed = True
        self._gone()

    def __getattr__(self, name):
        return getattr(self._file, name)


class TerminalDriver(LinuxDriver):
    """The driver of :class:`tuimon.ui.app.MonitorApp` (only it asks for this one, see
    :func:`tuimon.ui.quitting.terminal_driver`): a terminal that goes away calls the app's
    ``terminal_gone()``."""

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self._said = threading.Event()
        self._file = _TerminalFile(self._file, self._terminal_gone)

    def _terminal_gone(self) -> None:
        """From the output or the input thread: once, ask the app to stop."""
        if self._said.is_set():
            return
        self._said.set()
        try:
            self._app.call_later(self._app.terminal_gone)
        except Exception:  # noqa: BLE001 - the app is already closing
            pass

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError:  # the terminal hung up: nothing more to read
            self._terminal_gone()
