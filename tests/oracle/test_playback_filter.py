"""Capture filters on playback: ``tuimon -r FILE -f EXPR`` counts what libpcap selects.

Two oracles. libpcap itself, by another road: ``tcpdump -r FILE -w OUT EXPR`` writes the
selection to a file, which we then read without a filter; both runs must give the same
tables, for every capture in tests/data. And Wireshark, independently of libpcap: tshark's
display filter (its own dissectors, a different filter language) on expressions where the
two languages mean the same thing -- BPF looks at the outermost headers only, so packets
such as ICMP errors quoting a UDP header are excluded explicitly on the tshark side.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pcapbuild as pb
from tuimon.capture.file import FileSource
from tuimon.cli import main
from tuimon.errors import BadCaptureFilter, CaptureToolMissing

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
TUIMON = [sys.executable, "-m", "tuimon"]

pytestmark = pytest.mark.skipif(shutil.which("tcpdump") is None and
                                shutil.which("tcpdump", path="/usr/sbin") is None,
                                reason="tcpdump is not installed (apt-get install tcpdump)")
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*TUIMON, *args], capture_output=True, timeout=120, **kw)


def tables(folder: Path, with_names: bool = True) -> dict:
    """The four CSV files, rows as tuples (interface names left out unless asked)."""
    out = {}
    for name in ("interfaces", "hosts", "protocols", "conversations"):
        with open(folder / f"{name}.csv", newline="") as f:
            rows = list(csv.reader(f))
        if name == "interfaces" and not with_names:
            rows = [row[1:] for row in rows]
        out[name] = rows
    return out


def headless(capture, folder: Path, *args: str) -> dict:
    assert main(["-r", str(capture), *args, "--no-ui", "--dissect-packets", "0",
                 "--csv", str(folder)]) == 0
    return tables(folder)


def tcpdump_select(capture: Path, expr: str, out: Path) -> Path:
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), "--", expr],
                   capture_output=True, check=True, timeout=120)
    return out


@pytest.mark.parametrize("expr", ["tcp", "udp port 53 or icmp or icmp6", "not ip"])
@pytest.mark.parametrize("name", CAPTURES)
def test_counts_equal_what_tcpdump_selects(name, expr, tmp_path):
    selected = tcpdump_select(DATA / name, expr, tmp_path / "selected.pcap")
    ours = headless(DATA / name, tmp_path / "filtered", "-f", expr)
    theirs = headless(selected, tmp_path / "oracle")
    # The interface is named after the file read; everything else must be identical.
    ours["interfaces"] = [row[1:] for row in ours["interfaces"]]
    theirs["interfaces"] = [row[1:] for row in theirs["interfaces"]]
    assert ours == theirs


@needs_tshark
@pytest.mark.parametrize("name, bpf, display", [
    ("smtp.pcap", "tcp port 25", "tcp.port == 25"),
    ("dns.pcap", "udp port 53", "udp.port == 53 && !vlan"),  # BPF needs "vlan" to look inside
    ("http_ipv6.pcap", "ip6 and tcp", "ipv6 && tcp"),
    ("quic.pcap", "udp port 443", "udp.port == 443"),
    ("1kxun.pcap", "not tcp", "!tcp"),
    ("teams.pcap", "udp and not port 53", "udp && !(udp.port == 53) && !icmp"),
    ("netflix.pcap", "tcp port 443", "tcp.port == 443"),
    ("mining.pcapng", "tcp", "tcp"),
    ("ssh.pcap", "tcp[tcpflags] & tcp-syn != 0", "tcp.flags.syn == 1"),
    ("tls-appdata.pcap", "src net 192.168.0.0/16", "ip.src == 192.168.0.0/16"),
    ("rdp.pcap", "greater 1000", "frame.len >= 1000"),
])
def test_counts_equal_what_wireshark_selects(name, bpf, display, tmp_path):
    headless(DATA / name, tmp_path, "-f", bpf)
    with open(tmp_path / "interfaces.csv", newline="") as f:
        ours = {i: [int(r["packets"]), int(r["bytes"])]
                for i, r in enumerate(csv.DictReader(f)) if int(r["packets"])}
    theirs = oracle.figures(str(DATA / name), display)["interfaces"]
    assert theirs, "the display filter selects nothing: a useless case"
    assert ours == theirs


@pytest.mark.parametrize("expr, words", [
    ("tcp and (", ["can't parse filter expression", "syntax error"]),
    ("tcp port 99999", ["99999"]),
    ("tcp portrange 9-", ["syntax error"]),
])
def test_bad_filter_is_one_line_exit_2_before_anything(tmp_path, expr, words):
    out = tmp_path / "out"
    r = run("-r", str(DATA / "smtp.pcap"), "-f", expr, "--no-ui", "--csv", str(out), text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    assert r.stderr.startswith(f"tuimon: bad capture filter {expr!r}: ")
    assert "Traceback" not in r.stderr
    for word in words:
        assert word in r.stderr
    assert not out.exists()


def test_bad_filter_raises_before_reading(tmp_path):
    with pytest.raises(BadCaptureFilter):
        FileSource(str(DATA / "dns.pcap"), capture_filter="udp and (")


def test_link_type_decides_whether_a_filter_compiles(tmp_path):
    """'ether host' has no meaning on raw IP: libpcap says so against the file's link type."""
    raw = tmp_path / "raw.pcap"
    pb.write_pcap(raw, [pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1, 2, b"x"))], linktype=101)
    r = run("-r", str(raw), "-f", "ether host 02:00:00:00:00:01", "--no-ui", text=True)
    assert r.returncode == 2 and r.stderr.startswith("tuimon: bad capture filter")
    assert run("-r", str(raw), "-f", "udp", "--no-ui").returncode == 0


