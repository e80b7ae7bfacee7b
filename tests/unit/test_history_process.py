"""The history's writer process (tuimon/sinks/history_process.py): the SQLite work of the
recording in a child process of its own. Its death stops the recording in one line and
never the counting; the last minute is written while a headless session reports, and
waited for, even when the report fails; a frame cut short is dropped whole; a Ctrl-C at
the terminal does not reach it."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from tests.conftest import DATA, record
from tuimon.core.engine import Engine
from tuimon.sinks import history_process
from tuimon.sinks.history import RETENTION, HistoryRecorder
from tuimon.sinks.history_process import HEADER, WriterProcess, _frame

T0 = 1_700_000_040  # the start of a minute


def engine() -> Engine:
    e = Engine(rates=False)
    e.set_interface(0, "eth0", "ether")
    return e


def minutes(path) -> list:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT minute, packets FROM interface_minutes ORDER BY 1").fetchall()
    finally:
        db.close()


def test_the_writer_process_dying_stops_the_recording_in_one_line_never_the_counting(
        tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path, live=True)
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0)], e.ingest)
    rec.tick(T0 + 60)
    assert rec.flush(10) and rec.minutes == 1 and not rec.error
    rec.process.proc.kill()
    rec.process.proc.wait(10)
    for m in (1, 2, 3):
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + 60 * m)], e.ingest)
    rec.finish()
    assert rec.error == (f"history not recorded from {T0 + 60}: cannot write {path}: its "
                         f"writing process ended (killed by signal {signal.SIGKILL})")
    assert rec.minutes == 1
    assert e.totals().packets == 4  # everything counted
    assert minutes(path) == [(T0, 1)]


def test_a_writer_process_gone_before_the_last_minute_says_so(tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + 1)], e.ingest)
    rec.process.proc.kill()
    rec.process.proc.wait(10)
    rec.finish()
    assert rec.error.startswith(f"history not recorded from {T0}: cannot write {path}: ")
    assert "writing process ended" in rec.error and "\n" not in rec.error
    assert rec.minutes == 0
    assert minutes(path) == []


def test_the_last_minute_is_written_while_the_caller_goes_on_and_waited_for(tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    for s in (0, 30, 61):
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + s)], e.ingest)
    rec.finish(wait=False)
    assert rec.closed and rec.minutes == 1  # the first minute, through the writer thread
    assert not rec.writer._thread.is_alive()  # no thread left (a report may fork)
    rec.finish()  # waits for the last one
    assert rec.minutes == 2 and not rec.error
    assert rec.process.proc.returncode == 0  # ended, database closed
    assert minutes(path) == [(T0, 2), (T0 + 60, 1)]
    assert not os.path.exists(f"{path}-wal")  # checkpointed when it closed


def test_a_frame_cut_short_is_dropped_whole(tmp_path):
    """A counting process killed in the middle of handing a minute over: the writer
    process commits the minutes before it, never part of that one, and ends."""
    path = str(tmp_path / "h.sqlite")
    HistoryRecorder(engine(), path).close()  # the schema
    proc = WriterProcess(path, dict(RETENTION))
    deltas = {"interface": {"eth0": (3, 300, 0, 0, 0, 0)}}
    assert proc.call(("minute", T0, T0 + 59.0, deltas, [])) is None
    frame = _frame(("minute", T0 + 60, T0 + 119.0, deltas, []))
    proc.proc.stdin.write(frame[:HEADER.size + 5])
    proc.close_input()
    proc.wait(10)
    assert proc.proc.returncode == 0
    assert minutes(path) == [(T0, 3)]


def test_a_ctrl_c_at_the_terminal_does_not_reach_the_writer_process(tmp_path):
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    child = rec.process.proc.pid
    assert os.getsid(child) != os.getsid(0)  # a session of its own: not the terminal's
    assert rec.process.execute("SELECT 1") == [(1,)]  # started
    os.kill(child, signal.SIGINT)  # and it ignores one sent to it anyway
    rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0), record("10.0.0.1", "10.0.0.2",
                                                                      1, 2, ts=T0 + 60)],
               e.ingest)
    assert rec.flush(10)
    rec.finish()
    assert not rec.error and minutes(path) == [(T0, 1), (T0 + 60, 1)]


def test_a_writer_process_that_cannot_start_is_one_line_before_counting(tmp_path, monkeypatch):
    from tuimon.sinks.history import HistoryFailed

    monkeypatch.setattr(history_process.sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(HistoryFailed, match="cannot start its writer"):
        HistoryRecorder(engine(), str(tmp_path / "h.sqlite"))


def _headless(path, capture="ftp.pcap"):
    """ftp.pcap: 209 packets from 19:03:54 to 19:04:03, two minutes, the last one handed
    over at the end; nats.pcap: 27 packets, all in one minute (the last)."""
    from tuimon.cli import build_parser, config_from

    args = ["-r", str(DATA / capture), "--no-ui", "--dissect-packets", "0", "--history",
            path]
    return config_from(build_parser().parse_args(args))


def _writers() -> list[int]:
    """This process's writer processes still running."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"history_process" in cmd:
            found.append(int(pid))
    return found


