"""Crafted captures (issue 19) through the real CLI: far timestamps end in CSV files, not a
traceback; a file that makes the reader wait (gigabytes of long records, a pipe that
stalls mid-record) stops within a second or two of SIGTERM, SIGINT or SIGHUP, with its
CSV files saved; the record bomb ends at once."""

from __future__ import annotations

import csv
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import crafted as c
from tests.support.waiting import wait_catching, wait_drained
from tuimon import timefmt
from tuimon.capture.reader import TOO_LONG

TUIMON = [sys.executable, "-m", "tuimon"]
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # headless catches them all at once


def interfaces(out: Path) -> list[dict]:
    with open(out / "interfaces.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", c.FAR_TIMES)
def test_far_timestamps_are_saved_as_they_are(tmp_path, name):
    """The labeller (tshark is given the frames), the CSV writer and the summary."""
    out = tmp_path / "out"
    run = subprocess.run([*TUIMON, "-r", str(c.far_time_pcapng(tmp_path, name)), "--no-ui",
                          "--csv", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    year = timefmt.iso_second(c.far_time_seconds(name))[:-15]
    with open(out / "conversations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert all(r["first_seen"].startswith(year + "-") for r in rows)
    assert interfaces(out)[0]["last_seen"].startswith(year + "-")
    run = subprocess.run([*TUIMON, "-r", str(c.far_time_pcapng(tmp_path, name)), "--no-ui"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "2 packets" in run.stdout and run.stderr == ""


def _stopped_within(proc: subprocess.Popen, signum: int, limit: float) -> float:
    proc.send_signal(signum)
    start = time.monotonic()
    try:
        proc.wait(timeout=limit + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {limit + 10} s after signal {signum}")
    return time.monotonic() - start


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_is_honoured_while_long_records_are_read(tmp_path, signum):
    """Three gigabytes of 128 MiB records (D-Bus, whose records Wireshark reads that long)
    in a 3 MB .pcap.gz: many seconds of reading, stopped after one."""
    path = c.long_records_gz(tmp_path / "long.pcap.gz")
    out = tmp_path / "out"
    proc = subprocess.Popen([*TUIMON, "-r", str(path), "--no-ui", "--csv", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_catching(proc, *STOPS)  # counting has started
    time.sleep(1.0)
    assert proc.poll() is None, "read it all before the signal: the test proves nothing"
    elapsed = _stopped_within(proc, signum, 2.0)
    assert proc.returncode == 0, proc.stderr.read()
    assert elapsed < 2.0
    [row] = interfaces(out)
    assert int(row["packets"]) < 24 and row["link"] == "linktype-231"


def test_a_stop_is_honoured_while_a_pipe_stalls_mid_record(tmp_path):
    """Standard input gives a header, two frames and half a record, then nothing."""
    out = tmp_path / "out"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([*TUIMON, "-r", "-", "--no-ui", "--csv", str(out)],
                            stdin=read_fd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(read_fd)
    try:
        records = [struct.pack("<IIII", 1_700_000_000 + i, 0, len(c.UDP), len(c.UDP)) + c.UDP
                   for i in range(3)]
        os.write(write_fd, c.pcap_header() + records[0] + records[1] + records[2][:26])
        wait_catching(proc, *STOPS)
        wait_drained(proc, write_fd)  # it waits for the rest of the third record
        assert proc.poll() is None
        elapsed = _stopped_within(proc, signal.SIGTERM, 2.0)
    finally:
        os.close(write_fd)
    assert proc.returncode == 0, proc.stderr.read()
    assert elapsed < 2.0
    [row] = interfaces(out)
    assert row["packets"] == "2"  # what came before the stall is counted


def test_the_record_bomb_ends_at_once(tmp_path):
    """The issue's 4 MB .pcap.gz: snapshot length 0xFFFFFFFF, one record claiming 4 GB."""
    path = c.record_bomb(tmp_path / "bomb.pcap.gz", zeros=300 << 20)
    assert path.stat().st_size < 4 << 20
    out = tmp_path / "out"
    start = time.monotonic()
    run = subprocess.run([*TUIMON, "-r", str(path), "--no-ui", "--csv", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 10
    assert run.returncode == 0, run.stderr
    [row] = interfaces(out)
    assert row["packets"] == "0" and row["skipped_reasons"] == f"{TOO_LONG}: 1"
