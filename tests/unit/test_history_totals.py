"""Totals that survive a restart: today, this week and this accounting period per host and
interface from the history database; the billing day on the command line and in
``tuimon report --since this-period``; where a session records by default."""

from __future__ import annotations

import calendar
import random

import pytest

from tuimon.cli import build_parser, config_from
from tuimon.config import Config
from tuimon.sinks.history import connect, default_path, history_path, write_deltas
from tuimon.sinks.history_totals import period_start, starts, totals, week_start
from tuimon.sinks.report import main as report
from tuimon.sinks.report import parse_when


def utc(*ymd_hm) -> int:
    return calendar.timegm((*ymd_hm, *(0,) * (6 - len(ymd_hm))))


@pytest.mark.parametrize("now, day, start", [
    (utc(2024, 3, 10, 12), 15, utc(2024, 2, 15)),  # before the day: last month's
    (utc(2024, 3, 15), 15, utc(2024, 3, 15)),  # on it, at midnight: this month's
    (utc(2024, 3, 31, 23, 59), 1, utc(2024, 3, 1)),
    (utc(2024, 1, 3), 28, utc(2023, 12, 28)),  # across the new year
    (utc(2024, 3, 29), 28, utc(2024, 3, 28)),
])
def test_the_accounting_period_starts_on_the_billing_day(now, day, start):
    assert period_start(now, day) == start


def test_the_week_starts_on_monday():
    assert week_start(utc(2024, 3, 1, 15)) == utc(2024, 2, 26)  # a Friday
    assert week_start(utc(2024, 2, 26)) == utc(2024, 2, 26)  # Monday itself
    assert week_start(utc(2024, 3, 3, 23, 59)) == utc(2024, 2, 26)  # Sunday


def test_totals_per_host_and_interface_add_up_over_each_period(tmp_path):
    """Random minutes over 50 days, written by three 'sessions' (upserts adding up), read
    back per period against the same figures added up here."""
    now = utc(2024, 3, 20, 13, 30)
    rng = random.Random(15)
    written = []
    for session in range(3):
        db = connect(str(tmp_path / "h.sqlite"))
        for _ in range(200):
            minute = now - rng.randrange(50 * 86400) // 60 * 60
            host = f"10.0.0.{rng.randrange(4)}"
            p, b = rng.randrange(1, 50), rng.randrange(60, 90_000)
            write_deltas(db, minute, {"host": [(host, p, b, p, b, 0, 0)],
                                      "interface": [("eth0", p, b, 0, 0, p, b)]})
            written.append((minute, host, p, b))
        db.close()
    db = connect(str(tmp_path / "h.sqlite"))
    begin = starts(now, 10)
    assert begin == {"today": utc(2024, 3, 20), "week": utc(2024, 3, 18),
                     "period": utc(2024, 3, 10)}
    hosts = totals(db, "host", now, 10)
    ifs = totals(db, "interface", now, 10)
    for period, start in begin.items():
        expect: dict[str, list] = {}
        for minute, host, p, b in written:
            if minute >= start:
                e = expect.setdefault(host, [0, 0])
                e[0] += p
                e[1] += b
        assert {h: list(v[:2]) for h, v in hosts[period].items()} == expect
        assert {h: v[2:4] for h, v in hosts[period].items()} == \
            {h: tuple(v) for h, v in expect.items()}  # tx
        assert list(ifs[period]) == ["eth0"]
        assert ifs[period]["eth0"][:2] == tuple(map(sum, zip(*expect.values())))
    with pytest.raises(ValueError):
        totals(db, "protocol", now)
    db.close()
    # The History view's line reads the same periods for one host or interface.
    from tuimon.sinks.history_read import HistoryReader

    reader = HistoryReader(str(tmp_path / "h.sqlite"))
    for host in {h for _, h, _, _ in written}:
        got = reader.periods("host", host, now, 10)
        assert [(name, start) for name, start, _ in got] == list(begin.items())
        for name, _, point in got:
            sent = sum(b for m, h, _, b in written if h == host and m >= begin[name])
            assert (point.bytes, point.in_bytes, point.out_bytes) == (sent, 0, sent)
    for name, _, point in reader.periods("interface", "eth0", now, 10):
        assert point.bytes == point.out_bytes == \
            sum(b for m, _, _, b in written if m >= begin[name])
        assert point.in_bytes == 0
    reader.close()


def test_report_since_this_period_and_this_week(tmp_path, capsys):
    db = connect(str(tmp_path / "h.sqlite"))
    now = utc(2024, 3, 20, 12)
    for day, packets in ((utc(2024, 3, 9), 1), (utc(2024, 3, 10), 10), (utc(2024, 3, 18), 100)):
        write_deltas(db, day + 3600, {"host": [("10.0.0.1", packets, packets, 0, 0, 0, 0)]})
    db.close()
    path = str(tmp_path / "h.sqlite")

    def packets(*args) -> str:
        assert report(["--history", path, *args], now=now) == 0
        return capsys.readouterr().out.splitlines()[1].split()[1]

    assert packets("--since", "this-period", "--billing-day", "10") == "110"
    assert packets("--since", "this-period") == "111"  # billing day 1
    assert packets("--since", "this-week") == "100"
    assert parse_when("this-period", now, 21) == utc(2024, 2, 21)
    assert report(["--history", path, "--billing-day", "29"], now=now) == 2
    assert "--billing-day: the billing day must be 1 to 28" in capsys.readouterr().err


def test_the_billing_day_on_the_command_line():
    assert config_from(build_parser().parse_args(["eth0"])).billing_day == 1
    assert config_from(build_parser().parse_args(["--billing-day", "28"])).billing_day == 28


@pytest.mark.parametrize("value", ["0", "29", "x"])
def test_a_bad_billing_day_is_one_line_and_exit_2(value, capsys):
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["--billing-day", value])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--billing-day" in err and "Traceback" not in err


def test_live_sessions_record_by_default_playback_only_when_asked():
    assert history_path(Config(interfaces=("eth0",))) == default_path()
    assert history_path(Config(interfaces=("eth0",), no_history=True)) is None
    assert history_path(Config(interfaces=("eth0",), history="x.sqlite")) == "x.sqlite"
    assert history_path(Config(read="x.pcap")) is None
    assert history_path(Config(read="x.pcap", history="x.sqlite")) == "x.sqlite"
    assert history_path(Config(read="x.pcap", history="x.sqlite", no_history=True)) is None
