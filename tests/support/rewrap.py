"""Real Ethernet captures rewrapped in other link types and encapsulations: every frame of a
pcap from tests/data given the headers a router, a tap, a Wi-Fi card or netfilter would
have put around the same packet, for comparing with tshark's dissection of the result."""

from __future__ import annotations

import struct
from pathlib import Path

from tests.support import linkbuild as lb
from tests.support import pcapbuild as pb


def ether_frames(path: Path) -> list[tuple[float, bytes, int]]:
    """``(ts, frame, wire_len)`` of every record of a little-endian microsecond pcap."""
    data = path.read_bytes()
    magic, = struct.unpack_from("<I", data)
    assert magic == 0xA1B2C3D4 and struct.unpack_from("<I", data, 20)[0] == 1, path
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        out.append((sec + usec / 1e6, data[pos + 16:pos + 16 + incl], orig))
        pos += 16 + incl
    return out


def _split(frame: bytes) -> tuple[int, bytes]:
    return struct.unpack_from("!H", frame, 12)[0], frame[14:]


def _arcnet(frame: bytes) -> bytes:
    et, payload = _split(frame)
    return lb.arcnet(payload, {0x0800: 0xD4, 0x86DD: 0xC4, 0x0806: 0xD5}.get(et, 0xFA))


# name -> (link type, how an Ethernet frame is rewrapped)
WRAPS = {
    "chdlc": (104, lambda f: lb.chdlc(_split(f)[1], _split(f)[0])),
    "ppp-chdlc": (9, lambda f: lb.chdlc(_split(f)[1], _split(f)[0], 0x8F)),
    "ppi-ether": (192, lambda f: lb.ppi(f, 1)),
    "ppi-wlan": (192, lambda f: lb.ppi(lb.wlan_data(_split(f)[1], _split(f)[0]), 105, lb.ppi_common())),
    "pktap-258": (258, lambda f: lb.pktap(f, 1)),
    "pktap-149": (149, lambda f: lb.pktap(f, 1)),
    "nflog": (239, lambda f: lb.nflog(_split(f)[1], 10 if _split(f)[0] == 0x86DD else 2,
                                      hw_protocol=_split(f)[0])),
    "wlan": (105, lambda f: lb.wlan_data(_split(f)[1], _split(f)[0], ds=2)),
    "radiotap": (127, lambda f: lb.radiotap(lb.wlan_data(_split(f)[1], _split(f)[0]))),
    "frame-relay": (107, lambda f: lb.frame_relay(_split(f)[1], None, _split(f)[0])),
    "frame-relay-snap": (107, lambda f: lb.frame_relay(_split(f)[1], 0x80, _split(f)[0])),
    "atm-rfc1483": (11, lambda f: lb.llc_snap(_split(f)[1], _split(f)[0])),
    "arcnet": (7, _arcnet),
    "fabricpath": (1, lb.fabricpath),
    "arista": (1, lambda f: f[:12] + struct.pack("!HHHII", 0xD28B, 1, 0x10, 1_700_000_000, 9) + f[12:]),
    "erspan-ii": (1, lambda f: lb.mirrored("10.9.0.1", "10.9.0.2", f, lb.erspan2)),
    "erspan-iii": (1, lambda f: lb.mirrored("10.9.0.1", "10.9.0.3", f, lb.erspan3)),
    "gre-ether": (1, lambda f: lb.mirrored("10.9.0.1", "10.9.0.4", f, lb.gre)),
}


def rewrap(source: Path, wrap: str, out: Path) -> Path:
    """``source`` (an Ethernet pcap) with every frame rewrapped as ``wrap``; the wire length
    grows or shrinks by what the headers did."""
    linktype, fn = WRAPS[wrap]
    frames = []
    for ts, frame, wire in ether_frames(source):
        if len(frame) < 14:
            continue
        new = fn(frame)
        frames.append((ts, new, wire + len(new) - len(frame)))
    pb.write_pcap(out, frames, linktype=linktype)
    return out
