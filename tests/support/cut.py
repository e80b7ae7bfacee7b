"""Helpers shared by the tests, from test_skipped.py."""

from __future__ import annotations

import struct
from pathlib import Path


DATA = Path(__file__).resolve().parents[1] / "data"


def records_of(path: Path, offset: int = 24) -> list[int]:
    """Where each record of a little-endian pcap starts."""
    data = path.read_bytes()
    starts = []
    while offset + 16 <= len(data):
        starts.append(offset)
        offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
    return starts


def cut_mid_record(tmp_path: Path) -> Path:
    """smtp.pcap (95 records) with its last record cut in the middle of the frame."""
    data = (DATA / "smtp.pcap").read_bytes()
    path = tmp_path / "smtp-cut.pcap"
    path.write_bytes(data[:records_of(DATA / "smtp.pcap")[-1] + 16 + 20])
    return path
