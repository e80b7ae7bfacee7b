"""The display filter: parsing, errors, and what each term matches in each view."""

from __future__ import annotations

import pytest

from tuimon.server.filter import (
    And,
    FilterContext,
    FilterError,
    HostTerm,
    Not,
    Or,
    PortTerm,
    Text,
    check,
    compile_filter,
    parse,
)
from tuimon.core.names import address_text, parse_address


def matches(engine, text: str, view: str) -> list:
    node = parse(text, engine.names)
    pred = compile_filter(node, view, FilterContext(engine))
    if view == "hosts":
        items = list(engine.hosts.values())
    elif view == "conversations":
        items = engine.conversations
    elif view == "protocols":
        items = engine.protocol_rows()
    else:
        items = engine.interface_rows()
    kept = items if pred is None else [x for x in items if pred(x)]
    if view == "hosts":
        return sorted(address_text(h.addr) for h in kept)
    if view == "conversations":
        return sorted(f"{address_text(c.a)}>{address_text(c.b)}" for c in kept)
    if view == "protocols":
        return sorted(r.protocol for r in kept)
    return [r.interface for r in kept]


# -- parsing ---------------------------------------------------------------------------

def test_empty_filter_is_none():
    assert parse("") is None
    assert parse("   ") is None
    assert check("") is None


def test_precedence_and_binds_tighter_than_or():
    node = parse("port 1 or port 2 and not port 3")
    assert node == Or(PortTerm(frozenset({1})),
                      And(PortTerm(frozenset({2})), Not(PortTerm(frozenset({3})))))


def test_adjacent_terms_are_anded_and_keywords_case_insensitive():
    assert parse("HOST 10.0.0.1 Foo") == And(HostTerm(parse_address("10.0.0.1")), Text("foo"))
    assert parse("a && b || !c") == Or(And(Text("a"), Text("b")), Not(Text("c")))


def test_quoted_text_is_text_even_for_keywords():
    assert parse('"not" and \'a b\'') == And(Text("not"), Text("a b"))


def test_port_by_service_name():
    node = parse("port https")
    assert isinstance(node, PortTerm) and 443 in node.ports


@pytest.mark.parametrize("text, fragment", [
    ("host", "'host' needs an address"),
    ("host 10.0.0", "not an IP address"),
    ("net 10.0.0.0/33", "not a network"),
    ("port 70000", "out of range"),
    ("port nosuchservice", "neither a number nor a known service"),
    ("proto nosuchproto", "unknown protocol"),
    ("(port 80", "missing ')'"),
    ("port 80)", "unexpected ')'"),
    ("()", "empty parentheses"),
    ("and port 80", "needs something before it"),
    ("port 80 and", "needs something after it"),
    ("port 80 or", "needs something after it"),
    ("not", "needs something after it"),
    ('"open', "unterminated quote"),
    ("host (", "needs an address"),
])
def test_errors_are_one_clear_line(text, fragment):
    with pytest.raises(FilterError) as err:
        parse(text)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert check(text) == str(err.value)


# -- conversations -------------------------------------------------------------------------

def test_conversation_terms(small_engine):
    e = small_engine
    assert matches(e, "host 10.0.0.53", "conversations") == ["10.0.0.1>10.0.0.53"]
    assert matches(e, "port 443", "conversations") == ["10.0.0.1>93.184.216.34"]
    assert matches(e, "port https", "conversations") == ["10.0.0.1>93.184.216.34"]
    assert matches(e, "proto udp", "conversations") == ["10.0.0.1>10.0.0.53"]
    assert matches(e, "proto domain", "conversations") == ["10.0.0.1>10.0.0.53"]
    assert matches(e, "proto icmp", "conversations") == ["10.0.0.2>10.0.0.1"]
    assert matches(e, "proto ipv6", "conversations") == ["2001:db8::1>2001:db8::2"]
    assert matches(e, "net 10.0.0.0/30", "conversations") == [
        "10.0.0.1>10.0.0.53", "10.0.0.1>93.184.216.34", "10.0.0.2>10.0.0.1"]
    assert matches(e, "net 2001:db8::/32", "conversations") == ["2001:db8::1>2001:db8::2"]
    assert matches(e, "not net 10.0.0.0/8", "conversations") == ["2001:db8::1>2001:db8::2"]
    assert matches(e, "(port 53 or port 443) and not host 93.184.216.34", "conversations") == [
        "10.0.0.1>10.0.0.53"]


def test_plain_text_matches_any_text_cell(small_engine):
    e = small_engine
    assert matches(e, "93.184", "conversations") == ["10.0.0.1>93.184.216.34"]
    assert matches(e, ":5353", "conversations") == ["10.0.0.1>10.0.0.53"]  # endpoint text
    assert matches(e, "HTTPS", "conversations") == ["10.0.0.1>93.184.216.34"]  # service
    assert matches(e, "icmp", "conversations") == ["10.0.0.2>10.0.0.1"]  # protocol
    assert matches(e, "[2001:db8::2]:80", "conversations") == ["2001:db8::1>2001:db8::2"]
    assert matches(e, "9000", "conversations") == []  # counters are not text cells


# -- hosts -----------------------------------------------------------------------------

def test_host_terms(small_engine):
    e = small_engine
    assert matches(e, "host 10.0.0.2", "hosts") == ["10.0.0.2"]
    assert matches(e, "net 10.0.0.0/8", "hosts") == ["10.0.0.1", "10.0.0.2", "10.0.0.53"]
    # port / proto: hosts that take part in a matching conversation
    assert matches(e, "port 53", "hosts") == ["10.0.0.1", "10.0.0.53"]
    assert matches(e, "proto icmp", "hosts") == ["10.0.0.1", "10.0.0.2"]
    assert matches(e, "proto ipv6", "hosts") == ["2001:db8::1", "2001:db8::2"]
    assert matches(e, "10.0.0.5", "hosts") == ["10.0.0.53"]


