"""The history database: schema and version, upserts that add up, minutes split exactly,
rollups equal to their minutes, retention per grain, migration, conversations that left."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import record
from tuimon.core.engine import Engine
from tuimon.sinks import history_schema
from tuimon.sinks.csv import CONVERSATION_COLUMNS
from tuimon.sinks.flowlog import FlowLog
from tuimon.sinks.history import (
    RETENTION,
    HistoryFailed,
    HistoryRecorder,
    connect,
    default_path,
    expire,
    write_deltas,
)

T0 = 1_700_000_040  # 2023-11-14T22:14:00Z, the start of a minute


def engine() -> Engine:
    e = Engine(rates=False)
    e.set_interface(0, "eth0", "ether")
    return e


def sums(db, table: str, key: str, *values: str) -> dict:
    cols = ", ".join(f"SUM({v})" for v in values)
    return {r[0]: list(r[1:]) for r in
            db.execute(f"SELECT {key}, {cols} FROM {table} GROUP BY {key}")}


def test_a_new_database_has_the_schema_and_its_version(tmp_path):
    db = connect(str(tmp_path / "h.sqlite"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == history_schema.VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for kind in ("interface", "host", "protocol"):
        for grain in ("minutes", "hours", "days"):
            assert f"{kind}_{grain}" in names
    cols = [r[1] for r in db.execute("PRAGMA table_info(host_minutes)")]
    assert cols == ["minute", "address", "packets", "bytes", "tx_packets", "tx_bytes",
                    "rx_packets", "rx_bytes"]
    assert [r[1] for r in db.execute("PRAGMA table_info(conversations)")] == CONVERSATION_COLUMNS


def test_upserts_add_up_and_rollups_equal_their_minutes(tmp_path):
    db = connect(str(tmp_path / "h.sqlite"))
    row = ("10.0.0.1", 2, 300, 1, 100, 1, 200)
    for minute in (T0, T0, T0 + 60, T0 + 3600, T0 + 86400):
        write_deltas(db, minute, {"host": [row]})
    assert db.execute("SELECT packets, bytes FROM host_minutes WHERE minute = ?",
                      (T0,)).fetchone() == (4, 600)
    assert db.execute("SELECT COUNT(*) FROM host_minutes").fetchone()[0] == 4
    values = ("packets", "bytes", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes")
    minutes = sums(db, "host_minutes", "address", *values)
    assert minutes == {"10.0.0.1": [10, 1500, 5, 500, 5, 1000]}
    assert sums(db, "host_hours", "address", *values) == minutes
    assert sums(db, "host_days", "address", *values) == minutes
    hours = [r[0] for r in db.execute("SELECT hour FROM host_hours ORDER BY hour")]
    assert all(h % 3600 == 0 for h in hours) and len(hours) == 3


def test_the_recorder_splits_minutes_exactly_and_commits_each_one(tmp_path):
    """Batches that straddle minutes are cut where the minute ends; a closed minute is
    committed (another connection sees it) while the open one is not yet."""
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    batch = [record("10.0.0.1", "10.0.0.2", 1000, 80, size=100, ts=T0 + s)
             for s in (0, 30, 59.999, 60, 61, 150)]
    rec.ingest(batch[:2], e.ingest)
    rec.ingest(batch[2:], e.ingest)  # crosses into T0+60 and T0+120
    assert rec.flush(10)  # the writer thread has committed what it was handed
    other = sqlite3.connect(path)
    got = dict(other.execute("SELECT minute, packets FROM interface_minutes"))
    assert got == {T0: 3, T0 + 60: 2}  # T0+120 is still open
    rec.finish()
    got = dict(other.execute("SELECT minute, packets FROM interface_minutes"))
    assert got == {T0: 3, T0 + 60: 2, T0 + 120: 1}
    hosts = dict(other.execute("SELECT address, SUM(tx_packets) FROM host_minutes GROUP BY 1"))
    assert hosts == {"10.0.0.1": 6, "10.0.0.2": 0}
    assert other.execute("SELECT protocol, SUM(packets) FROM protocol_minutes "
                         "WHERE layer = 'transport' GROUP BY 1").fetchall() == [("tcp", 6)]
    assert other.execute("SELECT state, packets_a_to_b FROM conversations").fetchall() == \
        [("active", 6)]


def test_a_quiet_clock_closes_the_minute(tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + 5)], e.ingest)
    rec.tick(T0 + 30)
    assert rec.flush(10)
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM interface_minutes").fetchone()[0] == 0
    rec.tick(T0 + 61)
    assert rec.flush(10)
    assert other.execute("SELECT minute, packets FROM interface_minutes").fetchall() == [(T0, 1)]


def test_conversations_that_leave_go_to_the_flowlog_and_the_history(tmp_path):
    e = Engine(rates=False, flow_timeout=10)
    e.set_interface(0, "eth0", "ether")
    log = FlowLog.attach(e)
    rec = HistoryRecorder.attach(e, str(tmp_path / "h.sqlite"))
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, proto=17, ts=T0),
                record("10.0.0.3", "10.0.0.2", 1, 2, proto=17, ts=T0 + 100)], e.ingest)
    rec.finish()
    assert log.rows == 1
    db = sqlite3.connect(str(tmp_path / "h.sqlite"))
    rows = db.execute("SELECT address_a, state, first_seen FROM conversations "
                      "ORDER BY first_seen").fetchall()
    assert rows == [("10.0.0.1", "expired", T0), ("10.0.0.3", "active", T0 + 100)]


def test_two_sessions_add_to_the_same_minutes(tmp_path):
    path = str(tmp_path / "h.sqlite")
    for _ in range(2):
        e = engine()
        rec = HistoryRecorder.attach(e, path)
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, size=70, ts=T0 + 1)], e.ingest)
        rec.finish()
    db = sqlite3.connect(path)
    assert db.execute("SELECT packets, bytes FROM interface_minutes").fetchall() == [(2, 140)]
    assert db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 2


def test_retention_per_grain(tmp_path):
    db = connect(str(tmp_path / "h.sqlite"))
    now = T0 + 400 * 86400
    for minute in (T0, now - 8 * 86400, now - 60):
        write_deltas(db, minute, {"interface": [("eth0", 1, 10, 0, 0, 0, 0)]})
    expire(db, now)
    assert [r[0] for r in db.execute("SELECT minute FROM interface_minutes")] == [now - 60]
    assert db.execute("SELECT COUNT(*) FROM interface_hours").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*), SUM(packets) FROM interface_days").fetchone() == (3, 3)
    assert RETENTION["days"] is None


def test_an_older_database_is_migrated_never_discarded(tmp_path, monkeypatch):
    path = str(tmp_path / "h.sqlite")
    db = connect(path)
    write_deltas(db, T0, {"interface": [("eth0", 1, 10, 0, 0, 0, 0)]})
    db.close()

    def step(db):
        db.execute("ALTER TABLE interface_minutes ADD COLUMN drops INTEGER NOT NULL DEFAULT 0")

    later = history_schema.VERSION + 1
    monkeypatch.setattr(history_schema, "VERSION", later)
    monkeypatch.setitem(history_schema.MIGRATIONS, later, step)
    db = connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == later
    assert db.execute("SELECT packets, drops FROM interface_minutes").fetchall() == [(1, 0)]


def test_a_version_1_database_gets_the_counter_tables_and_keeps_its_rows(tmp_path):
    """A database of the first schema (no named counters) is migrated through the second
    (the counter tables) to the current one (the conversations' address index)."""
    path = str(tmp_path / "v1.sqlite")
    db = sqlite3.connect(path, isolation_level=None)
    history_schema.MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO interface_minutes (minute, interface, packets, bytes) "
               "VALUES (?, 'eth0', 3, 300)", (T0,))
    db.close()
    db = connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == history_schema.VERSION == 3
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                      "name = 'conversations_ends'").fetchone() == ("conversations_ends",)
    assert db.execute("SELECT packets, bytes FROM interface_minutes").fetchall() == [(3, 300)]
    write_deltas(db, T0, {"counter": [("web", 2, 200)]})
    assert db.execute("SELECT name, packets, bytes FROM counter_days").fetchall() == \
        [("web", 2, 200)]


