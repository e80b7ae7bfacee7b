"""The pcapng reader's fast path for enhanced packet blocks (the live capture's stream)
gives the same records as the general decoders: each frame decoded by its link type's
decoder, its direction from the epb_flags option or the interface's own MAC, its time from
the interface's resolution and offset, whatever the chunks cut, whatever the byte order."""

from __future__ import annotations

import random
import struct

import pytest

from tests.support import pcapbuild as pb
from tuimon.capture.decode import IN, OUT, UNKNOWN
from tuimon.capture.linktypes import decoder_for
from tuimon.capture.reader import CaptureReader

OWN = pb.MAC_A


def _frames():
    """(linktype, frame) pairs: IPv4 TCP/UDP/ICMP, a later fragment, IPv6, VLAN, ARP,
    short and truncated frames, sent from our own MAC and from another."""
    payloads = [
        pb.ipv4("10.0.0.1", "10.0.0.2", 6, pb.tcp(1234, 80, 0x12, b"x" * 30)),
        pb.ipv4("10.0.0.2", "10.0.0.1", 17, pb.udp(53, 5353, b"q" * 12)),
        pb.ipv4("10.0.0.3", "10.0.0.1", 1, b"\x08\x00" + b"\0" * 30),
        pb.ipv4("10.0.0.3", "10.0.0.1", 17, b"z" * 40, frag=185),
        pb.ipv6("fe80::1", "fe80::2", 17, pb.udp(547, 546, b"v6")),
    ]
    out = []
    for p in payloads:
        out.append((1, pb.eth(p)))  # from OWN: out
        out.append((1, pb.MAC_A + pb.MAC_B + b"\x08\x00" + p))  # to OWN: in
        out.append((1, pb.eth(p, vlans=((0x8100, 7),))))
        out.append((101, p))  # raw IP
    out.append((1, pb.eth(b"\0" * 28, ethertype=0x0806)))  # ARP
    out.append((1, pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 6, pb.tcp(1, 2)))[:40]))  # cut short
    out.append((1, b"\x01\x02\x03"))
    return out


def _section(endian: str, rng: random.Random):
    """One section's bytes and the records it must give (index within the section)."""
    ifaces = [{"linktype": 1, "name": "eth0", "tsresol": 9, "tsoffset": 100},
              {"linktype": 101, "name": "tun0"}]
    scale = {0: 1e-9, 1: 1e-6}
    packets, expected = [], []
    for i, (linktype, frame) in enumerate(_frames() * 3):
        ifid = 0 if linktype == 1 else 1
        units = 1_700_000_000_000_000 + i * 1_000 + rng.randrange(1000)
        wire = len(frame) + rng.choice((0, 0, 60, 1400))
        flags = rng.choice((None, None, 1, 2))
        packets.append((ifid, units, frame, wire) + ((flags,) if flags else ()))
        if flags:
            way = IN if flags == 1 else OUT
        elif ifid == 0:
            way = (OUT if frame[6:12] == OWN else IN) if len(frame) >= 12 else UNKNOWN
        else:
            way = UNKNOWN
        ts = units * scale[ifid] + (100 if ifid == 0 else 0)
        expected.append((ifid, ts, wire, decoder_for(linktype)(frame, 0, len(frame)), way))
    return ifaces, packets, expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_records_equal_the_decoders(tmp_path, seed):
    rng = random.Random(seed)
    data, expected, first = b"", [], 0
    for endian in ("<", ">", "<"):  # three sections, the byte order changing between them
        ifaces, packets, want = _section(endian, rng)
        pb.write_pcapng(tmp_path / "s.pcapng", ifaces, packets, endian=endian)
        data += (tmp_path / "s.pcapng").read_bytes()
        expected += [(first + r[0],) + r[1:] for r in want]
        first += len(ifaces)
    reader = CaptureReader("t", own_mac=OWN)
    got, pos = [], 0
    while pos < len(data):  # chunks that cut blocks anywhere
        step = rng.choice((1, 7, 64, 333, 4096))
        reader.feed(data[pos : pos + step])
        pos += step
        got += [r[:5] for r in reader.records()]
    assert not reader.skipped
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g[0] == e[0] and g[2:] == e[2:], (g, e)
        assert g[1] == pytest.approx(e[1], abs=1e-6)


def test_a_damaged_or_odd_block_still_goes_the_general_way(tmp_path):
    """A packet block for an undeclared interface, and one whose captured length exceeds
    the block, are skipped and named as before; the good blocks around them are read."""
    frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1, 2, b"a" * 20)))
    pb.write_pcapng(tmp_path / "a.pcapng", [{"linktype": 1}],
                    [(0, 1, frame), (3, 2, frame), (0, 3, frame)])
    data = bytearray((tmp_path / "a.pcapng").read_bytes())
    reader = CaptureReader("t")
    reader.feed(bytes(data))
    records = reader.records()
    assert [r[2] for r in records] == [len(frame), len(frame)]
    assert reader.skipped == {"packet for an undeclared interface": 1}
    # the captured length of the last block raised past its block's end
    last = len(data) - (32 + len(frame) + (-len(frame)) % 4)
    struct.pack_into("<I", data, last + 20, 4000)
    reader = CaptureReader("t")
    reader.feed(bytes(data))
    assert len(reader.records()) == 1
    assert reader.skipped["packet for an undeclared interface"] == 1
    assert sum(reader.skipped.values()) == 2
