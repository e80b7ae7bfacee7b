"""Mutated real captures through the reader, decoder and engine: nothing escapes, totals hold."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuimon.capture.reader import CaptureReader
from tuimon.engine.engine import Engine
from tuimon.errors import BadCaptureFile

DATA = Path(__file__).parent / "data"
SEEDS = [(DATA / name).read_bytes()[:6000] for name in
         ("dns_fragmented.pcap", "lru_ipv6_caches.pcapng", "log4j-webapp-exploit.pcap", "vxlan.pcap",
          "badpackets.pcap", "ocs.pcap", "nats.pcap", "rtsp.pcap")]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 12))):
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "byte", "cut", "zero"]))
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif action == "zero":
            data[pos:pos + 4] = b"\0\0\0\0"
        else:
            del data[pos:pos + draw(st.integers(1, 64))]
    chunk = draw(st.integers(1, 4096))
    return bytes(data), chunk


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_captures_never_raise_and_totals_hold(case):
    data, chunk = case
    reader = CaptureReader("fuzz")
    engine = Engine()
    frames = 0
    try:
        for i in range(0, len(data), chunk):
            reader.feed(data[i:i + chunk])
            records = reader.records()
            frames += len(records)
            engine.ingest(records)
        reader.finish()
    except BadCaptureFile:
        assert reader.format is None  # only a stream that never was a capture is refused
        return
    snap = engine.snapshot()
    assert snap.totals.packets == frames == reader.frames
    assert sum(i.packets for i in snap.interfaces) == frames
    assert sum(h.tx_packets for h in snap.hosts) == sum(i.ipv4_packets + i.ipv6_packets
                                                         for i in snap.interfaces)
