"""Pilot tests of playback in the app: the progress bar, + / - / space, the end of the file,
two interfaces, a live capture (no bar, no speed). The engine runs in process with a fake
clock that the test moves (nothing depends on the wall clock's pace)."""

from __future__ import annotations

import pytest

from tests.support import pcapbuild as pb
from tests.support.playback import START, Clock, args_for, capture, frame, span
from tests.support.app import RecordingBackend, settle
from tests.support.worker import FakeLive
from functools import partial

from tuimon.capture.open import open_source
from tuimon.server.protocol import Progress
from tuimon.server.protocol import FINISHED, PLAYING, Hold, Speed
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp
from tuimon.ui.help import HelpScreen
from tuimon.ui.progress import progress_text, short_duration
from tests.support.uiplayback import advance, app_for, playing


def bar_text(app) -> str:
    return app.bar.render().plain


async def refresh(app, pilot):
    app.refresh_view()
    await settle(pilot)


@pytest.fixture
def ten_seconds(tmp_path):
    return capture(tmp_path, span(10.0))


async def test_the_bar_shows_time_percentage_packets_and_speed(ten_seconds):
    clock = Clock()
    svc = playing(ten_seconds, clock)
    app = app_for(svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = bar_text(app)
        assert app.bar.display and text.startswith("▶ playback ░") and "  0% · 0 pkts" in text
        advance(svc, clock, 5.0)
        await refresh(app, pilot)
        text = bar_text(app)
        assert text.startswith("▶ 22:13:25 +00:00:05 █")  # START + 5 s, UTC
        assert " 50% · 51 pkts · speed 1×" in text and "gap" not in text
        assert "Total 51 pkts" in str(app.header.render())
        advance(svc, clock, 6.0, app=app)
        await settle(pilot)  # the finished Status makes the app refresh at once
        text = bar_text(app)
        assert text.startswith("■ 22:13:30 +00:00:10 ") and " 100% · 101 pkts" in text
        assert app.header.state == FINISHED and "Total 101 pkts" in str(app.header.render())


async def test_plus_and_minus_change_the_speed(ten_seconds):
    clock = Clock()
    svc = playing(ten_seconds, clock)
    app = app_for(svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        advance(svc, clock, 2.0)
        await pilot.press("plus")
        await settle(pilot)
        assert Speed(1) in app.backend.sent
        assert svc.player.pacer.speed == 2.0 and "speed 2×" in bar_text(app)
        advance(svc, clock, 2.0)  # 4 s of capture in 2 s
        await refresh(app, pilot)
        assert app.last_page.progress.packets == 61 and "61 pkts" in bar_text(app)
        await pilot.press("minus", "minus", "minus")
        await settle(pilot)
        assert app.backend.sent.count(Speed(-1)) == 3
        assert svc.player.pacer.speed == 0.25 and "speed 0.25×" in bar_text(app)
        for _ in range(7):  # 0.5 1 2 5 10 100 max
            await pilot.press("plus")
        await settle(pilot)
        assert "speed max" in bar_text(app)
        advance(svc, clock, 0.0, app=app)
        await settle(pilot)
        assert svc.status.state == FINISHED and "101 pkts" in bar_text(app)
        sent = len(app.backend.sent)
        await pilot.press("plus")  # nothing left to speed up
        await settle(pilot)
        assert not any(isinstance(r, Speed) for r in app.backend.sent[sent:])
        assert any("finished" in n.message for n in app._notifications)


async def test_space_holds_the_playback_and_resumes_where_it_was(ten_seconds):
    clock = Clock()
    svc = playing(ten_seconds, clock)
    app = app_for(svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        advance(svc, clock, 3.0)
        await pilot.press("space")
        await settle(pilot)
        assert Hold(True) in app.backend.sent and svc.player.pacer.paused
        assert app.paused and "paused" in str(app.header.render())
        assert bar_text(app).startswith("‖ ") and "31 pkts" in bar_text(app)
        assert app.last_page.totals.packets == 31  # the tables show where it stopped
        assert "paused (playback held)" in str(app.filterbar.status.render())
        clock.now += 1000.0
        advance(svc, clock, 1.0)
        assert svc.player.pacer.packets == 31  # held
        await pilot.press("space")
        await settle(pilot)
        assert Hold(False) in app.backend.sent and not svc.player.pacer.paused
        advance(svc, clock, 1.0)
        await refresh(app, pilot)
        assert app.last_page.totals.packets == 41 and bar_text(app).startswith("▶ ")


async def test_gaps_skipped_are_shown(tmp_path):
    clock = Clock()
    svc = playing(capture(tmp_path, [0.0, 1.0, 30001.0, 30002.0, 60002.0, 60003.0]), clock)
    app = app_for(svc)
    async with app.run_test(size=(120, 30)) as pilot:
        advance(svc, clock, 1.5)  # a gap takes no time: 0, 1, then 30001 at once
        await refresh(app, pilot)
        assert "3 pkts" in bar_text(app) and "1 gap skipped (8h 20m)" in bar_text(app)
        advance(svc, clock, 2.0, app=app)
        await settle(pilot)
        assert svc.status.state == FINISHED and "2 gaps skipped (16h 40m)" in bar_text(app)


async def test_two_interfaces_of_a_pcapng_are_two_rows_in_the_app(tmp_path):
    path = tmp_path / "two.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 1, "name": "wlan0"}],
                    [(i % 2, int((START + t) * 1e6), frame(i)) for i, t in
                     enumerate(span(4.0, 41))])
    clock = Clock()
    svc = playing(path, clock)
    app = app_for(svc, view="interfaces")
    async with app.run_test(size=(120, 30)) as pilot:
        advance(svc, clock, 5.0)
        await refresh(app, pilot)
        rows = {r.interface: r.packets for r in app.last_page.rows}
        assert rows == {"eth0": 21, "wlan0": 20}
        lines = [app.table.render_line(y).text for y in range(1, 3)]
        assert lines[0].startswith("eth0") and lines[1].startswith("wlan0")


async def test_stdin_shows_bytes_read_instead_of_a_percentage(ten_seconds):
    clock = Clock()
    with open(ten_seconds, "rb") as stdin:
        svc = playing("-", clock, stdin=stdin)
        app = app_for(svc)
        async with app.run_test(size=(100, 30)) as pilot:
            advance(svc, clock, 5.0)
            await refresh(app, pilot)
            text = bar_text(app)
            assert "kB read" in text and "%" not in text and "51 pkts" in text
            assert "stdin" in str(app.header.render())


async def test_live_capture_has_no_bar_and_keeps_counting_while_paused(kit):
    source = FakeLive(kit)
    svc = EngineService(args_for(None, interfaces=["eth0", "eth1"]), lambda a: source)
    svc.open()
    batches = source.batches()
    svc.ingest(next(batches))
    app = app_for(svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await refresh(app, pilot)
        assert not app.bar.display and app.last_page.progress is None
        await pilot.press("plus", "space")
        await settle(pilot)
        assert not any(isinstance(r, (Speed, Hold)) for r in app.backend.sent)
        assert any("real time" in n.message for n in app._notifications)
        assert "paused (counting goes on)" in str(app.filterbar.status.render())
        svc.ingest(next(batches))
        assert svc.answer(app.backend.sent[-1]).totals.packets == 2


async def test_help_lists_the_playback_keys(ten_seconds):
    app = app_for(playing(ten_seconds, Clock()))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "+       Playback faster" in text and "-       Playback slower" in text
        assert "Pause / resume (playback holds; live capture counts on)" in text


def test_the_bar_fits_a_narrow_terminal():
    p = Progress(packets=1234, first=START, reached=START + 83, position=420, size=1000,
                 speed=2.0, gaps=3, skipped=30000.0)
    wide = progress_text(p, 120).plain
    assert wide.startswith("▶ 22:14:43 +00:01:23 █") and wide.endswith(
        " 42% · 1234 pkts · speed 2× · 3 gaps skipped (8h 20m)")
    narrow = progress_text(p, 60).plain
    assert len(narrow) <= 60 and "42%" in narrow and "3 gaps skipped" in narrow
    assert "█" not in narrow


def test_short_durations():
    assert [short_duration(s) for s in (0, 45, 500, 30000, 400000)] == \
        ["0s", "45s", "8m 20s", "8h 20m", "4d 15h"]
