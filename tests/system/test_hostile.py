"""Hostile content: what a capture says is shown, never obeyed -- not by the terminal, not
by Rich/Textual markup, not by a spreadsheet, not by a shell."""

from __future__ import annotations

import ast
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tests.support.ptyrun import Terminal
from tests.support.app import args_for, make_app, settle
from tuimon.capture.file import FileSource
from tuimon.server.service import EngineService
from tuimon.sinks.csv import cell
from tuimon.text import printable

ROOT = Path(__file__).resolve().parents[2]
EVIL = "\x1b]0;pwned\x07[bold]x[/bold]\x1b[2J"
SHOWN = "\\x1b]0;pwned\\x07[bold]x[/bold]\\x1b[2J"
FORMULA = "=HYPERLINK(\"http://evil/\",\"click\")"
FRAME = pb.eth(pb.ipv4("192.0.2.1", "192.0.2.2", 17, pb.udp(1000, 53, b"q" * 20)))


def crafted(tmp_path: Path) -> Path:
    """A pcapng whose interfaces carry an escape sequence with markup, a formula, and a
    right-to-left override, in their names, descriptions and comments."""
    path = tmp_path / "hostile.pcapng"
    pb.write_pcapng(path, [
        {"linktype": 1, "name": EVIL, "description": EVIL, "comment": EVIL},
        {"linktype": 1, "name": FORMULA},
        {"linktype": 1, "name": "eth\u202e0fig.exe"},
    ], [(0, 1_700_000_000_000_000, FRAME), (1, 1_700_000_000_500_000, FRAME),
        (2, 1_700_000_001_000_000, FRAME)])
    return path


def test_reader_neutralises_names_and_descriptions(tmp_path):
    source = FileSource(str(crafted(tmp_path)))
    assert sum(len(b) for b in source.batches()) == 3
    first, second, third = source.interfaces
    assert first.name == SHOWN and first.description == SHOWN
    assert second.name == FORMULA  # no control character: left alone here, escaped in CSV
    assert third.name == "eth\\u202e0fig.exe"


def test_printable():
    assert printable("\x1b[31mred\x9b1m\x07") == "\\x1b[31mred\\x9b1m\\x07"
    assert printable("a\u200bb\u2028c\ufeff") == "a\\u200bb\\u2028c\\ufeff"
    assert printable("é 中 ü") == "é 中 ü"  # ordinary text stays as it is
    assert printable("x" * 300, 10) == "x" * 9 + "…"


def test_summary_shows_the_names_inert(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(crafted(tmp_path)), "--no-ui"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
    assert SHOWN in r.stdout


def test_csv_cells_are_inert(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(crafted(tmp_path)), "--no-ui",
                        "--csv", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(out / "interfaces.csv", newline="") as f:
        names = [row["interface"] for row in csv.DictReader(f)]
    assert sorted(names) == sorted([SHOWN, "'" + FORMULA, "eth\\u202e0fig.exe"])
    raw = (out / "interfaces.csv").read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1",
                                  "=cmd|' /C calc'!A0"])
def test_formula_starts_are_quoted(text):
    assert cell(text) == "'" + text
    assert cell("a" + text) == "a" + text


async def test_app_shows_the_names_as_text_not_markup(tmp_path):
    path = crafted(tmp_path)
    svc = EngineService(args_for(str(path)), clock=lambda: 50.0, wallclock=lambda: 1_700_000_000.0)
    svc.run_all()
    app = make_app(service=svc, view="interfaces")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        lines = [app.table.render_line(y).text for y in range(1, 6)]
        # The column is cut to its width; the brackets are still there, as text.
        assert any(line.startswith(SHOWN[:30]) for line in lines), lines
        assert all("\x1b" not in line and "\x07" not in line for line in lines)
        assert any("'" not in line and FORMULA[:20] in line for line in lines)


def test_real_app_never_sends_the_escape_to_the_terminal(tmp_path):
    """The whole terminal stream of the running app: the OSC title sequence from the file
    never appears (the app would have set the window title to "pwned")."""
    term = Terminal("-r", str(crafted(tmp_path)), "--speed", "0", "--interval", "0.2", cols=160)
    try:
        term.wait_for("finished")
        term.output = b""
        os.write(term.master, b"1")  # the interfaces view
        term.wait_for("pwned")
        assert b"\x1b]0;pwned" not in term.output and b"\x1b[2J" not in term.output
        assert b"\\x1b]0;pwned" in term.output
        os.write(term.master, b"q")
        assert term.wait_exit() == 0
    finally:
        term.close()


# -- nothing from a capture reaches a shell -----------------------------------------------

def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_shell_anywhere():
    """Every process tuimon starts is started from an argument list, without a shell."""
    seen = 0
    for path in (ROOT / "tuimon").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for call in _calls(tree):
            func = ast.unparse(call.func)
            assert func not in ("os.system", "os.popen", "os.execl", "os.spawnl"), f"{path}: {func}"
            for kw in call.keywords:
                if kw.arg == "shell":
                    pytest.fail(f"{path}:{call.lineno}: {func}(shell=...)")
            if func in ("subprocess.run", "subprocess.Popen", "subprocess.check_output",
                        "subprocess.call"):
                seen += 1
                first = call.args[0]
                assert not isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)), \
                    f"{path}:{call.lineno}: a command line string"
    assert seen >= 4  # dumpcap -D, dumpcap checks and captures, tcpdump


def test_dumpcap_and_tcpdump_get_hostile_text_as_one_argument():
    from tuimon.capture.filtered import tcpdump_args
    from tuimon.capture.dumpcap import dumpcap_args

    iface, expr = "eth0; touch /tmp/pwned", "$(reboot) or `id`"
    args = dumpcap_args("dumpcap", iface, expr)
    assert args[:5] == ["dumpcap", "-i", iface, "-f", expr]
    assert tcpdump_args("tcpdump", expr)[-2:] == ["--", expr]  # never read as an option
