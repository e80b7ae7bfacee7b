"""`--ipfix` against a real collector: nfdump's nfcapd on 127.0.0.1 receives a playback's
records, and `nfdump -o csv` reads back what it stored; added up per direction, they are the
same run's conversations.csv, flow by flow: addresses, ports, protocol, packets and bytes
each way, TCP flags, first and last packet to the second. nfcapd's own count of sequence
errors is 0. A short active timeout makes the long conversations send several records
(deltas that must add up)."""

from __future__ import annotations

import calendar
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
TUIMON = [sys.executable, "-m", "tuimon"]
NFCAPD, NFDUMP = shutil.which("nfcapd"), shutil.which("nfdump")

pytestmark = pytest.mark.skipif(NFCAPD is None or NFDUMP is None,
                                reason="nfcapd/nfdump are not installed (Debian package nfdump)")

# nfdump's flag letters (CWR ECE URG ACK PSH RST SYN FIN) as tuimon writes them
NF_FLAGS = {"C": "C", "E": "E", "U": "U", "A": "A", "P": "P", "R": "R", "S": "S", "F": "F"}
NF_PROTO = {"icmp6": "icmpv6"}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nfcapd(tmp_path):
    """A running nfcapd on 127.0.0.1: (port, its folder, stop() -> its log). Always
    ended, even when the test fails."""
    folder, log = tmp_path / "flows", tmp_path / "nfcapd.log"
    folder.mkdir()
    port = free_udp_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([NFCAPD, "-w", str(folder), "-b", "127.0.0.1", "-p", str(port),
                                 "-t", "3600"], stdout=out, stderr=subprocess.STDOUT)

    def stop() -> str:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # it writes what it holds, then ends
            proc.wait(timeout=20)
        return log.read_text()

    try:
        deadline = time.monotonic() + 10
        while "Startup" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "nfcapd did not start: " + log.read_text()
            time.sleep(0.05)
        yield port, folder, stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def second(iso: str) -> int:
    """Seconds since the epoch of tuimon's ``2015-11-23T08:58:43.954000Z`` (truncated)."""
    return calendar.timegm(time.strptime(iso.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S"))


def nf_second(text: str) -> int:
    return calendar.timegm(time.strptime(text.strip(), "%Y-%m-%d %H:%M:%S"))


def add(flows: dict, convs: dict, key: tuple, packets: int, octets: int, first: int,
        last: int, flags: set) -> None:
    """Into ``flows`` (proto, src, sport, dst, dport) -> (packets, bytes) and ``convs``
    (proto, the two endpoints in order) -> (first second, last second, TCP flags)."""
    p, b = flows.get(key, (0, 0))
    flows[key] = (p + packets, b + octets)
    proto, src, sport, dst, dport = key
    conv = (proto, *sorted([(src, sport), (dst, dport)]))
    f, l, fl = convs.get(conv, (first, last, set()))
    convs[conv] = (min(f, first), max(l, last), fl | flags)


def expected_flows(path: Path) -> tuple[dict, dict]:
    """conversations.csv as directional flows and as conversations (:func:`add`)."""
    flows, convs = {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            proto, a, b = row["protocol"], row["address_a"], row["address_b"]
            pa, pb = int(row["port_a"] or 0), int(row["port_b"] or 0)
            first, last = second(row["first_seen"]), second(row["last_seen"])
            flags = set(row["tcp_flags"]) - {"N"}  # nfdump shows 8 of the 9 bits
            for src, sp, dst, dp, way in ((a, pa, b, pb, "a_to_b"), (b, pb, a, pa, "b_to_a")):
                packets = int(row[f"packets_{way}"])
                if packets:
                    add(flows, convs, (proto, src, sp, dst, dp), packets,
                        int(row[f"bytes_{way}"]), first, last, flags)
    return flows, convs


def collected_flows(folder: Path) -> tuple[dict, dict, int]:
    """What nfcapd stored, added up the same way (:func:`add`); and the records' count."""
    out = subprocess.run([NFDUMP, "-R", str(folder), "-q", "-N", "-o", "csv"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TZ": "UTC"})
    assert out.returncode == 0, out.stderr
    flows, convs, n = {}, {}, 0
    lines = [line for line in out.stdout.splitlines() if line and line[0].isdigit()]
    for line in lines:
        cells = [c.strip() for c in line.split(",")]
        ts, te, _, sa, da, sp, dp, pr, flg, _, _, ipkt, ibyt = cells[:13]
        proto = pr.lower()
        proto = NF_PROTO.get(proto, proto)
        fl = {NF_FLAGS[ch] for ch in flg if ch in NF_FLAGS}
        add(flows, convs, (proto, sa, int(sp), da, int(dp)), int(ipkt), int(ibyt),
            nf_second(ts), nf_second(te), fl if proto == "tcp" else set())
        n += 1
    return flows, convs, n


@pytest.mark.parametrize("capture", ["http_ipv6.pcap", "1kxun.pcap", "dns.pcap", "ssh.pcap"])
def test_nfcapd_stores_the_conversations_of_the_csv(tmp_path, nfcapd, capture):
    port, folder, stop = nfcapd
    out = tmp_path / "out"
    run = subprocess.run([*TUIMON, "-r", str(DATA / capture), "--no-ui", "--csv", str(out),
                          "--ipfix", f"127.0.0.1:{port}", "--ipfix-active", "2"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    time.sleep(0.5)  # loopback delivers at once; nfcapd reads its socket meanwhile
    log = stop()
    want, want_convs = expected_flows(out / "conversations.csv")
    got, got_convs, records = collected_flows(folder)
    assert want, "the capture has conversations"
    assert "Sequence Errors: 0" in log, log
    assert records >= len(want)
    assert set(got) == set(want)
    for key, packets_bytes in want.items():  # packets and bytes each way
        assert got[key] == packets_bytes, key
    assert set(got_convs) == set(want_convs)
    for conv, (first, last, flags) in want_convs.items():  # times to the second, flags
        assert got_convs[conv] == (first, last, flags), conv


def test_active_records_split_long_conversations(tmp_path, nfcapd):
    """With --ipfix-active 2, 1kxun.pcap's longer conversations arrive as several records
    each (and still add up, as the test above checks)."""
    port, folder, stop = nfcapd
    run = subprocess.run([*TUIMON, "-r", str(DATA / "1kxun.pcap"), "--no-ui",
                          "--ipfix", f"127.0.0.1:{port}", "--ipfix-active", "2"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    time.sleep(0.5)
    stop()
    got, _, records = collected_flows(folder)
    assert records > len(got)  # some flows came in more than one record
