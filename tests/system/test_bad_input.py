"""A path that is no capture: exit 2, one line naming the problem, no traceback, no hang --
headless and in the app (the real app on a terminal)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ptyrun import TUIMON, Terminal

DATA = Path(__file__).resolve().parents[1] / "data"
# root reads every file: without these two capabilities it reads by the permission bits.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def unreadable(tmp: Path) -> Path:
    path = tmp / "secret.pcap"
    shutil.copy(DATA / "dns.pcap", path)
    path.chmod(0)
    return path


def gzip_of_text(tmp: Path) -> Path:
    import gzip

    path = tmp / "notes.pcap.gz"
    path.write_bytes(gzip.compress(b"just some notes\n" * 20))
    return path


def written(name: str, content: bytes):
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(content)
        return tmp / name
    return make


CASES = {
    "missing": (lambda t: t / "missing.pcap", "no such file"),
    "directory": (lambda t: t, "is a directory"),
    "empty": (written("empty.pcap", b""), "empty file"),
    "text": (written("x.pcap", b"GET / HTTP/1.1\r\n"), "not a pcap or pcapng capture file"),
    "three bytes": (written("x.pcap", b"\xd4\xc3\xb2"), "not a pcap or pcapng capture file"),
    "gzip of text": (gzip_of_text, "not a pcap or pcapng capture file"),
    "i/o error": (lambda t: Path("/proc/self/mem"), "cannot read: Input/output error"),
    "unreadable": (unreadable, "permission denied"),
}


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def prefix_for(case: str) -> list[str]:
    if case != "unreadable":
        return []
    if os.geteuid() != 0:
        return []  # chmod 0 is enough for a normal user
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to make a file unreadable to root")
    return NO_OVERRIDE


def assert_one_line(stderr: str, needle: str, path: Path) -> None:
    assert stderr.count("\n") == 1 and stderr.startswith("tuimon: "), stderr
    assert needle in stderr and str(path) in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", CASES)
def test_headless(case, folder):
    make, needle = CASES[case]
    path = make(folder)
    r = subprocess.run([*prefix_for(case), TUIMON, "-r", str(path), "--no-ui", "--csv",
                        str(folder / "out")], capture_output=True, text=True, timeout=60,
                       cwd=folder)
    assert r.returncode == 2, r.stderr
    assert_one_line(r.stderr, needle, path)
    assert r.stdout == "" and not (folder / "out").exists()


@pytest.mark.parametrize("case", CASES)
def test_app(case, folder):
    """The app refuses before it takes the screen: the line is all the terminal shows."""
    make, needle = CASES[case]
    path = make(folder)
    term = Terminal("-r", str(path), "--csv", str(folder / "out"), cwd=str(folder),
                    prefix=prefix_for(case))
    try:
        assert term.wait_exit(timeout=60) == 2
        text = term.text().replace("\r\n", "\n")
    finally:
        term.close()
    assert_one_line(text, needle, path)
    assert not (folder / "out").exists()


def test_fifo_is_read_like_a_file(folder):
    """A named pipe (or <(zcat ...)) cannot be rewound: tuimon peeks, it does not seek."""
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([TUIMON, "-r", str(fifo), "--no-ui"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with open(fifo, "wb") as w:
        w.write((DATA / "dns.pcap").read_bytes())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith("5 packets")


def test_error_line_neutralises_the_path(folder):
    """A file name is text from outside too: its escape sequences are shown, not obeyed."""
    path = folder / "evil\x1b]0;pwned\x07.pcap"
    r = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(path), "--no-ui"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert "evil\\x1b]0;pwned\\x07.pcap: no such file" in r.stderr


@pytest.mark.parametrize("content,needle", [(b"", "stdin: empty file"),
                                            (b"hello\n", "stdin: not a pcap or pcapng capture file")])
def test_standard_input_that_is_no_capture(folder, content, needle):
    r = subprocess.run([TUIMON, "-r", "-", "--no-ui"], input=content, capture_output=True,
                       timeout=60)
    assert r.returncode == 2 and r.stderr.decode() == f"tuimon: {needle}" + (
        ", not a pcap or pcapng capture\n" if not content else "\n")
    term = Terminal("-r", "-", cwd=str(folder), stdin=content)  # cat x | tuimon -r -
    try:
        assert term.wait_exit(timeout=60) == 2
        assert term.text().strip().startswith(f"tuimon: {needle}")
    finally:
        term.close()
