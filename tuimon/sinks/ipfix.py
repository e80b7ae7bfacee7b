"""IPFIX (RFC 7011) encoding, nothing else: the two templates, data records, sets and
message headers, and the packing of records into messages of a bounded size.

No socket, no clock and no engine here (:mod:`tuimon.sinks.ipfix_export` sends what this
module packs). Every record is a uniflow: one direction of a conversation
(docs/fleet.md, "IPFIX export", says why not RFC 5103 biflows). Two templates, one per
address family, with the same fields in the same order:

==========================  ====  =======
Information Element          id   octets
==========================  ====  =======
sourceIPv4Address (v6: 27)     8   4 (16)
destinationIPv4Address (28)   12   4 (16)
sourceTransportPort            7   2
destinationTransportPort      11   2
protocolIdentifier             4   1
tcpControlBits                 6   2
octetDeltaCount                1   8
packetDeltaCount               2   8
flowStartMilliseconds        152   8
flowEndMilliseconds          153   8
flowEndReason                136   1
==========================  ====  =======
"""

from __future__ import annotations

import struct
from typing import NamedTuple

VERSION = 10
TEMPLATE_SET = 2
TEMPLATE_V4, TEMPLATE_V6 = 256, 257
HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence, domain
SET_HEADER = struct.Struct("!HH")  # set id, length
MAX_MESSAGE = 1400  # bytes: fits a 1500-byte MTU with IP and UDP headers (RFC 7011 10.3.3)

# flowEndReason (RFC 7011's IANA registry, RFC 5102 5.11.3)
IDLE_TIMEOUT, ACTIVE_TIMEOUT, END_OF_FLOW, FORCED_END, LACK_OF_RESOURCES = 1, 2, 3, 4, 5

_COMMON = ((7, 2), (11, 2), (4, 1), (6, 2), (1, 8), (2, 8), (152, 8), (153, 8), (136, 1))
FIELDS = {TEMPLATE_V4: ((8, 4), (12, 4), *_COMMON),
          TEMPLATE_V6: ((27, 16), (28, 16), *_COMMON)}
_TAIL = "HHBHQQQQB"
RECORD = {TEMPLATE_V4: struct.Struct("!4s4s" + _TAIL), TEMPLATE_V6: struct.Struct("!16s16s" + _TAIL)}


class FlowRecord(NamedTuple):
    """One direction of a conversation, as one data record. Addresses are packed bytes
    (4 for IPv4, 16 for IPv6); ports 0 for a port-less protocol; times in milliseconds
    since the Unix epoch."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    proto: int
    tcp_flags: int
    octets: int
    packets: int
    start_ms: int
    end_ms: int
    reason: int

    @property
    def template(self) -> int:
        return TEMPLATE_V6 if len(self.src) == 16 else TEMPLATE_V4


def template_set() -> bytes:
    """The template set holding both templates."""
    body = b""
    for tid, fields in FIELDS.items():
        body += struct.pack("!HH", tid, len(fields))
        body += b"".join(struct.pack("!HH", ie, size) for ie, size in fields)
    return SET_HEADER.pack(TEMPLATE_SET, SET_HEADER.size + len(body)) + body


TEMPLATES = template_set()


def encode_record(r: FlowRecord) -> bytes:
    return RECORD[r.template].pack(*r[:6], r.octets & (1 << 64) - 1, r.packets & (1 << 64) - 1,
                                   max(0, r.start_ms), max(0, r.end_ms), r.reason)


def header(length: int, export_time: int, sequence: int, domain: int) -> bytes:
    return HEADER.pack(VERSION, length, export_time & 0xFFFFFFFF, sequence & 0xFFFFFFFF,
                       domain & 0xFFFFFFFF)


class Message(NamedTuple):
    data: bytes  # the whole message, header included
    records: int  # data records in it


def pack(records: list[FlowRecord], domain: int, sequence: int, export_time: int,
         templates: bool = False, limit: int = MAX_MESSAGE) -> list[Message]:
    """``records`` of one observation domain as messages of at most ``limit`` bytes, the
    first with the template set when ``templates``. ``sequence``: data records this
    domain sent before; each message's header carries the count before it. IPv4
    records come first, then IPv6 ones, one data set per template in each message."""
    by_template: dict[int, list[bytes]] = {TEMPLATE_V4: [], TEMPLATE_V6: []}
    for r in records:
        by_template[r.template].append(encode_record(r))
    room = limit - HEADER.size
    if templates and room - len(TEMPLATES) < SET_HEADER.size + RECORD[TEMPLATE_V6].size:
        raise ValueError(f"an IPFIX message of {limit} bytes holds no record")
    messages: list[Message] = []
    sets: list[bytes] = [TEMPLATES] if templates else []
    used, count = sum(map(len, sets)), 0

    def close() -> None:
        nonlocal sets, used, count, sequence
        body = b"".join(sets)
        messages.append(Message(header(HEADER.size + len(body), export_time, sequence,
                                        domain) + body, count))
        sequence += count
        sets, used, count = [], 0, 0

    for tid, encoded in by_template.items():
        i = 0
        while i < len(encoded):
            size = RECORD[tid].size
            fit = (room - used - SET_HEADER.size) // size
            if fit <= 0:
                close()
                continue
            chunk = encoded[i:i + fit]
            body = b"".join(chunk)
            sets.append(SET_HEADER.pack(tid, SET_HEADER.size + len(body)) + body)
            used += SET_HEADER.size + len(body)
            count += len(chunk)
            i += len(chunk)
    if sets:
        close()
    return messages
