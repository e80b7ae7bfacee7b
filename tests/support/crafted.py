"""Crafted captures, legal or nearly so, that once crashed or stalled tuimon (issue 19):
far timestamps, records claiming gigabytes, forged wire lengths, pcap format 2.0."""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path

from tests.support import pcapbuild as pb

UDP = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1000, 53, b"x" * 20)))
TCP = pb.eth(pb.ipv4("10.0.0.3", "10.0.0.4", 6, pb.tcp(1000, 80, 0x02)))

# name -> (interface options, timestamp in the interface's units); tshark reads them all.
FAR_TIMES = {
    "tsoffset-max": ({"tsoffset": (1 << 63) - 1}, 1),
    "tsoffset-min": ({"tsoffset": -(1 << 63)}, 1),
    "tsresol-1s": ({"tsresol": 0}, 2 * 10**13),
    "timestamp-max": ({}, (1 << 64) - 1),
}


def far_time_seconds(name: str) -> int:
    """The exact time (seconds, rounded down) of the packets of FAR_TIMES[name]."""
    options, units = FAR_TIMES[name]
    if "tsresol" in options:
        return units + options.get("tsoffset", 0)
    return units // 10**6 + options.get("tsoffset", 0)


def far_time_pcapng(folder: Path, name: str) -> Path:
    """A legal 200-byte pcapng whose two packets (UDP, TCP) lie far outside any clock."""
    options, units = FAR_TIMES[name]
    path = Path(folder) / f"far-{name}.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, **options}], [(0, units, UDP), (0, units, TCP)])
    return path


def pcap_header(snaplen: int = 65535, linktype: int = 1, version: tuple = (2, 4)) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, *version, 0, 0, snaplen, linktype)


def record_bomb(path: Path, zeros: int = 4 << 20) -> Path:
    """The issue's bomb: snapshot length 0xFFFFFFFF, one Ethernet record claiming about
    4 GB, then ``zeros`` zero bytes; gzip-compressed when ``path`` ends in .gz."""
    data = pcap_header(0xFFFFFFFF) + struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + \
        b"\0" * zeros
    Path(path).write_bytes(gzip.compress(data, 1) if str(path).endswith(".gz") else data)
    return Path(path)


def long_records_gz(path: Path, records: int = 24, length: int = 128 << 20) -> Path:
    """A .pcap.gz of D-Bus records (link type 231, whose records Wireshark reads up to
    128 MiB) of ``length`` zero bytes each: gigabytes to decompress, a few MB on disk.
    The zeros are compressed once; gzip members are joined (a gzip stream may have many)."""
    member = _zeros_member(length)
    parts = [gzip.compress(pcap_header(0xFFFFFFFF, 231))]
    for i in range(records):
        parts.append(gzip.compress(struct.pack("<IIII", 1_700_000_000 + i, 0, length, length)))
        parts.append(member)
    Path(path).write_bytes(b"".join(parts))
    return Path(path)


@functools.lru_cache(maxsize=2)
def _zeros_member(length: int) -> bytes:
    """A gzip member of ``length`` zero bytes (the same bytes every time: compressing 128 MiB
    took 0.7 CPU-seconds, once per test that asked)."""
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    return zeros.compress(b"\0" * length) + zeros.flush()


FORGED = [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, len(UDP)]  # wire lengths, one a record


def forged_lengths_pcap(path: Path) -> Path:
    """Four UDP records whose wire lengths are FORGED."""
    pb.write_pcap(path, [(1_700_000_000.0 + i, UDP, wire) for i, wire in enumerate(FORGED)])
    return Path(path)


def forged_lengths_pcapng(path: Path) -> Path:
    """The same in enhanced packet blocks."""
    pb.write_pcapng(path, [{"linktype": 1}],
                    [(0, 1_700_000_000_000_000 + i, UDP, wire) for i, wire in enumerate(FORGED)])
    return Path(path)


def swapped_lengths_pcap(path: Path, version: tuple = (2, 0), snaplen: int = 64) -> Path:
    """pcap of format ``version`` with the wire length first, the captured length second
    (as libpcap wrote before 2.3): three 54-byte frames of a 142-byte wire length."""
    frame = TCP
    with open(path, "wb") as f:
        f.write(pcap_header(snaplen, 1, version))
        for i in range(3):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, 142, len(frame)) + frame)
    return Path(path)
