"""Named counters: the command line's errors, the atomic read-and-reset under a steady
stream, and the three ways a batch is counted (groups, numpy masks, record tuples)
agreeing with the plain per-record predicates."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tuimon.capture.columns import PacketColumns
from tuimon.capture.file import FileSource
from tuimon.core.counters import Counters, predicate
from tuimon.core.engine import Engine
from tuimon.server.counterspec import compile_all
from tuimon.server.protocol import ResetCounters, CountersReset
from tuimon.server.service import EngineService
from tuimon.config import Config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

BAD = [
    (["--counter", "web"], "counter 'web': write it NAME=EXPR"),
    (["--counter", "a b=port 1"], "counter 'a b': a name is"),
    (["--counter", "x=port 99999"], "counter 'x': port: 99999 is out of range"),
    (["--counter", "x=host nothere"], "counter 'x': host: 'nothere' is not an IP address"),
    (["--counter", "x=proto tls"], "counter 'x': 'proto tls' is known only after tshark"),
    (["--counter", "x=hello"], "counter 'x': 'hello' is not a counter term"),
    (["--counter", "x=port 1 and"], "counter 'x': 'and' needs something after it"),
    (["--counter", "x="], "counter 'x': no expression"),
    (["--counter", "x=port 1", "--counter", "x=port 2"], "counter 'x': the name is given twice"),
    (["--counters", "/nonexistent/counters"], "--counters /nonexistent/counters: No such file"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m[:24] for _, m in BAD])
def test_a_bad_counter_is_one_line_and_exit_2(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(DATA / "dns.pcap"),
                           "--no-ui", "--csv", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("tuimon: " + message), lines[0]
    assert not (tmp_path / "out").exists(), "nothing started"


def test_a_counters_file_names_its_bad_line(tmp_path):
    f = tmp_path / "counters"
    f.write_text("# mine\nweb = port 443  # https\n\ndns = proto domain\nbad = net 10.0.0.0/99\n")
    proc = subprocess.run([sys.executable, "-m", "tuimon", "--counters", str(f), "--no-ui"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"tuimon: counter 'bad': net: '10.0.0.0/99' is not a "
                                   f"network like 10.0.0.0/8")
    f.write_text("web = port 443\nno equals here\n")
    proc = subprocess.run([sys.executable, "-m", "tuimon", "--counters", str(f), "--no-ui"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(f"tuimon: {f}:2: counter ")


SPECS = [("web", "port 443"), ("dns", "port 53 or proto domain"), ("tcp", "proto tcp"),
         ("v6", "proto ipv6"), ("icmp", "proto icmp"), ("net", "net 10.0.0.0/8"),
         ("not", "not (port 443 or proto udp)"), ("fam4", "proto ip and not host 10.1.2.3"),
         ("net6", "net 2001:db8::/32 or host ::1"), ("h6", "host 2a00:d40:1:3:7aac:c0ff:fea7:d4c"),
         ("n6a", "net 2a00:1450::/32"), ("n6b", "net 2a03:b0c0:3:d0::/96"),
         ("n6c", "net 2a00:d40:1:3:7aac:c0ff:fea7:d00/120"), ("ll", "net fe80::/10")]


def batches(name: str) -> list:
    return list(FileSource(str(DATA / name)).batches())


@pytest.mark.parametrize("name", ["netflix.pcap", "teams.pcap", "http_ipv6.pcap"])
def test_groups_masks_and_tuples_count_the_same(name, monkeypatch):
    import tuimon.core.counters as counters

    monkeypatch.setattr(counters, "GROUPS_RATIO", 0)  # the engine's groups, however many
    specs = compile_all(SPECS)
    plain = [0] * len(specs), [0] * len(specs)
    preds = [predicate(s.tree) for s in specs]
    grouped, masked, tupled = Counters(specs), Counters(specs), Counters(specs)
    engine = Engine()
    engine.set_dissection(0)
    engine.counters = grouped  # through Engine.ingest: the fast rows' groups
    for batch in batches(name):
        engine.ingest(batch)
        masked.ingest(batch)  # no groups: numpy masks
        records = batch.records() if isinstance(batch, PacketColumns) else batch
        tupled.ingest(records)
        for rec in records:
            for i, pred in enumerate(preds):
                if pred(rec[3]):
                    plain[0][i] += 1
                    plain[1][i] += rec[2]
    for c in (grouped, masked, tupled):
        assert (c.packets, c.bytes) == plain
    assert any(plain[0])
    if name == "http_ipv6.pcap":
        assert all(plain[0][-5:-1])  # the IPv6 hosts and nets (not the link-local one) met


def test_reset_under_a_steady_stream_loses_nothing_and_counts_nothing_twice():
    """A batch at a time, resets at random points between batches: the figures read at
    each reset plus what is left add up to the total, packet for packet and byte for
    byte, and each counter's total is unchanged by the resets."""
    rng = random.Random(16)
    specs = compile_all(SPECS)
    all_batches = batches("netflix.pcap") + batches("http_ipv6.pcap")
    # a steady stream: the batches cut into small slices, counted again and again
    stream = []
    for _ in range(3):
        for batch in all_batches:
            n = len(batch)
            cuts = sorted(rng.sample(range(1, n), min(40, n - 1))) if n > 1 else []
            stream += [batch[a:b] for a, b in zip([0, *cuts], [*cuts, n])]
    reference = Counters(specs)
    engine = Engine()
    engine.set_dissection(0)
    engine.counters = Counters(specs)
    read_p, read_b = [0] * len(specs), [0] * len(specs)
    resets = 0
    for part in stream:
        engine.ingest(part)
        reference.ingest(part)
        if rng.random() < 0.3:
            names = None if rng.random() < 0.3 else [rng.choice(specs).name]
            for row in engine.counters.reset(names):
                i = [s.name for s in specs].index(row.name)
                read_p[i] += row.packets
                read_b[i] += row.bytes
            resets += 1
    assert resets > 10
    final = engine.counters.rows()
    for i, row in enumerate(final):
        assert read_p[i] + row.packets == reference.packets[i] == row.total_packets
        assert read_b[i] + row.bytes == reference.bytes[i] == row.total_bytes
    assert any(r.resets for r in final) and any(reference.packets)


def test_reset_through_the_service_returns_the_figures_at_that_instant():
    config = Config(read=str(DATA / "netflix.pcap"), dissect_packets=0, no_history=True,
                    counters=(("web", "port 443"), ("dns", "port 53")))
    service = EngineService(config)
    assert service.run_all().state == "finished"
    before = {r.name: r for r in service.engine.counters.rows()}
    reply = service.handle(ResetCounters(("web",), seq=7))
    assert isinstance(reply, CountersReset) and reply.seq == 7 and reply.error is None
    (row,) = reply.rows
    assert (row.name, row.packets, row.bytes) == ("web", before["web"].packets,
                                                  before["web"].bytes) and row.packets > 0
    after = {r.name: r for r in service.engine.counters.rows()}
    assert after["web"].packets == 0 and after["web"].total_packets == row.packets
    assert after["web"].resets == 1 and after["web"].since == service.engine.now
    assert after["dns"] == before["dns"]  # the other one untouched
    reply = service.handle(ResetCounters(None))
    assert [r.name for r in reply.rows] == ["web", "dns"] and reply.rows[0].packets == 0


def test_counters_are_refused_with_the_conntrack_source():
    proc = subprocess.run([sys.executable, "-m", "tuimon", "--source", "conntrack", "--no-ui",
                           "--counter", "web=port 443"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tuimon: named counters count captured packets: --counter and --counters do not go "
        "with --source conntrack (its flows have no packets of their own to match)"]
