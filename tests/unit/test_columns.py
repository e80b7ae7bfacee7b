"""Batches of columns (capture/vector.py, core/grouping.py) count exactly what the
per-packet path counts: every capture of tests/data, as it is and as pcapng (the live
stream's format), read both ways in chunks that cut blocks anywhere gives the same records, and the engine
fed both ways ends with the same conversations, hosts, interface counters, snapshot and
packets for the dissector, in the same order."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tests.support.feed import feed
from tuimon.capture.columns import PacketColumns
from tuimon.capture.reader import CaptureReader
from tuimon.core.engine import Engine

DATA = Path(__file__).parent.parent / "data"
CAPTURES = sorted(p for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
OWN = pb.MAC_A


def as_pcapng(path: Path) -> bytes:
    """A capture's bytes as pcapng: pcapng files as they are, pcap files rewritten (one
    interface of the file's link type and resolution, each record one packet block)."""
    data = path.read_bytes()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return data
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    snaplen, linktype = struct.unpack_from(endian + "II", data, 16)
    scale = 10**9 if nano else 10**6
    packets, pos = [], 24
    while len(data) - pos >= 16:
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + incl]
        if len(frame) < incl:
            break
        packets.append((0, sec * scale + frac, frame, orig))
        pos += 16 + incl
    out = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"tuimon-cols-{path.name}"
    try:
        pb.write_pcapng(out, [{"linktype": linktype & 0xFFFF, "name": "f",
                               "tsresol": 9 if nano else 6, "snaplen": snaplen}], packets)
        return out.read_bytes()
    finally:
        out.unlink(missing_ok=True)


def _read(data: bytes, columns: bool, steps, own_mac=None):
    reader = CaptureReader("t", own_mac=own_mac, columns=columns)
    return reader, feed(reader, data, steps)


def _plain(records):
    return [(i, ts, w, dec, way, bytes(buf[s:e])) for i, ts, w, dec, way, buf, s, e in records]


def _engine_state(batches):
    engine = Engine()
    engine.set_dissection(10)
    queue = []
    for batch in batches:
        engine.ingest(batch)
        queue += [(q[0].key, q[1], q[2], q[3], bytes(q[4][q[5]:q[6]]))
                  for q in engine.take_dissect_queue()]
        engine.fold()
    engine.fold()
    convs = [(c.key, c.fwd, c.ab_p, c.ab_b, c.ba_p, c.ba_b, c.flags_ab, c.flags_ba, c.first,
              c.last, c.dis_left) for c in engine.conversations]
    hosts = [(a, h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b, h.first, h.last)
             for a, h in engine.hosts.items()]
    return convs, hosts, [list(c) for c in engine._counters], queue, repr(engine.snapshot())


@pytest.mark.parametrize("form", ["as is", "as pcapng"])
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_capture_reads_and_counts_the_same_as_columns(path, form):
    data = path.read_bytes() if form == "as is" else as_pcapng(path)
    for steps, mac in (((1 << 20,), None), ((333, 4096, 70_000), OWN)):
        slow_reader, slow = _read(data, False, steps, mac)
        fast_reader, fast = _read(data, True, steps, mac)
        assert _plain(r for b in fast for r in b) == _plain(r for b in slow for r in b)
        assert fast_reader.skipped == slow_reader.skipped
        assert _engine_state(fast) == _engine_state(slow)


def test_the_columns_cover_the_common_frames():
    """The test above is not vacuous: most records of these captures are fast rows."""
    fast = total = 0
    for path in CAPTURES:
        _, batches = _read(path.read_bytes(), True, (1 << 20,))
        for b in batches:
            total += len(b)
            if isinstance(b, PacketColumns):
                fast += int(b.cols["fast"].sum())
    assert fast > total * 0.6


