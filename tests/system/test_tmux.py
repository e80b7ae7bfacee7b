"""The real app in a real terminal: tuimon -r FIXTURE under tmux, keys in, screen out.

Each test runs its own tmux server (``-L`` socket) at a fixed size and always kills it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "tests" / "data" / "1kxun.pcap"
TUIMON = Path(sys.executable).parent / "tuimon"
FILES = ["alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
         "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv", "stations.csv"]


class Tmux:
    def __init__(self, workdir: Path, width: int = 100, height: int = 30, env: dict | None = None):
        self.socket = f"tuimon-test-{os.getpid()}-{time.monotonic_ns()}"
        self.workdir = workdir
        self.size = (width, height)
        self.env = env or {}
        self.exit_file = workdir / "exit-status"

    def tmux(self, *args: str, check: bool = True) -> str:
        # $COLUMNS/$LINES (pytest may set them) would override the pane's real size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        proc = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=10, env=env)
        if check and proc.returncode:
            raise AssertionError(f"tmux {args}: {proc.stderr}")
        return proc.stdout

    def start(self, *tuimon_args: str, pipe: Path | None = None) -> None:
        """Run tuimon with these arguments (``pipe``: ``cat PIPE | tuimon ...``)."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cat = f"cat {shlex.quote(str(pipe))} | " if pipe is not None else ""
        command = (f"unset COLUMNS LINES; cd {shlex.quote(str(self.workdir))} && {cat}{exports} "
                   f"{shlex.quote(str(TUIMON))} {' '.join(map(shlex.quote, tuimon_args))}; "
                   f"echo $? > {shlex.quote(str(self.exit_file))}; sleep 30")
        width, height = self.size
        self.tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height),
                  "sh", "-c", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main", check=False)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def wait_for(self, predicate, what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            assert "Traceback" not in screen, screen
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")

    def wait_text(self, text: str, timeout: float = 20.0) -> str:
        return self.wait_for(lambda s: text in s, repr(text), timeout)

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"tuimon did not exit; screen:\n{self.screen()}")

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def term(tmp_path):
    sessions = []

    def make(**kw) -> Tmux:
        t = Tmux(tmp_path, **kw)
        sessions.append(t)
        return t

    yield make
    for t in sessions:
        t.kill()


def test_views_save_filter_and_quit(term, tmp_path):
    t = term(width=100, height=30)
    t.start("-r", str(PCAP), "--interval", "0.3", "--speed", "0",
            "--flow-timeout", "0")  # all 197 conversations stay (the capture jumps 2132 days)
    screen = t.wait_for(lambda s: "finished" in s and "Hosts · 100 rows" in s, "the end of the file")
    assert "1kxun.pcap" in screen and "Address" in screen and "Total 1723 pkts" in screen
    assert "192.168.2.126" in screen

    t.keys("4")
    screen = t.wait_text("Conversations · 197 rows")
    assert "Proto" in screen and "192.168.2.126:45380" in screen
    t.keys("1")
    t.wait_text("Interfaces · 1 row ")
    t.keys("3")
    # the status line and the rows may reach the terminal in two writes: wait for both
    # (21 rows of the hierarchy, and the two '(other)' rows under the udp rows)
    tls = re.compile(r"\n {6}tls +application ")
    screen = t.wait_for(lambda s: "Protocols · 23 rows" in s and tls.search(s),
                        "the protocol hierarchy with tshark's tls verdict")
    assert tls.search(screen)  # the hierarchy, tshark's verdict
    assert re.search(r"\n {6}\(other\) +application ", screen)

    t.keys("s")
    screen = t.wait_text(f"Saved {len(FILES)} CSV files into")
    folders = list(tmp_path.glob("tuimon-2*"))
    assert len(folders) == 1 and sorted(os.listdir(folders[0])) == FILES
    assert folders[0].name in screen

    t.keys("4", "/")
    t.keys("-l", "port 443")
    t.keys("Enter")
    t.wait_for(lambda s: "filter port 443" in s and "rows of 197" in s, "the filtered page")

    t.keys("?")
    screen = t.wait_text("Keys")
    assert "Freeze / unfreeze the row order" in screen and "Reverse the sort order" in screen
    t.keys("Escape")
    t.wait_for(lambda s: "Keys" not in s, "help to close")

    t.keys("q")
    assert t.exit_status() == 0


def test_quit_saves_into_csv_dir_and_small_terminal(term, tmp_path):
    out = tmp_path / "out"
    t = term(width=80, height=24, env={"NO_COLOR": "1"})
    t.start("-r", str(PCAP), "--csv", str(out), "--speed", "0")
    t.wait_text("finished")
    t.tmux("resize-window", "-t", "main", "-x", "40", "-y", "12")
    t.keys("4", "Down", "PageDown", "u")
    time.sleep(1.0)
    t.wait_for(lambda s: len(s.splitlines()) <= 12 and "tuimon" in s, "a 40x12 screen")
    t.tmux("resize-window", "-t", "main", "-x", "80", "-y", "24")
    t.wait_text("Conversations")
    t.keys("q")
    assert t.exit_status() == 0
    assert sorted(os.listdir(out)) == FILES


def test_missing_file_is_one_line_error(term, tmp_path):
    t = term(width=80, height=24)
    t.start("-r", str(tmp_path / "missing.pcap"))
    assert t.exit_status() == 2
    screen = t.screen()
    assert "tuimon: " in screen and "no such file" in screen and "Traceback" not in screen


