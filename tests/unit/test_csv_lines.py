"""The CSV writers' own line formatting (conversations.csv, hosts.csv and pairs.csv: lines
made at once, for speed) against the csv module writing the same rows cell by cell, and
conversations.csv written from the engine's records against its rows: byte for byte the
same, odd text (commas, quotes, line breaks, formula starts) and odd times included."""

from __future__ import annotations

import csv
import io
import random

from tests.conftest import record
from tuimon.core.engine import Engine
from tuimon.core.model import ConversationRow, HostRow
from tuimon.core.pairs import PairRow
from tuimon.sinks import csv as csvmod

TEXTS = ["", "tcp", "udp", "tls", "dns http", "a,b", 'say "hi"', "two\nlines", "cr\rhere",
         "=cmd|' /C calc'!A0", "+1", "-1", "@x", "\tx", "caf\u00e9", "(other hosts)"]
TIMES = [1700000000.0, 1700000000.000001, 1700000000.5, 1700000059.999999, 1.0, 1.5,
         0.0, 0.25, 1234567890.1234565, 4102444800.000002, 86399.999999]


def _by_module(rows, columns, state=None):
    """What the csv module writes for ``rows`` (the writers' slow path for every row)."""
    f = io.StringIO(newline="")
    writer = csv.writer(f)
    for cells in csvmod._rows(rows, columns):
        writer.writerow([*cells, state] if state is not None else cells)
    return f.getvalue()


def _conversation_rows(n: int, seed: int) -> list[ConversationRow]:
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        first = r.choice(TIMES + [r.uniform(1, 4e9),
                                  r.randrange(1, 2**31) + r.randrange(10**6) / 1e6])
        last = first if r.random() < 0.3 else first + r.choice([0.0, 1e-6, 0.5, r.uniform(0, 1e4)])
        plain = r.random() < 0.7
        rows.append(ConversationRow(
            r.choice(["tcp", "udp", "icmp"] if plain else TEXTS),
            r.choice(["10.0.0.1", "2001:db8::1", "192.168.1.200"]),
            r.choice([None, 0, 53, 65535]),
            r.choice(["10.0.0.2", "fe80::1"]),
            r.choice([None, 1, 443]),
            r.randrange(10**4), r.randrange(10**12), r.randrange(10), r.randrange(10**6),
            first, last, r.choice(["", "S", "SA", "FSRPAUECN"]),
            r.choice(["", "https", "domain"] if plain else TEXTS),
            0.0, 0.0, 0.0,
            r.choice(["", "tls", "dns"] if plain else TEXTS),
            r.choice(["", "port", "dissector"]), ""))
    return rows


def test_conversation_lines_are_what_the_csv_module_writes():
    rows = _conversation_rows(3000, 1)
    for state in ("active", "expired"):
        f = io.StringIO(newline="")
        csvmod.write_conversations(f, csv.writer(f), rows, state)
        assert f.getvalue() == _by_module(rows, csvmod.CONVERSATION_COLUMNS[:-1], state)


def _host_rows(n: int, seed: int) -> list[HostRow]:
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        first = r.choice(TIMES + [None, r.uniform(1, 4e9)])
        last = None if first is None and r.random() < 0.5 else r.choice(TIMES + [r.uniform(1, 4e9)])
        plain = r.random() < 0.7
        rows.append(HostRow(
            r.choice(["10.0.0.1", "2001:db8::1", "(other hosts)"] if plain else TEXTS),
            r.randrange(10**4), r.randrange(10**12), r.randrange(10), r.randrange(10**6),
            r.randrange(10), r.randrange(10**6), first, last, 0.0, 0.0, 0.0,
            r.choice(["", "tls", "tls dns http"] if plain else TEXTS),
            r.choice([None, 0.0, 12.5, 1e9 / 3]),
            r.choice(["", "host.example."] if plain else TEXTS)))
    return rows


