"""Pilot tests of the monitor: views, sorting, filtering, pause, save, quit, help, resize."""

from __future__ import annotations

import itertools

import os
import time

import pytest

from tuimon.capture.file import FileSource
from tuimon.core.names import parse_address
from tuimon.server.protocol import ERROR, FINISHED
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp
from tuimon.config import Config
from tuimon.server.client import LocalClient as LocalBackend
from tuimon.server.client import ProcessClient as ProcessBackend
from tuimon.ui.filterbar import FilterBar
from tuimon.ui.help import HelpScreen, key_name
from tuimon.ui.table import RowTable
from tests.support.app import FILES, args_for, finished_service, make_app, settle, visible_column


def screen_text(app) -> str:
    table = app.table
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


# -- views -----------------------------------------------------------------------------

async def test_keys_1_to_4_switch_views():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.table.view == "hosts" and app.last_page.total == 100
        expected = {"1": ("interfaces", 1, "Interface"), "3": ("protocols", 23, "Protocol"),
                    "4": ("conversations", 197, "Proto"), "2": ("hosts", 100, "Address")}
        for key, (view, total, first_title) in expected.items():
            await pilot.press(key)
            await settle(pilot)
            assert app.table.view == view
            assert app.query_one("TabBar").active == view
            assert app.last_page.view == view and app.last_page.total == total
            assert app.table.render_line(0).text.startswith(first_title)


async def test_clicking_a_tab_switches_view():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        bar = app.query_one("TabBar")
        label = dict(bar._labels())["conversations"]  # " 4 Convs " when the titles do not fit
        await pilot.click("TabBar", offset=(bar.render().plain.index(label) + 1, 0))
        await settle(pilot)
        assert app.table.view == "conversations" and app.last_page.total == 197


# -- sorting ---------------------------------------------------------------------------

async def test_sort_with_keys_and_reverse():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        sizes = visible_column(app, "bytes")
        assert sizes == sorted(sizes, reverse=True)
        assert "Bytes ▼" in app.table.render_line(0).text
        await pilot.press("greater_than_sign")  # bytes -> packets
        await settle(pilot)
        assert app.table.state.sort == "packets" and app.last_page.sort == "packets"
        packets = visible_column(app, "packets")
        assert packets == sorted(packets, reverse=True) and packets != sizes
        assert "Packets ▼" in app.table.render_line(0).text
        await pilot.press("less_than_sign", "less_than_sign")  # -> address, A to Z
        await settle(pilot)
        assert app.last_page.sort == "address" and not app.last_page.descending
        addresses = [parse_address(a) for a in visible_column(app, "address")]
        assert addresses == sorted(addresses)
        await pilot.press("r")
        await settle(pilot)
        assert app.last_page.descending
        addresses = [parse_address(a) for a in visible_column(app, "address")]
        assert addresses == sorted(addresses, reverse=True)
        assert "Address ▼" in app.table.render_line(0).text


async def test_sort_by_clicking_a_header():
    app = make_app(view="conversations")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        header = app.table.render_line(0).text
        x = header.index("Service")
        await pilot.click(RowTable, offset=(x + 1, 0))
        await settle(pilot)
        assert app.last_page.sort == "service" and not app.last_page.descending
        services = visible_column(app, "service")
        assert services == sorted(services)
        assert "Service ▲" in app.table.render_line(0).text
        x = app.table.render_line(0).text.index("Service")  # columns may have widened
        await pilot.click(RowTable, offset=(x + 1, 0))  # same header again: reverse
        await settle(pilot)
        assert app.last_page.sort == "service" and app.last_page.descending
        x = app.table.render_line(0).text.index("Packets")
        await pilot.click(RowTable, offset=(x + 2, 0))
        await settle(pilot)
        assert app.last_page.sort == "packets" and app.last_page.descending


# -- filtering -------------------------------------------------------------------------

