"""The conntrack source's flow records counted by the engine (tuimon.core.flows): baselines
of flows older than tuimon, deltas between dumps, destroy events, NAT tuples, flows lost
without a destroy event -- fed as a fake stream of records, as the netlink reader makes
them."""

from __future__ import annotations

import ipaddress

from tuimon.core.engine import Engine
from tuimon.capture.flowrecord import DESTROYED, DUMPED, INITIAL, FlowRecord, dump_end
from tuimon.core.flows import MISSING_DUMPS


def ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


A, B, NAT = ip("10.0.0.1"), ip("10.0.0.2"), ip("192.0.2.9")


def flow(kind, ts, ident, op, ob, rp, rb, proto=17, src=A, sport=4000, dst=B, dport=53,
         reply=None) -> FlowRecord:
    r_src, r_sport, r_dst, r_dport = reply or (dst, dport, src, sport)
    return FlowRecord(kind, ts, ident, proto, src, sport, dst, dport, r_src, r_sport,
                      r_dst, r_dport, op, ob, rp, rb)


def engine() -> Engine:
    e = Engine(flow_timeout=0)
    e.set_interface(0, "conntrack")
    return e


def only_row(e: Engine):
    rows = e.snapshot().conversations
    assert len(rows) == 1
    return rows[0]


def test_a_new_flow_counts_everything_both_ways_and_folds_into_hosts():
    e = engine()
    e.ingest_flows([dump_end(100.0)])  # an empty first dump
    e.ingest_flows([flow(DUMPED, 101.0, 7, 3, 300, 2, 500), dump_end(101.0)])
    e.ingest_flows([flow(DUMPED, 102.0, 7, 5, 700, 4, 900), dump_end(102.0)])
    row = only_row(e)
    assert (row.address_a, row.port_a, row.address_b, row.port_b) == ("10.0.0.1", 4000,
                                                                      "10.0.0.2", 53)
    assert (row.packets_a_to_b, row.bytes_a_to_b, row.packets_b_to_a, row.bytes_b_to_a) == \
        (5, 700, 4, 900)
    snap = e.snapshot()
    hosts = {h.address: h for h in snap.hosts}
    assert (hosts["10.0.0.1"].tx_bytes, hosts["10.0.0.1"].rx_bytes) == (700, 900)
    assert (hosts["10.0.0.2"].tx_bytes, hosts["10.0.0.2"].rx_bytes) == (900, 700)
    assert snap.interfaces[0].packets == 9 and snap.interfaces[0].bytes == 1600
    assert [(p.packets, p.bytes) for p in snap.protocols if p.protocol == "udp"] == [(9, 1600)]


def test_a_flow_older_than_tuimon_counts_only_what_it_adds():
    e = engine()
    e.ingest_flows([flow(INITIAL, 100.0, 7, 1000, 10**6, 900, 2 * 10**6), dump_end(100.0)])
    assert e.snapshot().conversations == []  # nothing added yet: no conversation
    e.ingest_flows([flow(DUMPED, 101.0, 7, 1000, 10**6, 900, 2 * 10**6), dump_end(101.0)])
    assert e.snapshot().conversations == []
    e.ingest_flows([flow(DUMPED, 102.0, 7, 1002, 10**6 + 80, 901, 2 * 10**6 + 60),
                    dump_end(102.0)])
    row = only_row(e)
    assert (row.packets_a_to_b, row.bytes_a_to_b, row.packets_b_to_a, row.bytes_b_to_a) == \
        (2, 80, 1, 60)


def test_a_destroyed_flow_adds_its_last_counts_and_leaves_the_table():
    e = engine()
    left = []
    e.on_leave = left.extend
    e.ingest_flows([flow(INITIAL, 100.0, 7, 10, 1000, 10, 1000), dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 7, 12, 1200, 11, 1100), dump_end(101.0)])
    e.ingest_flows([flow(DESTROYED, 101.5, 7, 15, 1500, 12, 1250)])
    assert e.snapshot().conversations == []
    assert len(left) == 1 and (left[0].ab_p, left[0].ab_b, left[0].ba_p, left[0].ba_b) == \
        (5, 500, 2, 250)
    assert e.expired == 1
    totals = e.snapshot().totals
    assert (totals.packets, totals.bytes) == (7, 750)  # folded before it left
    # a flow born and gone between two dumps: only its destroy event, counted whole
    e.ingest_flows([flow(DESTROYED, 102.0, 8, 3, 300, 3, 400, sport=4001)])
    assert e.expired == 2 and e.snapshot().totals.bytes == 750 + 700


def test_a_destroy_event_for_a_flow_older_than_tuimon_never_claims_its_past():
    e = engine()
    e.ingest_flows([flow(INITIAL, 100.0, 7, 10, 1000, 10, 1000), dump_end(100.0)])
    e.ingest_flows([flow(DESTROYED, 100.5, 7, 10, 1000, 10, 1000)])
    assert e.snapshot().totals.bytes == 0 and e.expired == 0


