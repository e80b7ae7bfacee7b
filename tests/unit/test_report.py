"""``tuimon report`` on a fixed history (recorded here from fixed packets): its CSV files
against golden copies in tests/data/report/, the table, WHEN, and bad arguments."""

from __future__ import annotations

import calendar
import os
from pathlib import Path

import pytest

from tests.conftest import record
from tuimon.cli import main as cli_main
from tuimon.core.engine import Engine
from tuimon.sinks.history import HistoryRecorder
from tuimon.sinks.report import BY, main, parse_when

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "report"
DAY1 = calendar.timegm((2024, 3, 1, 0, 0, 0))  # Friday 1 March 2024, UTC
NOW = DAY1 + 86400 + 12 * 3600  # 2 March, noon
UPDATE = os.environ.get("TUIMON_UPDATE_GOLDEN") == "1"


@pytest.fixture
def history(tmp_path) -> str:
    """Two days: a web client busy in the morning of each, DNS every hour of the first,
    an IPv6 pair once; in/out known (``way``) on eth0, not on eth1."""
    packets = []
    for day in (DAY1, DAY1 + 86400):
        for minute in range(0, 180, 7):  # 00:00 to 03:00
            ts = day + 8 * 3600 + minute * 60 + 5
            packets.append(record("10.0.0.1", "93.184.216.34", 40000, 443, size=600, ts=ts,
                                  way=2))
            packets.append(record("93.184.216.34", "10.0.0.1", 443, 40000, size=1500,
                                  ts=ts + 0.5, way=1))
    for hour in range(24):
        packets.append(record("10.0.0.1", "10.0.0.53", 5353, 53, proto=17, size=80,
                              ts=DAY1 + hour * 3600 + 30, iface=1))
    packets.append(record("2001:db8::1", "2001:db8::2", 50000, 80, size=700,
                          ts=DAY1 + 86400 + 3600))
    packets.sort(key=lambda r: r[1])
    path = str(tmp_path / "history.sqlite")
    e = Engine(rates=False)
    e.set_interface(0, "eth0", "ether", direction="flags")
    e.set_interface(1, "eth1", "ether")
    rec = HistoryRecorder.attach(e, path)
    for i in range(0, len(packets), 5):
        rec.ingest(packets[i:i + 5], e.ingest)
    rec.finish()
    return path


@pytest.mark.parametrize("by", BY)
def test_the_csv_reports_are_golden(history, tmp_path, by, capsys):
    out = tmp_path / "out"
    assert main(["--history", history, "--by", by, "--csv", str(out)], now=NOW) == 0
    assert capsys.readouterr().out == f"{out / f'report-{by}.csv'}\n"
    got = (out / f"report-{by}.csv").read_text()
    golden = GOLDEN / f"report-{by}.csv"
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text()


def test_a_period_is_read_from_the_table_that_holds_it(history, tmp_path):
    """Both days from the days table, a morning from the hours, 08:00-08:30 from the
    minutes: each the figures of its period."""
    def host_csv(*args):
        out = tmp_path / "o"
        assert main(["--history", history, "--by", "host", "--csv", str(out), *args],
                    now=NOW) == 0
        return (out / "report-host.csv").read_text().splitlines()

    everything = host_csv()
    assert host_csv("--since", "2024-03-01", "--until", "2024-03-03") == everything
    first_day = host_csv("--since", "2024-03-01", "--until", "2024-03-02")
    assert first_day[1].startswith("10.0.0.1,76,")  # 26 exchanges (52 packets) and 24 DNS
    half_hour = host_csv("--since", "2024-03-02T08:00", "--until", "2024-03-02T08:30")
    assert half_hour[1].startswith("10.0.0.1,10,")  # minutes 0, 7, 14, 21, 28
    assert host_csv("--since", "today") == host_csv("--since", "2024-03-02") != everything


def test_the_table_on_stdout(history, capsys):
    assert main(["--history", history, "--by", "protocol", "--top", "2"], now=NOW) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "protocol", "packets", "bytes"]
    assert lines[1].split() == ["transport", "tcp", "105", "109900"]
    assert len(lines) == 3


def test_when():
    assert parse_when("today", NOW) == DAY1 + 86400
    assert parse_when("yesterday", NOW) == DAY1
    assert parse_when("7d", NOW) == DAY1 + 86400 - 6 * 86400
    assert parse_when("2h", NOW) == NOW - 3600
    assert parse_when("this-month", NOW) == DAY1
    assert parse_when("2024-03-01T08:30Z", NOW) == DAY1 + 8 * 3600 + 1800


@pytest.mark.parametrize("args", [
    ["--by", "week"], ["--since", "last tuesday"], ["--top", "0"], ["--top", "x"],
    ["--since", "2024-03-02", "--until", "2024-03-01"], ["--history", "/nonexistent/h.sqlite"],
])
def test_bad_arguments_are_one_line_and_exit_2(args, history, capsys):
    if "--history" not in args:
        args = ["--history", history, *args]
    assert cli_main(["report", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("tuimon report: ")
    assert captured.out == ""


def test_a_file_that_is_not_a_history(tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.write_text("hello")
    assert cli_main(["report", "--history", str(junk)]) == 2
    assert capsys.readouterr().err.startswith("tuimon report: ")
