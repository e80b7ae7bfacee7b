"""history_read: the History view's series and time-of-day profile read from the fixed
history (tests/support/historyfix.py), checked against the rows written; the interfaces'
per-second trail in the core (sparklines, the last hour from memory)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from tests.support.historyfix import END_MINUTE, LOCAL, NAME, write_history
from tuimon.core.rates import TRAIL, bump_trail, trail_series
from tuimon.sinks.history_read import HistoryReader, HistoryUnreadable

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("history") / "history.sqlite")
    return path, write_history(path)


@pytest.mark.parametrize("grain,step,points", [("minutes", 60, 1440), ("hours", 3600, 720),
                                               ("days", 86400, 365)])
@pytest.mark.parametrize("kind,key", [("interface", NAME), ("host", LOCAL),
                                      ("protocol", ("transport", "udp"))])
def test_series_sums_equal_the_rows(fixed, grain, step, points, kind, key):
    path, rows = fixed
    end = (END_MINUTE // step + 1) * step
    since = end - points * step
    reader = HistoryReader(path)
    try:
        series = reader.series(kind, key, grain, since, end)
    finally:
        reader.close()
    assert len(series) == points
    assert [p.start for p in series] == list(range(since, end, step))
    written = {t: v for t, v in rows[grain].items() if since <= t < end}
    assert sum(written.values(), ()) and any(p.bytes for p in series)
    for p in series:
        i, o = written.get(p.start, (0, 0))
        assert p.bytes == i + o
        if kind == "protocol":
            assert p.in_bytes == i + o and p.out_bytes is None
        else:  # an interface's in / out; a host's received / sent
            assert (p.in_bytes, p.out_bytes) == (i, o)
    assert sum(p.bytes for p in series) == sum(i + o for i, o in written.values())


def test_time_of_day_averages(fixed):
    """Each hour of the day: the days with traffic in it, and their average bytes."""
    path, rows = fixed
    end = (END_MINUTE // 3600 + 1) * 3600
    since = end - 30 * 86400
    reader = HistoryReader(path)
    try:
        profile = reader.hours_of_day("interface", NAME, since, end)
    finally:
        reader.close()
    assert [h.hour for h in profile] == list(range(24))
    for h in profile:
        values = [(i, o) for t, (i, o) in rows["hours"].items()
                  if since <= t < end and (t // 3600) % 24 == h.hour and (i or o)]
        assert h.days == len(values)  # the outage's 3 days are not counted
        assert h.days in (26, 27, 28)
        assert h.bytes == pytest.approx(sum(i + o for i, o in values) / len(values))
        assert h.in_bytes == pytest.approx(sum(i for i, _ in values) / len(values))
        assert h.out_bytes == pytest.approx(sum(o for _, o in values) / len(values))
    busiest = max(profile, key=lambda h: h.bytes).hour
    assert busiest in (14, 15, 16)  # the fixture's rhythm peaks at 15:00 UTC


def test_unknown_key_reads_zeros(fixed):
    path, _ = fixed
    reader = HistoryReader(path)
    try:
        series = reader.series("host", "10.9.9.9", "hours", END_MINUTE - 7200 - END_MINUTE % 3600,
                               END_MINUTE - END_MINUTE % 3600)
        profile = reader.hours_of_day("host", "10.9.9.9", 0, END_MINUTE)
    finally:
        reader.close()
    assert [p.bytes for p in series] == [0, 0]
    assert all(h.days == 0 and h.bytes == 0 for h in profile)


def test_read_only_and_bad_files(tmp_path, fixed):
    path, _ = fixed
    reader = HistoryReader(path)
    with pytest.raises(sqlite3.OperationalError):
        reader.db.execute("DELETE FROM interface_minutes")
    reader.close()
    with pytest.raises(HistoryUnreadable, match="no history database"):
        HistoryReader(str(tmp_path / "missing.sqlite"))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryUnreadable, match="cannot read"):
        HistoryReader(str(junk))
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(HistoryUnreadable, match="not a tuimon history"):
        HistoryReader(str(empty))
    assert not os.path.exists(tmp_path / "missing.sqlite")  # reading never creates one


def test_trail_keeps_the_last_hour_per_second():
    trail: list = []
    bump_trail(trail, 100, 10, 6, 4)
    bump_trail(trail, 100, 5, 5, 0)
    bump_trail(trail, 103, 7, 0, 7)
    assert trail == [[100, 15, 11, 4], [103, 7, 0, 7]]
    total, ins, outs = trail_series(trail, 103.5, 5)
    assert (total, ins, outs) == ([0, 15, 0, 0, 7], [0, 11, 0, 0, 0], [0, 4, 0, 0, 7])
    bump_trail(trail, 100 + TRAIL, 1, 1, 0)  # second 100 is older than the trail now
    assert [e[0] for e in trail] == [103, 100 + TRAIL]
    total, _, _ = trail_series(trail, 100 + TRAIL, TRAIL)
    assert len(total) == TRAIL and sum(total) == 8 and total[-1] == 1


def test_engine_trail_adds_up_to_the_interface(tmp_path):
    """The wave capture played at its pace: the trail's seconds add up to the interface's
    in and out bytes, and the sparklines sent with a page are their 4-second averages."""
    from tests.support.historyfix import SECONDS, history_service
    from tuimon.server.protocol import SPARK_STEP, Query

    svc = history_service(tmp_path, with_history=False)
    row = svc.engine.interface_rows()[0]
    total, ins, outs, known = svc.engine.interface_trails(TRAIL)[NAME]
    assert known and sum(ins) == row.in_bytes and sum(outs) == row.out_bytes
    assert sum(total) == row.bytes and sum(1 for b in total if b) == SECONDS
    trail = svc.handle(Query(view="interfaces")).trails[NAME]
    assert trail.direction and trail.in_rate[-1] == sum(ins[-SPARK_STEP:]) / SPARK_STEP
    assert sum(trail.out_rate) * SPARK_STEP == sum(outs[-len(trail.out_rate) * SPARK_STEP:])


def test_a_bad_database_is_one_line_in_the_view(tmp_path):
    """A file that is not a tuimon history: the History view's answer says so in one line,
    and an interface's last hour still comes from memory."""
    from tests.support.historyfix import history_service
    from tuimon.server.protocol import HistoryOf

    svc = history_service(tmp_path, with_history=False)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00garbage" * 512)
    svc.history_file = str(junk)
    host = svc.handle(HistoryOf("host", LOCAL, "day", seq=1))
    assert host.note.startswith(f"cannot read the history {junk}") and "\n" not in host.note
    assert host.bytes == [] and host.profile == []
    interface = svc.handle(HistoryOf("interface", NAME, "month", seq=2))
    assert interface.note.endswith(": the last hour from memory") and interface.step == 1
    assert sum(interface.bytes) == svc.engine.interface_rows()[0].bytes
