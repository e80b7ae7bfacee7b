"""Mutated real captures through the reader, decoder and engine: nothing escapes, totals hold;
crafted times and lengths on to the labeller, the exporters and the UI's formatting.

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
from tuimon.capture.decode import UNDECODED
from tuimon.capture.linktypes import LINKTYPES
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
    with tempfile.TemporaryDirectory() as tmp:
        reach_everything(session.engine, Path(tmp))


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


# -- crafted times and lengths, through everything that shows or writes them ----------

class _Tshark:
    """tshark's stand-in for the labeller: keeps the bytes it is given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def verdicts(self) -> list:
        return []

    def close_input(self) -> None:
        pass

    def close(self) -> None:
        pass

    def wait(self, timeout: float) -> None:
        pass


def reach_everything(engine, folder: Path) -> None:
    """The exporters, the summary and every cell of the UI's four views, in both number
    styles: nothing raises whatever the capture said."""
    from tuimon.sinks.csv import export_engine
    from tuimon.sinks.summary import render_summary
    from tuimon.ui.columns import VIEW_COLUMNS
    from tuimon.ui.packets import clock

    export_engine(engine, str(folder), parallel=False)
    snap = engine.snapshot()
    assert render_summary(snap)
    for view, columns in VIEW_COLUMNS.items():
        for row in getattr(snap, view):
            for column in columns:
                for human in (True, False):
                    assert isinstance(column.cell(row, human), str)
    for row in snap.conversations:
        clock(row.first_seen)
        clock(row.last_seen)


_UNITS = st.one_of(st.integers(0, (1 << 64) - 1),
                   st.sampled_from([0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1,
                                    1_700_000_000_000_000, 18 * 10**12, 19 * 10**12]))
_WIRE = st.one_of(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]),
                  st.integers(0, 0xFFFFFFFF))


@st.composite
def crafted_capture(draw) -> bytes:
    """A legal pcapng (any if_tsresol, any if_tsoffset, any 64-bit timestamp, any wire
    length) or a pcap of any version (any timestamp, any lengths order)."""
    udp = pb.eth(pb.ipv4("192.0.2.1", "198.51.100.2", 17, pb.udp(53, 5353, b"q" * 12)))
    tcp = pb.eth(pb.ipv4("192.0.2.3", "198.51.100.4", 6, pb.tcp(4000, 443, 0x18, b"t" * 5)))
    frames = draw(st.lists(st.sampled_from([udp, tcp]), min_size=1, max_size=6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crafted"
        if draw(st.booleans()):
            iface = {"linktype": 1}
            if draw(st.booleans()):
                iface["tsresol"] = draw(st.integers(0, 255))
            if draw(st.booleans()):
                iface["tsoffset"] = draw(st.integers(-(1 << 63), (1 << 63) - 1))
            pb.write_pcapng(path, [iface], [(0, draw(_UNITS), f, draw(_WIRE)) for f in frames])
            return path.read_bytes()
        major, minor = draw(st.sampled_from([(2, 4), (2, 3), (2, 2), (2, 0), (543, 0)]))
        out = struct.pack("<IHHiIII", 0xA1B2C3D4, major, minor, 0, 0,
                          draw(st.sampled_from([0, 64, 65535, 0xFFFFFFFF])), 1)
        for f in frames:
            first, second = len(f), draw(_WIRE)
            if draw(st.booleans()):  # the older order: wire length first
                first, second = second, first
            out += struct.pack("<IIII", draw(st.integers(0, 0xFFFFFFFF)),
                               draw(st.integers(0, 0xFFFFFFFF)), first, second) + f
        return out


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(crafted_capture(), st.integers(1, 300))
def test_crafted_times_and_lengths_reach_the_labeller_exporters_and_ui(data, chunk):
    from tuimon.server.labeler import SHB, AppLabeler

    reader = CaptureReader("crafted")
    engine = Engine()
    tshark = _Tshark()
    labeler = AppLabeler(engine, dissector_factory=lambda: tshark)
    records: list = []
    for i in range(0, len(data), chunk):
        reader.feed(data[i:i + chunk])
        batch = reader.records()
        records += batch
        engine.ingest(batch)
        labeler.feed()
    reader.finish()
    for reason in reader.skipped:
        event(f"skipped: {reason}")
    assert all(0 <= r[2] <= 0x7FFFFFFF for r in records)
    assert_consistent(engine.snapshot(), records)
    back = CaptureReader("sent to tshark")  # what tshark is given is a capture it reads
    back.feed(SHB + b"".join(tshark.sent))
    sent = back.records()
    back.finish()
    assert not back.skipped and len(sent) <= len(records)
    with tempfile.TemporaryDirectory() as tmp:
        reach_everything(engine, Path(tmp))


@pytest.mark.parametrize("seed", SEEDS)
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_captures_read_the_same_as_columns(seed, data):
    """The batch decoder (capture/vector.py) against the per-record path on damaged
    files: the same records, the same skip reasons, the same stop."""
    data, chunk = data.draw(mutated(SEEDS[seed]))
    chunk *= 16  # runs long enough to be decoded as columns
    got = {}
    for columns in (False, True):
        reader = CaptureReader("fuzz", columns=columns)
        records: list = []
        try:
            for i in range(0, len(data), chunk):
                reader.feed(data[i:i + chunk])
                records += [(r[:5], bytes(r[5][r[6]:r[7]])) for r in reader.records()]
            reader.finish()
        except BadCaptureFile as err:
            records.append(str(err))
        got[columns] = (records, reader.skipped, reader.frames)
    assert got[True] == got[False]
