"""``tuimon ctl``: one request to a running daemon, its answer printed.

``tuimon ctl counters [SOCKET]`` prints the named counters; with ``--reset NAME``
(repeatable) or ``--reset-all`` they are read and zeroed in one step in the daemon's
counting thread (:meth:`EngineService.reset_counters
<tuimon.server.service.EngineService.reset_counters>`), and what is printed are their
figures at the instant of the reset: every packet is in these or in the next ones, never
both, never neither.
"""

from __future__ import annotations

from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.attach_client import SocketClient
from tuimon.server.control import find_socket
from tuimon.server.protocol import COUNTERS_VIEW, CountersReset, Page, Query, ResetCounters
from tuimon.timefmt import iso_utc


def run_ctl(config: Config) -> int:
    client = SocketClient(find_socket(config.control))
    try:
        client.launch()
        served = client.served
        if not served.counters:
            raise TuimonError(f"{client.path}: tuimon serve counts no named counters "
                              f"(tuimon serve --counter NAME=EXPR)")
        known = [name for name, _ in served.counters]
        unknown = [name for name in config.ctl_reset if name not in known]
        if unknown:
            raise TuimonError(f"no counter named {', '.join(unknown)} "
                              f"(the daemon counts {', '.join(known)})")
        if config.ctl_reset or config.ctl_reset_all:
            names = None if config.ctl_reset_all else tuple(config.ctl_reset)
            reply = client.request(ResetCounters(names, seq=1), CountersReset)
            if reply.error:
                raise TuimonError(reply.error)
            rows, what = reply.rows, "at the reset"
        else:
            page = client.request(Query(view=COUNTERS_VIEW, sort="name", descending=False,
                                        limit=len(known), seq=1), Page)
            rows, what = page.rows, "now"
    finally:
        client.close()
    print(render(rows, what))
    return 0


def render(rows, what: str) -> str:
    """name, packets, bytes, since: one line each, tab-separated, a header first."""
    lines = [f"name\tpackets\tbytes\tsince\t({what})"]
    for row in rows:
        since = iso_utc(row.since) if row.since is not None else "-"
        lines.append(f"{row.name}\t{row.packets}\t{row.bytes}\t{since}")
    return "\n".join(lines)
