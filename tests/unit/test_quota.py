"""Quotas on named counters (--quota NAME=SIZE/PERIOD): parsing and its one-line errors,
the use per period (a new period starts over, resets take nothing back, earlier sessions
of the period come from the history), and the save's columns."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import DATA, record
from tuimon.cli import build_parser, config_from
from tuimon.core.counters import Counters
from tuimon.core.engine import Engine
from tuimon.errors import TuimonError
from tuimon.server.counterspec import compile_all
from tuimon.server.quota import calendar, parse_quota, used_before
from tuimon.sinks.history import HistoryRecorder

DAY = 86400
T0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC, a Wednesday


@pytest.mark.parametrize("text,expect", [
    ("web=50GB/month", ("web", 50 * 10**9, "month")),
    ("web = 1.5 GiB / day", ("web", int(1.5 * 2**30), "day")),
    ("web=700MB/week", ("web", 700 * 10**6, "week")),
    ("web=1000/day", ("web", 1000, "day")),
])
def test_a_quota_is_parsed(text, expect):
    assert parse_quota(text, ("web",)) == expect


@pytest.mark.parametrize("text,says", [
    ("dns=1GB/day", "no counter named 'dns'"), ("web=1GB", "NAME=SIZE/PERIOD"),
    ("web=1XB/day", "not a size unit"), ("web=0GB/day", "more than 0"),
    ("web=1GB/year", "day, week or month"),
])
def test_a_bad_quota_is_one_line_and_exit_2(text, says, capsys):
    from tuimon.cli import main

    with pytest.raises(TuimonError, match=says):
        parse_quota(text, ("web",))
    assert main(["-r", str(DATA / "dns.pcap"), "--no-ui", "--counter", "web=port 443",
                 "--quota", text]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err


def counters() -> Counters:
    return Counters(compile_all([("web", "port 443"), ("all", "proto tcp")]))


def feed(c: Counters, ts: float, size: int, port: int = 443) -> None:
    c.ingest([record("10.0.0.1", "10.0.0.2", 1000, port, size=size, ts=ts)])


def test_the_use_per_period_starts_over_and_resets_take_nothing_back():
    c = counters()
    c.set_quota("web", 1000, "day", calendar(1), before=300)  # 300 B earlier today
    feed(c, T0 + 10, 200)
    feed(c, T0 + 20, 100, port=80)  # not web
    (q,) = c.quotas()
    assert (q.name, q.limit, q.period, q.start, q.used) == ("web", 1000, "day", T0, 500)
    assert q.share == 0.5
    c.reset(["web"])  # read and zeroed in the Counters view: the quota keeps counting
    feed(c, T0 + 30, 350)
    assert c.quotas()[0].used == 850
    row = {r.name: r for r in c.rows()}["web"]
    assert (row.quota, row.quota_period, row.quota_used, row.bytes) == (1000, "day", 850, 350)
    assert {r.name: r for r in c.rows()}["all"].quota == 0
    feed(c, T0 + DAY + 5, 40)  # the next day: from zero, without what came before
    (q,) = c.quotas()
    assert (q.start, q.used) == (T0 + DAY, 40)


def test_weeks_start_on_monday_and_months_on_the_billing_day():
    start = calendar(20)
    assert start("week", T0 + 5) == T0 - 2 * DAY  # Monday 13 November
    # 2023-10-20 00:00 UTC: the 15th is before November's billing day
    assert start("month", T0 + 5) == 1_697_760_000
    assert start("day", T0 + 5) == T0


def test_what_earlier_sessions_used_comes_from_the_history(tmp_path):
    path = str(tmp_path / "h.sqlite")
    for ts, size in ((T0 - DAY + 10, 5000), (T0 + 60, 700), (T0 + 3600, 300)):
        e = Engine(rates=False)
        e.set_interface(0, "eth0", "ether")
        e.counters = counters()
        rec = HistoryRecorder.attach(e, path)
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1000, 443, size=size, ts=ts)], e.ingest)
        rec.finish()
    assert used_before(path, "web", T0) == 1000  # today's two sessions, not yesterday's
    assert used_before(path, "web", T0 - DAY) == 6000
    assert used_before(path, "nothing", T0) == 0
    assert used_before(str(tmp_path / "missing.sqlite"), "web", T0) == 0
    assert used_before(None, "web", T0) == 0


def test_the_save_has_the_quota_columns(tmp_path):
    from tuimon.server.service import EngineService

    args = ["-r", str(DATA / "netflix.pcap"), "--no-ui", "--dissect-packets", "0",
            "--counter", "web=port 80 or port 443", "--counter", "dns=port 53",
            "--quota", "web=1MB/day"]
    svc = EngineService(config_from(build_parser().parse_args(args)))
    svc.run_all()
    from tuimon.server.protocol import Query, Save

    page = svc.answer(Query(view="counters"))
    (q,) = page.quotas
    assert svc.save(Save(str(tmp_path / "out"))).error is None
    svc.close()
    with open(tmp_path / "out" / "counters.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    web = rows["web"]
    assert (web["quota"], web["quota_period"]) == ("1000000", "day")
    assert int(web["quota_used"]) == q.used == int(web["total_bytes"]) > 0
    assert (rows["dns"]["quota"], rows["dns"]["quota_period"], rows["dns"]["quota_used"]) == \
        ("0", "", "0")
