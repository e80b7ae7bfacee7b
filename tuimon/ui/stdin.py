"""``tuimon -r -`` in the app: the capture comes on standard input, the keys from the terminal.

Before the app starts, the capture's descriptor is duplicated (the engine process reads it)
and the controlling terminal, ``/dev/tty``, is put on descriptor 0 in its place, which is
what Textual's driver reads keys from (``sys.__stdin__``, fd 0). ``less`` does the same.
"""

from __future__ import annotations

import os

from tuimon.errors import BadCaptureFile, TuimonError


def capture_from_stdin() -> int:
    """Move the capture off fd 0 and the terminal onto it; returns the capture's descriptor."""
    if os.isatty(0):
        raise BadCaptureFile("standard input is a terminal, not a capture: pipe one in "
                             "(cat trace.pcap | tuimon -r -)")
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError as err:
        raise TuimonError("reading a capture from standard input in the interface needs a "
                          f"terminal for the keys, and /dev/tty cannot be opened "
                          f"({err.strerror or err}): use --no-ui") from None
    capture = os.dup(0)
    os.dup2(tty, 0)
    os.close(tty)
    return capture
