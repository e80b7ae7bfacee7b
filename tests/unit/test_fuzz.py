"""Mutated real captures through the reader, decoder and engine: nothing escapes, totals hold.

Seeds are the heads of real captures (pcap of several link types, pcapng from one and from
several interfaces of different link types). Mutations are blind (bit flips, bytes, cuts,
zeroed words, spliced garbage) and aimed (a record's or a block's length fields, a file
header's link type and snapshot length, set to edge values). Runs are derandomised: the
same examples every time, so CI never fails on a case nobody can replay.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support import pcapbuild as pb
from tuimon.capture.decode import LINKTYPES, UNDECODED
from tuimon.capture.file import FileSource
from tuimon.capture.reader import CaptureReader
from tuimon.core.engine import Engine
from tuimon.server.driver import count_source
from tuimon.errors import BadCaptureFile

DATA = Path(__file__).resolve().parents[1] / "data"
HEAD = 6000


def _multi_interface_pcapng() -> bytes:
    a, b = "192.0.2.1", "2001:db8::1"
    udp = pb.ipv4(a, "198.51.100.2", 17, pb.udp(1, 2, b"x" * 20))
    tcp6 = pb.ipv6(b, "2001:db8::2", 0, pb.v6_ext(6) + pb.tcp(3, 4, 0x12, b"y" * 9))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "multi.pcapng"
        pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 101, "tsresol": 9},
                               {"linktype": 113, "name": "any"}, {"linktype": 0}],
                        [(0, 1, pb.eth(udp)), (1, 2, tcp6), (2, 3, pb.sll(udp)),
                         (3, 4, pb.null(udp)), (0, 5, pb.eth(tcp6, 0x86DD)), (1, 6, udp)] * 4)
        return path.read_bytes()


SEEDS = {name: (DATA / name).read_bytes()[:HEAD] for name in
         ("dns_fragmented.pcap", "lru_ipv6_caches.pcapng", "log4j-webapp-exploit.pcap",
          "vxlan.pcap", "badpackets.pcap", "ocs.pcap", "nats.pcap", "rtsp.pcap", "mining.pcapng",
          "bets.pcapng", "quic-v2.pcapng", "dlt_ppp.pcap", "6in4tunnel.pcap")}
SEEDS["multi-interface.pcapng"] = _multi_interface_pcapng()
EDGES = [0, 1, 11, 12, 13, 16, 28, 32, 0x7FFFFFFF, 0xFFFFFFFF, 65535, 262144, 262145]


def frame_starts(data: bytes) -> list[tuple[int, str]]:
    """Where the length fields are: (offset, kind) for each pcap record / pcapng block."""
    out = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos = 0
        while pos + 12 <= len(data):
            btype, blen = struct.unpack_from("<II", data, pos)
            out.append((pos, "block"))
            if blen < 12 or blen % 4:
                break
            pos += blen
    else:
        pos = 24
        while pos + 16 <= len(data):
            out.append((pos, "record"))
            pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return out


@st.composite
def mutated(draw, seed: bytes | None = None):
    data = bytearray(seed if seed is not None else draw(st.sampled_from(list(SEEDS.values()))))
    starts = frame_starts(bytes(data))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "byte", "cut", "zero", "splice", "length",
                                       "header"]))
        if action == "flip" and draw(st.integers(0, 24)) == 24 and len(data) >= 4:
            data[draw(st.integers(0, 3))] ^= 1 << draw(st.integers(0, 7))  # the magic, seldom
            continue
        if action == "length" and starts:
            pos, kind = draw(st.sampled_from(starts))
            # pcap: captured or wire length; pcapng: block length, or an EPB's fields.
            field = draw(st.sampled_from([8, 12] if kind == "record" else [4, 8, 20, 24]))
            if pos + field + 4 <= len(data):
                struct.pack_into("<I", data, pos + field, draw(st.sampled_from(EDGES)))
            continue
        if action == "header" and len(data) >= 24 and data[:4] != b"\x0a\x0d\x0d\x0a":
            offset = draw(st.sampled_from([16, 20]))  # snapshot length, link type
            struct.pack_into("<I", data, offset, draw(st.sampled_from(EDGES + [1, 113, 276, 9999])))
            continue
        if len(data) <= 4:
            break
        pos = draw(st.integers(4, len(data) - 1))  # past the magic (see "magic")
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif action == "zero":
            data[pos:pos + 4] = b"\0\0\0\0"
        elif action == "splice":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[pos:pos + draw(st.integers(1, 64))]
    chunk = draw(st.integers(1, 4096))
    return bytes(data), chunk


def assert_consistent(snap, records: list) -> None:
    """The totals hold: interfaces equal the frames read, their kinds add up, hosts match."""
    frames, wire = len(records), sum(r[2] for r in records)
    assert snap.totals.packets == frames
    assert sum(i.packets for i in snap.interfaces) == frames
    assert sum(i.bytes for i in snap.interfaces) == snap.totals.bytes == wire
    for i in snap.interfaces:
        assert i.ipv4_packets + i.ipv6_packets + i.non_ip_packets + i.undecoded_packets == i.packets
    ip = [r for r in records if r[3][0] in (4, 6)]
    assert sum(h.tx_packets for h in snap.hosts) == len(ip)
    assert sum(h.rx_bytes for h in snap.hosts) == sum(r[2] for r in ip)
    assert sum(i.undecoded_packets for i in snap.interfaces) == \
        sum(1 for r in records if r[3][0] == UNDECODED)


@pytest.mark.parametrize("seed", SEEDS)
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_captures_never_raise_and_totals_hold(seed, data):
    data, chunk = data.draw(mutated(SEEDS[seed]))
    reader = CaptureReader("fuzz")
    engine = Engine()
    records: list = []
    try:
        for i in range(0, len(data), chunk):
            reader.feed(data[i:i + chunk])
            batch = reader.records()
            records += batch
            engine.ingest(batch)
        reader.finish()
    except BadCaptureFile:
        assert reader.format is None  # only a stream that never was a capture is refused
        event("refused: not a capture")
        return
    event(f"{reader.format}, {'some' if records else 'no'} frames")
    for reason in reader.skipped:
        event(f"skipped: {reason}")
    assert reader.frames == len(records)
    assert_consistent(engine.snapshot(), records)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_through_the_session(case):
    """The way the CLI and the worker count: FileSource -> Driver -> Engine, reasons too."""
    data, _ = case
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(data)
        f.flush()
        try:
            source = FileSource(f.name, chunk=997)
        except BadCaptureFile:
            return  # refused at the door: not a capture
        records: list = []
        original = source.batches

        def batches():
            for batch in original():
                records.extend(batch)
                yield batch

        source.batches = batches
        try:
            session = count_source(source)
        except BadCaptureFile:
            assert source.reader.format is None
            return
    snap = session.engine.snapshot()
    assert_consistent(snap, records)
    assert snap.totals.skipped_records == source.skipped()


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(sorted(LINKTYPES)), st.binary(max_size=128))
def test_every_decoder_takes_any_bytes(linktype, frame):
    kind, proto, src, dst, sport, dport, flags = LINKTYPES[linktype][1](frame, 0, len(frame))
    assert kind in (0, 1, 4, 6)
    if kind in (4, 6):
        assert src is not None and dst is not None
    assert (sport is None) == (dport is None)
    # The same frame inside a bigger buffer decodes the same: nothing reads past ``end``.
    padded = b"\xaa" * 7 + frame + b"\x55" * 64
    assert LINKTYPES[linktype][1](padded, 7, 7 + len(frame)) == \
        (kind, proto, src, dst, sport, dport, flags)
