"""Which interfaces there are: the default one to capture on, and ``tuimon --list-interfaces``."""

from __future__ import annotations

import re
import socket
import subprocess

import psutil

from tuimon.capture.dumpcap import dumpcap_error, find_dumpcap, spawn
from tuimon.errors import CaptureFailed, UnknownInterface
from tuimon.text import printable

_DUMPCAP_LINE = re.compile(r"^\s*\d+\.\s+(\S+)(?:\s+\((.*)\))?\s*$")


def _is_loopback(name: str, stats) -> bool:
    return name == "lo" or "loopback" in stats.flags.split(",")


def _ifindex_order() -> list[str]:
    try:
        return [name for _, name in sorted(socket.if_nameindex())]
    except OSError:
        return []


def default_interface() -> str:
    """The first interface (by index) that is up, not loopback, and has seen traffic."""
    stats = psutil.net_if_stats()
    counters = psutil.net_io_counters(pernic=True)
    order = _ifindex_order()
    names = [n for n in order if n in stats] + [n for n in stats if n not in order]
    for name in names:
        io = counters.get(name)
        if stats[name].isup and not _is_loopback(name, stats[name]) and io \
                and io.packets_sent + io.packets_recv > 0:
            return name
    raise UnknownInterface("no interface is up with traffic: name one to capture on "
                           "(see tuimon --list-interfaces)")


def dumpcap_interfaces(dumpcap: str = "dumpcap") -> list[tuple[str, str]]:
    """``(name, description)`` of every interface ``dumpcap -D`` can capture on."""
    proc = spawn([find_dumpcap(dumpcap), "-D"], "any interface", stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise CaptureFailed("dumpcap -D did not answer within 30 s") from None
    error = dumpcap_error(err, "any")
    if error is not None:
        raise error
    if proc.returncode:
        raise CaptureFailed(f"dumpcap -D failed (status {proc.returncode})")
    found = []
    for line in out.splitlines():
        m = _DUMPCAP_LINE.match(line)
        if m:
            found.append((m.group(1), m.group(2) or ""))
    return found


def list_interfaces(dumpcap: str = "dumpcap") -> str:
    """A table: each interface dumpcap lists, up or down, its addresses and description."""
    stats = psutil.net_if_stats()
    addrs = psutil.net_if_addrs()
    rows = [("interface", "state", "addresses", "")]
    for name, description in dumpcap_interfaces(dumpcap):
        state = ("up" if stats[name].isup else "down") if name in stats else ""
        ips = [a.address.split("%")[0] for a in addrs.get(name, ())
               if a.family in (socket.AF_INET, socket.AF_INET6)]
        if name == "any" and not description:
            description = "all interfaces"
        rows.append((printable(name), state, ", ".join(ips), printable(description)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths + [0])).rstrip() for r in rows]
    return "\n".join(lines)
