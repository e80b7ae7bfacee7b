"""``tuimon web``: the app in a browser, served by textual-serve.

textual-serve (aiohttp) serves a page with a terminal (xterm.js) and, for every browser
session, runs a command whose Textual app draws into that terminal over a websocket. The
command is ``tuimon attach SOCKET``: each session is one more client of the daemon, and
closing the tab detaches it. Bound to 127.0.0.1 unless ``--web-bind`` says otherwise;
textual-serve has no authentication of its own (docs/fleet.md#security: an SSH tunnel or
an authenticating proxy in front). Here, in the UI package, because textual-serve is part
of Textual's world (the import-linter contracts keep textual out of the other layers).
"""

from __future__ import annotations

import shlex
import sys

from tuimon.errors import TuimonError


def attach_command(socket_path: str, interval: float) -> str:
    """The shell command textual-serve runs per session: this interpreter's tuimon."""
    argv = [sys.executable, "-m", "tuimon", "attach", "--interval", f"{interval:g}",
            socket_path]
    return shlex.join(argv)


def run_web(socket_path: str, host: str, port: int, interval: float = 1.0,
            public_url: str | None = None) -> int:
    """Serve ``tuimon attach SOCKET`` on ``host:port`` until SIGINT or SIGTERM."""
    from textual_serve.server import Server

    command = attach_command(socket_path, interval)
    shown = f"[{host}]" if ":" in host else host
    server = Server(command, host=host, port=port, title=f"tuimon {socket_path}",
                    public_url=public_url or f"http://{shown}:{port}")
    try:
        server.serve()
    except OSError as err:  # the port is taken, the address is not this machine's
        raise TuimonError(f"web: cannot listen on {shown}:{port}: "
                          f"{(err.strerror or str(err)).lower()}") from None
    return 0
