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