async def type_filter(pilot, text):
    await pilot.press("slash")
    await pilot.press(*list(text) if text else [])
    await pilot.press("enter")
    await settle(pilot)


async def test_valid_filter_applies_to_every_view():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "net 192.168.0.0/16")
        assert app.filter_text == "net 192.168.0.0/16"
        assert not app.filterbar.editing and app.focused is app.table
        page = app.last_page
        assert 0 < page.total < page.count == 100
        assert all(a.startswith("192.168.") for a in visible_column(app, "address"))
        await pilot.press("4")
        await settle(pilot)
        page = app.last_page
        assert page.filter == "net 192.168.0.0/16" and 0 < page.total < 197
        # plain text is a substring of any cell; typed keys go to the input, not to bindings
        await type_filter(pilot, "")
        await pilot.press("escape")
        await type_filter(pilot, "q 4s")
        assert app.is_running and app.table.view == "conversations"
        assert app.filter_text == "q 4s" and app.last_page.total == 0
        assert "no rows match the filter" in screen_text(app)


async def test_invalid_filter_shows_error_and_keeps_previous():
    app = make_app(view="conversations")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "port 80")
        total = app.last_page.total
        assert 0 < total < 197
        await pilot.press("slash", "ctrl+u", *list("port 80 and ("), "enter")
        await settle(pilot)
        bar = app.query_one(FilterBar)
        error = app.query_one("#filter-error")
        assert bar.editing and bar.has_class("invalid") and error.display
        assert "the expression ends too early" in str(error.render())
        assert app.filter_text == "port 80" and app.last_page.total == total
        await pilot.press("escape")  # Esc clears the filter
        await settle(pilot)
        assert app.filter_text == "" and not bar.editing and app.last_page.total == 197
        await type_filter(pilot, "tcp")
        await pilot.press("escape")  # also from the table
        await settle(pilot)
        assert app.filter_text == "" and app.last_page.total == 197


# -- cursor -------------------------------------------------------------------------

