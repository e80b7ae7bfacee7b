"""A running dumpcap's capture drops, while it captures (Linux, root).

dumpcap reports the drops of its capture socket (the kernel ring was full) only in the
statistics block it writes when it stops. To show them within a second of their
happening, :class:`SocketDrops` takes a duplicate of dumpcap's AF_PACKET socket
(``pidfd_open`` + ``pidfd_getfd``) and reads the kernel's ``PACKET_STATISTICS`` for it.

That read also resets the kernel's counters, so the drops dumpcap writes at the end are
only those since the last read here: the capture's total is what was read here plus
what dumpcap reports (:meth:`total`). Taking another process's descriptor needs the right
to ptrace it: root (or CAP_SYS_PTRACE). An ordinary user in the ``wireshark`` group may
not (dumpcap carries file capabilities), and then drops show when the capture ends, as
before. Nothing here is needed for counting; every failure just means "not known yet".
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

SOL_PACKET = 263
PACKET_STATISTICS = 6
_STATS = struct.Struct("=II")  # tp_packets, tp_drops (TPACKET_V3 adds tp_freeze_q_cnt)
SYS_PIDFD_GETFD = 438  # x86_64, arm64 and every asm-generic architecture


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    dup = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if dup < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return dup


def packet_sockets(pid: int) -> list[int]:
    """The descriptors of ``pid`` that are AF_PACKET sockets (``/proc/PID/net/packet``
    lists its namespace's by inode)."""
    with open(f"/proc/{pid}/net/packet") as f:
        next(f, None)
        inodes = {line.split()[8] for line in f if len(line.split()) > 8}
    found = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            found.append(int(name))
    return sorted(found)


class SocketDrops:
    """The drops of one running dumpcap's capture socket, read once a second."""

    def __init__(self, pid: int) -> None:
        """Raises OSError when they cannot be read (no permission, no such socket)."""
        self.drops = 0  # read here so far (the kernel forgot them)
        self._socks: list[socket.socket] = []
        pidfd = os.pidfd_open(pid)
        try:
            for fd in packet_sockets(pid):
                self._socks.append(socket.socket(fileno=_pidfd_getfd(pidfd, fd)))
        finally:
            os.close(pidfd)
        if not self._socks:
            raise OSError(0, "no capture socket")

    def poll(self) -> int:
        """Read (and so reset) the kernel's counters; the drops read so far in all."""
        for sock in self._socks:
            try:
                raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
            except OSError:
                continue
            self.drops += _STATS.unpack_from(raw)[1]
        return self.drops

    def total(self, reported: int | None) -> int:
        """The capture's drops: those read here plus those dumpcap reports at its end."""
        return self.drops + (reported or 0)

    def close(self) -> None:
        """Our duplicates only: dumpcap's own socket stays open."""
        for sock in self._socks:
            sock.close()
        self._socks = []


def open_drops(pid: int) -> SocketDrops | None:
    """A reader of ``pid``'s capture drops, or None when this process may not have one."""
    try:
        return SocketDrops(pid)
    except (OSError, AttributeError, ValueError):
        return None
