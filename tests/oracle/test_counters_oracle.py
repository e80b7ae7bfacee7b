"""Named counters against Wireshark: each counter's packets and bytes equal the frames and
summed ``frame.len`` of tshark's display filter meaning the same expression.

Fed three ways: a file's batches as the playback reads them (columns for the common
frames, tuples for the rest), the same batches as record tuples only, and the real CLI
(``--no-ui --csv``, reading counters.csv back). The captures are pcap and pcapng ones with
IPv4, IPv6, fragments, ICMP and a port scan. Tunnel captures (6in4, 4in4, vxlan, gre) are
left out on purpose: a display filter's ``ip.addr`` or ``tcp.port`` also matches the
inner headers, a counter only the outermost one (as every other tuimon figure).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from tests.support import oracle
from tuimon.capture.columns import PacketColumns
from tuimon.capture.file import FileSource
from tuimon.cli import main
from tuimon.core.counters import Counters
from tuimon.core.engine import Engine
from tuimon.server.counterspec import compile_all

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = ["netflix.pcap", "teams.pcap", "dns_fragmented.pcap", "http_ipv6.pcap",
            "synscan.pcap", "icmp-tunnel.pcap", "lru_ipv6_caches.pcapng", "mining.pcapng",
            "quic-v2.pcapng", "bets.pcapng"]
COLUMNAR = ("netflix.pcap", "teams.pcap", "mining.pcapng")  # mostly Ethernet + IPv4
# (name, tuimon expression, tshark display filter): the same traffic
FIXED = [
    ("tls", "port 443", "tcp.port==443 || udp.port==443"),
    ("dns", "proto domain", "tcp.port==53 || udp.port==53"),
    ("tcp", "proto tcp", "tcp || (ip.proto==6 && !ipv6) || ipv6.nxt==6"),
    ("v6", "proto ipv6", "ipv6"),
    ("icmp", "proto icmp", "icmp || icmpv6"),
    ("other", "not (port 443 or port 80) and proto ip",
     "ip && !(tcp.port==443 || udp.port==443 || tcp.port==80 || udp.port==80)"),
]


def cases(path: str) -> list[tuple[str, str, str]]:
    """FIXED, and the capture's busiest source address in a host term."""
    out = list(FIXED)
    rows = oracle.tshark_lines(path)
    top = Counter(r[3] for r in rows if len(r) > 3 and r[3]).most_common(1)
    if top:
        addr = top[0][0].split(",")[0]
        out.append(("busiest", f"host {addr} and not port 80",
                    f"ip.addr=={addr} && !(tcp.port==80 || udp.port==80)"))
        net = ".".join(addr.split(".")[:2]) + ".0.0/16"
        out.append(("net16", f"net {net} or port 53",
                    f"ip.addr=={net} || tcp.port==53 || udp.port==53"))
    top6 = Counter(r[5] for r in rows if len(r) > 5 and r[5]).most_common(1)
    if top6:
        addr = top6[0][0].split(",")[0]
        out.append(("busiest6", f"host {addr}", f"ipv6.addr=={addr}"))
    return out


def expected(path: str, display_filter: str) -> tuple[int, int]:
    """Frames and frame bytes of the display filter: tshark's io,stat over every case of
    the capture at once (one pass; cached for the session)."""
    filters = [f for _, _, f in cases(path)]
    return dict(zip(filters, oracle.filter_counts(path, filters)))[display_filter]


def counted(path: str, pairs, tuples: bool) -> dict:
    engine = Engine()
    engine.set_dissection(0)
    engine.counters = Counters(compile_all(pairs))
    columns = 0
    for batch in FileSource(path).batches():
        if isinstance(batch, PacketColumns):
            columns += 1
            if tuples:
                batch = batch.records()
        engine.ingest(batch)
    if path.endswith(COLUMNAR):
        assert columns, "playback reads columns: the columnar path is exercised"
    return {r.name: (r.packets, r.bytes) for r in engine.counters.rows()}


@pytest.mark.parametrize("tuples", [False, True], ids=["columns", "tuples"])
@pytest.mark.parametrize("name", CAPTURES)
def test_counters_equal_tshark_display_filters(name, tuples):
    path = str(DATA / name)
    todo = cases(path)
    got = counted(path, [(n, e) for n, e, _ in todo], tuples)
    wrong = {n: (got[n], expected(path, f)) for n, _, f in todo if got[n] != expected(path, f)}
    assert not wrong, f"{name}: counter (ours, tshark's): {wrong}"
    assert any(got[n][0] for n, _, _ in todo), "some counter counted something"


@pytest.mark.parametrize("name", ["teams.pcap", "lru_ipv6_caches.pcapng"])
def test_counters_csv_through_the_cli(name, tmp_path):
    path = str(DATA / name)
    todo = cases(path)
    args = ["-r", path, "--no-ui", "--csv", str(tmp_path), "--dissect-packets", "0",
            "--no-history"]
    for n, e, _ in todo:
        args += ["--counter", f"{n}={e}"]
    assert main(args) == 0
    with open(tmp_path / "counters.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert list(rows) == [n for n, _, _ in todo]
    for n, e, f in todo:
        assert rows[n]["expression"] == e
        assert (int(rows[n]["packets"]), int(rows[n]["bytes"])) == expected(path, f), n
        assert rows[n]["total_packets"] == rows[n]["packets"] and rows[n]["resets"] == "0"