def test_headless_waits_for_the_last_minute_even_when_the_report_fails(tmp_path,
                                                                       monkeypatch):
    from tuimon.server import headless
    from tuimon.errors import ExportFailed

    writer = []

    def broken(config, service):
        assert service.history.closed  # handed over, being written meanwhile
        writer.append(service.history.process.proc.pid)
        raise ExportFailed("cannot save CSV into x: disk full")

    monkeypatch.setattr(headless, "report", broken)
    path = str(tmp_path / "h.sqlite")
    with pytest.raises(ExportFailed):
        headless.run_headless(_headless(path))
    assert writer and writer[0] not in _writers()  # waited for
    got = minutes(path)
    assert len(got) == 2 and sum(p for _, p in got) == 209
    db = sqlite3.connect(path)
    assert db.execute("SELECT SUM(packets) FROM interface_days").fetchone()[0] == 209


@pytest.mark.parametrize("capture", ["ftp.pcap", "nats.pcap"])
def test_headless_says_the_writers_error_once(tmp_path, monkeypatch, capsys, capture):
    """Known while counting (ftp.pcap's first minute), or only once the last minute was
    waited for, after the report (nats.pcap has one minute): one line either way."""
    # it ends once the first message (open) has come: ended before it, the write of that
    # message fails and the recorder is refused at its start (a race the test is not about)
    monkeypatch.setattr(history_process, "_BOOT",
                        "import sys; sys.stdin.buffer.read(1); sys.exit(3)")
    path = str(tmp_path / "h.sqlite")
    from tuimon.server import headless

    ending = headless.run_headless(_headless(path, capture))
    assert ending.code == 0  # a recording that stopped is a note, the counting went on
    out = capsys.readouterr()
    err = [line for line in out.err.splitlines() if "history" in line]
    assert len(err) == 1, err
    assert err[0].startswith("tuimon: history not recorded from ")
    assert err[0].endswith(f"cannot write {path}: its writing process ended (exit status 3)")
    assert "Traceback" not in out.err
    assert minutes(path) == []  # the schema is there (made before counting), no rows


def test_a_writer_process_that_hangs_is_waited_for_a_bounded_time(tmp_path, monkeypatch):
    """A writer stuck (a disk that stopped answering) holds the end of the session for the
    time given, then the session ends and says so; the process finishes on its own."""
    import time

    monkeypatch.setattr(history_process, "_BOOT", "import time; time.sleep(60)")
    path = str(tmp_path / "h.sqlite")
    e = engine()
    rec = HistoryRecorder.attach(e, path)
    try:
        rec.ingest([record("10.0.0.1", "10.0.0.2", 1, 2, ts=T0 + 1)], e.ingest)
        rec.finish(wait=False)
        began = time.monotonic()
        rec.wait(timeout=0.5)
        assert time.monotonic() - began < 5
        assert rec.error == (f"history not recorded from {T0}: cannot write {path}: its "
                             f"writing process did not finish in time")
    finally:
        rec.process.proc.kill()
        rec.process.proc.wait(10)