# -- playback ------------------------------------------------------------------------------

def test_capture_on_stdin_with_the_keys_from_the_terminal(term, tmp_path):
    t = term(width=100, height=30)
    t.start("-r", "-", "--interval", "0.3", "--speed", "0", "--flow-timeout", "0", pipe=PCAP)
    screen = t.wait_for(lambda s: "finished" in s and "Hosts · 100 rows" in s, "the end of stdin")
    assert "stdin" in screen and "Total 1723 pkts" in screen and "2.6 MB read" in screen
    t.keys("4")  # keys come from the terminal, not from the capture's pipe
    t.wait_text("Conversations · 197 rows")
    t.keys("/")
    t.keys("-l", "port 443")
    t.keys("Enter")
    t.wait_for(lambda s: "filter port 443" in s and "rows of 197" in s, "the filtered page")
    t.keys("q")
    assert t.exit_status() == 0


def test_paced_playback_keys_in_a_real_terminal(term, tmp_path):
    from tests.support.playback import capture

    path = capture(tmp_path, [0.5 * i for i in range(241)], name="two-minutes.pcap")
    t = term(width=100, height=30)
    t.start("-r", str(path), "--interval", "0.2")
    screen = t.wait_for(lambda s: "playing" in s and "speed 1×" in s, "the playback")
    assert "▶ " in screen and "two-minutes.pcap" in screen
    t.keys("+")
    t.wait_text("speed 2×")
    t.keys("-", "-")
    t.wait_text("speed 0.5×")
    t.keys("Space")
    screen = t.wait_for(lambda s: "‖ " in s and "paused (playback held)" in s, "the hold")
    assert " paused " in screen
    t.keys("Space")
    t.wait_for(lambda s: "▶ " in s and "playing" in s, "the playback to go on")
    for _ in range(6):
        t.keys("+")
    screen = t.wait_for(lambda s: "finished" in s and "■ " in s, "the end at full speed")
    assert "241 pkts" in screen and "100%" in screen and "speed max" in screen
    t.keys("q")
    assert t.exit_status() == 0


def test_stdin_that_is_the_terminal_is_one_line_error(term, tmp_path):
    t = term(width=80, height=24)
    t.start("-r", "-")
    assert t.exit_status() == 2
    screen = t.screen()
    assert "tuimon: standard input is a terminal, not a capture" in screen
    assert "Traceback" not in screen


def test_a_new_users_first_screen_at_80_columns(term):
    """tuimon -r FILE --speed 0 at 80x24, the default timeouts: every conversation of the
    file listed (those that expired dim, counted), the header's totals whole, the footer's
    keys whole, a cut column marked."""
    t = term(width=80, height=24)
    t.start("-r", str(PCAP), "--interval", "0.3", "--speed", "0")
    screen = t.wait_for(lambda s: "finished" in s and "Hosts · 100 rows" in s
                        and "q Quit" in s, "the end")
    lines = screen.splitlines()
    assert any(line.strip().startswith("Conv 68 +129 exp") for line in lines), screen
    footer = [line for line in lines if line.strip()][-1].rstrip()
    assert footer.endswith(("Sort left", "Slower", "Faster", "Pause")), footer
    t.keys("4")
    screen = t.wait_text("Conversations · 197 rows · 129 expired (dim)")
    rows = [line for line in screen.splitlines() if line.startswith("tcp ")]
    scrollbar = "▁▂▃▄▅▆▇█▉▊▋▌▍▎▏ "
    assert rows and all(line.rstrip(scrollbar).endswith("…") for line in rows), screen


def test_enter_walks_from_a_host_to_its_conversations_to_a_packet(term, tmp_path):
    """Drill everywhere in a real terminal: Enter on a host (Hosts view) opens the
    Conversations view filtered to it, Enter on a conversation its packets, Enter on a
    packet Wireshark's dissection; Esc goes back each step; 9 and p show the pairs."""
    t = term(width=120, height=30)
    t.start("-r", str(PCAP), "--interval", "0.3", "--speed", "0", "--flow-timeout", "0")
    t.wait_for(lambda s: "finished" in s and "Hosts · 100 rows" in s, "the end of the file")
    t.keys("Enter")  # the top host: 192.168.2.126, in 158 of the 197 conversations
    screen = t.wait_for(lambda s: "filter host 192.168.2.126" in s and "Conversations" in s,
                        "the host's conversations")
    rows = [line for line in screen.splitlines() if ":" in line and "tcp " in line]
    assert rows and all("192.168.2.126" in line for line in rows), screen
    t.keys("Enter")  # the first conversation: its packets
    screen = t.wait_for(lambda s: "A→B" in s and "Write pcapng" in s and "HTTP" in s,
                        "the conversation's packets with tshark's summaries")
    t.keys("Enter")  # the first packet: Wireshark's tree
    t.wait_for(lambda s: "Internet Protocol Version 4, Src: 192.168.2.126" in s,
               "the packet's dissection")
    t.keys("Escape")
    t.wait_for(lambda s: "A→B" in s and "Internet Protocol Version 4" not in s,
               "the packet list again")
    t.keys("Escape")
    t.wait_text("filter host 192.168.2.126")
    t.keys("9")  # the filter stays on: the host's pairs
    screen = t.wait_for(lambda s: "Pairs · " in s and " rows of 107" in s, "the host's pairs")
    assert "172.105.121.82" in screen
    t.keys("p")
    t.wait_text("by hosts and ports")
    t.keys("q")
    assert t.exit_status() == 0
