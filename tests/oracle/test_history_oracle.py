"""Wireshark is the oracle for the history database too: after ``tuimon -r FILE --no-ui
--history DB`` the hosts, interfaces and conversations summed over the minutes (and the
days, which are never dropped) equal tshark's figures for the file; two runs add up."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support import oracle
from tuimon.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
HOST_VALUES = ("packets", "bytes", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
CONV_VALUES = ("packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def record(capture: Path, db: Path, *options: str) -> None:
    assert main(["-r", str(capture), "--no-ui", "--history", str(db), "--history-conversations",
                 "--dissect-packets", "0", *options]) == 0


def host_sums(db, grain: str) -> dict:
    cols = ", ".join(f"SUM({v})" for v in HOST_VALUES)
    return {r[0]: list(r[1:]) for r in
            db.execute(f"SELECT address, {cols} FROM host_{grain} GROUP BY address")}


def interface_sum(db, grain: str) -> list:
    return list(db.execute(f"SELECT SUM(packets), SUM(bytes) FROM interface_{grain}").fetchone())


def conversation_sums(db, theirs: dict) -> dict:
    """Rows of one conversation (it may have left and come back) added up, each turned to
    tshark's direction (A: the sender of its first frame)."""
    ours: dict = {}
    cols = ", ".join(CONV_VALUES)
    for proto, a, pa, b, pb, *v in db.execute(
            f"SELECT protocol, address_a, port_a, address_b, port_b, {cols} FROM conversations "
            "WHERE protocol IN ('tcp', 'udp') AND port_a IS NOT NULL"):
        key = (proto, a, pa, b, pb)
        if key not in theirs and (proto, b, pb, a, pa) in theirs:
            key, v = (proto, b, pb, a, pa), [v[2], v[3], v[0], v[1]]
        total = ours.setdefault(key, [0, 0, 0, 0])
        for i, x in enumerate(v):
            total[i] += x
    return ours


def times(n: int, figures: list) -> list:
    return [n * x for x in figures]


@needs_tshark
@pytest.mark.parametrize("name", CAPTURES)
def test_history_matches_tshark(name, tmp_path):
    """Conversations leave the table (a 1 s timeout, at most 3 kept) and are recorded as
    they leave, the rest at the end: together they are every conversation."""
    capture = DATA / name
    theirs = oracle.figures(str(capture))
    db_path = tmp_path / "history.sqlite"
    record(capture, db_path, "--flow-timeout", "1", "--max-flows", "3")
    db = sqlite3.connect(db_path)
    total = [sum(v[i] for v in theirs["interfaces"].values()) for i in (0, 1)]
    assert interface_sum(db, "days") == total
    assert host_sums(db, "days") == theirs["hosts"]
    assert host_sums(db, "hours") == host_sums(db, "days") or _spans_a_year(db)
    first, last = db.execute("SELECT MIN(day), MAX(day) FROM interface_days").fetchone()
    # else the oldest minutes and conversations are past their retention (1kxun.pcap
    # spans six years: retention runs on the capture's clock)
    if last - first < 6 * 86400:
        assert interface_sum(db, "minutes") == total
        assert host_sums(db, "minutes") == theirs["hosts"]
        assert conversation_sums(db, theirs["conversations"]) == theirs["conversations"]
    else:  # conversations are kept as long as minutes: the newest ones are there
        assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]


def _spans_a_year(db) -> bool:
    first, last = db.execute("SELECT MIN(day), MAX(day) FROM interface_days").fetchone()
    return last - first > 366 * 86400


@needs_tshark
@pytest.mark.parametrize("name", ["http_ipv6.pcap", "teams.pcap"])
def test_two_runs_into_one_database_add_up(name, tmp_path):
    capture = DATA / name
    theirs = oracle.figures(str(capture))
    db_path = tmp_path / "history.sqlite"
    record(capture, db_path)
    record(capture, db_path)
    db = sqlite3.connect(db_path)
    total = [sum(v[i] for v in theirs["interfaces"].values()) for i in (0, 1)]
    assert interface_sum(db, "minutes") == times(2, total)
    assert host_sums(db, "minutes") == {k: times(2, v) for k, v in theirs["hosts"].items()}
    for grain in ("hours", "days"):  # the rollups equal the minutes they come from
        assert host_sums(db, grain) == host_sums(db, "minutes")
    assert conversation_sums(db, theirs["conversations"]) == \
        {k: times(2, v) for k, v in theirs["conversations"].items()}