def test_named_counters_are_recorded_per_minute_and_resets_take_nothing_back(tmp_path):
    from tuimon.core.counters import Counters
    from tuimon.server.counterspec import compile_all

    path = str(tmp_path / "h.sqlite")
    e = engine()
    e.counters = Counters(compile_all([("web", "port 443"), ("all", "proto tcp")]))
    rec = HistoryRecorder.attach(e, path)
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 443, size=100, ts=T0 + 1),
                record("10.0.0.1", "10.0.0.2", 1, 80, size=60, ts=T0 + 2)], e.ingest)
    e.counters.reset()  # read and zeroed in the app: the history keeps what was counted
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 443, size=70, ts=T0 + 61)], e.ingest)
    rec.finish()
    db = sqlite3.connect(path)
    assert sorted(db.execute("SELECT minute, name, packets, bytes FROM counter_minutes")) == \
        [(T0, "all", 2, 160), (T0, "web", 1, 100), (T0 + 60, "all", 1, 70),
         (T0 + 60, "web", 1, 70)]
    assert sorted(db.execute("SELECT name, packets, bytes FROM counter_days")) == \
        [("all", 3, 230), ("web", 2, 170)]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    path = str(tmp_path / "h.sqlite")
    connect(path).close()

    def broken(db):
        db.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("disk I/O error")

    now = history_schema.VERSION
    monkeypatch.setattr(history_schema, "VERSION", now + 1)
    monkeypatch.setitem(history_schema.MIGRATIONS, now + 1, broken)
    with pytest.raises(HistoryFailed):
        connect(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == now
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'").fetchall()


def test_a_newer_database_or_another_file_is_one_error(tmp_path):
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryFailed, match="newer tuimon"):
        connect(str(newer))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(HistoryFailed, match="cannot open the history"):
        connect(str(junk))


