"""Where the history database is: the default file and the one a session records into.

Apart from :mod:`tuimon.sinks.history` so that a session that records nowhere (a playback
without ``--history``) can say so without loading the recorder, its writer and SQLite.
"""

from __future__ import annotations

import os


def default_path() -> str:
    """``$XDG_DATA_HOME/tuimon/history.sqlite`` (``~/.local/share/tuimon/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"),
                                                           ".local", "share")
    return os.path.join(base, "tuimon", "history.sqlite")


def history_path(config) -> str | None:
    """Where a session records: ``--history PATH``; else a live session into
    :func:`default_path` and a playback nowhere; ``--no-history``: nowhere."""
    if config.no_history:
        return None
    if config.history:
        return config.history
    return default_path() if config.live else None