def _mixed(rng: random.Random, n: int = 400):
    """Frames the columns take and frames they leave to the decoders, interleaved: TCP
    both ways between a few hosts, later fragments, ICMP, IPv6, VLAN, ARP, IPv4 options,
    frames cut short; some with epb_flags; two interfaces, one of them raw IP."""
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.9"]
    packets = []
    for i in range(n):
        a, b = rng.sample(hosts, 2)
        kind = rng.random()
        if kind < 0.5:
            p = pb.ipv4(a, b, 6, pb.tcp(rng.choice((80, 443, 5000)), rng.choice((80, 40000)),
                                        rng.choice((0x02, 0x12, 0x10, 0x18, 0x11, 0x04)), b"x" * 20))
        elif kind < 0.65:
            p = pb.ipv4(a, b, 17, pb.udp(53, rng.choice((53, 5353)), b"q" * 10))
        elif kind < 0.7:
            p = pb.ipv4(a, b, 17, b"z" * 40, frag=185)
        elif kind < 0.75:
            p = pb.ipv4(a, b, 1, b"\x08\x00" + b"\0" * 30)
        elif kind < 0.8:
            p = pb.ipv6("fe80::1", "fe80::2", 17, pb.udp(547, 546, b"v6"))
        elif kind < 0.85:
            p = pb.ipv4(a, b, 6, pb.tcp(80, 40000, 0x10))
            p = bytes([0x46]) + p[1:20] + b"\x01\x01\x01\x01" + p[20:]  # IPv4 options
        else:
            p = pb.ipv4(a, b, 6, pb.tcp(5000, 80, 0x10, b"y" * 8))
        frame = pb.eth(p)
        if rng.random() < 0.3:
            frame = OWN + pb.MAC_B + frame[12:]
        if rng.random() < 0.05:
            frame = pb.eth(p, vlans=((0x8100, 7),))
        if rng.random() < 0.03:
            frame = pb.eth(b"\0" * 28, ethertype=0x0806)
        if rng.random() < 0.03:
            frame = frame[:40]
        ifid = 1 if rng.random() < 0.05 else 0
        if ifid:
            frame = p
        wire = len(frame) + rng.choice((0, 0, 60))
        pkt = (ifid, 1_700_000_000_000_000 + i * 1000 + rng.randrange(1000), frame, wire)
        if rng.random() < 0.02:
            pkt += (rng.choice((1, 2)),)  # epb_flags: a block with options
        packets.append(pkt)
    return packets


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mixed_frames_both_byte_orders(tmp_path, seed):
    rng = random.Random(seed)
    data = b""
    for endian in ("<", ">"):
        pb.write_pcapng(tmp_path / "m.pcapng",
                        [{"linktype": 1, "name": "eth0", "tsresol": 9, "tsoffset": 100},
                         {"linktype": 101, "name": "tun0"}], _mixed(rng), endian=endian)
        data += (tmp_path / "m.pcapng").read_bytes()
    steps = [rng.choice((1, 64, 999, 5000, 1 << 16)) for _ in range(50)]
    slow_reader, slow = _read(data, False, steps, OWN)
    fast_reader, fast = _read(data, True, steps, OWN)
    assert any(isinstance(b, PacketColumns) for b in fast)
    assert _plain(r for b in fast for r in b) == _plain(r for b in slow for r in b)
    assert fast_reader.skipped == slow_reader.skipped
    assert _engine_state(fast) == _engine_state(slow)


def test_a_batch_is_a_sequence_of_the_records(tmp_path):
    rng = random.Random(9)
    pb.write_pcapng(tmp_path / "m.pcapng", [{"linktype": 1, "name": "eth0"},
                                            {"linktype": 101, "name": "tun0"}], _mixed(rng, 200))
    reader = CaptureReader("t", columns=True)
    reader.feed((tmp_path / "m.pcapng").read_bytes())
    batch = reader.records()
    assert isinstance(batch, PacketColumns) and len(batch.slow_recs) > 0
    records = batch.records()
    assert len(batch) == len(records) == 200
    assert [batch[i] for i in range(len(batch))] == records
    assert batch[-1] == records[-1]
    assert list(batch[37:151]) == records[37:151]
    assert list(batch[150:40]) == []
    with pytest.raises(IndexError):
        batch[200]
