"""Layering: the engine and the headless path never load textual or rich."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "tests" / "data" / "1kxun.pcap"
UI_ONLY = ("textual", "rich")

PROBE = """
import sys
from tuimon.cli import main
rc = main(sys.argv[1:])
import tuimon.server.worker, tuimon.server.query, tuimon.server.filter  # the UI's engine side
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {ui!r})
print("LOADED", loaded)
sys.exit(rc if not loaded else 99)
""".format(ui=UI_ONLY)


def run_probe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_headless_summary_never_loads_textual_or_rich():
    proc = run_probe("-r", str(PCAP), "--no-ui")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout and "1723 packets" in proc.stdout


def test_headless_csv_never_loads_textual_or_rich(tmp_path):
    proc = run_probe("-r", str(PCAP), "--no-ui", "--csv", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout and len(list(tmp_path.glob("*.csv"))) == 7


def test_the_probe_can_fail():
    proc = subprocess.run([sys.executable, "-c", "import rich.text\n" + PROBE, "-r", str(PCAP),
                           "--no-ui"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 99 and "'rich.text'" in proc.stdout


def test_only_the_ui_package_imports_textual_or_rich():
    offenders = []
    for path in (ROOT / "tuimon").rglob("*.py"):
        if "ui" in path.relative_to(ROOT / "tuimon").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in UI_ONLY]
    assert offenders == []
