"""Build frames of the link types and encapsulations beyond Ethernet (Cisco HDLC, PPI,
PKTAP, NFLOG, 802.11 and radiotap, Frame Relay, ATM, ARCNET, FabricPath, Arista's
timestamp header, ERSPAN, GRE) byte by byte, for tests that compare them with tshark."""

from __future__ import annotations

import struct

from tests.support.pcapbuild import MAC_A, MAC_B, eth

SNAP_IP = b"\xaa\xaa\x03\x00\x00\x00"


def chdlc(payload: bytes, ethertype: int = 0x0800, address: int = 0x0F) -> bytes:
    return struct.pack("!BBH", address, 0, ethertype) + payload


def ppi(frame: bytes, dlt: int = 105, fields: bytes = b"") -> bytes:
    """A PPI header (little-endian) with ``fields`` (already framed) before ``frame``."""
    return struct.pack("<BBHI", 0, 0, 8 + len(fields), dlt) + fields + frame


def ppi_common(flags: int = 0) -> bytes:
    """The PPI 802.11-Common field (type 2, 20 bytes); flags bit 0: the frame ends in an FCS."""
    return struct.pack("<HHQHHHHBBbb", 2, 20, 0, flags, 2, 2412, 0x00A0, 0, 0, -40, -90)


def pktap(frame: bytes, dlt: int = 1, rectype: int = 1, length: int = 108) -> bytes:
    """Apple's PKTAP header (little-endian, 108 bytes) before a frame of link type ``dlt``."""
    head = struct.pack("<III24sIIIIi17s3xIHHi17s3x", length, rectype, dlt, b"en0", 0, 2, 0, 0,
                       1234, b"curl", 0, 6, 0, 1234, b"curl")
    return head + b"\0" * (length - len(head)) + frame


def nflog(packet: bytes, family: int = 2, endian: str = "<", hw_protocol: int = 0x0800) -> bytes:
    """NFLOG: family, version, resource id, then TLVs (length, type in the capturing host's
    byte order, padded to 4): the packet header, a prefix, then the payload."""
    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack(endian + "HH", 4 + len(value), kind) + value + b"\0" * (-len(value) % 4)
    return (struct.pack("!BBH", family, 0, 1) + tlv(1, struct.pack("!HBB", hw_protocol, 3, 0))
            + tlv(10, b"tuimon\0") + tlv(9, packet))


def wlan_data(payload: bytes, ethertype: int = 0x0800, qos: bool = True, ds: int = 1,
              protected: bool = False, htc: bool = False, amsdu: bool = False,
              snap: bool = True) -> bytes:
    """An 802.11 data frame (QoS data by default, to the AP) carrying LLC/SNAP and ``payload``;
    ``ds`` is the ToDS/FromDS bits (3: four addresses)."""
    flags = ds | (0x40 if protected else 0) | (0x80 if htc else 0)
    head = struct.pack("<BBH", 0x88 if qos else 0x08, flags, 0x2C)
    head += MAC_B + MAC_A + bytes.fromhex("02000000000a") + struct.pack("<H", 0x10)
    if ds == 3:
        head += bytes.fromhex("02000000000b")
    if qos:
        head += struct.pack("<H", 0x80 if amsdu else 0)
    if htc:
        head += b"\0" * 4
    body = (SNAP_IP + struct.pack("!H", ethertype) if snap else b"\x42\x42\x03") + payload
    if amsdu:
        body = MAC_B + MAC_A + struct.pack("!H", len(body)) + body
    return head + body


def wlan_beacon() -> bytes:
    return struct.pack("<BBH", 0x80, 0, 0) + b"\xff" * 6 + MAC_A + MAC_A + b"\0\0" + b"\0" * 12


