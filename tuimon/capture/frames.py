"""The frames of one conversation, read again from a capture file (drill-down).

:class:`FrameReader` is our :class:`~tuimon.capture.reader.CaptureReader` with each
interface's decoder wrapped: a frame of the conversation comes out with its direction,
TCP flags and a copy of its bytes; every other frame as ``None`` (nothing copied). The
match is the engine's: the 5-tuple of the outermost IP header in either direction, so
IP fragments other than the first (no ports) are not part of a TCP/UDP conversation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

from tuimon.capture.decode import NONIP
from tuimon.capture.linktypes import decoder_for
from tuimon.capture.reader import CaptureReader, Interface
from tuimon.errors import TuimonError

A_TO_B, B_TO_A = 1, 2


class Frame(NamedTuple):
    number: int  # the record's number in its file (1 = first), as Wireshark numbers frames
    iface: Interface
    ts: float
    wire_len: int
    data: bytes
    direction: int  # A_TO_B or B_TO_A
    flags: int  # TCP flags


def matcher(key: tuple):
    """``key`` is a conversation's row key ``(proto, a, port a, b, port b)``; the result maps
    a decoded record to A_TO_B, B_TO_A or 0."""
    proto, a, pa, b, pb = key
    forward, backward = (proto, a, b, pa, pb), (proto, b, a, pb, pa)

    def match(dec) -> int:
        if dec[0] <= NONIP:
            return 0
        five = dec[1:6]
        if five == forward:
            return A_TO_B
        if five == backward:
            return B_TO_A
        return 0

    return match


class FrameReader(CaptureReader):
    def __init__(self, source_name: str, key: tuple, first_index: int = 0) -> None:
        self.match = matcher(key)
        super().__init__(source_name, first_index)

    def _decoder(self, linktype: int):
        decode, match = decoder_for(linktype), self.match

        def keep(buf, start, end):
            dec = decode(buf, start, end)
            direction = match(dec)
            return (direction, dec[6], bytes(buf[start:end])) if direction else None

        return keep


class Scan:
    """What one pass over a file found; ``first_ts`` is its first record's time, any
    conversation's (the oldest packet a ring file still holds)."""

    def __init__(self) -> None:
        self.first_ts: float | None = None
        self.records = 0


def file_frames(path: str, key: tuple, capture_filter: str | None = None,
                first_index: int = 0, scan: Scan | None = None) -> Iterator[Frame]:
    """The conversation's frames in ``path`` (with the capture filter the playback used)."""
    from tuimon.capture.file import FileSource

    reader = FrameReader(os.path.basename(path), key, first_index)
    source = FileSource(path, capture_filter=capture_filter, reader=reader)
    scan = scan if scan is not None else Scan()
    ifaces = reader.interfaces
    for batch in source.batches():
        if scan.first_ts is None and batch:
            scan.first_ts = batch[0][1]
        number = scan.records
        scan.records += len(batch)
        for index, ts, wire_len, hit, _way, _buf, _start, _end in batch:
            number += 1
            if hit is not None:
                yield Frame(number, ifaces[index - first_index], ts, wire_len, hit[2], hit[0],
                            hit[1])


def ring_frames(paths: list[str], key: tuple, first_index: int = 0,
                scan: Scan | None = None) -> Iterator[Frame]:
    """The conversation's frames in a ring's files, oldest first. A file deleted by the ring
    meanwhile, or not written yet, is skipped; numbers run on across the files."""
    scan = scan if scan is not None else Scan()
    for path in paths:
        part = Scan()
        part.records = scan.records
        try:
            yield from file_frames(path, key, first_index=first_index, scan=part)
        except TuimonError:  # gone, or empty: nothing of it to show
            pass
        if scan.first_ts is None:
            scan.first_ts = part.first_ts
        scan.records = part.records
