"""Saving onto a disk that is full or read-only: a clear one-line message, the previous
files intact (all four, never a mix), the app running on, and -- headless -- what was
counted still printed.

The disks are small tmpfs mounts made here (root only; skipped with the reason otherwise)
and always unmounted.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tuimon.capture.cwalk import status, walker
from tests.support.ptyrun import Terminal
from tests.support.app import FILES, make_app, settle
from tuimon.errors import ExportFailed
from tuimon.sinks.csv import check_folder

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = DATA / "dns.pcap"  # 5 packets
BIG = DATA / "1kxun.pcap"  # 1723 packets
TUIMON = [sys.executable, "-m", "tuimon"]


class Disk:
    """A 1 MiB tmpfs at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def mount(self) -> None:
        self.path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tuimon-test", str(self.path)],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")

    def fill(self) -> None:
        """Take every free byte."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()

    def read_only(self, yes: bool = True) -> None:
        mode = "remount,ro" if yes else "remount,rw"
        subprocess.run(["mount", "-o", mode, str(self.path)], check=True, capture_output=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    d = Disk(tmp_path / "disk")
    d.mount()
    try:
        yield d
    finally:
        d.unmount()


def run(*args, **kw):
    return subprocess.run([*TUIMON, *args], capture_output=True, text=True, timeout=60, **kw)


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def packets(folder: Path) -> str:
    with open(folder / "interfaces.csv", newline="") as f:
        return next(csv.DictReader(f))["packets"]


def test_headless_disk_full_keeps_the_earlier_files_and_prints_the_counts(disk):
    out = disk.path / "out"
    assert run("-r", str(SMALL), "--no-ui", "--csv", str(out)).returncode == 0
    before = contents(out)
    disk.fill()
    r = run("-r", str(BIG), "--no-ui", "--csv", str(out))
    assert r.returncode == 2
    assert r.stderr == f"tuimon: cannot save CSV into {out}: No space left on device\n"
    assert r.stdout.startswith("1723 packets")  # the counts, all the same
    assert contents(out) == before and packets(out) == "5"
    assert sorted(os.listdir(out)) == FILES  # no temporary file left behind


@pytest.mark.parametrize("compiled", [False, True])
def test_the_parallel_export_on_a_full_disk_keeps_the_earlier_files(disk, monkeypatch, compiled):
    """A headless save has a child process write part of conversations.csv (Python
    formats the lines) or stations.csv and pairs.csv (the compiled stage writes the
    conversations): its disk full is the same one line, and neither its files nor any
    other is left."""
    from tuimon.capture.file import FileSource
    from tuimon.core.engine import Engine
    from tuimon.server.driver import count_source
    from tuimon.sinks import part
    from tuimon.sinks.csv import export_engine

    monkeypatch.setattr(part, "MIN_ROWS", 0)
    monkeypatch.setattr(part, "_threads", lambda: 1)  # pytest's process has other threads
    if not compiled:
        monkeypatch.setattr("tuimon.sinks.csv.walker", lambda: None)
    elif walker() is None:
        pytest.skip(f"no compiled stage here: {status()}")
    forked = []
    monkeypatch.setattr("tuimon.sinks.csv.start_part",
                        lambda *a, start=part.start_part: forked.append(start(*a)) or forked[-1])
    out = disk.path / "out"
    assert run("-r", str(SMALL), "--no-ui", "--csv", str(out)).returncode == 0
    before = contents(out)
    engine = Engine(rates=False)
    engine.pairs()  # (as a headless run's service keeps them)
    count_source(FileSource(str(BIG)), engine, dissect_packets=0)
    disk.fill()
    with pytest.raises(ExportFailed) as err:
        export_engine(engine, str(out))
    assert str(err.value) == f"cannot save CSV into {out}: No space left on device"
    assert contents(out) == before and sorted(os.listdir(out)) == FILES
    disk.free()
    export_engine(engine, str(out))  # room again: saved
    assert packets(out) == "1723" and sorted(os.listdir(out)) == FILES
    assert len(forked) == 2 and all(forked)  # both saves had a child write their part


def test_headless_read_only_is_refused_before_counting(disk):
    out = disk.path / "out"
    out.mkdir()
    disk.read_only()
    r = run("-r", str(BIG), "--no-ui", "--csv", str(out / "sub"))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"tuimon: cannot save CSV into {out / 'sub'}: Read-only file system\n"


def test_headless_disk_turning_read_only_while_counting(disk):
    """The file system goes read-only mid-capture (here: standard input, fed in two
    halves): the counts are printed, the error said, the earlier files kept."""
    out = disk.path / "out"
    assert run("-r", str(SMALL), "--no-ui", "--csv", str(out)).returncode == 0
    before = contents(out)
    data = BIG.read_bytes()
    proc = subprocess.Popen([*TUIMON, "-r", "-", "--no-ui", "--csv", str(out)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(data[: len(data) // 2])  # more than a pipe holds: tuimon is reading
    proc.stdin.flush()
    disk.read_only()
    proc.stdin.write(data[len(data) // 2:])
    proc.stdin.close()
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.wait(60)
    assert proc.returncode == 2
    assert stderr.decode() == f"tuimon: cannot save CSV into {out}: Read-only file system\n"
    assert stdout.decode().startswith("1723 packets")
    assert contents(out) == before


def test_check_folder(tmp_path):
    check_folder(str(tmp_path / "new" / "deeper"))  # made when saving
    assert not (tmp_path / "new").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ExportFailed, match="is not a folder"):
        check_folder(str(tmp_path / "f" / "out"))


@pytest.mark.parametrize("fault", ["full", "read-only"])
async def test_app_save_fails_clearly_keeps_the_files_and_runs_on(disk, fault):
    out = disk.path / "out"
    app = make_app(csv_dir=str(out))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        before = contents(out)
        disk.fill() if fault == "full" else disk.read_only()
        await pilot.press("s")
        await settle(pilot)
        assert app.is_running
        note = list(app._notifications)[-1]
        reason = "No space left on device" if fault == "full" else "Read-only file system"
        assert note.severity == "error" and note.message == f"cannot save CSV into {out}: {reason}"
        assert contents(out) == before and sorted(os.listdir(out)) == FILES
        await pilot.press("4")  # still answering
        await settle(pilot)
        assert app.last_page.view == "conversations"
        disk.free() if fault == "full" else disk.read_only(False)
        await pilot.press("s")  # space again: the save goes through
        await settle(pilot)
        assert app.saved[-1].error is None


def test_real_app_sigterm_on_a_full_disk_says_why(disk, tmp_path):
    out = disk.path / "out"
    term = Terminal("-r", str(BIG), "--speed", "0", "--csv", str(out), "--interval", "0.2", cwd=str(tmp_path))
    try:
        term.wait_for("finished", timeout=60)
        disk.fill()
        term.signal(signal.SIGTERM)
        assert term.wait_exit() == 1
        text = term.text()
        assert f"tuimon: cannot save CSV into {out}: No space left on device" in text
        assert "Traceback" not in text
        assert not out.exists() or os.listdir(out) == []
    finally:
        term.close()
