"""Start-up: a headless playback does not load what only some sessions use (named counters,
quotas, alerts, the app's queries and drill-down, the history's recorder and readers and
SQLite, IPFIX), and the options that need them still load them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "tests" / "data" / "dns.pcap"

OPTIONAL = (
    "tuimon.server.counterspec",
    "tuimon.server.filter",
    "tuimon.server.quota",
    "tuimon.server.alerts",
    "tuimon.server.alertspec",
    "tuimon.server.query",
    "tuimon.server.drill",
    "tuimon.server.conversation_history",
    "tuimon.server.kernel_poll",
    "tuimon.server.process_poll",
    "tuimon.sinks.history",
    "tuimon.sinks.history_totals",
    "tuimon.sinks.history_read",
    "tuimon.sinks.ipfix_export",
    "sqlite3",
    "textual",
    "rich",
)

PROBE = """
import sys
from tuimon.cli import main
rc = main(sys.argv[1:])
print("LOADED", sorted(m for m in {optional!r} if m in sys.modules))
sys.exit(rc)
""".format(optional=OPTIONAL)


def loaded(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, "-r", str(PCAP), "--no-ui",
                           "--dissect-packets", "0", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("LOADED "))
    return eval(line.removeprefix("LOADED "))  # a list of names printed by the probe


def test_a_headless_playback_loads_none_of_the_optional_modules(tmp_path):
    assert loaded() == []
    assert loaded("--csv", str(tmp_path)) == []


def test_counters_quotas_and_alerts_load_theirs(tmp_path):
    got = loaded("--counter", "dns=port 53", "--quota", "dns=1GB/day",
                 "--alert", "new-host", "--csv", str(tmp_path))
    assert {"tuimon.server.counterspec", "tuimon.server.filter", "tuimon.server.quota",
            "tuimon.server.alerts", "tuimon.server.alertspec"} <= set(got)
    assert "textual" not in got and "rich" not in got
    assert "\ndns,port 53,5,536," in (tmp_path / "counters.csv").read_text()


def test_history_loads_the_recorder(tmp_path):
    got = loaded("--history", str(tmp_path / "h.sqlite"))
    assert {"tuimon.sinks.history", "sqlite3"} <= set(got)
    assert (tmp_path / "h.sqlite").stat().st_size > 0


def test_the_engine_and_a_built_compiled_stage_load_neither_openssl_nor_subprocess():
    """What bench.memory's engine holds: hashlib (OpenSSL, 3.5 MiB) and subprocess are
    loaded only to build the compiled stage, not to load one built before."""
    probe = ("import sys\nfrom tuimon.capture import cwalk\nimport tuimon.core.engine\n"
             "cwalk.walker()\nprint(cwalk.status())\n"
             "print(sorted(m for m in ('hashlib', '_hashlib', 'subprocess') if m in sys.modules))")
    subprocess.run([sys.executable, "-m", "tuimon.capture.cwalk"], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    said, modules = proc.stdout.splitlines()
    if said.startswith("Python record walk"):
        assert modules == "[]" or "subprocess" in modules  # (it tried to build one)
        return
    assert modules == "[]", said
