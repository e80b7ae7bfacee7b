"""Build the benchmark capture: real captures from tests/data, copied with rewritten addresses.

Every copy XORs the low 16 bits of both IP addresses of each packet with the copy number,
so each copy holds its own hosts and conversations while the traffic keeps its shape.
Timestamps are rewritten to a steady 100,000 packets per second.
"""

from __future__ import annotations

import struct
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
_REC = struct.Struct("<IIII")


def ethernet_frames() -> list[bytes]:
    """Every Ethernet frame of the classic-pcap captures in tests/data, in file order."""
    frames = []
    for path in sorted(DATA.glob("*.pcap")):
        data = path.read_bytes()
        if data[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", data, 20)[0] & 0xFFFF != 1:
            continue
        pos = 24
        while pos + 16 <= len(data):
            _, _, incl, orig = _REC.unpack_from(data, pos)
            frame = data[pos + 16:pos + 16 + incl]
            if len(frame) < incl:
                break
            frames.append((frame, orig))
            pos += 16 + incl
    return frames


def _rewrite(frame: bytes, copy: int) -> bytes:
    if len(frame) < 34:
        return frame
    etype = frame[12] << 8 | frame[13]
    if etype == 0x0800:
        offsets = (14 + 14, 14 + 18)  # last two bytes of src and dst
    elif etype == 0x86DD and len(frame) >= 54:
        offsets = (14 + 22, 14 + 38)
    else:
        return frame
    out = bytearray(frame)
    for off in offsets:
        value = (out[off] << 8 | out[off + 1]) ^ copy
        out[off], out[off + 1] = value >> 8, value & 0xFF
    return bytes(out)


def build(path: Path, packets: int = 1_000_000, pps: int = 100_000) -> Path:
    frames = ethernet_frames()
    start_us = 1_700_000_000 * 1_000_000
    step_us = 1_000_000 // pps
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        n = copy = 0
        while n < packets:
            copy += 1
            for frame, orig in frames:
                if n >= packets:
                    break
                frame = _rewrite(frame, copy)
                ts = start_us + n * step_us
                f.write(_REC.pack(ts // 1_000_000, ts % 1_000_000, len(frame), orig))
                f.write(frame)
                n += 1
    return path
