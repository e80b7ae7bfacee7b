"""Temporary folders named after their process: the next tuimon removes a killed one's."""

from __future__ import annotations

import os
import subprocess
import sys

from tuimon.scratch import scratch_folder, sweep


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_tuimons_folder_goes_and_a_running_ones_stays(tmp_path):
    gone = tmp_path / f"tuimon-ring-{dead_pid()}-abc"
    (gone / "sub").mkdir(parents=True)
    (gone / "sub" / "if0-1.pcapng").write_bytes(b"x" * 1000)
    running = tmp_path / "tuimon-ring-1-abc"  # pid 1 runs (another user's process: alive)
    running.mkdir()
    mine = tmp_path / f"tuimon-ring-{os.getpid()}-abc"
    mine.mkdir()
    other_kind = tmp_path / f"tuimon-drill-{dead_pid()}-abc"
    other_kind.mkdir()
    old_style = tmp_path / "tuimon-ring-k2j4h"  # no pid in the name: not ours to judge
    old_style.mkdir()
    link = tmp_path / f"tuimon-ring-{dead_pid()}-link"
    link.symlink_to(running)
    new = scratch_folder("ring", str(tmp_path))
    assert not gone.exists()
    assert running.exists() and mine.exists() and other_kind.exists() and old_style.exists()
    assert link.is_symlink()  # a link is never followed nor removed
    assert os.path.basename(new).startswith(f"tuimon-ring-{os.getpid()}-")
    assert os.stat(new).st_mode & 0o777 == 0o700
    assert sweep("drill", str(tmp_path)) == [str(other_kind)]
    assert sweep("drill", str(tmp_path)) == []


def test_a_killed_saves_files_go_and_nothing_else(tmp_path):
    """The temporary CSV files of a save carry its pid; only a dead one's regular files of
    those names, owned by this user, are removed."""
    from tuimon.sinks.csv import SCRATCH_NAMES
    from tuimon.scratch import sweep_files

    dead = dead_pid()
    gone = [tmp_path / f".conversations.csv.{dead}.a1b2_c3d.part",
            tmp_path / f".hosts.csv.{dead}.zzzzzzzz.tmp"]
    kept = [tmp_path / f".conversations.csv.{os.getpid()}.abcdefgh.tmp",  # alive: this one
            tmp_path / ".conversations.csv.1.abcdefgh.tmp",  # pid 1 runs
            tmp_path / ".conversations.csv.abcdefgh.tmp",  # no pid
            tmp_path / f".other.csv.{dead}.abcdefgh.tmp",  # not a name of ours
            tmp_path / f"conversations.csv.{dead}.abcdefgh.tmp",
            tmp_path / f".conversations.csv.{dead}.abcdefgh.tmp.bak",
            tmp_path / f".conversations.csv.{10**12}.abcdefgh.tmp",  # no such pid
            tmp_path / "conversations.csv"]
    for path in gone + kept:
        path.write_text("x")
    folder = tmp_path / f".protocols.csv.{dead}.abcdefgh.tmp"  # a folder of that name
    folder.mkdir()
    link = tmp_path / f".interfaces.csv.{dead}.abcdefgh.tmp"
    link.symlink_to(kept[0])
    assert sorted(sweep_files(str(tmp_path), SCRATCH_NAMES)) == sorted(map(str, gone))
    assert all(p.exists() for p in kept) and folder.is_dir() and link.is_symlink()
    assert sweep_files(str(tmp_path / "missing"), SCRATCH_NAMES) == []
