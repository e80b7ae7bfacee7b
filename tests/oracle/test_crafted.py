"""Crafted captures (issue 19) against tshark: pcap before format 2.3 (lengths the other
way round), forged wire lengths, far timestamps, records longer than Wireshark reads. The
same interface, host and conversation figures as tshark's dissection of the same file."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import crafted as c
from tests.support import oracle
from tests.support.figures import assert_same
from tuimon.capture.file import FileSource
from tuimon.capture.reader import TOO_LONG, max_record

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def tshark_fields(path, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for field in fields:
        cmd += ["-e", field]
    return [line.split("\t") for line in oracle._cached(cmd, str(path)).splitlines()]


def our_records(path) -> list:
    return [r for batch in FileSource(str(path)).batches() for r in batch]


@pytest.mark.parametrize("version", [(2, 0), (2, 3)])
def test_old_pcap_lengths_as_wireshark(tmp_path, version):
    path = c.swapped_lengths_pcap(tmp_path / "old.pcap", version)
    theirs = [(int(n), int(cap)) for n, cap in tshark_fields(path, "frame.len", "frame.cap_len")]
    assert theirs == [(r[2], r[7] - r[6]) for r in our_records(path)] == [(142, 54)] * 3
    assert_same(path, tmp_path / "out")


@pytest.mark.parametrize("make", [c.forged_lengths_pcap, c.forged_lengths_pcapng])
def test_forged_lengths_as_wireshark(tmp_path, make):
    path = make(tmp_path / "forged")
    theirs = [int(n) for (n,) in tshark_fields(path, "frame.len")]
    assert theirs == [r[2] for r in our_records(path)] == [0x7FFFFFFF] * 3 + [len(c.UDP)]
    assert_same(path, tmp_path / "out")


@pytest.mark.parametrize("name", c.FAR_TIMES)
def test_far_timestamps_as_wireshark(tmp_path, name):
    path = c.far_time_pcapng(tmp_path, name)
    theirs = [float(t) for (t,) in tshark_fields(path, "frame.time_epoch")]
    ours = [r[1] for r in our_records(path)]
    assert len(theirs) == len(ours) == 2
    assert ours == pytest.approx(theirs, rel=1e-15)
    assert_same(path, tmp_path / "out")


def test_the_record_bomb_as_wireshark(tmp_path):
    """tshark: "File has 4294967280-byte packet, bigger than maximum of 262144", no frame."""
    path = c.record_bomb(tmp_path / "bomb.pcap", zeros=1 << 20)
    run = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True,
                         check=False)
    assert "bigger than maximum of 262144" in run.stderr and not run.stdout.strip()
    source = FileSource(str(path))
    assert [r for batch in source.batches() for r in batch] == []
    assert source.reader.skipped == {TOO_LONG: 1}


def test_a_packet_block_over_the_maximum_as_wireshark(tmp_path):
    """tshark stops at an enhanced packet block longer than its link type's maximum."""
    big = c.UDP + bytes(max_record(1) + 1 - len(c.UDP))
    path = tmp_path / "big.pcapng"
    c.pb.write_pcapng(path, [{"linktype": 1}], [(0, 1, c.UDP), (0, 2, big), (0, 3, c.UDP)])
    theirs = tshark_fields(path, "frame.len")
    assert [int(n) for (n,) in theirs] == [r[2] for r in our_records(path)] == [len(c.UDP)]
