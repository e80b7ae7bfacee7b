"""The CSV writers' own line formatting (conversations.csv, hosts.csv and pairs.csv: lines
made at once, for speed) against the csv module writing the same rows cell by cell, and
conversations.csv written from the engine's records against its rows: byte for byte the
same, odd text (commas, quotes, line breaks, formula starts) and odd times included."""

from __future__ import annotations

import csv
import io
import random

import numpy as np
import pytest

from tests.conftest import record
from tuimon import timefmt
from tuimon.capture import cwalk
from tuimon.core.engine import Engine
from tuimon.core.model import ConversationRow, HostRow
from tuimon.core.pairs import PairRow
from tuimon.sinks import csv as csvmod
from tuimon.sinks import csvlines

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


def test_engine_conversation_lines_are_those_of_its_rows(line_writer):
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


@pytest.fixture(params=["compiled", "python"])
def line_writer(request, monkeypatch):
    """conversations.csv's lines written by the compiled stage (sinks/csvlines.py), or by
    Python (the compiled stage taken away)."""
    if request.param == "python":
        monkeypatch.setattr(csvmod, "walker", lambda: None)
    elif csvmod.walker() is None:
        pytest.skip(f"no compiled stage here: {cwalk.status()}")
    return request.param


def test_engine_lines_past_the_compiled_range(line_writer):
    """Times the compiled stage does not write (past the year 9999, before 1970 can't
    come from a capture's engine here) go through the Python path, in their place."""
    engine = Engine(flow_timeout=0)
    engine.set_interface(0, "eth0", "ether")
    times = [1700000000.5, 253402300799.5, 253402300800.0, 3e11, 0.0, 0.5000005,
             1.0000005, 1700000000.0000005, 1700000000.0000015]
    engine.ingest([record("10.0.0.1", "10.0.0.2", 1000 + i, 80, ts=ts, flags=0x02)
                   for i, ts in enumerate(times)])
    engine.fold()
    convs = list(engine.conversations)
    f = io.StringIO(newline="")
    csvmod.write_engine_conversations(f, csv.writer(f), engine,
                                      engine.conversation_columns(convs))
    g = io.StringIO(newline="")
    csvmod.write_conversations(g, csv.writer(g), engine.conversation_rows(convs, with_rates=False))
    assert f.getvalue() == g.getvalue()
    assert "+10000-01-01T00:00:00.000000Z" in f.getvalue()
    assert "9999-12-31T23:59:59.500000Z" in f.getvalue()


def test_compiled_times_are_iso_utc():
    """The compiled stage's times against timefmt.iso_utc, ties of half a microsecond
    (rounded to even, as Python's round) and random ones, 1970 to 9999."""
    walk = csvmod.walker()
    if walk is None:
        pytest.skip(f"no compiled stage here: {cwalk.status()}")
    r = random.Random(5)
    times = [0.0, 1e-6, 5e-7, 1.5e-6, 2.5e-6, 59.9999995, 86399.9999995, 951782400.0,
             253402300799.5]
    times += [r.randrange(0, 253402300800) + r.randrange(10**6) / 1e6 for _ in range(3000)]
    times += [r.uniform(0, 2e9) for _ in range(3000)]
    times += [(r.randrange(2 * 10**15) + 0.5) / 1e6 for _ in range(1000)]
    n = len(times)
    keys = np.zeros((n, 5), dtype=np.uint64)
    keys[:, 0] = np.uint64(17 << 33)
    cols = {"keys": keys, "fwd": np.ones(n, np.bool_), "first": np.array(times),
            "last": np.array(times[1:] + times[:1]), "six": np.full(2 * n, -1, np.int64)}
    for name in ("ab_p", "ab_b", "ba_p", "ba_b", "flags", "service", "app", "app_src"):
        cols[name] = np.zeros(n, np.int64)
    table = csvlines.TextTable(lambda p: "udp", [None], "active", csvmod.cell)
    cols["service"] += table.names_base
    cols["app"] += table.names_base
    cols["app_src"] += table.src_base
    texts, toff = table.arrays()
    out = np.empty(n * table.longest_line(), np.uint8)
    done, used, why = walk.csv_conversations(cols, 0, texts, toff, (table.proto_base,
                                             table.flags_base, table.tail), out,
                                             table.longest_line())
    assert (done, why) == (n, 0)
    lines = out[:used].tobytes().decode().split("\r\n")[:-1]
    assert [line.split(",")[9:11] for line in lines] == [
        [timefmt.iso_utc(a), timefmt.iso_utc(b)] for a, b in zip(times, times[1:] + times[:1])]
