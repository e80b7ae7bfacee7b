"""Wireshark is the oracle: our headless CSV figures against tshark's dissection of the same file."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pcapbuild as pb
from tuimon.cli import main
from tests.support.figures import assert_same

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@needs_tshark
@pytest.mark.parametrize("name", CAPTURES)
def test_real_capture_matches_tshark(name, tmp_path):
    assert_same(DATA / name, tmp_path)


@needs_tshark
def test_every_encapsulation_matches_tshark(tmp_path):
    """One pcapng, interfaces of several link types and timestamp resolutions, odd frames."""
    a, b, a6, b6 = "192.0.2.1", "198.51.100.7", "2001:db8::1", "2001:db8:0:1::2"
    udp4 = pb.ipv4(a, b, 17, pb.udp(5000, 53, b"q" * 30))
    tcp4 = pb.ipv4(b, a, 6, pb.tcp(53, 5000, 0x12))
    tcp6 = pb.ipv6(a6, b6, 0, pb.v6_ext(60) + pb.v6_ext(6) + pb.tcp(40000, 443, 0x02, b"z" * 9))
    frag1 = pb.ipv4(a, b, 17, pb.udp(6000, 6001, b"f" * 24), mf=True, ident=9)
    frag2 = pb.ipv4(a, b, 17, b"g" * 24, frag=32, ident=9)
    f6a = pb.ipv6(a6, b6, 44, pb.v6_frag(17, 0, True) + pb.udp(7000, 7001, b"h" * 16))
    f6b = pb.ipv6(a6, b6, 44, pb.v6_frag(17, 24, False) + b"i" * 16)
    icmp = pb.ipv4(b, a, 1, b"\x08\x00\x00\x00" + b"p" * 12)
    self_talk = pb.ipv4(a, a, 17, pb.udp(9, 9, b"s"))
    options = pb.ipv4(a, b, 17, pb.udp(5000, 53, b"o" * 3), ihl=7)
    ether_frames = [
        pb.eth(udp4), pb.eth(tcp4, vlans=((0x8100, 10),)),
        pb.eth(udp4, vlans=((0x88A8, 100), (0x8100, 10))), pb.eth(pb.mpls(tcp4), 0x8847),
        pb.eth(pb.pppoe(udp4), 0x8864), pb.eth(tcp6, 0x86DD), pb.eth(frag1), pb.eth(frag2),
        pb.eth(f6a, 0x86DD), pb.eth(f6b, 0x86DD), pb.eth(icmp), pb.eth(self_talk), pb.eth(options),
        pb.eth(b"\0" * 28, 0x0806), pb.eth(udp4)[:30], pb.eth(pb.ipv4(a, b, 6, pb.tcp(1, 2))[:22]),
    ]
    interfaces = [
        {"linktype": 1, "name": "eth-test"},
        {"linktype": 113, "tsresol": 9},
        {"linktype": 276, "name": "sll2"},
        {"linktype": 101, "tsresol": 0x80 | 20},
        {"linktype": 0},
        {"linktype": 9, "name": "ppp0"},
    ]
    packets = [(0, 1_700_000_000_000_000 + i, f) for i, f in enumerate(ether_frames)]
    packets += [
        (1, 1_700_000_001_000_000_000, pb.sll(udp4)), (1, 1_700_000_001_500_000_000, pb.sll(tcp6, 0x86DD)),
        (2, 1_700_000_002_000_000, pb.sll2(tcp4)), (3, 1_700_000_003 << 20, tcp6),
        (3, (1_700_000_003 << 20) + 1, udp4), (4, 1_700_000_004_000_000, pb.null(udp4)),
        (4, 1_700_000_004_000_001, pb.null(tcp6, 30)), (5, 1_700_000_005_000_000, b"\xff\x03\x00\x21" + tcp4),
        (0, 1_700_000_006_000_000, pb.eth(udp4), 1514),  # snapped: wire length beyond captured
    ]
    path = tmp_path / "encapsulations.pcapng"
    pb.write_pcapng(path, interfaces, packets)
    assert_same(path, tmp_path / "out")
