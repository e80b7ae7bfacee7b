"""Records skipped as damaged, and why: in the source, the engine, the summary and interfaces.csv.

The damaged captures are real ones from tests/data, cut short or corrupted here.
"""

from __future__ import annotations

import csv
import gzip
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tuimon.capture.file import FileSource
from tuimon.core.engine import Engine
from tuimon.core.ifmeta import reasons_text
from tuimon.capture.source import Source
from tuimon.server.driver import count_source
from tuimon.sinks.csv import INTERFACE_COLUMNS
from tests.support.cut import DATA, cut_mid_record, records_of

TUIMON = [sys.executable, "-m", "tuimon"]


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*TUIMON, *args], capture_output=True, text=True, timeout=60, **kw)


def huge_record(tmp_path: Path) -> Path:
    """smtp.pcap whose 41st record says it holds 10 MB: nothing after it can be trusted."""
    data = bytearray((DATA / "smtp.pcap").read_bytes())
    struct.pack_into("<I", data, records_of(DATA / "smtp.pcap")[40] + 8, 10_000_000)
    path = tmp_path / "smtp-huge.pcap"
    path.write_bytes(bytes(data))
    return path


def pcapng_bad_block(tmp_path: Path) -> Path:
    """mining.pcapng with the length of a block in the middle made odd."""
    data = bytearray((DATA / "mining.pcapng").read_bytes())
    pos, n = 0, 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 6:
            n += 1
            if n == 100:
                struct.pack_into("<I", data, pos + 4, blen + 2)
                break
        pos += blen
    path = tmp_path / "mining-bad.pcapng"
    path.write_bytes(bytes(data))
    return path


def gzip_cut(tmp_path: Path) -> Path:
    """1kxun.pcap, gzip-compressed, the compressed stream cut in half."""
    data = gzip.compress((DATA / "1kxun.pcap").read_bytes())
    path = tmp_path / "1kxun-cut.pcap.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


DAMAGED = {
    "cut": (cut_mid_record, 94, {"truncated final record": 1}),
    "huge": (huge_record, 40, {"record longer than the link type's maximum (file damaged)": 1}),
    "pcapng": (pcapng_bad_block, 99, {"bad pcapng block length (file damaged)": 1}),
}


@pytest.mark.parametrize("kind", DAMAGED)
def test_source_reports_reasons(tmp_path, kind):
    make, packets, reasons = DAMAGED[kind]
    source = FileSource(str(make(tmp_path)))
    assert sum(len(b) for b in source.batches()) == packets
    assert source.skip_reasons() == reasons
    assert source.skip_reasons(0) == reasons and source.skip_reasons(1) == {}
    assert source.skipped() == sum(reasons.values())


@pytest.mark.parametrize("kind", DAMAGED)
def test_interfaces_csv_has_the_reasons_last(tmp_path, kind):
    make, packets, reasons = DAMAGED[kind]
    r = run("-r", str(make(tmp_path)), "--no-ui", "--csv", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "out" / "interfaces.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == INTERFACE_COLUMNS
    # where they were added (at the end of the columns of the time); later ones follow
    assert header[11:13] == ["skipped_records", "skipped_reasons"]
    row = dict(zip(header, rows[0]))
    assert int(row["packets"]) == packets
    assert row["skipped_records"] == "1"
    assert row["skipped_reasons"] == reasons_text(reasons)


@pytest.mark.parametrize("kind", DAMAGED)
def test_summary_prints_the_reasons(tmp_path, kind):
    make, packets, reasons = DAMAGED[kind]
    path = make(tmp_path)
    r = run("-r", str(path), "--no-ui")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()[:2]
    assert first.startswith(f"{packets} packets") and "1 records skipped" in first
    source = FileSource(str(path))
    for _ in source.batches():
        pass
    iface = source.interfaces[0].name  # the file's name, or the name a pcapng gives
    assert second == f"skipped on {iface}: {reasons_text(reasons)}"


def test_truncated_gzip_is_counted_up_to_the_damage(tmp_path):
    """Every record gzip can still decompress is counted: as many as in what zcat salvages."""
    path = gzip_cut(tmp_path)
    salvaged = tmp_path / "salvaged.pcap"
    with open(salvaged, "wb") as out:
        subprocess.run(["zcat", str(path)], stdout=out, stderr=subprocess.DEVNULL, timeout=60)
    expected = sum(len(b) for b in FileSource(str(salvaged)).batches())
    source = FileSource(str(path))
    counted = sum(len(b) for b in source.batches())
    assert 0 < counted == expected < 1723
    assert source.skip_reasons() == {"file unreadable past this point": 1,
                                     "truncated final record": 1}


def test_intact_capture_has_no_reasons(tmp_path):
    r = run("-r", str(DATA / "dns.pcap"), "--no-ui", "--csv", str(tmp_path))
    with open(tmp_path / "interfaces.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (row["skipped_records"], row["skipped_reasons"]) == ("0", "")
    summary = run("-r", str(DATA / "dns.pcap"), "--no-ui").stdout
    assert "skipped on" not in summary and "0 records skipped" in summary


def test_damage_before_any_interface_is_still_reported(tmp_path):
    """A pcapng whose section header is broken: no interface ever, one skipped record."""
    data = bytearray((DATA / "mining.pcapng").read_bytes())
    data[8:12] = b"\x00\x00\x00\x00"  # byte-order magic
    path = tmp_path / "broken.pcapng"
    path.write_bytes(bytes(data))
    r = run("-r", str(path), "--no-ui", "--csv", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "out" / "interfaces.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (row["interface"], row["packets"], row["skipped_records"]) == ("broken.pcapng", "0", "1")
    assert row["skipped_reasons"] == "bad pcapng section header: 1"


def test_reasons_text():
    assert reasons_text({}) == ""
    assert reasons_text({"b": 1, "a": 1, "c": 5, "zero": 0}) == "c: 5; a: 1; b: 1"


def test_engine_keeps_the_reasons_of_each_interface():
    engine = Engine()
    engine.set_interface(0, "eth0", "ether", 0, 3, {"truncated final record": 1, "x": 2})
    engine.set_interface(1, "eth1", "ether")
    rows = engine.snapshot().interfaces
    assert [(r.skipped_records, r.skipped_reasons) for r in rows] == \
        [(3, "x: 2; truncated final record: 1"), (0, "")]
    assert engine.snapshot().totals.skipped_records == 3


def test_session_takes_reasons_per_interface():
    from tuimon.capture.reader import Interface

    class Two(Source):
        name = "two"
        interfaces = [Interface(0, 1, "a"), Interface(1, 1, "b")]

        def skip_reasons(self, index=None):
            per = {0: {}, 1: {"truncated final record": 1}}
            return per[index] if index is not None else per[1]

        def batches(self):
            yield []

    session = count_source(Two())
    rows = session.engine.snapshot().interfaces
    assert [(r.interface, r.skipped_records, r.skipped_reasons) for r in rows] == \
        [("a", 0, ""), ("b", 1, "truncated final record: 1")]


def test_a_source_that_says_nothing_of_skipped_records_has_none():
    # Every source implements the Source protocol (tuimon.capture.source): one that does
    # not override skip_reasons() skipped nothing; nothing probes for other methods.
    from tuimon.capture.reader import Interface

    class Quiet(Source):
        name = "quiet"
        interfaces = [Interface(0, 1, "a")]

        def batches(self):
            yield []

    session = count_source(Quiet())
    [row] = session.engine.snapshot().interfaces
    assert (row.skipped_records, row.skipped_reasons) == (0, "")
    assert Quiet().skipped() == 0
