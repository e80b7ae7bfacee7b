"""The local sockets and the processes that own them (psutil), for the Processes view.

:class:`SocketReader` lists this network namespace's TCP and UDP sockets, IPv4 and IPv6,
as :class:`Socket` tuples (protocol number, local address as the engine's int, local port,
pid, process name) from ``/proc/self/net`` and the processes' descriptors, walking those
only when a socket it does not know appears; :func:`read_sockets` gives the same through
psutil (``net_connections``, ``Process.name``), every process walked each time: the
tests' reference. An IPv4 address on an IPv6 socket
(``::ffff:10.0.0.1``) is given as the IPv4 address, as the capture sees it; a socket bound
to every address (``0.0.0.0``, ``::``) has address None. A socket whose owner cannot be
told (another user's without root, another PID namespace) has pid None.

Read in a thread of the engine process at most once a second
(:mod:`tuimon.server.process_poll`), never per packet.
"""

from __future__ import annotations

import ipaddress
import os
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
    """This namespace's TCP and UDP sockets with their owners, through psutil (all of
    /proc walked every time: :class:`SocketReader` is the cheaper reader the engine uses;
    this one is its reference in the tests)."""
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


_NET_FILES = (("tcp", TCP, False), ("tcp6", TCP, True), ("udp", UDP, False),
              ("udp6", UDP, True))


def _hex_address(text: str, v6: bool) -> int | None:
    """/proc/net's address: 32-bit words in the host's (little-endian) order."""
    raw = bytes.fromhex(text)
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return address_int(str(ipaddress.ip_address(packed)))


class SocketReader:
    """This namespace's sockets (``/proc/self/net/{tcp,tcp6,udp,udp6}``: cheap) and their
    owners (which process holds each socket's inode: every ``/proc/PID/fd`` read, which
    costs, so only when a socket appears whose inode is not known yet; the owners of the
    known ones are kept). What psutil's ``net_connections`` reads, without walking every
    process's descriptors each second (70 ms a poll on a machine with 116 processes)."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._owners: dict[int, tuple[int | None, str]] = {}  # inode -> (pid, name)
        self.scans = 0  # walks of every process's descriptors

    def _listing(self) -> list[tuple[int, int | None, int, int]]:
        """(proto, address, port, inode) of every socket with a local port."""
        found = []
        for name, proto, v6 in _NET_FILES:
            try:
                with open(f"{self.proc}/self/net/{name}") as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) < 10:
                    continue
                addr, _, port = fields[1].partition(":")
                inode = int(fields[9])
                if not inode:  # TIME_WAIT and such: no socket any more
                    continue
                found.append((proto, _hex_address(addr, v6), int(port, 16), inode))
        return found

    def _scan(self, wanted: set) -> None:
        """Find the processes holding the sockets ``wanted`` (inodes)."""
        self.scans += 1
        try:
            pids = [p for p in os.listdir(self.proc) if p.isdigit()]
        except OSError:
            return
        for pid in pids:
            fd_dir = f"{self.proc}/{pid}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            name = None
            for fd in fds:
                try:
                    target = os.readlink(f"{fd_dir}/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in wanted and inode not in self._owners:
                        if name is None:
                            name = _comm(self.proc, pid)
                        self._owners[inode] = (int(pid), name)

    def read(self) -> list[Socket]:
        listing = self._listing()
        inodes = {entry[3] for entry in listing}
        for inode in [i for i in self._owners if i not in inodes]:
            del self._owners[inode]  # closed
        unknown = inodes - self._owners.keys()
        if unknown:
            self._scan(unknown)
            for inode in unknown - self._owners.keys():
                self._owners[inode] = (None, "")  # nobody we may see: not looked for again
        return [Socket(proto, addr, port, *self._owners[inode])
                for proto, addr, port, inode in listing]


def _comm(proc: str, pid: str) -> str:
    try:
        with open(f"{proc}/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


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
