"""Arguments a new user gets wrong are refused in one line (exit 2) before anything starts:
a duration that is no duration, --duration on a file (which plays to its end), a --csv
folder nothing can be written into, the monitor with its output not a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tuimon.cli import main
from tuimon.errors import ExportFailed
from tuimon.sinks.csv import check_folder

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "soon"])
def test_a_duration_that_is_no_duration_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["-r", str(DATA / "dns.pcap"), "--no-ui", "--duration", value])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"the duration must be a number of seconds above 0, not '{value}'" in err


def test_duration_on_a_file_is_refused_not_ignored(capsys):
    assert main(["-r", str(DATA / "dns.pcap"), "--no-ui", "--duration", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tuimon: --duration stops a live capture")


def test_a_folder_no_file_can_be_made_in_is_refused_before_counting(capsys):
    """access() says yes to root everywhere; /proc still makes no file: the probe says so."""
    with pytest.raises(ExportFailed, match="cannot save CSV into /proc/out: "):
        check_folder("/proc/out")
    assert main(["-r", str(DATA / "dns.pcap"), "--no-ui", "--csv", "/proc/out"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("tuimon: cannot save CSV into /proc/out: ")


def test_check_folder_leaves_nothing_behind(tmp_path):
    check_folder(str(tmp_path / "new"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("piped", ["output", "error"])
def test_the_monitor_with_its_output_not_a_terminal_is_one_line(piped, tmp_path):
    """tuimon -r FILE | less, or 2> log: the screen's escape codes would go into the pipe
    (Textual draws on standard error and sizes the screen by standard output)."""
    import os
    import pty

    master, slave = pty.openpty()
    try:
        tty = {"stdout": slave, "stderr": slave}
        pipes = {"stdout": subprocess.PIPE} if piped == "output" else {"stderr": subprocess.PIPE}
        proc = subprocess.Popen([sys.executable, "-m", "tuimon", "-r", str(DATA / "dns.pcap"),
                                 "--no-history"], stdin=slave, cwd=tmp_path,
                                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                                **{**tty, **pipes})
        try:
            piped_out, piped_err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # the app took the screen: not refused
            proc.kill()
            proc.wait()
            raise
        os.close(slave)
        slave = -1
        shown = b""
        while True:  # what went to the terminal
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    line = (f"tuimon: the monitor needs a terminal, and standard {piped} is not one: use "
            f"--no-ui for a report (tuimon ... --no-ui > FILE)")
    assert proc.returncode == 2
    if piped == "output":
        assert piped_out == b"" and shown.decode().replace("\r\n", "\n") == line + "\n"
    else:
        assert shown == b"" and piped_err.decode() == line + "\n"
    assert list(tmp_path.iterdir()) == []
