"""The real app (on a pseudo-terminal) stopped by SIGTERM, SIGHUP, or its terminal going
away: with ``--csv DIR`` the session is saved first, no traceback, nothing left running."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.corrupt import records
from tests.support.ptyrun import Terminal
from tests.support.echo import exchange
from tests.support.waiting import wait_catching, wait_drained

DATA = Path(__file__).resolve().parents[1] / "data"
PCAP = DATA / "1kxun.pcap"  # 1723 packets
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # headless catches them all at once
FILES = ["alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
         "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv", "stations.csv"]


def family(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def gone(processes: list[psutil.Process], timeout: float = 15.0) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


def interfaces(folder: Path) -> list[dict]:
    with open(folder / "interfaces.csv", newline="") as f:
        return list(csv.DictReader(f))


def wait_files(folder: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and sorted(p.name for p in folder.iterdir()) == FILES:
            return
        time.sleep(0.1)
    raise AssertionError(f"no CSV files in {folder}")


@pytest.fixture(params=[True], ids=["controlling-terminal"])
def playing(tmp_path, request):
    """The app playing 1kxun.pcap to its end, --csv DIR given; its engine process known."""
    out = tmp_path / "out"
    term = Terminal("-r", str(PCAP), "--speed", "0", "--csv", str(out), "--interval", "0.2",
                    cwd=str(tmp_path), controlling=request.param)
    try:
        term.wait_for("finished", timeout=60)
        workers = family(term.proc.pid)
        assert workers, "the engine process is not running"
        yield term, out, workers
    finally:
        term.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_saves_then_exits(playing, signum):
    term, out, workers = playing
    term.signal(signum)
    assert term.wait_exit() == 0
    assert sorted(os.listdir(out)) == FILES
    assert interfaces(out)[0]["packets"] == "1723"
    assert "Traceback" not in term.text()
    assert term.output.rstrip().endswith(b"\x1b[?1049l") or b"\x1b[?1049l" in term.output[-400:]
    assert gone(workers)


@pytest.mark.parametrize("playing", [True, False], ids=["sighup", "no-sighup"], indirect=True)
def test_terminal_hang_up_saves_then_exits(playing):
    """The terminal goes away (an SSH session dropped): every write to it fails from then on,
    and the kernel sends SIGHUP -- or not, when tuimon is not in the terminal's session: the
    app notices on its timer."""
    term, out, workers = playing
    pid = term.proc.pid
    term.hang_up()
    wait_files(out)
    assert interfaces(out)[0]["packets"] == "1723"
    assert term.wait_exit() == 0
    assert gone(workers)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_sigterm_without_csv_just_exits(tmp_path):
    term = Terminal("-r", str(PCAP), "--speed", "0", "--interval", "0.2", cwd=str(tmp_path))
    try:
        term.wait_for("finished", timeout=60)
        workers = family(term.proc.pid)
        term.signal(signal.SIGTERM)
        assert term.wait_exit() == 0
        assert gone(workers)
        assert os.listdir(tmp_path) == []  # nothing saved unasked
    finally:
        term.close()


def test_unwritable_csv_dir_is_refused_before_the_screen(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    term = Terminal("-r", str(PCAP), "--csv", str(blocker / "out"), cwd=str(tmp_path))
    try:
        assert term.wait_exit() == 2
        text = term.text().strip()
        assert text == f"tuimon: cannot save CSV into {blocker / 'out'}: {blocker} is not a folder"
    finally:
        term.close()


# -- live: dumpcap must go too --------------------------------------------------------------

def dumpcaps(pid: int) -> list[psutil.Process]:
    return [p for p in family(pid) if p.name() == "dumpcap"]


@pytest.mark.live
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "hang-up"])
def test_live_app_saves_and_stops_dumpcap(netns, echo, tmp_path, how):
    out = tmp_path / "out"
    term = Terminal("tma0", "--csv", str(out), "--interval", "0.2", cwd=str(tmp_path),
                    prefix=netns.cmd(netns.a))
    try:
        term.wait_for("capturing", timeout=60)
        deadline = time.monotonic() + 15
        while not dumpcaps(term.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        everything = family(term.proc.pid)
        assert dumpcaps(term.proc.pid), "dumpcap is not running"
        exchange(netns, 0, [100, 200])
        time.sleep(1.0)  # dumpcap has passed them on
        if how == "hang-up":
            term.hang_up()
            wait_files(out)
        else:
            term.signal(getattr(signal, how))
            assert term.wait_exit() == 0
            assert "Traceback" not in term.text()
        assert gone(everything), [p.name() for p in everything if p.is_running()]
        [row] = interfaces(out)
        assert (row["interface"], row["packets"], row["bytes"]) == ("tma0", "4", str(2 * 142 + 2 * 242))
    finally:
        term.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_headless_playback_stopped_by_a_signal_writes_what_it_counted(tmp_path, signum):
    """Playback from a pipe that stalls half way (a slow download): a signal stops it and
    the CSV files hold every packet read so far."""
    data = (DATA / "smtp.pcap").read_bytes()
    starts = [pos for pos, _, _ in records(data)]
    proc = subprocess.Popen([sys.executable, "-m", "tuimon", "-r", "-", "--no-ui", "--csv",
                             str(tmp_path / "out")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(data[:starts[40]])  # the first 40 records, exactly
    proc.stdin.flush()
    wait_catching(proc, *STOPS)
    wait_drained(proc, proc.stdin.fileno())  # read and counted; the pipe stays open
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == b"" and out == b""
    assert interfaces(tmp_path / "out")[0]["packets"] == "40"