# -- protocols and interfaces ----------------------------------------------------------------

def test_protocol_rows(small_engine):
    e = small_engine
    assert matches(e, "proto tcp", "protocols") == ["tcp", "tcp"]  # over IPv4 and over IPv6
    assert matches(e, "proto icmp", "protocols") == ["icmp"]
    # a service name picks the application rows it is guessed as
    assert matches(e, "proto https or proto domain", "protocols") == ["dns", "tls"]
    assert matches(e, "port 53", "protocols") == ["dns"]
    assert matches(e, "proto ipv6", "protocols") == ["ipv6"]
    assert matches(e, "proto ether", "protocols") == ["ether"]
    assert matches(e, "application", "protocols") == ["dns", "http", "tls"]  # the layer


def test_application_protocol_terms(small_engine):
    e = small_engine
    # port guesses, under Wireshark's names
    assert matches(e, "proto tls", "conversations") == ["10.0.0.1>93.184.216.34"]
    assert matches(e, "proto dns", "hosts") == ["10.0.0.1", "10.0.0.53"]
    assert matches(e, "proto tls", "protocols") == ["tls"]
    assert check("proto ssh") is None  # known to the port guesses, even before it is seen
    assert "unknown protocol" in check("proto wg")
    # the dissector's verdict replaces the guess, and names become known as they are seen
    web = next(c for c in e.conversations if c.pb == 443)
    e.label(web, "wg", "dissector")
    assert check("proto wg", e.names) is None
    assert matches(e, "proto wg", "conversations") == ["10.0.0.1>93.184.216.34"]
    assert matches(e, "proto tls", "conversations") == []
    assert matches(e, "wg", "conversations") == ["10.0.0.1>93.184.216.34"]  # text search
    assert matches(e, "proto wg", "protocols") == ["wg"]
    assert matches(e, "proto tls", "protocols") == []


def test_terms_without_meaning_in_a_view_are_left_out(small_engine):
    e = small_engine
    everything = matches(e, "", "protocols")
    assert matches(e, "host 10.0.0.1", "protocols") == everything
    assert matches(e, "not host 10.0.0.1", "protocols") == everything
    assert matches(e, "host 10.0.0.1 and proto tcp", "protocols") == ["tcp", "tcp"]
    assert matches(e, "port 443", "interfaces") == ["eth0"]
    assert matches(e, "eth", "interfaces") == ["eth0"]
    assert matches(e, "wlan", "interfaces") == []


def test_the_columns_mask_keeps_what_the_predicate_keeps(kit):
    """The Conversations view's filter over the engine's columns (conversation_mask, used
    by the query) against the predicate on each conversation, for every kind of term:
    hosts and nets of both families (IPv6 nets shorter and longer than 64 bits, and
    /0), ports (none for ICMP), protocols by number, service and application name,
    families, not/and/or, and terms that do not apply to conversations."""
    import random

    from tuimon.server.filter import conversation_mask

    rng = random.Random(9)
    hosts = ["10.0.0.1", "10.0.1.7", "192.0.2.9", "2001:db8::1", "2001:db8:0:1::5",
             "2001:db9::1", "fe80::1"]
    records = []
    for i in range(600):
        a = rng.choice(hosts)
        b = rng.choice([h for h in hosts if (":" in h) == (":" in a)])
        proto = rng.choice([6, 17, 1, 58 if ":" in a else 1])
        ports = (None, None) if proto in (1, 58) else (rng.choice([53, 80, 443, 1000 + i]),
                                                      rng.choice([53, 80, 443, 22]))
        records.append(kit.record(a, b, *ports, proto=proto, size=100, ts=1000.0 + i))
    engine = kit.engine(records)
    convs = list(engine.conversations)
    engine.label(convs[3], "wg", "dissector")
    texts = ["host 10.0.0.1", "host 2001:db8::1", "net 10.0.0.0/16", "net 10.0.0.0/24",
             "net 2001:db8::/32", "net 2001:db8::/64", "net 2001:db8:0:1::/80", "net ::/0",
             "net 0.0.0.0/0", "port 53", "port 443 or port 22", "not port 80", "proto tcp",
             "proto icmp", "proto https", "proto dns and not host 192.0.2.9", "proto ip6",
             "proto ipv4 and port 80", "proto wg", "not (host 10.0.0.1 or net 2001:db8::/32)",
             "host 10.0.0.1 and port 53 or proto udp", "tcp", "2001:db8::1", "10.0.0.1:",
             ":53", "wg", "https and not 192.0.2.9", "sa", "nothing-like-it"]
    checked = 0
    for text in texts:
        node = parse(text, engine.names)
        pred = compile_filter(node, "conversations", FilterContext(engine))
        want = [c.key for c in convs if pred is None or pred(c)]
        slots = engine.filtered(conversation_mask(node, FilterContext(engine)))
        got = [c.key for c in engine.listed_at(slots)] if slots is not None else \
            [c.key for c in convs]
        assert got == want, text
        checked += 0 < len(want) < len(convs)
    assert checked >= len(texts) - 4  # most terms keep some and drop some
    with pytest.raises(Exception, match="x"):
        conversation_mask(parse("x", engine.names))  # a plain word, no texts: objects
    ctx = FilterContext(engine)  # texts made again when a label changes
    node = parse("proto-x", engine.names)
    assert engine.filtered(conversation_mask(node, ctx)).tolist() == []
    engine.label(convs[5], "proto-x", "dissector")
    assert [c.key for c in engine.listed_at(engine.filtered(conversation_mask(node, ctx)))] \
        == [convs[5].key]
