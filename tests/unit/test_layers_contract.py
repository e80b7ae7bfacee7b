"""The layering declared in pyproject.toml ([tool.importlinter]) holds: import-linter reads
every import of the package and checks each contract (layers, the UI's one door into the
engine, textual and rich only in the UI, a counting core with no processes or clocks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout


def test_no_getattr_on_the_command_line_arguments():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tuimon").rglob("*.py")
                 if "getattr(args" in p.read_text(encoding="utf-8")]
    assert offenders == []
