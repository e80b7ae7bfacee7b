"""conversations.csv written partly by a child process (tuimon.sinks.part): the same bytes
as one process writes, its failures reported like the parent's own, nothing left behind."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from tuimon.capture.cwalk import status, walker
from tuimon.capture.file import FileSource
from tuimon.core.engine import Engine
from tuimon.server.driver import count_source
from tuimon.sinks import part
from tuimon.sinks.csv import FILES, export_engine, export_snapshot
from tuimon.sinks.flowlog import FlowLog

DATA = Path(__file__).resolve().parents[1] / "data"


def counted(*names: str, flow_timeout: float = 0) -> tuple[Engine, FlowLog]:
    engine = Engine(flow_timeout=flow_timeout, rates=False)
    log = FlowLog.attach(engine, hold=10)
    engine.pairs()  # kept from the start, as a headless run's service does
    for name in names:
        count_source(FileSource(str(DATA / name)), engine, dissect_packets=0)
    return engine, log


@pytest.fixture(autouse=True)
def alone(monkeypatch):
    """As in a headless run, no other thread: pytest's process may have some left by
    other tests (they only sleep; the child never needs what they hold)."""
    monkeypatch.setattr(part, "_threads", lambda: 1)


def contents(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("flow_timeout", [0, 5])
def test_the_parallel_export_writes_what_one_process_writes(tmp_path, monkeypatch, flow_timeout,
                                                           compiled):
    """Expired conversations (flow_timeout 5) follow the active ones in both. Where Python
    formats the lines a child writes the last part of conversations.csv; where the
    compiled stage does (sinks/csvlines.py), a child writes stations.csv and pairs.csv
    whole (the host pairs kept here, so that it has rows to write)."""
    if not compiled:
        monkeypatch.setattr("tuimon.sinks.csv.walker", lambda: None)
    elif walker() is None:
        pytest.skip(f"no compiled stage here: {status()}")
    monkeypatch.setattr(part, "MIN_ROWS", 0)
    forked = []
    start = part.start_part

    def spy(*args):
        p = start(*args)
        forked.append(p is not None)
        return p

    monkeypatch.setattr("tuimon.sinks.csv.start_part", spy)
    engine, log = counted("1kxun.pcap", "synscan.pcap", "netflix.pcap", flow_timeout=flow_timeout)
    assert len(engine.pairs()) > 10
    assert len(engine.conversations) + log.rows > 1000
    assert bool(log.rows) == bool(flow_timeout)
    export_snapshot(engine.snapshot(with_rates=False), str(tmp_path / "one"), log)
    export_engine(engine, str(tmp_path / "two"), log)
    assert forked == [True]
    one, two = contents(tmp_path / "one"), contents(tmp_path / "two")
    assert list(one) == list(two) == sorted(FILES)  # no .part or temporary file left
    assert one == two
    lines = two["conversations.csv"].count(b"\n")
    assert lines == 1 + len(engine.conversations) + log.rows


def test_without_a_second_thread_only(tmp_path, monkeypatch):
    """A fork copies only the calling thread: with another one running, no child."""
    assert part.can_fork(part.MIN_ROWS)
    assert not part.can_fork(part.MIN_ROWS - 1)
    monkeypatch.setattr(part, "_threads", threading.active_count)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not part.can_fork(10 * part.MIN_ROWS)
        assert part.start_part(str(tmp_path), 10 * part.MIN_ROWS, lambda f: None) is None
    finally:
        stop.set()
        t.join()
    assert os.listdir(tmp_path) == []


def test_the_childs_error_is_the_parents(tmp_path):
    def full(f):
        f.write("a,b\r\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    p = part.start_part(str(tmp_path), part.MIN_ROWS, full)
    assert p is not None
    with open(tmp_path / "out.csv", "w") as f, pytest.raises(OSError) as err:
        p.append_to(f)
    assert (err.value.errno, err.value.strerror) == (errno.ENOSPC, "No space left on device")
    assert os.listdir(tmp_path) == ["out.csv"]  # its part file is gone


def test_a_child_that_dies_is_reported(tmp_path):
    p = part.start_part(str(tmp_path), part.MIN_ROWS, lambda f: os.kill(os.getpid(), 9))
    with open(tmp_path / "out.csv", "w") as f, pytest.raises(OSError) as err:
        p.append_to(f)
    assert "stopped (signal 9)" in str(err.value)
    assert os.listdir(tmp_path) == ["out.csv"]


def test_an_abandoned_child_is_stopped_and_its_file_removed(tmp_path):
    p = part.start_part(str(tmp_path), part.MIN_ROWS, lambda f: threading.Event().wait(60))
    pid = p.pid
    p.abandon()
    p.abandon()  # twice: nothing more
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # gone and reaped
    assert os.listdir(tmp_path) == []


def test_the_child_appends_what_it_wrote(tmp_path):
    p = part.start_part(str(tmp_path), part.MIN_ROWS, lambda f: f.write("x" * 300_000 + "\r\n"))
    with open(tmp_path / "out.csv", "w", newline="") as f:
        f.write("head\r\n")
        p.append_to(f)
        f.write("tail\r\n")
    assert (tmp_path / "out.csv").read_bytes().decode() == "head\r\n" + "x" * 300_000 + "\r\ntail\r\n"
    assert os.listdir(tmp_path) == ["out.csv"]


@pytest.mark.parametrize("compiled", [False, True])
def test_the_apps_save_writes_what_its_snapshot_holds(tmp_path, monkeypatch, compiled):
    """The app's save (EngineService.save: export_engine, no child) against
    export_snapshot of the app's own snapshot (rates kept, conversations that left kept
    listed, the flow log, host pairs): byte for byte the same files."""
    if not compiled:
        monkeypatch.setattr("tuimon.sinks.csv.walker", lambda: None)
    elif walker() is None:
        pytest.skip(f"no compiled stage here: {status()}")
    engine = Engine(flow_timeout=5)  # rates on, as the app's
    engine.keep_left()
    log = FlowLog.attach(engine, hold=10)
    engine.pairs()
    for name in ("1kxun.pcap", "synscan.pcap"):
        count_source(FileSource(str(DATA / name)), engine, dissect_packets=0)
    assert log.rows and engine.left_conversations
    export_snapshot(engine.snapshot(), str(tmp_path / "one"), log)
    export_engine(engine, str(tmp_path / "two"), log, parallel=False)
    one, two = contents(tmp_path / "one"), contents(tmp_path / "two")
    assert list(one) == list(two) == sorted(FILES) and one == two