def test_the_default_path_follows_xdg_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == str(tmp_path / "tuimon" / "history.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", "/home/x")
    assert default_path() == "/home/x/.local/share/tuimon/history.sqlite"


def test_the_test_suite_never_records_into_the_real_home():
    import os

    assert os.environ["XDG_DATA_HOME"] == os.environ["TUIMON_TEST_XDG"]
    assert not default_path().startswith(os.path.expanduser("~") + "/.local")


def test_history_keep_sets_each_grains_retention(tmp_path):
    """--history-keep GRAIN=AGE over the defaults: a playback recording into a database with
    older rows deletes those its grains' ages put out (retention runs at the first commit)."""
    from tests.conftest import DATA
    from tuimon.cli import build_parser, config_from
    from tuimon.server.service import EngineService

    args = ["-r", str(DATA / "dns.pcap"), "--no-ui", "--dissect-packets", "0"]
    first = EngineService(config_from(build_parser().parse_args(args)))
    first.run_all()
    now = int(first.engine.now)
    first.close()
    for keep, left in (([], 3), (["--history-keep", "minutes=1h"], 2),
                       (["--history-keep", "minutes=1h", "--history-keep", "hours=forever",
                         "--history-keep", "days=1d"], 2)):
        path = str(tmp_path / f"h{len(keep)}.sqlite")
        db = connect(path)
        with db:
            for age in (5400, 1800, 600):  # 1.5 h, half an hour, 10 minutes before
                write_deltas(db, now - age - now % 60,
                             {"interface": [("old", 1, 10, 0, 0, 0, 0)]})
        db.close()
        config = config_from(build_parser().parse_args([*args, "--history", path, *keep]))
        assert dict(config.history_keep) == dict((k.split("=")[0], v) for k, v in zip(
            keep[1::2], [{"1h": 3600, "forever": None, "1d": 86400}[k.split("=")[1]]
                         for k in keep[1::2]]))
        service = EngineService(config)
        service.run_all()
        service.close()
        db = sqlite3.connect(path)
        assert db.execute("SELECT COUNT(*) FROM interface_minutes WHERE interface = 'old'"
                          ).fetchone()[0] == left
        assert db.execute("SELECT SUM(packets) FROM interface_days WHERE interface = 'old'"
                          ).fetchone()[0] == 3  # a day is kept at least a day
        db.close()


@pytest.mark.parametrize("value", ["minutes", "weeks=3d", "minutes=3", "minutes=10s",
                                   "hours=xd", "days=-1d"])
def test_a_bad_history_keep_is_one_line_and_exit_2(value, capsys):
    from tuimon.cli import build_parser

    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["--history-keep", value])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--history-keep" in err and "Traceback" not in err


def test_a_large_minute_bound_once_writes_what_row_by_row_upserts_write(tmp_path, monkeypatch):
    """Many rows of a kind go through a temporary table and INSERT ... SELECT into the
    minute, hour and day; the tables are those the upserts of each row give, over minutes
    that add to rows already there."""
    import random

    from tuimon.sinks import history

    rng = random.Random(3)
    minutes = [T0 + 60 * rng.randrange(0, 200) for _ in range(6)]
    deltas = [{"host": [(f"10.0.{i // 250}.{i % 250}", *(rng.randrange(1, 9) for _ in range(6)))
                        for i in rng.sample(range(2000), 600)],
               "protocol": [("transport", "tcp", 3, 300)]} for _ in minutes]
    dumps = []
    for bulk in (history.BULK, 10**9):
        monkeypatch.setattr(history, "BULK", bulk)
        db = connect(str(tmp_path / f"b{bulk}.sqlite"))
        for minute, d in zip(minutes, deltas):
            db.execute("BEGIN IMMEDIATE")
            write_deltas(db, minute, d)
            db.execute("COMMIT")
        dumps.append({t: sorted(db.execute(f"SELECT * FROM {t}").fetchall())
                      for t in ("host_minutes", "host_hours", "host_days", "protocol_days")})
        db.close()
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["host_minutes"]) > 600  # minutes shared by the runs add up
