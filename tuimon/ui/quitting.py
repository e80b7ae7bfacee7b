"""Saving and quitting: ``q`` saves into ``--csv DIR`` first; SIGTERM, SIGHUP and a
terminal that goes away do the same (see :mod:`tuimon.ui.signals`). A save that fails on
``q`` does not throw the counts away: the app stays and says how to go on."""

from __future__ import annotations

import os
import signal
import sys

from tuimon.server.protocol import Save, Saved

QUIT_SAVE_TIMEOUT = 30.0


class QuitMixin:
    """For MonitorApp: needs ``csv_dir``, ``saved``, ``signals``, ``backend``, ``_save_seq``."""

    _quitting = False
    _by_signal = False  # SIGTERM/SIGHUP: nobody to ask, exit whatever the save did
    _unsaved_error: str | None = None  # q's save failed: q again quits without it
    _quit_timer = None
    exit_error: str | None = None

    def _saved(self, saved: Saved) -> None:
        self.saved.append(saved)
        if saved.error:
            self.notify(saved.error, title="Save failed", severity="error", timeout=10,
                        markup=False)
        else:
            self.notify(f"Saved {len(saved.paths)} CSV files into {saved.folder}/",
                        title="Saved", timeout=6, markup=False)
        if not saved.error:
            self._unsaved_error = None
        if self._quitting:
            if saved.error and not self._by_signal:
                # What was counted is not thrown away by a full disk: stay, say how to go on.
                self._quitting = False
                self._unsaved_error = saved.error
                if self._quit_timer is not None:
                    self._quit_timer.stop()
                self.notify(f"Not quitting: {saved.error}. Press s to try again, or q again "
                            f"to quit without saving.", title="Save failed", severity="error",
                            timeout=QUIT_SAVE_TIMEOUT, markup=False)
                return
            if saved.error:
                self.exit_error = saved.error
            self.exit(return_code=1 if saved.error else 0)

    def action_quit_app(self) -> None:
        if not self.csv_dir:
            self.exit(return_code=0)
            return
        if self._unsaved_error is not None and not self._by_signal:
            self.exit_error = self._unsaved_error  # q again after a failed save
            self.exit(return_code=1)
            return
        if self._quitting:
            return
        self._quitting = True
        self.notify(f"Saving into {self.csv_dir}/ before quitting…", timeout=QUIT_SAVE_TIMEOUT,
                    markup=False)
        self._save_seq += 1  # final: a live capture stops first, so dumpcap's drops are in
        self.backend.send(Save(self.csv_dir, self._save_seq, final=True))
        self._quit_timer = self.set_timer(QUIT_SAVE_TIMEOUT, self._quit_anyway)

    def _signalled(self, signum: int) -> None:
        """SIGTERM or SIGHUP: save into --csv DIR (when given), then exit 0 -- as headless;
        1 with the reason if that save fails (nobody is there to choose)."""
        self._by_signal = True
        self.action_quit_app()

    def terminal_gone(self) -> None:
        """The driver could not write to or read from the terminal: a hang-up."""
        if self.signals is not None:
            self.signals.check_terminal()
            if not self.signals.hung_up:  # the probe saw nothing, the driver did
                self.signals.mark_hung_up()
                self._signalled(signal.SIGHUP)

    def on_unmount(self) -> None:
        if self.signals is not None:
            self.signals.uninstall()

    def _quit_anyway(self) -> None:
        self.exit_error = f"the CSV files were not saved into {self.csv_dir} in time"
        self.exit(return_code=1)

    def action_quit_now(self) -> None:
        self.action_quit_app()



def terminal_driver():
    """Our sturdier driver where Textual would use its Linux one, else Textual's choice."""
    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from tuimon.ui.driver import TerminalDriver

    return TerminalDriver
