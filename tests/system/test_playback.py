"""Recorded-pace playback in the engine (EngineService with a fake clock: nothing sleeps),
the headless --speed, and the real worker process (pace, speed keys, stdin through a pipe).
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading

import pytest

from tests.support import pcapbuild as pb
from tests.support.worker import Collector
from functools import partial

from tuimon.capture.open import open_source
from tuimon.server.pacer import Pacer
from tuimon.server.playback import paced
from tuimon.server.protocol import Query
from tuimon.server.protocol import ERROR, FINISHED, PLAYING, Hold, PassFd, Speed, Status
from tuimon.server.service import EngineService
from tuimon.config import Config
from tuimon.server.client import ProcessClient as ProcessBackend
from tests.support.playback import Clock, START, args_for, capture, frame, span


def opened(path, clock, stdin=None, **extra):
    # pacing, gaps, holds and speeds: no test here checks application protocols, so no
    # tshark beside them (dissect_packets=... to ask for it)
    extra.setdefault("dissect_packets", 0)
    svc = EngineService(args_for(path, **extra), partial(open_source, stdin=stdin),
                        clock=clock, wallclock=lambda: START)
    assert svc.open().state == PLAYING
    return svc


def play_to_end(svc, clock, step=0.01, until=None, limit=100_000):
    """Pump, moving the fake clock ``step`` at a time, until finished (or ``until``)."""
    start = clock.now
    for _ in range(limit):
        svc.pump()
        if svc.status.state != PLAYING or (until is not None and clock.now >= until):
            return clock.now - start
        clock.now += step
    raise AssertionError("the playback never finished")


def packets(svc):
    page = svc.answer(Query(view="interfaces"))
    return page.totals.packets if page.totals else 0


# -- recorded pace ----------------------------------------------------------------------------

@pytest.mark.parametrize("speed,expected", [(None, 10.0), (1.0, 10.0), (2.0, 5.0),
                                            (0.5, 20.0), (10.0, 1.0)])
def test_a_capture_of_n_seconds_takes_n_over_speed(tmp_path, speed, expected):
    clock = Clock()
    svc = opened(capture(tmp_path, span(10.0)), clock, speed=speed)
    taken = play_to_end(svc, clock)
    assert svc.status.state == FINISHED
    assert taken == pytest.approx(expected, abs=0.05)
    assert packets(svc) == 101


def test_speed_zero_counts_everything_at_once(tmp_path):
    clock = Clock()
    svc = opened(capture(tmp_path, span(3600.0, 2001)), clock, speed=0.0, max_gap=3600)
    assert play_to_end(svc, clock) == 0.0
    assert svc.status.state == FINISHED and packets(svc) == 2001


def test_halfway_the_page_shows_half_the_packets_and_the_progress(tmp_path):
    clock = Clock()
    path = capture(tmp_path, span(10.0))
    svc = opened(path, clock)
    play_to_end(svc, clock, until=clock.now + 5.0)
    page = svc.answer(Query(view="hosts"))
    assert page.state == PLAYING and page.totals.packets == 51  # t = 0 .. 5.0 s
    p = page.progress
    assert p.packets == 51 and p.speed == 1.0 and not p.finished and not p.paused
    assert p.first == START and p.reached == pytest.approx(START + 5.0)
    assert p.offset == pytest.approx(5.0)
    assert p.size == os.path.getsize(path)
    assert p.percent == pytest.approx(50.0, abs=2.0)
    assert p.gaps == 0 and p.skipped == 0.0


def test_between_packets_the_capture_clock_moves_and_rates_decay(tmp_path):
    clock = Clock()
    svc = opened(capture(tmp_path, [0.0, 0.1, 0.2, 4.5]), clock)
    svc.pump()
    clock.now += 0.3
    svc.pump()
    busy = svc.answer(Query(view="interfaces")).rows[0].rate_2s
    assert busy > 0
    clock.now += 4.0  # quiet in the recording: no packet due until 4.5
    svc.pump()
    page = svc.answer(Query(view="interfaces"))
    assert page.totals.packets == 3 and page.progress.reached == pytest.approx(START + 4.3)
    assert page.rows[0].rate_2s == 0.0  # nothing in the last 2 s of capture time


def test_pause_holds_the_playback_and_resume_goes_on_from_there(tmp_path):
    clock = Clock()
    svc = opened(capture(tmp_path, span(10.0)), clock)
    play_to_end(svc, clock, until=clock.now + 3.0)
    held = svc.handle(Hold(True))
    assert held.paused and held.packets == 31
    clock.now += 500.0  # a long pause
    svc.pump()
    assert packets(svc) == 31 and svc.progress().reached == pytest.approx(START + 3.0)
    resumed = svc.handle(Hold(False))
    assert not resumed.paused
    clock.now += 1.0
    svc.pump()
    assert packets(svc) == 41  # one second further into the capture, not 500
    assert play_to_end(svc, clock) == pytest.approx(6.0, abs=0.05)


def test_speed_steps_take_effect_from_where_the_playback_is(tmp_path):
    clock = Clock()
    svc = opened(capture(tmp_path, span(10.0)), clock)
    play_to_end(svc, clock, until=clock.now + 4.0)
    assert svc.handle(Speed(1)).speed == 2.0
    assert play_to_end(svc, clock) == pytest.approx(3.0, abs=0.05)  # 6 s left at 2x

    clock = Clock()
    svc = opened(capture(tmp_path, span(10.0)), clock)
    play_to_end(svc, clock, until=clock.now + 2.0)
    assert svc.handle(Speed(-1)).speed == 0.5
    assert svc.handle(Speed(-1)).speed == 0.25
    assert svc.handle(Speed(-1)).speed == 0.25  # the slowest
    play_to_end(svc, clock, until=clock.now + 4.0)
    assert packets(svc) == 31  # 2 s, then 4 s at a quarter: 1 s of capture
    for _ in range(6):  # 0.5 1 2 5 10 100
        svc.handle(Speed(1))
    assert svc.progress().speed == 100.0
    assert svc.handle(Speed(1)).speed == 0.0  # past 100x: as fast as possible
    assert play_to_end(svc, clock) == 0.0 and packets(svc) == 101


def test_long_gaps_are_skipped_and_counted(tmp_path):
    clock = Clock()
    times = [0.0, 1.0, 2.0, 3602.0, 3603.0, 3604.0, 7204.0]
    svc = opened(capture(tmp_path, times), clock)
    assert play_to_end(svc, clock) == pytest.approx(4.0, abs=0.05)  # not two hours
    p = svc.progress()
    assert p.gaps == 2 and p.skipped == pytest.approx(7200.0)
    assert packets(svc) == 7

    clock = Clock()
    svc = opened(capture(tmp_path, times), clock, max_gap=4000)
    play_to_end(svc, clock, until=clock.now + 60.0)
    assert packets(svc) == 3 and svc.progress().gaps == 0  # waits, as --max-gap says


def test_end_of_file_is_finished_and_every_table_keeps_its_totals(tmp_path):
    clock = Clock()
    svc = opened(capture(tmp_path, span(2.0, 21)), clock)
    play_to_end(svc, clock)
    assert svc.status == Status(FINISHED, "", "span.pcap", True)
    views = {v: svc.answer(Query(view=v)) for v in ("interfaces", "hosts", "protocols",
                                                      "conversations")}
    clock.now += 3600.0  # the user looks at it for an hour
    for _ in range(3):
        svc.pump()
    for view, before in views.items():
        after = svc.answer(Query(view=view))
        assert after.state == FINISHED and after.rows == before.rows and after.total == before.total
        assert after.totals == before.totals
    p = svc.progress()
    assert p.finished and p.percent == 100.0 and p.packets == 21
    assert views["hosts"].total == 5 and views["interfaces"].totals.packets == 21


# -- what it reads ----------------------------------------------------------------------------

def test_pcapng_with_two_interfaces_plays_one_row_each(tmp_path):
    path = tmp_path / "two.pcapng"
    packets_ = [(i % 2, int((START + t) * 1e6), frame(i)) for i, t in enumerate(span(4.0, 41))]
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 1, "name": "wlan0"}],
                    packets_)
    clock = Clock()
    svc = opened(path, clock)
    play_to_end(svc, clock, until=clock.now + 2.0)
    rows = {r.interface: r.packets for r in svc.answer(Query(view="interfaces")).rows}
    assert rows == {"eth0": 11, "wlan0": 10}
    assert play_to_end(svc, clock) == pytest.approx(2.0, abs=0.05)
    rows = {r.interface: r.packets for r in svc.answer(Query(view="interfaces")).rows}
    assert rows == {"eth0": 21, "wlan0": 20}


def test_gzip_progress_counts_the_compressed_file(tmp_path):
    plain = capture(tmp_path, span(10.0, 1001))
    path = tmp_path / "span.pcap.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    clock = Clock()
    svc = opened(path, clock)
    play_to_end(svc, clock, until=clock.now + 5.0)
    p = svc.progress()
    assert p.size == os.path.getsize(path) < os.path.getsize(plain)
    assert 0 < p.position < p.size and 20 < p.percent < 80
    assert play_to_end(svc, clock) == pytest.approx(5.0, abs=0.05)
    assert packets(svc) == 1001 and svc.progress().percent == 100.0


def test_stdin_plays_at_pace_without_a_percentage(tmp_path):
    path = capture(tmp_path, span(10.0))
    clock = Clock()
    with open(path, "rb") as stdin:
        svc = opened("-", clock, stdin=stdin)
        assert svc.status.source == "stdin"
        play_to_end(svc, clock, until=clock.now + 5.0)
        p = svc.progress()
        assert p.size is None and p.percent is None and p.packets == 51
        # bytes consumed, shown instead of a percentage
        assert p.position == pytest.approx(os.path.getsize(path) / 2, rel=0.05)
        assert play_to_end(svc, clock) == pytest.approx(5.0, abs=0.05)
    assert svc.status.state == FINISHED and packets(svc) == 101


def test_damaged_file_finishes_with_what_was_read(tmp_path):
    path = capture(tmp_path, span(2.0, 21))
    path.write_bytes(path.read_bytes()[:-30])
    clock = Clock()
    svc = opened(path, clock)
    play_to_end(svc, clock)
    page = svc.answer(Query(view="interfaces"))
    assert page.state == FINISHED and page.totals.packets == 20
    assert page.rows[0].skipped_records == 1


# -- headless --speed -------------------------------------------------------------------------

def test_paced_headless_sleeps_the_recorded_time(tmp_path):
    from tuimon.capture.file import FileSource

    clock = Clock(0.0)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.now += seconds

    pacer = Pacer(FileSource(str(capture(tmp_path, span(10.0)))).batches(), speed=2.0)
    got = [r for batch in paced(pacer, clock, sleep) for r in batch]
    assert len(got) == 101 and clock.now == pytest.approx(5.0, abs=1e-6)
    assert max(slept) <= 0.25  # in slices, so Ctrl-C is seen


def test_headless_speed_gives_the_same_figures(tmp_path, capsys):
    from tuimon.cli import main

    path = capture(tmp_path, [0.0, 0.01, 0.02, 100.0, 100.01])
    assert main(["-r", str(path), "--no-ui", "--csv", str(tmp_path / "a")]) == 0
    assert main(["-r", str(path), "--no-ui", "--speed", "100", "--csv", str(tmp_path / "b")]) == 0
    assert "skipped 1 gaps longer than 5 s (100 s of capture time)" in capsys.readouterr().err
    for name in ("hosts.csv", "interfaces.csv", "conversations.csv", "protocols.csv",
                 "counters.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


@pytest.mark.parametrize("argv,word", [(["--speed", "-1"], "0 or more"),
                                       (["--speed", "fast"], "a number"),
                                       (["--max-gap", "0"], "more than 0")])
def test_bad_speed_or_gap_is_one_line(argv, word, capsys):
    from tuimon.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["-r", "x.pcap", *argv])
    assert exit_.value.code == 2 and word in capsys.readouterr().err


# -- the real worker process --------------------------------------------------------------------

@pytest.fixture
def backends():
    started = []

    def make(args, stdin=None):
        backend = ProcessBackend(args, stdin=stdin)
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()


def test_worker_process_plays_at_pace_until_told_faster(backends, tmp_path):
    # 1000 s of capture at the recorded pace: it cannot be finished when first asked.
    path = capture(tmp_path, [10.0 * i for i in range(101)])
    backend = backends(args_for(path, max_gap=60.0))
    assert backend.launch().state == PLAYING
    got = Collector()
    backend.start(got)
    backend.send(Query(view="hosts", seq=1))
    page = got.wait_for(lambda r: getattr(r, "seq", None) == 1)
    assert page.state == PLAYING and page.progress.packets < 101 and page.progress.speed == 1.0
    backend.send(Hold(True))
    assert got.wait_for(lambda r: hasattr(r, "paused")).paused
    backend.send(Hold(False))
    for _ in range(5):  # 2 5 10 100 max
        backend.send(Speed(1))
    got.wait_for(lambda r: hasattr(r, "speed") and r.speed == 0.0)
    got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
    backend.send(Query(view="hosts", seq=2))
    page = got.wait_for(lambda r: getattr(r, "seq", None) == 2)
    assert page.totals.packets == 101 and page.progress.finished


def test_worker_process_reads_a_capture_passed_as_a_pipe(backends, tmp_path):
    """What run_app does for -r -: the capture's descriptor handed to the engine process."""
    data = capture(tmp_path, span(2.0, 21)).read_bytes()
    read_end, write_end = os.pipe()

    def feed():
        with os.fdopen(write_end, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    backend = backends(args_for("-", speed=0.0), PassFd(read_end))
    try:
        assert backend.launch().state in (PLAYING, FINISHED)
    finally:
        os.close(read_end)
    got = Collector()
    backend.start(got)
    got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
    backend.send(Query(view="interfaces", seq=3))
    page = got.wait_for(lambda r: getattr(r, "seq", None) == 3)
    assert page.source == "stdin" and page.totals.packets == 21 and page.progress.size is None
    writer.join(5)


def test_worker_process_stdin_that_is_not_a_capture(backends, tmp_path):
    read_end, write_end = os.pipe()
    os.write(write_end, b"hello, not a capture at all")
    os.close(write_end)
    backend = backends(args_for("-"), PassFd(read_end))
    try:
        status = backend.launch()
    finally:
        os.close(read_end)
    if status.state != ERROR:  # the reader finds out after opening
        got = Collector()
        backend.start(got)
        status = got.wait_for(lambda r: isinstance(r, Status) and r.state == ERROR)
    assert "not a" in status.message or "cannot read" in status.message


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_capture_filter_applies_to_paced_playback(tmp_path):
    path = tmp_path / "mixed.pcap"
    frames = [(START + t, frame(i) if i % 2 else
               pb.eth(pb.ipv4("10.0.0.9", "10.0.0.8", 6, pb.tcp(5000, 443))))
              for i, t in enumerate(span(4.0, 41))]
    pb.write_pcap(path, frames)
    clock = Clock()
    svc = opened(path, clock, capture_filter="udp")
    assert play_to_end(svc, clock) == pytest.approx(3.8, abs=0.05)  # udp from 0.1 s to 3.9 s
    assert packets(svc) == 20


def test_stdin_in_the_app_without_a_terminal_is_one_line(tmp_path):
    """No controlling terminal (a new session): the keys have nowhere to come from."""
    import subprocess
    import sys

    tuimon = os.path.join(os.path.dirname(sys.executable), "tuimon")
    with open(capture(tmp_path, span(1.0, 11)), "rb") as stdin:
        proc = subprocess.run([tuimon, "-r", "-"], stdin=stdin, capture_output=True, text=True,
                              timeout=60, start_new_session=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("tuimon: reading a capture from standard input in the "
                                  "interface needs a terminal for the keys")
    assert proc.stderr.rstrip().endswith("use --no-ui") and proc.stderr.count("\n") == 1
