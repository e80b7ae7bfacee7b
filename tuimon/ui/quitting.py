"""Saving and quitting: ``q`` saves into ``--csv DIR`` first; SIGTERM, SIGHUP and a
terminal that goes away do the same (see :mod:`tuimon.ui.signals`). A save that fails on
``q`` does not throw the counts away: the app stays and says how to go on.

:class:`SaveAndQuit` is the app's collaborator for this: it is handed the few things it
acts with (the engine client's ``send``, the app's ``notify``, ``exit`` and ``set_timer``)
and the ``--csv`` folder; the app calls it on ``s``, ``q``, a signal and a ``Saved``
reply."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Protocol

from tuimon.server.protocol import Save, Saved

QUIT_SAVE_TIMEOUT = 30.0


class Timer(Protocol):
    def stop(self) -> None: ...


class SaveAndQuit:
    """Saves (``s``), quitting (``q``, signals) and what their answers mean.

    ``send``: a request to the engine; ``notify(message, **options)``: the app's
    notification; ``exit(return_code)``: end the app; ``set_timer(seconds, callback)``: a
    one-shot timer (the bound on a quit's save). :attr:`saved` lists every ``Saved`` answer
    and :attr:`exit_error` says why the app ended with status 1, if it did."""

    def __init__(self, send: Callable[[object], None], notify: Callable[..., object],
                 exit: Callable[[int], None], set_timer: Callable[[float, Callable[[], None]], Timer],
                 csv_dir: str | None) -> None:
        self._send, self._notify, self._exit, self._set_timer = send, notify, exit, set_timer
        self.csv_dir = csv_dir
        self.saved: list[Saved] = []
        self.exit_error: str | None = None
        self._save_seq = 0
        self._quitting = False
        self._by_signal = False  # SIGTERM/SIGHUP: nobody to ask, exit whatever the save did
        self._unsaved_error: str | None = None  # q's save failed: q again quits without it
        self._quit_timer: Timer | None = None

    def save(self, final: bool = False) -> None:
        """Ask the engine to save the CSV files (``final``: a live capture stops first, so
        dumpcap's drops are in)."""
        self._save_seq += 1
        self._send(Save(self.csv_dir, self._save_seq, final=final))

    def on_saved(self, saved: Saved) -> None:
        self.saved.append(saved)
        notify = self._notify
        if saved.error:
            notify(saved.error, title="Save failed", severity="error", timeout=10, markup=False)
        else:
            notify(f"Saved {len(saved.paths)} CSV files into {saved.folder}/",
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
                notify(f"Not quitting: {saved.error}. Press s to try again, or q again "
                       f"to quit without saving.", title="Save failed", severity="error",
                       timeout=QUIT_SAVE_TIMEOUT, markup=False)
                return
            if saved.error:
                self.exit_error = saved.error
            self._exit(1 if saved.error else 0)

    def quit(self) -> None:
        """``q``: quit, saving into ``--csv DIR`` first when it was given."""
        if not self.csv_dir:
            self._exit(0)
            return
        if self._unsaved_error is not None and not self._by_signal:
            self.exit_error = self._unsaved_error  # q again after a failed save
            self._exit(1)
            return
        if self._quitting:
            return
        self._quitting = True
        self._notify(f"Saving into {self.csv_dir}/ before quitting…", timeout=QUIT_SAVE_TIMEOUT,
                     markup=False)
        self.save(final=True)
        self._quit_timer = self._set_timer(QUIT_SAVE_TIMEOUT, self._quit_anyway)

    def signalled(self, signum: int = signal.SIGTERM) -> None:
        """SIGTERM or SIGHUP: save into --csv DIR (when given), then exit 0 -- as headless;
        1 with the reason if that save fails (nobody is there to choose)."""
        self._by_signal = True
        self.quit()

    def _quit_anyway(self) -> None:
        self.exit_error = f"the CSV files were not saved into {self.csv_dir} in time"
        self._exit(1)


def terminal_driver():
    """Our sturdier driver where Textual would use its Linux one, else Textual's choice."""
    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from tuimon.ui.driver import TerminalDriver

    return TerminalDriver
