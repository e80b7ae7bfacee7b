"""Link types and encapsulations beyond Ethernet against tshark: real captures rewrapped in
each (Cisco HDLC, PPP carrying Cisco HDLC, PPI, PKTAP, NFLOG, 802.11 with and without
radiotap, Frame Relay, ATM, ARCNET, FabricPath, Arista's timestamp header, ERSPAN, GRE),
and synthesized frames for each one's variants; hosts and conversations must be tshark's
(the outermost IP header)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.support import linkbuild as lb
from tests.support import oracle
from tests.support import pcapbuild as pb
from tests.support.figures import assert_same
from tests.support.rewrap import WRAPS, rewrap

DATA = Path(__file__).resolve().parents[1] / "data"
SOURCES = ("dns_fragmented.pcap", "http_ipv6.pcap")

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def _check(path: Path, out: Path, conversations: int | None = None) -> None:
    """Ours equal tshark's; and tshark did find the IP inside (so the test can fail)."""
    theirs = oracle.figures(str(path))
    assert theirs["hosts"], f"{path.name}: tshark found no IP: the test builds it wrong"
    if conversations is not None:
        assert len(theirs["conversations"]) == conversations, theirs["conversations"]
    assert_same(path, out)


@needs_tshark
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("wrap", sorted(WRAPS))
def test_real_capture_rewrapped_matches_tshark(wrap, source, tmp_path):
    original = oracle.figures(str(DATA / source))
    path = rewrap(DATA / source, wrap, tmp_path / f"{wrap}.pcap")
    _check(path, tmp_path / "out")
    if not wrap.startswith(("erspan", "gre")):  # the outermost IP header is the packet's own
        theirs = oracle.figures(str(path))
        assert theirs["hosts"].keys() == original["hosts"].keys()
        assert theirs["conversations"].keys() == original["conversations"].keys()


A, B, A6, B6 = "192.0.2.1", "198.51.100.7", "2001:db8::1", "2001:db8:0:1::2"


def _tcp(n: int) -> bytes:
    """A TCP segment from a host of its own (192.0.2.n), so a frame left undecoded is a
    host missing."""
    return pb.ipv4(f"192.0.2.{n}", B, 6, pb.tcp(40000 + n, 179, 0x18, b"x" * 19))


def _tcp6(n: int) -> bytes:
    return pb.ipv6(f"2001:db8::{n:x}", B6, 6, pb.tcp(40000 + n, 179, 0x18, b"y" * 11))


def _pad(frame: bytes, at: int = 26) -> bytes:  # radiotap's data padding after the header
    return frame[:at] + b"\0\0" + frame[at:]