def test_gzip_and_stdin_with_a_filter(tmp_path):
    raw = (DATA / "1kxun.pcap").read_bytes()
    gz = tmp_path / "1kxun.pcap.gz"
    gz.write_bytes(gzip.compress(raw))
    expected = headless(DATA / "1kxun.pcap", tmp_path / "plain", "-f", "udp")
    assert int(expected["interfaces"][1][1]) > 0
    assert headless(gz, tmp_path / "gz", "-f", "udp") == {
        **expected, "interfaces": [expected["interfaces"][0],
                                   ["1kxun.pcap.gz", *expected["interfaces"][1][1:]]]}
    for name, data in (("stdin", raw), ("stdin-gz", gzip.compress(raw))):
        r = run("-r", "-", "-f", "udp", "--no-ui", "--dissect-packets", "0", "--csv",
                str(tmp_path / name), input=data)
        assert r.returncode == 0, r.stderr
        got = tables(tmp_path / name)
        assert got["interfaces"][1][0] == "stdin"
        assert tables(tmp_path / name, with_names=False) == tables(tmp_path / "plain",
                                                                    with_names=False)


def test_unfiltered_gzip_on_stdin(tmp_path):
    raw = (DATA / "dns.pcap").read_bytes()
    r = run("-r", "-", "--no-ui", input=gzip.compress(raw), text=False)
    assert r.returncode == 0 and r.stdout.startswith(b"5 packets")


def test_nanosecond_timestamps_survive_the_filter(tmp_path):
    path = tmp_path / "nano.pcap"
    frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1, 2, b"x")))
    pb.write_pcap(path, [(1_700_000_000.123456789, frame), (1_700_000_001.000000001, frame)],
                  nano=True)
    plain = [r[:3] for batch in FileSource(str(path)).batches() for r in batch]
    filtered = [r[:3] for batch in FileSource(str(path), capture_filter="udp").batches()
                for r in batch]
    assert filtered == plain and len(plain) == 2


