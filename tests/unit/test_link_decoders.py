"""The link decoders beyond Ethernet never raise and never recurse: every prefix of every
frame the oracle tests build, random mutations of them, and deeply nested headers (PPI in
PPI, FabricPath in FabricPath, Arista headers one after another) decode to a record."""

from __future__ import annotations

import random
import struct
import time

from tests.oracle.test_link_types import VARIANTS
from tests.support import linkbuild as lb
from tests.support import pcapbuild as pb
from tuimon.capture.decode import IPV4, NONIP, UNDECODED
from tuimon.capture.linktypes import decoder_for
from tuimon.capture.linktypes import LINKTYPES


def _decodes(decode, frame: bytes) -> tuple:
    record = decode(frame, 0, len(frame))
    assert len(record) == 7 and record[0] in (UNDECODED, NONIP, IPV4, 6)
    return record


def test_every_prefix_and_mutation_decodes():
    rng = random.Random(19)
    for name, (linktype, frames, _) in VARIANTS.items():
        decode = decoder_for(linktype)
        for frame in frames():
            for cut in range(len(frame) + 1):
                _decodes(decode, frame[:cut])
            for _ in range(200):
                data = bytearray(frame)
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                _decodes(decode, bytes(data))
    for linktype in LINKTYPES:  # garbage of every length on every link type
        for size in range(0, 200, 3):
            _decodes(decoder_for(linktype), bytes(rng.randrange(256) for _ in range(size)))


def test_deep_nesting_neither_recurses_nor_crawls():
    tcp = pb.ipv4("192.0.2.1", "198.51.100.7", 6, pb.tcp(1, 2))
    ppi = lb.ppi(pb.eth(tcp), 1)
    for _ in range(5_000):  # far beyond Python's recursion limit
        ppi = lb.ppi(ppi, 192)
    fabric = pb.eth(tcp)
    for _ in range(5_000):
        fabric = lb.fabricpath(fabric)
    arista = b"".join(struct.pack("!HHHII", 0xD28B, 1, 0x10, 0, 0) for _ in range(5_000))
    arista = pb.MAC_B + pb.MAC_A + arista + b"\x08\x00" + tcp
    start = time.perf_counter()
    assert _decodes(decoder_for(192), ppi)[0] == IPV4
    assert _decodes(decoder_for(1), fabric)[0] == NONIP  # FabricPath in FabricPath: not followed
    assert _decodes(decoder_for(1), arista)[0] == IPV4
    assert time.perf_counter() - start < 2
