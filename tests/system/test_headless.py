"""The headless contract: `tuimon -r FILE --no-ui [--csv DIR]`, its files, its errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tuimon.sinks import csv as csv_export

DATA = Path(__file__).resolve().parents[1] / "data"
TUIMON = [sys.executable, "-m", "tuimon"]


def run(*args, **kw):
    return subprocess.run([*TUIMON, *args], capture_output=True, text=True, timeout=60, **kw)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


def test_csv_files_and_columns(tmp_path):
    result = run("-r", str(DATA / "http_ipv6.pcap"), "--no-ui", "--csv", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert header(out / "interfaces.csv")[:3] == ["interface", "packets", "bytes"]
    assert header(out / "hosts.csv")[:9] == ["address", "packets", "bytes", "tx_packets", "tx_bytes",
                                             "rx_packets", "rx_bytes", "first_seen", "last_seen"]
    assert header(out / "protocols.csv")[:3] == ["protocol", "packets", "bytes"]
    assert header(out / "conversations.csv")[:11] == [
        "protocol", "address_a", "port_a", "address_b", "port_b", "packets_a_to_b", "bytes_a_to_b",
        "packets_b_to_a", "bytes_b_to_a", "first_seen", "last_seen"]
    hosts = rows(out / "hosts.csv")
    assert any(h["address"] == "2a00:1450:4001:803::1017" for h in hosts)  # compressed IPv6
    assert all(h["first_seen"].endswith("Z") and "T" in h["first_seen"] for h in hosts)
    protocols = {r["protocol"] for r in rows(out / "protocols.csv")}
    assert {"tcp", "ipv6"} <= protocols
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_csv_files_are_made_as_the_umask_says(tmp_path, umask):
    """Like a shell redirection or tshark -w: readable by others under umask 022 (a cron
    job's report for a web server), private under 077."""
    out = tmp_path / "out"
    result = subprocess.run([*TUIMON, "-r", str(DATA / "dns.pcap"), "--no-ui", "--csv", str(out)],
                            capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0, result.stderr
    for name in ("interfaces.csv", "hosts.csv", "protocols.csv", "conversations.csv",
                 "counters.csv", "alerts.csv"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_summary_without_csv():
    result = run("-r", str(DATA / "dns.pcap"), "--no-ui")
    assert result.returncode == 0
    assert result.stdout.startswith("5 packets")
    assert "192.168.170.8" in result.stdout


def written(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make,needle", [
    (lambda p: p / "missing.pcap", "no such file"),
    (lambda p: p, "is a directory"),
    (lambda p: written(p / "empty.pcap", b""), "empty file"),
    (lambda p: written(p / "text.pcap", b"GET / HTTP/1.1\r\n" * 10), "not a pcap or pcapng"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, needle):
    result = run("-r", str(make(tmp_path)), "--no-ui")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("tuimon: ")


def test_unwritable_csv_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("-r", str(DATA / "dns.pcap"), "--no-ui", "--csv", str(blocker / "sub"))
    assert result.returncode == 2 and "cannot save CSV" in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "hosts.csv"
    csv_export.write_csv(str(path), ["address"], [type("R", (), {"address": "1.2.3.4"})()])
    before = path.read_text()

    class Boom:
        @property
        def address(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        csv_export.write_csv(str(path), ["address"], [Boom()])
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["hosts.csv"]


def test_formula_cells_are_escaped():
    assert csv_export.cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert [csv_export.cell(v) for v in ("+1", "-1", "@x", "\tx", "\rx")] == \
        ["'+1", "'-1", "'@x", "'\tx", "'\rx"]
    assert csv_export.cell("eth0") == "eth0" and csv_export.cell(5) == 5


def test_iso_time_is_utc_with_microseconds():
    assert csv_export.iso_time(0.0000015) == "1970-01-01T00:00:00.000002Z"
    assert csv_export.iso_time(1_700_000_000.999_999_7) == "2023-11-14T22:13:21.000000Z"


def test_self_addressed_frame_counts_once_in_total_and_once_each_way(tmp_path):
    cap = tmp_path / "self.pcap"
    pb.write_pcap(cap, [pb.eth(pb.ipv4("10.9.9.9", "10.9.9.9", 17, pb.udp(7, 7, b"x" * 10)))])
    assert run("-r", str(cap), "--no-ui", "--csv", str(tmp_path / "o")).returncode == 0
    (host,) = rows(tmp_path / "o" / "hosts.csv")
    assert [host[k] for k in ("packets", "tx_packets", "rx_packets", "bytes", "tx_bytes", "rx_bytes")] \
        == ["1", "1", "1", "52", "52", "52"]
