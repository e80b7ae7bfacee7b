"""Direction in/out per interface: Linux cooked capture's packet type, pcapng epb_flags, and
on live Ethernet the interface's own MAC address. tshark is the oracle where it can say."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tuimon.capture.decode import IN, OUT, UNKNOWN
from tuimon.capture.file import FileSource
from tuimon.capture.reader import CaptureReader
from tuimon.core.engine import Engine

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
IP = pb.ipv4("10.1.1.1", "10.1.1.2", 17, pb.udp(1, 2, b"abcd"))


def records_of(path) -> tuple[list, FileSource]:
    source = FileSource(str(path))
    return [r for batch in source.batches() for r in batch], source


def test_sll_packet_type_tells_the_direction(tmp_path):
    path = tmp_path / "sll.pcap"
    types = [0, 4, 1, 2, 3, 4]  # host, outgoing, broadcast, multicast, other host, outgoing
    pb.write_pcap(path, [pb.sll(IP, pkttype=t) for t in types], linktype=113)
    records, source = records_of(path)
    assert [r[4] for r in records] == [IN, OUT, IN, IN, IN, OUT]
    assert source.interfaces[0].direction == "link header"


def test_sll2_packet_type_tells_the_direction(tmp_path):
    path = tmp_path / "sll2.pcapng"
    pb.write_pcapng(path, [{"linktype": 276, "name": "any"}],
                    [(0, 1, pb.sll2(IP, pkttype=4)), (0, 2, pb.sll2(IP, pkttype=0))])
    records, _ = records_of(path)
    assert [r[4] for r in records] == [OUT, IN]
    assert all(r[3][4:6] == (1, 2) for r in records)


def test_epb_flags_tell_the_direction_and_win_over_the_link(tmp_path):
    path = tmp_path / "flags.pcapng"
    frame = pb.eth(IP)
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 113, "name": "any"}],
                    [(0, 1, frame, len(frame), 1), (0, 2, frame, len(frame), 2), (0, 3, frame),
                     (0, 4, frame, len(frame), 0), (1, 5, pb.sll(IP, pkttype=4), 36, 1)])
    records, source = records_of(path)
    assert [r[4] for r in records] == [IN, OUT, UNKNOWN, UNKNOWN, IN]
    assert all(r[3][4:6] == (1, 2) for r in records)  # options do not disturb decoding
    assert source.interfaces[0].direction == "epb_flags"


def test_own_mac_tells_the_direction_of_ethernet_frames():
    """pcapbuild's eth() frames come from MAC_A; a live interface owning MAC_A sent them."""
    from_a = pb.eth(IP)
    from_b = pb.MAC_A + pb.MAC_B + from_a[12:]
    stream = _pcapng_stream([from_a, from_b, from_a[:10]])
    for mac, expected in ((pb.MAC_A, [OUT, IN, UNKNOWN]), (pb.MAC_B, [IN, OUT, UNKNOWN]),
                          (None, [UNKNOWN] * 3)):
        reader = CaptureReader("eth0", own_mac=mac)
        reader.feed(stream)
        assert [r[4] for r in reader.records()] == expected
        assert reader.interfaces[0].direction == ("mac" if mac else "")


def _pcapng_stream(frames) -> bytes:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pcapng") as f:
        pb.write_pcapng(f.name, [{"linktype": 1, "name": "eth0"}],
                        [(0, i, fr) for i, fr in enumerate(frames)])
        return Path(f.name).read_bytes()


def test_engine_counts_in_and_out():
    engine = Engine()
    engine.set_interface(0, "any", "linux-sll", direction="link header")
    engine.set_interface(1, "file", "ether")
    dec = (4, 17, 1, 2, 1, 2, 0)
    engine.ingest([(0, 1.0, 100, dec, IN, b"", 0, 0), (0, 1.1, 60, dec, OUT, b"", 0, 0),
                   (0, 1.2, 70, dec, OUT, b"", 0, 0), (0, 1.3, 5, dec, UNKNOWN, b"", 0, 0),
                   (1, 1.4, 500, dec, UNKNOWN, b"", 0, 0)])
    rows = {r.interface: r for r in engine.snapshot().interfaces}
    a = rows["any"]
    assert (a.packets, a.bytes) == (4, 235)
    assert (a.in_packets, a.in_bytes, a.out_packets, a.out_bytes) == (1, 100, 2, 130)
    f = rows["file"]  # an interface that cannot tell: empty, not zero
    assert (f.in_packets, f.in_bytes, f.out_packets, f.out_bytes) == (None,) * 4


@pytest.mark.parametrize("name", ["log4j-webapp-exploit.pcap", "quic-v2.pcapng", "rtsp.pcap"])
def test_cooked_captures_against_tshark(tmp_path, name):
    """In/out packets and bytes of real Linux cooked captures equal tshark's sll.pkttype."""
    out = subprocess.run(["tshark", "-n", "-r", str(DATA / name), "-T", "fields",
                          "-e", "sll.pkttype", "-e", "frame.len"],
                         capture_output=True, text=True, check=True).stdout
    want = {"in": [0, 0], "out": [0, 0]}
    for line in out.splitlines():
        pkttype, length = line.split("\t")
        way = want["out" if int(pkttype) == 4 else "in"]
        way[0] += 1
        way[1] += int(length)
    r = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(DATA / name), "--no-ui",
                        "--csv", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "interfaces.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    got = {"in": [int(row["in_packets"]), int(row["in_bytes"])],
           "out": [int(row["out_packets"]), int(row["out_bytes"])]}
    assert got == want
    assert want["in"][0] + want["out"][0] == int(row["packets"])
    if name == "log4j-webapp-exploit.pcap":
        assert want["in"][0] and want["out"][0]  # both directions are exercised


def test_epb_flags_against_tshark(tmp_path):
    path = tmp_path / "flags.pcapng"
    frame = pb.eth(IP)
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}],
                    [(0, i, frame + b"\0" * i, len(frame) + i, i % 3) for i in range(9)])
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields",
                          "-e", "frame.packet_flags_direction", "-e", "frame.len"],
                         capture_output=True, text=True, check=True).stdout
    want = {1: [0, 0], 2: [0, 0]}
    for line in out.splitlines():
        direction, length = line.split("\t")
        if direction and int(direction, 0) in want:
            want[int(direction, 0)][0] += 1
            want[int(direction, 0)][1] += int(length)
    records, _ = records_of(path)
    engine = Engine()
    engine.ingest(records)
    [row] = engine.snapshot().interfaces
    assert [row.in_packets, row.in_bytes, row.out_packets, row.out_bytes] == want[1] + want[2]
    assert want[1][0] == 3 and want[2][0] == 3
