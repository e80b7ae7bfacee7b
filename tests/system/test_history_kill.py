"""The history survives ``kill -9``: tuimon killed while it records a playback leaves a
database that opens, with every minute it had closed complete, and only the open minute
missing; its writer process commits what it had been handed, then ends on its own."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from tests.support import pcapbuild as pb

TUIMON = [sys.executable, "-m", "tuimon"]
START = 1_700_000_040  # the start of a minute


def minutes(path) -> dict:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return dict(db.execute("SELECT minute, packets FROM interface_minutes"))
        finally:
            db.close()
    except sqlite3.Error:
        return {}  # not created yet


def writer_of(pid: int) -> int | None:
    """The history writer process tuimon ``pid`` started, if running."""
    for child in os.listdir("/proc"):
        if not child.isdigit():
            continue
        try:
            with open(f"/proc/{child}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{child}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"history_process" in cmd:
            return int(child)
    return None


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_loses_at_most_the_open_minute(tmp_path):
    # one packet a second for ten minutes, played 60 times faster: ten seconds
    frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(5000, 53, b"q" * 20)))
    capture = tmp_path / "ten-minutes.pcap"
    pb.write_pcap(capture, [(START + s, frame) for s in range(600)])
    db = tmp_path / "history.sqlite"
    proc = subprocess.Popen([*TUIMON, "-r", str(capture), "--no-ui", "--speed", "60",
                             "--history", str(db), "--dissect-packets", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(minutes(db)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the playback ended before it was killed"
        writer = writer_of(proc.pid)
        assert writer is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while running(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(writer)  # it wrote what it had, then ended: nothing left behind
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = minutes(db)
    assert len(got) >= 2
    assert set(got) == {START + 60 * i for i in range(len(got))}  # no minute skipped
    assert set(got.values()) == {60}  # every recorded minute is whole
    hours = conn.execute("SELECT SUM(packets) FROM interface_hours").fetchone()[0]
    assert hours == 60 * len(got)  # the rollups were committed with their minutes
