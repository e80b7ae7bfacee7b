"""ctnetlink messages (the kernel's conntrack over netlink) decoded with struct: the fields
a flow record needs, and nothing else.

pyroute2 builds the requests and is the reference decoder (tests/unit/test_ctnetlink.py
compares the two on real messages), but its decoding of nested attributes took about
600 µs a flow; a table of 10,000 flows dumped once a second would not keep up. This reads
the same attributes in a few microseconds: the original and reply tuples (addresses,
protocol, ports), both directions' counters and the conntrack id.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from tuimon.capture.decode import V6
from tuimon.capture.flowrecord import FlowRecord

_HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_NLA = struct.Struct("=HH")  # attribute: length, type
_BE16, _BE32, _BE64 = struct.Struct(">H"), struct.Struct(">I"), struct.Struct(">Q")
_TYPE = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY, CTA_ID = 1, 2, 9, 10, 12
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
CTA_COUNTERS_PACKETS, CTA_COUNTERS_BYTES, CTA_COUNTERS32_PACKETS, CTA_COUNTERS32_BYTES = 1, 2, 3, 4
PORTED = frozenset((6, 17, 33, 132, 136))  # TCP, UDP, DCCP, SCTP, UDP-Lite: ports


def messages(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, sequence, offset of the payload, end) of each netlink message in ``data``."""
    off, n = 0, len(data)
    while off + 16 <= n:
        length, mtype, _, seq, _ = _HDR.unpack_from(data, off)
        if length < 16 or off + length > n:
            break
        yield mtype, seq, off + 16, off + length
        off += (length + 3) & ~3


def attrs(data: bytes, off: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type -> (payload offset, payload end), one level."""
    out = {}
    while off + 4 <= end:
        length, atype = _NLA.unpack_from(data, off)
        if length < 4:
            break
        out[atype & _TYPE] = (off + 4, off + length)
        off += (length + 3) & ~3
    return out


def _tuple(data: bytes, span, v6: bool):
    t = attrs(data, *span)
    ip, proto = attrs(data, *t[CTA_TUPLE_IP]), attrs(data, *t[CTA_TUPLE_PROTO])
    s, d = (CTA_IP_V6_SRC, CTA_IP_V6_DST) if v6 else (CTA_IP_V4_SRC, CTA_IP_V4_DST)
    src = int.from_bytes(data[ip[s][0]:ip[s][1]], "big")
    dst = int.from_bytes(data[ip[d][0]:ip[d][1]], "big")
    if v6:
        src, dst = src | V6, dst | V6
    num = data[proto[CTA_PROTO_NUM][0]]
    sport = dport = None
    if num in PORTED and CTA_PROTO_SRC_PORT in proto:
        sport = _BE16.unpack_from(data, proto[CTA_PROTO_SRC_PORT][0])[0]
        dport = _BE16.unpack_from(data, proto[CTA_PROTO_DST_PORT][0])[0]
    return num, src, sport, dst, dport


def _counters(data: bytes, a: dict, which: int) -> tuple[int, int]:
    span = a.get(which)
    if span is None:
        return 0, 0
    c = attrs(data, *span)
    out = []
    for wide, narrow in ((CTA_COUNTERS_PACKETS, CTA_COUNTERS32_PACKETS),
                         (CTA_COUNTERS_BYTES, CTA_COUNTERS32_BYTES)):
        if wide in c:
            out.append(_BE64.unpack_from(data, c[wide][0])[0])
        elif narrow in c:
            out.append(_BE32.unpack_from(data, c[narrow][0])[0])
        else:
            out.append(0)
    return out[0], out[1]


def flow_record(data: bytes, off: int, end: int, kind: int, ts: float) -> FlowRecord | None:
    """The conntrack message whose payload (nfgenmsg, then attributes) is ``data[off:end]``
    as a :class:`FlowRecord`; None when it is not an IPv4/IPv6 flow or lacks a tuple."""
    family = data[off]
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    a = attrs(data, off + 4, end)
    if CTA_TUPLE_ORIG not in a or CTA_TUPLE_REPLY not in a:
        return None
    v6 = family == socket.AF_INET6
    try:
        num, src, sport, dst, dport = _tuple(data, a[CTA_TUPLE_ORIG], v6)
        _, r_src, r_sport, r_dst, r_dport = _tuple(data, a[CTA_TUPLE_REPLY], v6)
    except (KeyError, IndexError, struct.error):
        return None  # a tuple without addresses or protocol: not a flow we can name
    op, ob = _counters(data, a, CTA_COUNTERS_ORIG)
    rp, rb = _counters(data, a, CTA_COUNTERS_REPLY)
    ident = _BE32.unpack_from(data, a[CTA_ID][0])[0] if CTA_ID in a else 0
    return FlowRecord(kind, ts, ident, num, src, sport, dst, dport, r_src, r_sport, r_dst,
                      r_dport, op, ob, rp, rb)
