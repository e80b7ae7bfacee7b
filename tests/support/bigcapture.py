"""A capture with many conversations, made quickly: one UDP frame, its source address and
port patched for each packet (tests of long saves, not of decoding)."""

from __future__ import annotations

import struct

from tests.support import pcapbuild as pb

FRAME = pb.eth(pb.ipv4("10.0.0.1", "192.0.2.1", 17, pb.udp(1000, 53, b"x" * 20)))
SRC = 14 + 12  # the IPv4 source address in FRAME
SPORT = 14 + 20  # the UDP source port


def write_many_conversations(path, n: int, start: float = 1_700_000_000.0) -> None:
    """``n`` packets, each one its own UDP conversation (10.x.y.z:port -> 192.0.2.1:53)."""
    frame = bytearray(FRAME)
    record = struct.Struct("<IIII")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out = []
        for i in range(n):
            frame[SRC:SRC + 4] = bytes((10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))
            frame[SPORT:SPORT + 2] = (1024 + i % 60000).to_bytes(2, "big")
            out.append(record.pack(int(start) + i // 1000, (i % 1000) * 1000, len(frame),
                                   len(frame)))
            out.append(bytes(frame))
            if len(out) >= 8192:
                f.write(b"".join(out))
                out.clear()
        f.write(b"".join(out))
