"""A small pcapng writer: section header, one interface block per interface, enhanced
packet blocks with the original timestamps and lengths (little-endian, as Wireshark writes).

Used by drill-down: the frames of one conversation go to a temporary file for tshark and
pyshark, and to the file ``w`` writes for Wireshark.
"""

from __future__ import annotations

import struct

SHB_TYPE, IDB_TYPE, EPB_TYPE = 0x0A0D0D0A, 1, 6
# The largest timestamp a packet block holds (64 bits of the interface's units). A time
# beyond (or before 1970) is written as the nearest one the block can hold: a crafted
# capture can say any time, and tshark is given these frames for their bytes.
MAX_UNITS = (1 << 64) - 1


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    out = b""
    for code, value in options:
        out += struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    return out + b"\0\0\0\0"  # opt_endofopt


def block(btype: int, body: bytes) -> bytes:
    """One pcapng block: type, total length, body (padded to 32 bits), total length."""
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def section_header(application: str = "tuimon") -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)  # byte-order magic, v1.0, length unknown
    return block(SHB_TYPE, body + _options([(4, application.encode())]))  # shb_userappl


def interface_block(linktype: int, snaplen: int = 0, name: str = "", nanoseconds: bool = False) -> bytes:
    options = []
    if name:
        options.append((2, name.encode("utf-8", "replace")))  # if_name
    options.append((9, bytes([9 if nanoseconds else 6])))  # if_tsresol
    return block(IDB_TYPE, struct.pack("<HHI", linktype, 0, snaplen) + _options(options))


def packet_block(interface: int, units: int, data: bytes, wire_len: int) -> bytes:
    """An enhanced packet block; ``units`` is the timestamp in the interface's resolution."""
    head = struct.pack("<IIIII", interface, (units >> 32) & 0xFFFFFFFF, units & 0xFFFFFFFF,
                       len(data), max(wire_len, len(data)))
    return block(EPB_TYPE, head + data)


def clamp_units(ts: float, per_second: float) -> int:
    """``ts`` in units of ``1 / per_second`` s, held to what a packet block can say."""
    if not ts > 0:  # before 1970 (or not a number)
        return 0
    units = ts * per_second
    return round(units) if units < MAX_UNITS else MAX_UNITS


class PcapngWriter:
    """Writes frames to a binary file object; interfaces are declared as they first appear.

    ``add()`` returns where the frame's bytes start in the file (so a reader can seek to them).
    """

    def __init__(self, f) -> None:
        self.f = f
        self.pos = 0
        self.count = 0
        self._ids: dict[tuple, tuple[int, bool]] = {}
        self._write(section_header())

    def _write(self, data: bytes) -> None:
        self.f.write(data)
        self.pos += len(data)

    def interface(self, linktype: int, snaplen: int, name: str, scale: float) -> tuple[int, bool]:
        key = (linktype, snaplen, name, scale < 1e-6)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = (len(self._ids), scale < 1e-6)
            self._write(interface_block(linktype, snaplen, name, nanoseconds=found[1]))
        return found

    def add(self, linktype: int, snaplen: int, name: str, scale: float, ts: float,
            data: bytes, wire_len: int) -> int:
        index, nano = self.interface(linktype, snaplen, name, scale)
        units = clamp_units(ts, 1e9 if nano else 1e6)
        offset = self.pos + 28
        self._write(packet_block(index, units, data, wire_len))
        self.count += 1
        return offset
