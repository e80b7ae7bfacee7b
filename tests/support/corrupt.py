"""Damage real captures on purpose: rewrite one header field in every Nth frame of a
little-endian, Ethernet pcap from tests/data, or change the file header.

Each function takes the file's bytes and returns new bytes; the records keep their framing
unless the damage is to the framing itself.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def records(data: bytes, offset: int = 24) -> list[tuple[int, int, int]]:
    """(start of the record header, captured length, wire length) of each pcap record."""
    out = []
    while offset + 16 <= len(data):
        incl, orig = struct.unpack_from("<II", data, offset + 8)
        out.append((offset, incl, orig))
        offset += 16 + incl
    return out


def every_frame(data: bytes, change: Callable[[bytearray, int, int], None], step: int = 3,
                ethertype: int | None = None) -> bytes:
    """Apply ``change(buf, frame_start, captured_length)`` to every ``step``-th frame (of
    ``ethertype`` only, when given) of a little-endian pcap."""
    buf = bytearray(data)
    n = 0
    for pos, incl, _orig in records(data):
        frame = pos + 16
        if ethertype is not None and (incl < 14 or struct.unpack_from("!H", buf, frame + 12)[0]
                                      != ethertype):
            continue
        if n % step == 0:
            change(buf, frame, incl)
        n += 1
    return bytes(buf)


def _ip4(offset: int, value: int):
    def change(buf, frame, incl):
        if incl > 14 + offset:
            buf[frame + 14 + offset] = value & 0xFF
    return change


def ihl_short(data: bytes, ihl: int = 4) -> bytes:
    """IPv4 header length under 20 bytes (``ihl`` words)."""
    def change(buf, frame, incl):
        buf[frame + 14] = 0x40 | ihl
    return every_frame(data, change, ethertype=0x0800)


def ip_version(data: bytes, version: int = 7) -> bytes:
    def change(buf, frame, incl):
        buf[frame + 14] = (version << 4) | (buf[frame + 14] & 15)
    return every_frame(data, change, ethertype=0x0800)


def ip_total_length(data: bytes, total: int) -> bytes:
    def change(buf, frame, incl):
        struct.pack_into("!H", buf, frame + 16, total)
    return every_frame(data, change, ethertype=0x0800)


def ethertype(data: bytes, value: int = 0x1234) -> bytes:
    def change(buf, frame, incl):
        struct.pack_into("!H", buf, frame + 12, value)
    return every_frame(data, change)


def v6_chain_past_end(data: bytes) -> bytes:
    """IPv6 next header becomes hop-by-hop options whose length runs past the packet."""
    def change(buf, frame, incl):
        buf[frame + 14 + 6] = 0  # next header: hop-by-hop
        if incl >= 14 + 42:
            buf[frame + 14 + 41] = 0xFF  # its length: 2048 bytes
    return every_frame(data, change, ethertype=0x86DD)


def snap_records(data: bytes, keep: int, step: int = 3) -> bytes:
    """Cut every ``step``-th record to ``keep`` captured bytes (the wire length stays), as a
    small snapshot length would: transport headers cut off, IP headers cut in half."""
    out = bytearray(data[:24])
    for n, (pos, incl, orig) in enumerate(records(data)):
        frame = data[pos + 16: pos + 16 + incl]
        if n % step == 0:
            frame = frame[:keep]
        out += data[pos:pos + 8] + struct.pack("<II", len(frame), orig) + frame
    return bytes(out)


def wire_shorter(data: bytes, orig: int = 20, step: int = 3) -> bytes:
    """Wire length smaller than the captured length in every ``step``-th record."""
    buf = bytearray(data)
    for n, (pos, _incl, _orig) in enumerate(records(data)):
        if n % step == 0:
            struct.pack_into("<I", buf, pos + 12, orig)
    return bytes(buf)


def header_field(data: bytes, offset: int, value: int) -> bytes:
    """One 32-bit field of the pcap file header (16: snapshot length, 20: link type)."""
    buf = bytearray(data)
    struct.pack_into("<I", buf, offset, value)
    return bytes(buf)
