"""The local sockets and the processes that own them (psutil), for the Processes view.

:func:`read_sockets` lists this network namespace's TCP and UDP sockets, IPv4 and IPv6, as
:class:`Socket` tuples (protocol number, local address as the engine's int, local port,
pid, process name): ``psutil.net_connections("inet")`` for the sockets and their pids,
``psutil.Process(pid).name()`` for the names. An IPv4 address on an IPv6 socket
(``::ffff:10.0.0.1``) is given as the IPv4 address, as the capture sees it; a socket bound
to every address (``0.0.0.0``, ``::``) has address None. A socket whose owner cannot be
told (another user's without root, another PID namespace) has pid None.

Read in a thread of the engine process at most once a second
(:mod:`tuimon.server.process_poll`), never per packet.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

from tuimon.capture.decode import V6

TCP, UDP = 6, 17


class Socket(NamedTuple):
    proto: int  # 6 TCP, 17 UDP
    addr: int | None  # the local address as the engine's int; None: every address
    port: int
    pid: int | None
    name: str  # the process's name, "" when not known


def address_int(text: str) -> int | None:
    """An address as the engine keeps it (IPv6 marked with V6); None for a wildcard."""
    ip = ipaddress.ip_address(text.split("%")[0])
    if ip.is_unspecified:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return int(ip) if ip.version == 4 else V6 | int(ip)


def read_sockets() -> list[Socket]:
    """This namespace's TCP and UDP sockets with their owners (psutil)."""
    import psutil

    names: dict[int, str] = {}
    out = []
    for conn in psutil.net_connections("inet"):
        if not conn.laddr:
            continue
        proto = TCP if conn.type == socket.SOCK_STREAM else UDP
        pid = conn.pid
        name = ""
        if pid is not None:
            name = names.get(pid)
            if name is None:
                try:
                    name = psutil.Process(pid).name()
                except (psutil.Error, OSError):
                    name = ""
                names[pid] = name
        out.append(Socket(proto, address_int(conn.laddr.ip), conn.laddr.port, pid, name))
    return out


def read_local_addresses() -> frozenset:
    """The addresses of this namespace's interfaces (what a wildcard socket listens on)."""
    import psutil

    found = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    addr = address_int(a.address)
                except ValueError:
                    continue
                if addr is not None:
                    found.add(addr)
    return frozenset(found)
