"""The drops of a capture socket read while it runs, from another descriptor of it: a
real AF_PACKET socket on loopback that nobody reads fills up and the kernel drops; the
reading sees them, and what it read the kernel forgets (so dumpcap's own figure at the
end is only the rest)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from tuimon.capture.sockstats import SocketDrops, open_drops, packet_sockets

ETH_P_ALL = 0x0003


def packet_socket() -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        pytest.skip("needs CAP_NET_RAW (run as root) to open a packet socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
    sock.bind(("lo", 0))
    return sock


def flood_loopback(count: int = 2000) -> None:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(count):
        sender.sendto(b"x" * 200, ("127.0.0.1", 9))  # the discard port: nobody listens
    sender.close()


def test_drops_of_a_capture_socket_are_read_while_it_runs_and_then_forgotten():
    sock = packet_socket()
    try:
        assert sock.fileno() in packet_sockets(os.getpid())
        drops = SocketDrops(os.getpid())
        before = drops.poll()  # whatever the socket dropped before the flood
        flood_loopback()
        time.sleep(0.1)
        first = drops.poll()
        assert first > before  # the full socket dropped, and it was seen
        again = drops.poll()
        assert again == first  # read once: the kernel's counter was reset
        assert drops.total(5) == first + 5  # plus what the capturer itself says at its end
        drops.close()
        assert sock.fileno() >= 0  # our duplicates only: the socket itself stays open
    finally:
        sock.close()


def test_no_capture_socket_means_not_known():
    assert open_drops(os.getpid()) is None  # this process has no packet socket now