VARIANTS = {
    "chdlc": (104, lambda: [lb.chdlc(_tcp(1)), lb.chdlc(_tcp(2), address=0x8F),
                            lb.chdlc(_tcp6(3), 0x86DD), lb.chdlc(pb.mpls(_tcp(4)), 0x8847),
                            lb.chdlc(b"\0" * 20, 0x8035), b"\x0f\x00"], 4),
    "ppp-chdlc": (9, lambda: [lb.chdlc(_tcp(1)), lb.chdlc(_tcp(2), address=0x8F),
                              b"\xff\x03\x00\x21" + _tcp(3)], 3),
    "ppp-hdlc-50": (50, lambda: [lb.chdlc(_tcp(1)), b"\xff\x03\x00\x21" + _tcp(2)], 2),
    "ppi": (192, lambda: [lb.ppi(lb.wlan_data(_tcp(1))), lb.ppi(pb.eth(_tcp(2)), 1),
                          lb.ppi(lb.wlan_data(_tcp(3)) + b"\0" * 4, 105, lb.ppi_common(1)),
                          lb.ppi(lb.ppi(pb.eth(_tcp(4)), 1), 192),
                          lb.ppi(lb.pktap(pb.eth(_tcp(5))), 258)], 5),
    "pktap": (258, lambda: [lb.pktap(pb.eth(_tcp(1))), lb.pktap(_tcp(2), 12),
                            lb.pktap(pb.null(_tcp(3)), 0), lb.pktap(pb.eth(_tcp(4)), 1, 2),
                            lb.pktap(lb.chdlc(_tcp(5)), 104)], 4),
    "nflog": (239, lambda: [lb.nflog(_tcp(1)), lb.nflog(_tcp6(2), 10, hw_protocol=0x86DD),
                            lb.nflog(_tcp(3), 0), lb.nflog(_tcp(4), 7, hw_protocol=0x86DD),
                            lb.nflog(_tcp6(5), 2, hw_protocol=0x0800),
                            lb.nflog(_tcp(6), 0, hw_protocol=0),
                            lb.nflog(_tcp(7), 2, hw_protocol=0)], 5),
    "wlan": (105, lambda: [lb.wlan_data(_tcp(1)), lb.wlan_data(_tcp(2), qos=False),
                           lb.wlan_data(_tcp(3), ds=3), lb.wlan_data(_tcp(4), ds=2, htc=True),
                           lb.wlan_data(_tcp(5), protected=True), lb.wlan_data(_tcp(6), amsdu=True),
                           lb.wlan_beacon(), lb.wlan_data(_tcp(8), snap=False),
                           lb.wlan_data(_tcp6(9), 0x86DD)], 6),
    "radiotap": (127, lambda: [lb.radiotap(lb.wlan_data(_tcp(1))), lb.radiotap(lb.wlan_data(_tcp(2)), fcs=True),
                               lb.radiotap(lb.wlan_data(_tcp(3)), tsft=False),
                               lb.radiotap(lb.wlan_data(_tcp(4)), None),
                               lb.radiotap(_pad(lb.wlan_data(_tcp(5))), 0x20),
                               lb.radiotap(lb.wlan_beacon())], 5),
    "prism": (119, lambda: [struct.pack("<II", 0x41, 144) + b"\0" * 136 + lb.wlan_data(_tcp(1)),
                            struct.pack("!II", 0x80211001, 64) + b"\0" * 56 + lb.wlan_data(_tcp(2))], 2),
    "avs": (163, lambda: [struct.pack("!II", 0x80211001, 64) + b"\0" * 56 + lb.wlan_data(_tcp(1))], 1),
    "frame-relay": (107, lambda: [lb.frame_relay(_tcp(1)), lb.frame_relay(_tcp6(2), 0x8E),
                                  lb.frame_relay(_tcp(3), 0x80), lb.frame_relay(_tcp(4), None)], 4),
    "atm-rfc1483": (11, lambda: [lb.llc_snap(_tcp(1)), _tcp(2)], 1),
    "arcnet": (7, lambda: [lb.arcnet(_tcp(1)), lb.arcnet(_tcp(2), 0xF0), lb.arcnet(_tcp6(3), 0xC4),
                           lb.arcnet(_tcp(4), 0xD5)], 3),
    "arcnet-linux": (129, lambda: [lb.arcnet(_tcp(1), linux=True), lb.arcnet(_tcp(2), 0xF0, True)], 2),
    "ether-encapsulations": (1, lambda: [
        lb.fabricpath(pb.eth(_tcp(1), vlans=((0x8100, 10),))), lb.fabricpath(pb.eth(_tcp6(2), 0x86DD)),
        lb.arista(_tcp(3)), lb.arista(_tcp(4), 0x20), lb.arista(_tcp(5), 0x110), lb.arista(_tcp(6), 0x120),
        lb.arista(_tcp(7), 0x30),
        pb.MAC_B + pb.MAC_A + struct.pack("!H", len(_tcp(8)) + 8) + lb.llc_snap(_tcp(8)),
        lb.mirrored("10.9.0.1", "10.9.0.2", pb.eth(_tcp(9))),
        lb.mirrored("10.9.0.1", "10.9.0.3", pb.eth(_tcp(10)), lb.erspan3),
        lb.mirrored("10.9.0.1", "10.9.0.4", pb.eth(_tcp(11)), lb.gre)], 7),
}


@needs_tshark
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_link_type_variants_match_tshark(name, tmp_path):
    linktype, frames, conversations = VARIANTS[name]
    path = tmp_path / f"{name}.pcap"
    pb.write_pcap(path, frames(), linktype=linktype)
    _check(path, tmp_path / "out", conversations)


@needs_tshark
def test_nflog_from_a_big_endian_host_matches_tshark(tmp_path):
    """NFLOG's TLVs are in the capturing host's byte order: a big-endian router's file."""
    path = tmp_path / "nflog-be.pcap"
    pb.write_pcap(path, [lb.nflog(_tcp(1), 2, ">"), lb.nflog(_tcp6(2), 10, ">", 0x86DD)],
                  linktype=239, endian=">")
    _check(path, tmp_path / "out", 2)