def test_natted_flows_keep_their_reply_tuple():
    e = engine()
    e.ingest_flows([dump_end(100.0)])
    # A -> B:80 leaves as NAT:61000 (masquerade): the answers come back to NAT
    e.ingest_flows([flow(DUMPED, 101.0, 9, 4, 400, 3, 3000, proto=6, dport=80,
                         reply=(B, 80, NAT, 61000)), dump_end(101.0)])
    [conv] = list(e.conversations)
    assert e.nat_of(conv) == (6, B, 80, NAT, 61000)
    assert only_row(e).nat == "10.0.0.2:80 > 192.0.2.9:61000"  # the Conversations view's
    e.ingest_flows([flow(DUMPED, 101.0, 10, 1, 100, 1, 100, proto=6, sport=5000, dport=80),
                    dump_end(101.0)])
    plain = [c for c in e.conversations if c.pa == 5000][0]
    assert e.nat_of(plain) is None and e.nat_text(plain) == ""
    from tuimon.server.query import sort_key
    rows = sorted(e.conversations, key=sort_key("conversations", "nat", e))
    assert [e.nat_text(c) for c in rows] == ["", "10.0.0.2:80 > 192.0.2.9:61000"]


def test_a_flow_missing_from_dumps_without_a_destroy_event_leaves_with_its_last_counts():
    e = engine()
    e.ingest_flows([dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 7, 2, 200, 1, 100), dump_end(101.0)])
    for i in range(MISSING_DUMPS - 1):
        e.ingest_flows([dump_end(102.0 + i)])
        assert len(e.snapshot().conversations) == 1
    e.ingest_flows([dump_end(110.0)])
    assert e.snapshot().conversations == [] and e.expired == 1
    assert e.snapshot().totals.bytes == 300


def test_counters_that_go_back_were_zeroed_and_count_again_from_zero():
    e = engine()
    e.ingest_flows([dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 7, 5, 500, 5, 500), dump_end(101.0)])
    e.ingest_flows([flow(DUMPED, 102.0, 7, 1, 60, 0, 0), dump_end(102.0)])  # conntrack -Z
    assert only_row(e).bytes == 1060


def test_two_flows_on_one_tuple_share_a_conversation_until_both_leave():
    e = engine()
    e.ingest_flows([dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 1, 1, 100, 1, 100),  # two zones, one tuple
                    flow(DUMPED, 101.0, 2, 2, 200, 2, 200), dump_end(101.0)])
    assert only_row(e).bytes == 600
    e.ingest_flows([flow(DESTROYED, 102.0, 1, 1, 100, 1, 100)])
    assert only_row(e).bytes == 600
    e.ingest_flows([flow(DESTROYED, 103.0, 2, 3, 300, 2, 200)])
    assert e.snapshot().conversations == [] and e.snapshot().totals.bytes == 700


def test_ipv6_and_portless_protocols():
    e = engine()
    from tuimon.capture.decode import V6
    a6, b6 = V6 | ip("2001:db8::1"), V6 | ip("2001:db8::2")
    e.ingest_flows([dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 3, 2, 208, 2, 208, proto=58, src=a6, sport=None,
                         dst=b6, dport=None), dump_end(101.0)])
    row = only_row(e)
    assert (row.protocol, row.address_a, row.port_a, row.bytes) == ("icmpv6", "2001:db8::1",
                                                                    None, 416)


def test_the_ports_view_counts_what_each_flow_adds():
    """Flows have no packets on the packet path: the Ports view gets each flow's deltas
    (both ports; once when they are equal; none for a protocol without ports)."""
    e = engine()
    e.ingest_flows([dump_end(100.0)])
    e.ingest_flows([flow(DUMPED, 101.0, 7, 3, 300, 2, 500),
                    flow(DUMPED, 101.0, 8, 1, 90, 1, 90, sport=123, dport=123),
                    flow(DUMPED, 101.0, 9, 4, 400, 0, 0, proto=6, sport=40000, dport=443),
                    flow(DUMPED, 101.0, 10, 1, 84, 1, 84, proto=1, sport=None, dport=None),
                    dump_end(101.0)])
    e.ingest_flows([flow(DUMPED, 102.0, 7, 5, 700, 4, 900), dump_end(102.0)])
    ports = {(r.protocol, r.port): (r.packets, r.bytes) for r in e.snapshot().ports}
    assert ports == {("udp", 4000): (9, 1600), ("udp", 53): (9, 1600), ("udp", 123): (2, 180),
                     ("tcp", 40000): (4, 400), ("tcp", 443): (4, 400)}
