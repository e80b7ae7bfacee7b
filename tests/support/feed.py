"""Feeding a capture's bytes to a CaptureReader in chunks of given sizes (cutting records
and blocks anywhere), as a pipe or a file brings them: the batches it hands out."""

from __future__ import annotations


def feed(reader, data: bytes, steps) -> list:
    """``data`` fed to ``reader`` ``steps[0]``, ``steps[1]``... bytes at a time (round and
    round); the batch ``records()`` gives after each chunk."""
    batches, pos, i = [], 0, 0
    while pos < len(data):
        step = steps[i % len(steps)]
        i += 1
        reader.feed(data[pos:pos + step])
        pos += step
        batches.append(reader.records())
    return batches