def test_a_pcapng_becomes_one_interface(tmp_path):
    """libpcap writes pcap: the file's interfaces come out as one, named after the file."""
    path = tmp_path / "two.pcapng"
    frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 6, pb.tcp(1, 2)))
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 1, "name": "eth1"}],
                    [(0, 1, frame), (1, 2, frame), (1, 3, frame)])
    got = headless(path, tmp_path / "out", "-f", "tcp")
    assert [row[:3] for row in got["interfaces"][1:]] == [["two.pcapng", "3", str(3 * len(frame))]]


def test_missing_tcpdump_is_one_line(tmp_path):
    with pytest.raises(CaptureToolMissing, match="apt-get install tcpdump"):
        FileSource(str(DATA / "dns.pcap"), capture_filter="udp", tcpdump="/nonexistent/tcpdump")
    r = run("-r", str(DATA / "dns.pcap"), "-f", "udp", "--no-ui", text=True,
            env={"PATH": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr == ("tuimon: tcpdump not found: capture filters on playback need it "
                        "(apt-get install tcpdump)\n")


@pytest.mark.parametrize("content, needle", [
    (b"", "empty file"),
    (b"GET / HTTP/1.1\r\n" * 10, "not a pcap or pcapng"),
    (b"\x1f\x8bgarbage, not gzip", "cannot read"),
])
def test_not_a_capture_is_the_same_error_with_a_filter(tmp_path, content, needle):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    r = run("-r", str(path), "-f", "tcp", "--no-ui", text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr


def _cut(name: str, tmp_path: Path, drop: int) -> Path:
    data = (DATA / name).read_bytes()
    path = tmp_path / f"cut-{name}"
    path.write_bytes(data[:-drop])
    return path


def _bad_length(tmp_path: Path) -> Path:
    """smtp.pcap with its 11th record claiming 10 MB: reading stops there."""
    data = bytearray((DATA / "smtp.pcap").read_bytes())
    pos = 24
    for _ in range(10):
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    struct.pack_into("<I", data, pos + 8, 10_000_000)
    path = tmp_path / "biglen.pcap"
    path.write_bytes(bytes(data))
    return path


def _gzip_cut(tmp_path: Path) -> Path:
    data = gzip.compress((DATA / "1kxun.pcap").read_bytes())
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make, skipped", [
    (lambda t: _cut("smtp.pcap", t, 10), 1),
    (lambda t: _cut("mining.pcapng", t, 7), 1),
    (_bad_length, 1),
    (_gzip_cut, 2),  # the gzip stream stops, and the record it stops in is cut
])
def test_damage_is_reported_as_without_a_filter(tmp_path, make, skipped):
    path = make(tmp_path)
    plain = FileSource(str(path))
    plain_records = [r for batch in plain.batches() for r in batch]
    filtered = FileSource(str(path), capture_filter="ip or ip6 or not ip")
    filtered_records = [r for batch in filtered.batches() for r in batch]
    assert len(filtered_records) == len(plain_records) > 0
    assert filtered.skip_reasons() == plain.skip_reasons()
    assert sum(plain.skip_reasons().values()) == skipped


def test_interfaces_of_several_link_types_stop_libpcap(tmp_path):
    path = tmp_path / "mixed.pcapng"
    frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 6, pb.tcp(1, 2)))
    pb.write_pcapng(path, [{"linktype": 1}, {"linktype": 101}],
                    [(0, 1, frame), (1, 2, frame[14:]), (0, 3, frame)])
    r = run("-r", str(path), "-f", "tcp", "--no-ui", "--csv", str(tmp_path / "out"), text=True)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "out" / "interfaces.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["skipped_records"] == "1"
    assert "another link type" in row["skipped_reasons"]


def test_tcpdump_is_gone_after_the_source_closes():
    source = FileSource(str(DATA / "1kxun.pcap"), capture_filter="tcp", chunk=4096)
    batches = source.batches()
    next(batches)
    proc = source._filtered.proc
    batches.close()  # leaving early, as a stopped player does
    assert proc.poll() is not None