def radiotap(frame: bytes, flags: int | None = 0x00, tsft: bool = True, fcs: bool = False) -> bytes:
    """A radiotap header (TSFT, flags, rate, channel, antenna signal), little-endian; with
    flags 0x20 the 802.11 header is padded to 4 bytes (the caller pads it)."""
    present, fields = 0, b""
    if tsft:
        present |= 1
        fields += struct.pack("<Q", 123456)
    if flags is not None:
        present |= 2
        fields += struct.pack("<B", flags | (0x10 if fcs else 0))
    present |= 4 | 8 | 32
    fields += b"\x02" + struct.pack("<HH", 2412, 0x00A0) + b"\xd8"
    head_len = 8 + len(fields)
    if fcs:
        frame += b"\0\0\0\0"
    return struct.pack("<BBHI", 0, 0, head_len, present) + fields + frame


def frame_relay(payload: bytes, nlpid: int | None = 0xCC, ethertype: int = 0x0800) -> bytes:
    """Frame Relay, DLCI 100: RFC 2427 (control 0x03 and an NLPID) or, with ``nlpid`` None,
    Cisco's encapsulation (an ethertype right after the address)."""
    address = struct.pack("!BB", (100 >> 4) << 2, ((100 & 15) << 4) | 1)
    if nlpid is None:
        return address + struct.pack("!H", ethertype) + payload
    if nlpid == 0x80:
        return address + b"\x03\x00\x80\x00\x00\x00" + struct.pack("!H", ethertype) + payload
    return address + bytes([0x03, nlpid]) + payload


def llc_snap(payload: bytes, ethertype: int = 0x0800) -> bytes:
    return SNAP_IP + struct.pack("!H", ethertype) + payload


def sunatm(payload: bytes, kind: int = 2) -> bytes:
    """SunATM: flags (low nibble: 2 LLC-multiplexed), VPI, VCI, then the AAL5 payload."""
    return struct.pack("!BBH", kind, 0, 32) + payload


def arcnet(payload: bytes, proto: int = 0xD4, linux: bool = False) -> bytes:
    """ARCNET (BSD, or Linux with its 2-byte offset): source, destination, protocol, and for
    RFC 1201 protocols a split flag and a sequence number."""
    head = b"\x01\x02" + (b"\0\0" if linux else b"") + bytes([proto])
    if proto not in (0xF0, 0xF1):
        head += b"\x00\x00\x07"
    return head + payload


def fabricpath(inner: bytes) -> bytes:
    """Cisco FabricPath: outer switch addresses, ethertype 0x8903, FTag/TTL, then ``inner``
    (a whole Ethernet frame)."""
    return MAC_B + MAC_A + struct.pack("!HH", 0x8903, 0x013F) + inner


def arista(payload: bytes, version: int = 0x10, ethertype: int = 0x0800) -> bytes:
    """Arista's timestamp header after the source address: ethertype 0xD28B, subtype 1, a
    version, a 64-bit (0x10) or 48-bit (0x20) timestamp, then the frame's own ethertype."""
    stamp = struct.pack("!II", 1_700_000_000, 5) if version & 0xFF == 0x10 else struct.pack("!HI", 7, 5)
    return MAC_B + MAC_A + struct.pack("!HHH", 0xD28B, 1, version) + stamp + struct.pack("!H", ethertype) + payload


def gre(payload: bytes, proto: int = 0x6558, seq: bool = False) -> bytes:
    return struct.pack("!HH", 0x1000 if seq else 0, proto) + (b"\0\0\0\x05" if seq else b"") + payload


def erspan2(inner: bytes) -> bytes:
    """ERSPAN type II (GRE protocol 0x88BE, with a sequence number): its 8-byte header, then
    the mirrored Ethernet frame."""
    return gre(struct.pack("!HHI", 0x1000 | 10, 0x0001, 0) + inner, 0x88BE, seq=True)


def erspan3(inner: bytes) -> bytes:
    return gre(struct.pack("!HHII", 0x2000 | 10, 0, 0, 0) + inner, 0x22EB, seq=True)


def mirrored(outer_src: str, outer_dst: str, inner: bytes, wrap=erspan2) -> bytes:
    """An Ethernet frame carrying ``inner`` (an Ethernet frame) to a collector by GRE."""
    from tests.support.pcapbuild import ipv4
    return eth(ipv4(outer_src, outer_dst, 47, wrap(inner)))