async def test_cursor_follows_its_host_while_rows_move(kit):
    svc = finished_service()
    app = make_app(service=svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down")
        await settle(pilot)
        st = app.table.state
        assert st.cursor == 3 and st.tracking
        chosen = st.cursor_key
        # That host suddenly sends the most: it becomes row 0 and the cursor goes with it.
        dst = parse_address("10.9.9.9")
        svc.engine.ingest([(0, svc.engine.now, 10_000_000, (4, 6, chosen, dst, 1, 2, 0), 0,
                            b"", 0, 0)])
        svc.version += 1
        app.refresh_view()
        await settle(pilot)
        assert app.table.state.cursor == 0 and app.table.state.cursor_key == chosen
        await pilot.press("home")
        await settle(pilot)
        assert app.table.state.cursor == 0 and not app.table.state.tracking


# -- pause ---------------------------------------------------------------------------

async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_space_pauses_the_display_while_counting_goes_on():
    svc = EngineService(args_for(), clock=lambda: 50.0, wallclock=lambda: 1700000000.0)
    svc.open()
    batches = svc.source.batches()
    first = next(batches)  # (the whole capture, maybe: a part now, the rest while paused)
    svc.ingest(first[:200])
    batches = itertools.chain([first[200:]], batches)
    app = make_app(service=svc, interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        sent = len(app.backend.sent)
        await wait_until(pilot, lambda: app.last_page is not None and
                         len(app.backend.sent) > sent + 2)  # the timer refreshes
        before = app.last_page.totals.packets
        await pilot.press("space")
        await settle(pilot)
        assert app.paused and "paused" in str(app.header.render())
        sent = len(app.backend.sent)
        for batch in batches:  # the engine keeps counting
            svc.ingest(batch)
        await pilot.pause(0.3)
        assert len(app.backend.sent) == sent  # no refresh while paused
        assert app.last_page.totals.packets == before
        await pilot.press("space")
        await wait_until(pilot, lambda: app.last_page.totals.packets == 1723)
        assert not app.paused and 1723 > before


# -- save -----------------------------------------------------------------------------

async def test_save_into_csv_dir(tmp_path):
    app = make_app(csv_dir=str(tmp_path / "out"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert sorted(os.listdir(tmp_path / "out")) == FILES
        saved = app.saved[-1]
        assert saved.error is None
        notes = [n.message for n in app._notifications]
        assert any(f"into {tmp_path / 'out'}/" in m for m in notes)


async def test_save_into_a_new_dated_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(1700000000.0))
        assert sorted(os.listdir(tmp_path / f"tuimon-{stamp}")) == FILES


async def test_failed_save_is_a_notification_and_the_app_runs_on(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    app = make_app(csv_dir=str(blocker / "out"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert app.is_running
        notes = list(app._notifications)
        assert notes[-1].severity == "error" and "cannot save CSV" in notes[-1].message
        await pilot.press("3")  # still working
        await settle(pilot)
        assert app.last_page.view == "protocols"


# -- quit -------------------------------------------------------------------------------

async def test_q_quits():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert not app.is_running
    assert app.return_code == 0


async def test_q_saves_first_with_csv_dir(tmp_path):
    app = make_app(csv_dir=str(tmp_path / "final"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0
    assert sorted(os.listdir(tmp_path / "final")) == FILES


async def test_q_with_failing_save_quits_with_the_reason(tmp_path):
    """The first q whose save fails does not throw the counts away: the app stays and says
    so; q again quits without saving, with the reason."""
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    app = make_app(csv_dir=str(blocker / "x"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running
        note = list(app._notifications)[-1]
        assert note.severity == "error" and note.message.startswith("Not quitting: cannot save CSV")
        assert "q again to quit without saving" in note.message
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 1 and "cannot save CSV" in app.exit_error


async def test_q_after_a_failed_save_saves_again_once_a_save_worked(tmp_path):
    out = tmp_path / "out"
    out.write_text("a file where the folder should be")
    app = make_app(csv_dir=str(out))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running
        out.unlink()  # the user makes room
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0 and sorted(os.listdir(out)) == FILES


# -- help, units, freeze, errors ----------------------------------------------------------

async def test_help_lists_every_key():
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for binding in [*app.BINDINGS, *RowTable.BINDINGS]:
            assert key_name(binding.key) in text and (binding.tooltip or binding.description) in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen) and app.is_running
        await pilot.press("question_mark", "4", "r")  # app keys do nothing under the help
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and app.table.view == "hosts"
        assert app.table.state.descending
        await pilot.press("q")  # closes the help, does not quit
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen) and app.is_running
        await pilot.press("question_mark", "question_mark")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen) and app.is_running


async def test_u_toggles_raw_numbers():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "2.1 MB" in app.table.render_line(1).text
        await pilot.press("u")
        await settle(pilot)
        assert "2077623" in app.table.render_line(1).text
        assert "2527774" in str(app.header.render())
        await pilot.press("u")
        await settle(pilot)
        assert "2.1 MB" in app.table.render_line(1).text


async def test_f_freezes_the_order():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert app.frozen and app.backend.sent[-1].freeze and app.last_page.frozen
        assert "order frozen" in str(app.query_one("#filter-status").render())


async def test_capture_error_shows_in_header_and_notification():
    from tests.support.worker import failing_source

    svc = finished_service("broken.pcap", factory=failing_source)
    assert svc.status.state == ERROR
    app = make_app(service=svc)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        header = str(app.header.render())
        assert "error" in header and "dumpcap exited: the device went away" in header
        assert any(n.severity == "error" and "device went away" in n.message
                   for n in app._notifications)
        assert app.last_page.total == 2  # what was counted is still shown


async def test_text_from_packets_is_never_markup_or_escapes(kit):
    class Hostile(FileSource):
        @property
        def interfaces(self):
            ifaces = super().interfaces
            for iface in ifaces:
                iface.name = "[bold red]eth0[/]\x1b[2J"
            return ifaces

    svc = finished_service(factory=lambda args: Hostile(args.read))
    app = make_app(service=svc, view="interfaces")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        line = app.table.render_line(1).text
        assert "[bold red]eth0[/]\\x1b[2J" in line and "\x1b" not in line


async def test_resize_down_to_40x12_and_back():
    app = make_app(view="conversations")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for size in [(60, 20), (40, 12), (30, 8), (40, 12), (160, 48), (80, 24)]:
            await pilot.resize_terminal(*size)
            await settle(pilot)
            await pilot.press("down", "pagedown", "3", "1", "4", "right", "left")
            await settle(pilot)
        assert app.is_running


async def test_no_color(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)  # `s` saves into a new folder in the working directory
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color
        await pilot.press("4", "down", "s")
        await settle(pilot)
        assert app.is_running
        assert [p.name for p in tmp_path.iterdir()] == ["tuimon-20231114-221320"]


# -- the real app: engine in its own process ------------------------------------------------

async def test_app_with_the_engine_process():
    backend = ProcessBackend(args_for())
    try:
        assert backend.launch().opened
        app = MonitorApp(backend, interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(100):
                await pilot.pause(0.1)
                page = app.last_page
                if page is not None and page.state == FINISHED and page.totals.packets == 1723:
                    break
            assert app.last_page.state == FINISHED and app.last_page.total == 100
            await pilot.press("4")
            for _ in range(50):
                await pilot.pause(0.1)
                if app.last_page.view == "conversations":
                    break
            assert app.last_page.total == 197
            assert backend.process.pid != os.getpid()
            await pilot.press("q")
            await settle(pilot)
    finally:
        backend.stop()
    assert not backend.process.is_alive()


async def test_keys_typed_right_after_slash_go_to_the_filter():
    """A fast typist (or a paste) must not trigger bindings before the input has focus."""
    from textual import events

    app = make_app(view="hosts")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for key, char in [("4", "4"), ("slash", "/"), ("p", "p"), ("o", "o"), ("r", "r"), ("t", "t"),
                          ("space", " "), ("8", "8"), ("0", "0"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await settle(pilot)
        assert app.filter_text == "port 80"
        assert not app.paused and app.table.state.descending and app.table.view == "conversations"


async def test_the_picked_interface_is_named_in_header_and_notification(kit):
    """No interface named: the header shows the one tuimon picked, a notification says why."""
    from tests.support.kernel import FakeKernel, FakeLive, counters

    fake = FakeKernel(eth0=counters(), eth1=counters())
    svc = EngineService(args_for(None, read=None, interfaces=[]), factory=lambda a: FakeLive(fake),
                        clock=lambda: 50.0, wallclock=lambda: 100.5, kernel_read=fake)
    svc.open()
    for batch in svc.source.batches():
        svc.ingest(batch)
    svc.tick()
    app = make_app(service=svc, view="interfaces")
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        assert "eth0, eth1" in str(app.header.render())
        assert [n.message for n in app._notifications if n.title == "Interface"] == [
            "capturing on eth0, eth1: no interface was named, and it is the first one that "
            "is up, not loopback, and has traffic"]
        line = app.table.render_line(0).text  # the header row has the new columns
        for title in ("In", "Out", "Speed", "Util", "Missed"):
            assert title in line
        eth0 = [r for r in app.table._rows.values() if r.interface == "eth0"][0]
        assert (eth0.in_packets, eth0.out_packets, eth0.missed_packets) == (2, 1, 3)


async def test_a_named_interface_gets_no_note():
    from tests.support.kernel import FakeKernel, FakeLive, counters

    fake = FakeKernel(eth0=counters(), eth1=counters())
    svc = EngineService(args_for(None, read=None, interfaces=["eth0", "eth1"]),
                        factory=lambda a: FakeLive(fake), kernel_read=fake)
    assert svc.open().note == ""
