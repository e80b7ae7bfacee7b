"""The drill-down ring cuts its files at block boundaries however large the chunk it is
handed: with dumpcap's pipe enlarged, one read can hold more than a whole ring."""

from __future__ import annotations

import os

from tuimon.capture.pcapng import interface_block, packet_block, section_header
from tuimon.capture.ring import MIN_FILE, Ring


def test_one_chunk_larger_than_the_ring_is_spread_over_its_files(tmp_path):
    frame = bytes(1500)
    stream = section_header() + interface_block(1) + b"".join(
        packet_block(0, i, frame, len(frame)) for i in range(2000))  # about 3 MB
    ring = Ring(str(tmp_path), "if0", 8 * MIN_FILE)
    ring.write(stream)  # one write, as one read of a large pipe
    files = ring.files()
    assert ring.dropped > 0 and len(files) == 8
    block = len(packet_block(0, 0, frame, len(frame)))
    head = len(section_header() + interface_block(1))
    for path in files[:-1]:
        assert os.path.getsize(path) <= ring.file_size + block + head
    ring.close()


def test_blocks_cut_where_the_reader_says_make_the_same_files(tmp_path):
    """write_blocks (the live path: the reader tells where the blocks end) keeps whole
    blocks in every file, whatever the reads' sizes, and sheds whole blocks when asked."""
    from tuimon.capture.reader import CaptureReader

    frame = bytes(700)
    stream = section_header() + interface_block(1) + b"".join(
        packet_block(0, i, frame, len(frame)) for i in range(5000))  # about 3.7 MB
    ring = Ring(str(tmp_path), "if0", 8 * 4 * MIN_FILE)  # files of 256 KiB
    reader = CaptureReader("live")
    step = 65_537  # reads that cut blocks anywhere, each smaller than half a file
    for pos in range(0, len(stream), step):
        data = stream[pos:pos + step]
        reader.feed(data)
        reader.records()
        ring.write_blocks(data, reader.unparsed(), shed=1_000_000 <= pos < 1_200_000)
    assert ring.shed_bytes > 0 and "skipped" in ring.note()
    total = 0
    for path in ring.files():
        back = CaptureReader("ring")
        with open(path, "rb") as f:
            back.feed(f.read())
        records = back.records()
        back.finish()
        assert back.skipped == {} and records, path  # whole blocks only, headers first
        total += len(records)
    assert ring.dropped > 0 and 0 < total < 5000
    ring.close()
