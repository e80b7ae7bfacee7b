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
