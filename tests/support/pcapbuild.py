"""Build frames and capture files byte by byte, for tests that need exact, odd input."""

from __future__ import annotations

import ipaddress
import struct


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, flags: int = 0x02, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, frag: int = 0, mf: bool = False,
         ident: int = 1, ihl: int = 5) -> bytes:
    total = ihl * 4 + len(payload)
    flags_frag = (0x2000 if mf else 0) | (frag // 8)
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, flags_frag, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    head += b"\x01" * (ihl * 4 - 20)  # NOP options
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def v6_ext(nh: int, body: bytes = b"\0" * 6) -> bytes:
    """A hop-by-hop/destination/routing style extension header (length in 8-byte units)."""
    assert (len(body) + 2) % 8 == 0
    return bytes([nh, (len(body) + 2) // 8 - 1]) + body


def v6_frag(nh: int, offset: int, more: bool, ident: int = 7) -> bytes:
    return struct.pack("!BBHI", nh, 0, offset | (1 if more else 0), ident)


MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def eth(payload: bytes, ethertype: int = 0x0800, vlans: tuple = ()) -> bytes:
    head = MAC_B + MAC_A
    for tpid, vid in vlans:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def mpls(payload: bytes, labels: tuple = (100, 200)) -> bytes:
    out = b""
    for i, label in enumerate(labels):
        bottom = 1 if i == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | (bottom << 8) | 64)
    return out + payload


def pppoe(payload: bytes, ppp_proto: int = 0x0021) -> bytes:
    return struct.pack("!BBHHH", 0x11, 0, 0x1234, len(payload) + 2, ppp_proto) + payload


def sll(payload: bytes, proto: int = 0x0800, pkttype: int = 0) -> bytes:
    return struct.pack("!HHH8sH", pkttype, 1, 6, MAC_A + b"\0\0", proto) + payload


def sll2(payload: bytes, proto: int = 0x0800, pkttype: int = 0) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, pkttype, 6, MAC_A + b"\0\0") + payload


def null(payload: bytes, family: int = 2, order: str = "<") -> bytes:
    return struct.pack(order + "I", family) + payload


def write_pcap(path, frames, linktype: int = 1, endian: str = "<", nano: bool = False,
               snaplen: int = 65535, start: float = 1_700_000_000.0) -> None:
    """``frames``: bytes, or ``(ts, frame)``, or ``(ts, frame, wire_len)``."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    scale = 1_000_000_000 if nano else 1_000_000
    with open(path, "wb") as f:
        f.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for i, item in enumerate(frames):
            if isinstance(item, bytes):
                item = (start + i * 0.5, item)
            ts, frame = item[0], item[1]
            wire = item[2] if len(item) > 2 else len(frame)
            units = round(ts * scale)
            f.write(struct.pack(endian + "IIII", units // scale, units % scale, len(frame), wire))
            f.write(frame)


def _opt(code: int, value: bytes, endian: str) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes, endian: str) -> bytes:
    total = 12 + len(body)
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)


def write_pcapng(path, interfaces, packets, endian: str = "<") -> None:
    """``interfaces``: dicts with linktype, name, comment, description (optional), tsresol
    (optional, byte),
    tsoffset; ``packets``: ``(ifid, ts_units, frame)`` or ``(ifid, ts_units, frame, wire_len)``
    where ts_units are in that interface's resolution; a fifth item is the packet's
    ``epb_flags`` option (bits 0-1: 1 inbound, 2 outbound)."""
    with open(path, "wb") as f:
        shb = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        f.write(_block(0x0A0D0D0A, shb, endian))
        for iface in interfaces:
            opts = b""
            if "name" in iface:
                opts += _opt(2, iface["name"].encode(), endian)
            if "comment" in iface:
                opts += _opt(1, iface["comment"].encode(), endian)
            if "description" in iface:
                opts += _opt(3, iface["description"].encode(), endian)
            if "tsresol" in iface:
                opts += _opt(9, bytes([iface["tsresol"]]), endian)
            if "tsoffset" in iface:
                opts += _opt(14, struct.pack(endian + "q", iface["tsoffset"]), endian)
            if opts:
                opts += struct.pack(endian + "HH", 0, 0)
            body = struct.pack(endian + "HHI", iface["linktype"], 0, iface.get("snaplen", 0)) + opts
            f.write(_block(1, body, endian))
        for pkt in packets:
            ifid, units, frame = pkt[:3]
            wire = pkt[3] if len(pkt) > 3 else len(frame)
            pad = (-len(frame)) % 4
            body = struct.pack(endian + "IIIII", ifid, units >> 32, units & 0xFFFFFFFF, len(frame), wire)
            opts = b""
            if len(pkt) > 4:
                opts = _opt(2, struct.pack(endian + "I", pkt[4]), endian) + b"\0" * 4
            f.write(_block(6, body + frame + b"\0" * pad + opts, endian))
