"""Flow records: what the conntrack source (:mod:`tuimon.capture.conntrack`) hands over
instead of packet records -- the kernel's figures for one flow -- and their kinds. Counted
by :mod:`tuimon.core.flows`."""

from __future__ import annotations

from typing import NamedTuple

# FlowRecord.kind
INITIAL = 0  # in the first dump: its figures are the baseline
DUMPED = 1  # in a later dump
DESTROYED = 2  # left the kernel's table: its final figures
DUMP_END = 3  # a dump is complete (only ``kind`` and ``ts`` mean anything)


class FlowRecord(NamedTuple):
    """One flow as the kernel counts it. ``ts`` comes second (as in packet records) so a
    batch of them can be cut by time like one of packets. Addresses are ints (IPv6 ones
    with the ``V6`` bit); ports None for protocols without them."""

    kind: int
    ts: float
    ident: int  # the kernel's conntrack id
    proto: int
    src: int  # original tuple: the side that opened the flow
    sport: int | None
    dst: int
    dport: int | None
    r_src: int  # reply tuple: what the answers carry (differs from orig reversed: NAT)
    r_sport: int | None
    r_dst: int
    r_dport: int | None
    orig_packets: int
    orig_bytes: int
    reply_packets: int
    reply_bytes: int


def dump_end(ts: float) -> FlowRecord:
    return FlowRecord(DUMP_END, ts, 0, 0, 0, None, 0, None, 0, None, 0, None, 0, 0, 0, 0)


def is_natted(r: FlowRecord) -> bool:
    return (r.r_src, r.r_sport, r.r_dst, r.r_dport) != (r.dst, r.dport, r.src, r.sport)
