"""A headless save that loses nothing: SIGTERM, SIGHUP or SIGINT while the CSV files are
being written (one, or a second one to the whole process group, the child writing part of
conversations.csv included), a save that fails after counting (the summary is printed),
a SIGKILL mid-save (the next save removes what it left), a --csv name with control
characters (refused in one line).

The saves are of a synthetic capture of 100,000 conversations (a second or more to
write); a signal is sent once a save's temporary file is seen in the folder, and the test
checks that the file was still there after the signal went, so it came during the save.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.bigcapture import write_many_conversations
from tuimon.sinks.csv import SCRATCH_NAMES

DATA = Path(__file__).resolve().parents[1] / "data"
TUIMON = [sys.executable, "-m", "tuimon"]
FILES = ["alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
         "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv", "stations.csv"]
N = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "many.pcap"
    write_many_conversations(path, N)
    return path


def start(capture: Path, out: Path, python_lines: bool = False) -> subprocess.Popen:
    """A headless save of ``capture`` into ``out``; ``python_lines``: without the compiled
    stage, so that a child writes part of conversations.csv (sinks/part.py)."""
    env = {**os.environ, "TUIMON_NO_CWALK": "1"} if python_lines else None
    return subprocess.Popen([*TUIMON, "-r", str(capture), "--no-ui", "--dissect-packets", "0",
                             "--csv", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)


def scratch(out: Path, start: str = "", end: str = "") -> list[str]:
    """The save's temporary files in ``out`` (only those whose name starts with ``start``
    and ends with ``end``)."""
    try:
        names = os.listdir(out)
    except OSError:
        return []
    return [n for n in names
            if SCRATCH_NAMES.fullmatch(n) and n.startswith(start) and n.endswith(end)]


def await_save(proc: subprocess.Popen, out: Path) -> None:
    """Return as soon as conversations.csv's temporary file is in ``out`` (the parent
    writes it last, after the child has started on its part)."""
    deadline = time.monotonic() + 120
    while not scratch(out, f".conversations.csv.{proc.pid}.", ".tmp"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the save never started"
        time.sleep(0.001)


def signal_during_save(proc, out: Path, send) -> None:
    """``send()`` while the save is under way, and check that it still was afterwards."""
    await_save(proc, out)
    send()
    assert scratch(out), "the save ended before the signal: make the capture larger"


def conversations(out: Path) -> int:
    with open(out / "conversations.csv", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def check_whole(out: Path) -> None:
    assert sorted(os.listdir(out)) == FILES  # and nothing temporary left
    assert conversations(out) == N
    with open(out / "interfaces.csv", newline="") as f:
        assert next(csv.DictReader(f))["packets"] == str(N)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_the_save_finishes_the_save(big, tmp_path, signum):
    """Until now SIGTERM here ended the run with 143 and no CSV: the whole count lost."""
    out = tmp_path / "out"
    proc = start(big, out)
    signal_during_save(proc, out, lambda: proc.send_signal(signum))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    name = signal.Signals(signum).name
    assert stderr == f"tuimon: {name} came while saving: the report was finished first\n"
    check_whole(out)


def test_a_second_signal_to_the_whole_group_does_not_lose_the_save(big, tmp_path):
    """SIGTERM, then SIGHUP, to the process group (as a terminal or a service manager sends
    them): the child writing part of conversations.csv gets them too; the save is finished."""
    out = tmp_path / "out"
    proc = start(big, out)
    signal_during_save(proc, out, lambda: os.killpg(proc.pid, signal.SIGTERM))
    time.sleep(0.05)
    signal_during_save(proc, out, lambda: os.killpg(proc.pid, signal.SIGHUP))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert stderr == ("tuimon: SIGHUP and SIGTERM came while saving: the report was "
                      "finished first\n")
    check_whole(out)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def session_members(sid: int) -> list[int]:
    """The processes of session ``sid`` (a killed tuimon's child, if it outlived it)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(entry))
    return members


def test_the_next_save_removes_what_a_killed_save_left(big, tmp_path):
    """SIGKILL mid-save leaves the temporary files, named with the killed tuimon's pid; the
    next save into the folder removes them, and only them: not a running tuimon's, not a
    name without a pid, not a link. The child writing part of conversations.csv dies
    with its parent even when the SIGKILL reaches the parent alone."""
    out = tmp_path / "out"
    for group in (True, False):  # the second save removes what the first left
        proc = start(big, out, python_lines=True)
        await_save(proc, out)
        os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
        proc.wait(30)
        deadline = time.monotonic() + 10
        while session_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_members(proc.pid) == []  # no child writing on
        left = scratch(out)
        assert {int(SCRATCH_NAMES.fullmatch(n).group("pid")) for n in left} == {proc.pid}
        assert any(n.endswith(".part") for n in left) and any(n.endswith(".tmp") for n in left)
    running = out / f".conversations.csv.{os.getpid()}.abcd1234.tmp"  # this process runs
    old_style = out / ".conversations.csv.abcd1234.tmp"  # no pid: not ours to judge
    link = out / f".hosts.csv.{dead_pid()}.abcd1234.tmp"
    for path in (running, old_style):
        path.write_text("x")
    link.symlink_to(running)
    other = out / "notes.txt"
    other.write_text("mine")
    for folder in (out, tmp_path / "fresh"):
        r = subprocess.run([*TUIMON, "-r", str(DATA / "dns.pcap"), "--no-ui", "--csv",
                            str(folder)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == sorted([*FILES, running.name, old_style.name, link.name,
                                              other.name])
    for name in FILES:  # the same as a save into an empty folder
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


def test_a_save_that_fails_after_counting_prints_the_summary(tmp_path):
    """The folder could be made when counting started (checked then); by the save its
    parent has become a regular file: the counts are printed, then the one line."""
    out = tmp_path / "gone" / "out"
    data = (DATA / "1kxun.pcap").read_bytes()
    proc = subprocess.Popen([*TUIMON, "-r", "-", "--no-ui", "--csv", str(out)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(data[: len(data) // 2])  # more than a pipe holds: tuimon is reading
    proc.stdin.flush()
    (tmp_path / "gone").write_text("a file now")
    proc.stdin.write(data[len(data) // 2:])
    proc.stdin.close()
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.wait(60)
    assert proc.returncode == 2
    assert stderr == f"tuimon: cannot save CSV into {out}: Not a directory\n"
    assert stdout.startswith("1723 packets") and "Top 10 conversations" in stdout


def test_a_save_failing_for_any_reason_prints_the_summary(tmp_path, monkeypatch, capsys):
    """Not only a full disk: whatever stops the export (here a stand-in raising an
    unexpected error), the summary comes first and the error is one line."""
    from tuimon.config import Config
    from tuimon.errors import ExportFailed
    from tuimon.server import headless

    def broken(*args, **kw):
        raise OverflowError("timestamp out of range for platform time_t")

    monkeypatch.setattr(headless, "export_engine", broken)
    config = Config(read=str(DATA / "dns.pcap"), no_ui=True, csv=str(tmp_path / "out"),
                    dissect_packets=0)
    with pytest.raises(ExportFailed) as err:
        headless.run_headless(config)
    assert str(err.value) == (f"cannot save CSV into {tmp_path / 'out'}: OverflowError: "
                              "timestamp out of range for platform time_t")
    assert capsys.readouterr().out.startswith("5 packets")


@pytest.mark.parametrize("name", ["a\x1b[31mb", "tab\there", "new\nline", "bell\x07",
                                  "rtl\u202eoverride", "del\x7f"])
def test_a_csv_folder_name_with_control_characters_is_refused(tmp_path, name):
    out = tmp_path / name
    r = subprocess.run([*TUIMON, "-r", str(DATA / "dns.pcap"), "--no-ui", "--csv", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("tuimon: --csv: a folder name with control characters is "
                               "refused: ")
    assert r.stderr.count("\n") == 1 and "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert "\\x" in r.stderr or "\\u" in r.stderr  # shown escaped
    assert os.listdir(tmp_path) == []  # nothing made