def test_host_lines_are_what_the_csv_module_writes():
    rows = _host_rows(3000, 2)
    expected_rows = [row._replace(peak_rate=csvmod.bits(row.peak_rate)) for row in rows]
    f = io.StringIO(newline="")
    csvmod.write_hosts(f, csv.writer(f), rows)
    assert f.getvalue() == _by_module(expected_rows, csvmod.HOST_COLUMNS)
    # --resolve: the names come from the table, by address text
    names = {"10.0.0.1": "one.example.", "2001:db8::1": "=evil", "a,b": "x"}
    f = io.StringIO(newline="")
    csvmod.write_hosts(f, csv.writer(f), rows, names)
    assert f.getvalue() == _by_module(
        [row._replace(name=names.get(row.address, "")) for row in expected_rows],
        csvmod.HOST_COLUMNS)


def test_plain_text():
    for text in TEXTS + ["10.0.0.1", "2001:db8::1", "a\r", "x=1"]:
        assert csvmod._plain(text) == (not text.startswith(("=", "+", "-", "@", "\t", "\r"))
                                       and not any(ch in text for ch in ',"\r\n'))


def _pair_rows(n: int, seed: int) -> list[PairRow]:
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        first = r.choice(TIMES + [None, r.uniform(1, 4e9)])
        last = r.choice(TIMES + [r.uniform(1, 4e9)])
        plain = r.random() < 0.7
        peaks = r.choice([(None, None), (0.0, 12.5), (1e9 / 3, 1e17), (2.0, 0.1)])
        rows.append(PairRow(
            r.choice(["", "tcp", "udp"] if plain else TEXTS),
            r.choice(["10.0.0.1", "2001:db8::1"] if plain else TEXTS),
            r.choice([None, 0, 53, 65535]),
            r.choice(["10.0.0.2", "fe80::1"] if plain else TEXTS),
            r.choice([None, 1, 443]),
            r.randrange(10**4), r.randrange(10**12), r.randrange(10), r.randrange(10**6),
            None, None, None, 0.0, 0.0, 0.0, *peaks, r.randrange(1, 10**5), first, last))
    return rows


def test_pair_lines_are_what_the_csv_module_writes():
    rows = _pair_rows(3000, 3)
    f = io.StringIO(newline="")
    csvmod.write_pairs(f, csv.writer(f), rows)
    assert f.getvalue() == _by_module(rows, csvmod.PAIR_COLUMNS)


def test_engine_conversation_lines_are_those_of_its_rows():
    """write_engine_conversations (the records, one pass) against write_conversations of
    the engine's rows: TCP flags, both directions, IPv6, no ports, a time before 1 s, and
    application labels a spreadsheet or the csv module would trip on."""
    r = random.Random(4)
    records = []
    for i in range(400):
        src, dst = r.choice([("10.0.0.1", "10.0.0.2"), ("10.0.0.9", "10.0.0.3"),
                             ("2001:db8::2", "2001:db8::1"), ("10.0.0.5", "10.0.0.5")])
        proto = r.choice([6, 6, 17, 1])
        sport, dport = (None, None) if proto == 1 else (40000 + i, r.choice([80, 53, 50000]))
        ts = r.choice([0.25, 1.0, 1000.0 + i / 7, 1700000000.123456 + i])
        for _ in range(r.randrange(1, 4)):
            records.append(record(src, dst, sport, dport, proto=proto, size=r.randrange(60, 1500),
                                  ts=ts, flags=r.choice([0x02, 0x12, 0x10, 0x11, 0x04])))
            src, dst, sport, dport = dst, src, dport, sport
            ts += r.choice([0.0, 0.000001, 0.5])
    engine = Engine(flow_timeout=0)  # the times go back and forth: none expires
    engine.set_interface(0, "eth0", "ether")
    engine.ingest(records)
    engine.fold()
    convs = list(engine.conversations)
    for conv, app in zip(convs, ["a,b", "=cmd", 'q"t', "tls", "two\nlines", "", None] * 100):
        if r.random() < 0.5:
            engine.label(conv, app, "dissector")
    for state in ("active", "expired"):
        f = io.StringIO(newline="")
        csvmod.write_engine_conversations(f, csv.writer(f), engine,
                                          engine.conversation_columns(convs), state)
        g = io.StringIO(newline="")
        csvmod.write_conversations(g, csv.writer(g),
                                   engine.conversation_rows(convs, with_rates=False), state)
        assert f.getvalue() == g.getvalue()
        assert f.getvalue().count("\n") >= len(convs)
