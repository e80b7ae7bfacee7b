"""The engine behind the UI: EngineService in process, and the real worker process."""

from __future__ import annotations

import os
import queue
import time

import pytest

from tuimon.capture.source import Source
from tuimon.server.protocol import Query
from tuimon.server.protocol import (
    CAPTURING,
    ERROR,
    FINISHED,
    PLAYING,
    Ping,
    Pong,
    Save,
    Saved,
    Status,
)
from tuimon.server.service import EngineService
from tuimon.errors import CaptureFailed
from tuimon.config import Config
from tuimon.server.client import ProcessClient as ProcessBackend
from tests.support.worker import Collector, FakeLive, PCAP, args_for, failing_source

FILES = ["alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
         "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv", "stations.csv"]


def service(path: str = PCAP, **kw) -> EngineService:
    svc = EngineService(args_for(path), clock=lambda: 50.0, wallclock=lambda: 1700000000.0, **kw)
    svc.run_all()
    return svc


# -- in process --------------------------------------------------------------------------

def test_service_counts_a_file_and_answers():
    svc = service()
    assert svc.status.state == FINISHED and svc.status.source == "1kxun.pcap"
    page = svc.answer(Query(view="hosts", limit=5, seq=7))
    assert page.seq == 7 and page.total == 100 and len(page.rows) == 5
    assert page.state == FINISHED and page.source == "1kxun.pcap"
    assert page.totals.packets == 1723


def test_missing_file_is_an_error_before_opening(tmp_path):
    svc = service(str(tmp_path / "nope.pcap"))
    assert svc.status.state == ERROR and not svc.status.opened
    assert "no such file" in svc.status.message
    assert svc.answer(Query(view="hosts")).total == 0  # still answers


def test_save_into_folder_and_failure_keeps_running(tmp_path):
    svc = service()
    saved = svc.save(Save(str(tmp_path / "out"), seq=1))
    assert saved.error is None and sorted(os.listdir(tmp_path / "out")) == FILES
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    failed = svc.save(Save(str(blocker / "sub"), seq=2))
    assert failed.seq == 2 and failed.error and "cannot save CSV" in failed.error
    assert svc.answer(Query(view="hosts")).total == 100


def test_save_without_folder_makes_a_new_dated_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    svc = service()
    first = svc.save(Save(None))
    second = svc.save(Save(None))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(1700000000.0))
    assert first.folder == f"tuimon-{stamp}" and second.folder == f"tuimon-{stamp}-2"
    assert sorted(os.listdir(tmp_path / first.folder)) == FILES


def test_live_capture_problems_become_messages_then_an_error(kit):
    source = FakeLive(kit)
    svc = EngineService(args_for(None, interfaces=["eth0", "eth1"]), lambda a: source)
    assert svc.open().state == CAPTURING and svc.status.source == "eth0, eth1"
    batches = source.batches()
    svc.ingest(next(batches))
    assert svc.capture_news() is None
    svc.ingest(next(batches))
    news = svc.capture_news()
    assert news.state == CAPTURING and news.message == "capture ended on eth1: interface removed"
    assert svc.capture_news() is None  # said once
    for batch in batches:
        svc.ingest(batch)
    final = svc.finish()
    assert final.state == ERROR and "eth0: dumpcap exited" in final.message
    assert svc.answer(Query(view="hosts")).total == 2  # what was counted stays


# -- the real process --------------------------------------------------------------------------


@pytest.fixture
def backend_factory():
    started = []

    def make(args, factory=None):
        backend = ProcessBackend(args, factory)
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()


def test_worker_process_counts_answers_saves_and_stops(backend_factory, tmp_path):
    backend = backend_factory(args_for())
    first = backend.launch()
    assert first.state in (PLAYING, FINISHED) and first.opened
    got = Collector()
    backend.start(got)
    got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
    backend.send(Query(view="conversations", limit=3, seq=1))
    page = got.wait_for(lambda r: getattr(r, "seq", None) == 1 and hasattr(r, "rows"))
    assert page.total == 197 and len(page.rows) == 3
    backend.send(Ping(seq=5))
    pong = got.wait_for(lambda r: isinstance(r, Pong))
    assert pong.pid != os.getpid() and pong.pid == backend.process.pid
    assert "tuimon" in pong.modules
    assert "textual" not in pong.modules and "rich" not in pong.modules
    backend.send(Save(str(tmp_path / "csv"), seq=3))
    saved = got.wait_for(lambda r: isinstance(r, Saved))
    assert saved.error is None and sorted(os.listdir(tmp_path / "csv")) == FILES
    backend.stop()
    assert not backend.process.is_alive()


