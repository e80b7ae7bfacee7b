"""Config -> Source: the file (standard input, capture filter), the live capture or the
kernel's connection tracking (``--source conntrack``) a run asked for."""

from __future__ import annotations

from typing import BinaryIO

from tuimon.capture.source import Source
from tuimon.config import Config


def open_source(config: Config, stdin: BinaryIO | None = None) -> Source:
    """Open what ``config`` names. ``stdin``: the capture's stream for ``-r -`` when it is
    not this process's standard input (the app passes the pipe to its engine process)."""
    if config.read is not None:
        from tuimon.capture.file import FileSource

        return FileSource(config.read, capture_filter=config.capture_filter, stdin=stdin)
    if config.conntrack:
        from tuimon.capture.conntrack import ConntrackSource

        return ConntrackSource(enable_acct=config.enable_acct)
    from tuimon.capture.interfaces import default_interface
    from tuimon.capture.live import LiveSource

    return LiveSource(list(config.interfaces) or [default_interface()],
                      capture_filter=config.capture_filter, ring_size=config.ring_bytes,
                      snaplen=config.snaplen)
