"""IPFIX export (tuimon/sinks/ipfix.py, ipfix_export.py): what is encoded is decoded again by
a small decoder of this test's own (struct, RFC 7011 read from scratch: it knows no tuimon
constant), and checked: headers, sequence numbers per observation domain, templates at the
start and again, messages split under the size limit, IPv6, deltas that add up to the
conversation's totals, flowEndReason."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from tests.conftest import record
from tuimon.core.engine import Engine
from tuimon.sinks import ipfix
from tuimon.sinks.ipfix_export import IpfixExporter, IpfixFailed, parse_address

# -- the independent decoder -------------------------------------------------------------

TYPES = {8: "ip", 12: "ip", 27: "ip", 28: "ip"}  # everything else: an unsigned integer
NAMES = {8: "src", 12: "dst", 27: "src", 28: "dst", 7: "sport", 11: "dport", 4: "proto",
         6: "flags", 1: "octets", 2: "packets", 152: "start", 153: "end", 136: "reason"}


class Collector:
    """Decodes messages as a collector would: templates per observation domain."""

    def __init__(self) -> None:
        self.templates: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self.records: list[dict] = []
        self.headers: list[tuple] = []
        self.template_messages: list[int] = []  # message numbers that carried templates
        self.counts: list[int] = []  # data records in each message

    def feed(self, data: bytes) -> None:
        version, length, export, seq, domain = struct.unpack_from("!HHIII", data)
        assert version == 10 and length == len(data)
        self.headers.append((export, seq, domain, length))
        self.counts.append(0)
        pos = 16
        while pos < length:
            set_id, set_len = struct.unpack_from("!HH", data, pos)
            assert set_len >= 4 and pos + set_len <= length
            body, end = pos + 4, pos + set_len
            if set_id == 2:
                self.template_messages.append(len(self.headers) - 1)
                while body + 4 <= end:
                    tid, count = struct.unpack_from("!HH", data, body)
                    body += 4
                    fields = []
                    for _ in range(count):
                        ie, size = struct.unpack_from("!HH", data, body)
                        assert not ie & 0x8000  # no enterprise element
                        fields.append((ie, size))
                        body += 4
                    self.templates[(domain, tid)] = fields
            else:
                assert set_id >= 256
                fields = self.templates[(domain, set_id)]  # a template came first
                size = sum(s for _, s in fields)
                while body + size <= end:
                    rec = {"domain": domain, "template": set_id}
                    for ie, s in fields:
                        raw = data[body:body + s]
                        body += s
                        rec[NAMES[ie]] = (ipaddress.ip_address(raw) if TYPES.get(ie) == "ip"
                                          else int.from_bytes(raw, "big"))
                    self.records.append(rec)
                    self.counts[-1] += 1
            pos = end


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, address) -> int:
        self.sent.append(data)
        return len(data)

    def close(self) -> None:
        pass


def decode(messages) -> Collector:
    c = Collector()
    for m in messages:
        c.feed(m)
    return c


def flow(i: int, v6: bool = False, packets: int = 1) -> ipfix.FlowRecord:
    src = ipaddress.ip_address(("2001:db8::%x" if v6 else "10.0.%d.%d") %
                               ((i,) if v6 else (i >> 8 & 255, i & 255))).packed
    dst = ipaddress.ip_address("2001:db8::ffff" if v6 else "192.0.2.1").packed
    return ipfix.FlowRecord(src, dst, 1000 + i, 443, 6, 0x12, 100 * packets, packets,
                            1_700_000_000_000 + i, 1_700_000_001_000 + i, ipfix.IDLE_TIMEOUT)


# -- the encoder -----------------------------------------------------------------------


def test_a_message_decodes_to_its_records_with_its_header():
    records = [flow(1), flow(2, v6=True), flow(3)]
    messages = ipfix.pack(records, domain=7, sequence=41, export_time=1_800_000_000,
                          templates=True)
    assert len(messages) == 1 and messages[0].records == 3
    c = decode(m.data for m in messages)
    assert c.headers == [(1_800_000_000, 41, 7, len(messages[0].data))]
    assert c.templates[(7, 256)][0] == (8, 4) and c.templates[(7, 257)][0] == (27, 16)
    assert {(256, 1): 8, (256, 2): 8, (256, 152): 8, (256, 6): 2} == {
        (tid, ie): s for (d, tid), fs in c.templates.items() for ie, s in fs
        if tid == 256 and ie in (1, 2, 152, 6)}
    got = sorted(c.records, key=lambda r: r["sport"])
    assert [r["sport"] for r in got] == [1001, 1002, 1003]
    v6 = got[1]
    assert v6["template"] == 257 and v6["src"] == ipaddress.ip_address("2001:db8::2")
    assert v6["dst"] == ipaddress.ip_address("2001:db8::ffff")
    assert got[0]["src"] == ipaddress.ip_address("10.0.0.1")
    assert got[0]["octets"] == 100 and got[0]["packets"] == 1
    assert got[0]["start"] == 1_700_000_000_001 and got[0]["end"] == 1_700_000_001_001
    assert got[0]["flags"] == 0x12 and got[0]["proto"] == 6 and got[0]["reason"] == 1


def test_messages_are_split_under_the_limit_and_numbered_by_records_before():
    records = [flow(i, v6=i % 3 == 0) for i in range(200)]
    messages = ipfix.pack(records, domain=1, sequence=10, export_time=0, templates=True)
    assert len(messages) > 5
    assert all(len(m.data) <= 1400 for m in messages)
    c = decode(m.data for m in messages)
    assert c.template_messages == [0]  # templates only once, first
    assert len(c.records) == 200 and sum(m.records for m in messages) == 200
    before = 10
    for (_, seq, _, _), m in zip(c.headers, messages):
        assert seq == before
        before += m.records
    assert sorted(r["sport"] for r in c.records) == [1000 + i for i in range(200)]


def test_a_smaller_limit_splits_more_and_the_sequence_wraps():
    records = [flow(i, v6=True) for i in range(10)]
    messages = ipfix.pack(records, 3, 2**32 - 4, 0, templates=False, limit=200)
    assert [m.records for m in messages] == [2] * 5
    assert all(len(m.data) <= 200 for m in messages)
    assert [struct.unpack_from("!I", m.data, 8)[0] for m in messages] == [
        2**32 - 4, 2**32 - 2, 0, 2, 4]
    with pytest.raises(ValueError):
        ipfix.pack(records, 3, 0, 0, templates=True, limit=150)


# -- the exporter ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def exporter(engine: Engine, active: float = 60.0, clock=None) -> tuple[IpfixExporter, FakeSocket]:
    sock = FakeSocket()
    exp = IpfixExporter.attach(engine, "127.0.0.1:4739", active=active, sock=sock,
                               clock=clock or Clock(), wallclock=lambda: 1_800_000_000.0)
    return exp, sock


def totals(records: list[dict]) -> dict:
    out: dict = {}
    for r in records:
        key = (str(r["src"]), r["sport"], str(r["dst"]), r["dport"], r["proto"])
        p, b = out.get(key, (0, 0))
        out[key] = (p + r["packets"], b + r["octets"])
    return out


def test_deltas_at_the_active_timeout_add_up_to_the_conversation():
    engine = Engine()
    exp, sock = exporter(engine, active=10)
    for t in range(0, 35):  # a long conversation, a packet each way every second
        engine.ingest([record("10.0.0.1", "10.0.0.2", 5000, 80, ts=1000.0 + t, size=100),
                       record("10.0.0.2", "10.0.0.1", 80, 5000, ts=1000.5 + t, size=300)])
        engine.fold()
        exp.tick(engine.now)
    active = decode(sock.sent)
    assert {r["reason"] for r in active.records} == {ipfix.ACTIVE_TIMEOUT}
    assert len(active.records) == 6  # at 1010, 1020 and 1030, each way
    exp.finish()
    c = decode(sock.sent)
    assert [r["reason"] for r in c.records[-2:]] == [ipfix.FORCED_END] * 2
    assert totals(c.records) == {("10.0.0.1", 5000, "10.0.0.2", 80, 6): (35, 3500),
                                 ("10.0.0.2", 80, "10.0.0.1", 5000, 6): (35, 10500)}
    ab = [r for r in c.records if r["sport"] == 5000]
    assert ab[0]["start"] == 1_000_000 and ab[-1]["end"] == 1_034_500
    assert all(a["end"] == b["start"] for a, b in zip(ab, ab[1:]))  # they tile its life
    assert [h[1] for h in c.headers] == [0, 2, 4, 6]  # records sent before each message


def test_leaving_by_idle_timeout_and_closing_and_an_empty_delta_is_not_sent():
    engine = Engine(flow_timeout=None)
    exp, sock = exporter(engine, active=0)  # none: the UDP flow's one record when it leaves
    engine.ingest([record("10.0.0.1", "10.0.0.3", proto=17, sport=53000, dport=53, ts=100.0),
                   record("10.0.0.1", "10.0.0.4", 6000, 443, ts=100.0, flags=0x02),
                   record("10.0.0.4", "10.0.0.1", 443, 6000, ts=100.1, flags=0x04)])
    engine.fold()
    exp.tick(engine.now)
    for t in range(101, 400):
        engine.advance(float(t))
        engine.fold()
        exp.tick(engine.now)
    c = decode(sock.sent)
    by_port = {r["dport"]: r for r in c.records}
    assert by_port[443]["reason"] == ipfix.END_OF_FLOW  # RST: closed
    assert by_port[6000]["flags"] == 0x04 and by_port[443]["flags"] == 0x02
    assert by_port[53]["reason"] == ipfix.IDLE_TIMEOUT and by_port[53]["proto"] == 17
    assert len(c.records) == 3  # the UDP flow one way only: no empty reverse record
    exp.finish()
    assert len(decode(sock.sent).records) == 3


def test_observation_domain_per_interface_with_its_own_sequence_and_templates():
    engine = Engine()
    exp, sock = exporter(engine)
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=10.0, iface=0),
                   record("2001:db8::1", "2001:db8::2", 3, 4, ts=10.0, iface=2),
                   record("2001:db8::1", "2001:db8::3", 3, 4, ts=10.0, iface=2)])
    exp.finish()
    c = decode(sock.sent)
    assert sorted((r["domain"], r["template"]) for r in c.records) == [
        (1, 256), (3, 257), (3, 257)]
    assert sorted(h[2] for h in c.headers) == [1, 3]
    assert all(h[1] == 0 for h in c.headers)  # each domain counts from 0
    assert len(c.template_messages) == 2  # each domain got the templates


def test_templates_are_sent_again_after_20_seconds_and_every_100_messages():
    engine = Engine(flow_timeout=5)
    clock = Clock()
    exp, sock = exporter(engine, clock=clock)
    t = 0.0
    for step in range(3):
        engine.ingest([record("10.0.0.1", "10.0.0.2", 1000 + step, 80, ts=t)])
        engine.fold()
        exp.tick(t)
        t += 10.0
        engine.advance(t)
        engine.fold()
        exp.tick(t)
        clock.t += 11.0
    c = decode(sock.sent)
    assert len(c.headers) == 3 and c.template_messages == [0, 2]  # at 0 s, then 22 s
    # a burst of 150 messages in one go: the templates again in its 100th message
    sock.sent.clear()
    engine2 = Engine(flow_timeout=0)
    exp2, sock2 = exporter(engine2, clock=Clock())
    engine2.ingest([record("10.0.%d.%d" % (i >> 8, i & 255), "10.1.0.1", 1, 2, ts=1.0)
                    for i in range(150 * 28)])
    exp2.finish()
    c2 = decode(sock2.sent)
    assert len(c2.records) == 150 * 28 and len(sock2.sent) >= 150
    assert c2.template_messages[:2] == [0, 100]
    assert all(len(m) <= 1400 for m in sock2.sent)
    seq = 0
    for (_, s, _, _), n in zip(c2.headers, c2.counts):
        assert s == seq
        seq += n


def test_what_the_playback_did_before_the_exporter_is_not_lost_and_leaves_chain():
    engine = Engine()
    seen = []
    engine.on_leave = seen.extend
    exp, sock = exporter(engine)
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=10.0)])
    engine.remove_conversations(list(engine.conversations))
    assert len(seen) == 1  # the listener before still hears
    exp.flush()
    assert len(decode(sock.sent).records) == 1


@pytest.mark.parametrize("text", ["nohost", "x:0", "h:70000", "::1:4739", "h:abc", ":4739"])
def test_a_bad_address_is_one_line(text):
    with pytest.raises(IpfixFailed) as err:
        parse_address(text)
    assert "\n" not in str(err.value) and "--ipfix" in str(err.value)


def test_addresses_that_parse():
    assert parse_address("127.0.0.1:4739") == ("127.0.0.1", 4739)
    assert parse_address("[::1]:2055") == ("::1", 2055)


def test_nothing_new_since_the_active_record_sends_nothing_when_it_leaves():
    engine = Engine()
    exp, sock = exporter(engine, active=60)
    engine.ingest([record("10.0.0.1", "10.0.0.3", proto=17, sport=53000, dport=53, ts=100.0)])
    engine.fold()
    exp.tick(engine.now)
    for t in range(101, 400):
        engine.advance(float(t))
        engine.fold()
        exp.tick(engine.now)
    assert not engine.conversations  # it left at about 281
    c = decode(sock.sent)
    assert [(r["reason"], r["packets"]) for r in c.records] == [(ipfix.ACTIVE_TIMEOUT, 1)]
    assert c.records[0]["start"] == c.records[0]["end"] == 100_000


def test_a_conversation_knows_the_interface_of_its_first_packet(kit):
    """The observation domain's source: the interface of the conversation's first packet
    (a column of the engine's store), per record and per column batch alike."""

    recs = [kit.record("10.0.0.1", "10.0.0.2", 1, 2, ts=1.0),
            (1, *kit.record("10.0.0.3", "10.0.0.4", 3, 4, ts=2.0)[1:]),
            kit.record("10.0.0.4", "10.0.0.3", 4, 3, ts=3.0)]  # its answer on interface 0
    engine = kit.engine(recs)
    by_port = {c.key[3]: c for c in engine.conversations}
    assert by_port[1].iface == 0
    assert by_port[3].iface == 1