def test_worker_process_answers_only_the_newest_query(backend_factory):
    backend = backend_factory(args_for())
    backend.launch()
    got = Collector()
    backend.start(got)
    got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
    time.sleep(0.3)
    for seq in range(1, 6):
        backend._requests.send(Query(view="hosts", seq=seq))  # one burst
    last = got.wait_for(lambda r: getattr(r, "seq", None) == 5 and hasattr(r, "rows"))
    assert last.total == 100


def test_worker_process_open_error_is_reported(backend_factory, tmp_path):
    backend = backend_factory(args_for(str(tmp_path / "missing.pcap")))
    status = backend.launch()
    assert status.state == ERROR and not status.opened and "no such file" in status.message


def test_worker_process_capture_error_keeps_the_counts(backend_factory):
    backend = backend_factory(args_for("broken.pcap"), failing_source)
    backend.launch()
    got = Collector()
    backend.start(got)
    error = got.wait_for(lambda r: isinstance(r, Status) and r.state == ERROR)
    assert error.message == "dumpcap exited: the device went away" and error.opened
    backend.send(Query(view="hosts", seq=9))
    page = got.wait_for(lambda r: getattr(r, "seq", None) == 9)
    assert page.total == 2 and page.state == ERROR


def endless_source(args):
    """A live-like source that never ends; close() leaves a mark (module level: pickled)."""

    from tuimon.capture.source import Source

    class Endless(Source):
        kind = "live"
        name = "endless"
        interfaces = []

        def batches(self):
            while True:
                time.sleep(0.05)
                yield []

        def skipped(self):
            return 0

        def close(self):
            with open(args.read, "w") as f:
                f.write("closed")

    return Endless()


def test_worker_survives_hangup_and_closes_its_source_when_the_ui_goes(backend_factory, tmp_path):
    import signal

    mark = tmp_path / "closed"
    backend = backend_factory(args_for(str(mark)), endless_source)
    assert backend.launch().state == CAPTURING
    os.kill(backend.process.pid, signal.SIGHUP)  # the terminal hangs up
    time.sleep(0.5)
    assert backend.process.is_alive() and not mark.exists()
    backend._requests.close()  # the UI is gone
    backend._replies.close()
    backend.process.join(10)
    assert not backend.process.is_alive() and mark.read_text() == "closed"


def test_worker_closes_its_source_on_sigterm(backend_factory, tmp_path):
    mark = tmp_path / "closed"
    backend = backend_factory(args_for(str(mark)), endless_source)
    assert backend.launch().state == CAPTURING
    backend.process.terminate()
    backend.process.join(10)
    assert not backend.process.is_alive() and mark.read_text() == "closed"


def test_interface_down_is_a_message_while_capturing_and_clears(kit):
    source = FakeLive(kit)
    source.down = {}
    svc = EngineService(args_for(None, interfaces=["eth0", "eth1"]), lambda a: source)
    svc.open()
    assert svc.capture_news() is None
    source.down = {0: "down"}
    news = svc.capture_news()
    assert news.state == CAPTURING
    assert news.message == "eth0 is down: nothing to capture until it is up again"
    assert svc.capture_news() is None  # said once
    source.down = {}
    assert svc.capture_news().message == ""  # up again: the message goes
    source.ended, source.down = {1: "interface removed"}, {0: "no link", 1: "down"}
    assert svc.capture_news().message == ("capture ended on eth1: interface removed; "
                                          "eth0 is no link: nothing to capture until it is up again")
    source.ended = {0: "stopped", 1: "stopped"}
    source.down = {}
    assert svc.finish().state == FINISHED  # a down interface at the end is no error


def test_worker_process_answers_history_from_its_drill_thread(backend_factory, tmp_path):
    """HistoryOf goes to the engine process's drill thread and comes back as a HistoryChart
    read from the database the session records into (here the fixed history)."""
    from tests.support.historyfix import NAME, T0, history_rows, wave_capture, write_history
    from tuimon.server.protocol import HistoryChart, HistoryOf

    capture = wave_capture(tmp_path)
    database = str(tmp_path / "history.sqlite")
    write_history(database)
    backend = backend_factory(Config(read=capture, speed=0.0, dissect_packets=0,
                                     history=database))
    backend.launch()
    got = Collector()
    backend.start(got)
    got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
    backend.send(HistoryOf("interface", NAME, "day", seq=7))
    chart = got.wait_for(lambda r: isinstance(r, HistoryChart))
    assert chart.seq == 7 and chart.source == "history" and chart.note == ""
    assert chart.step == 60 and len(chart.in_bytes) == 1440
    before = {t: v for t, v in history_rows()["minutes"].items() if chart.start <= t < T0}
    points = {chart.start + 60 * i: (a, b) for i, (a, b) in
              enumerate(zip(chart.in_bytes, chart.out_bytes)) if chart.start + 60 * i < T0}
    assert points == before  # the fixed rows; the capture's own minutes come after T0
    assert len(chart.profile) == 24 and any(h[2] for h in chart.profile)
