"""A view switch in Pilot: the footer's keys follow the view without a layout of the
screen, and nothing is drawn until the new view's page is applied (then the rows and
their count in one frame)."""

from __future__ import annotations

import asyncio

from tuimon.server.protocol import Query
from tuimon.ui import app as app_module
from tests.support.app import RecordingBackend, finished_service, settle
from tuimon.ui.app import MonitorApp
from tuimon.ui.footer import MonitorFooter


def footer_keys(app) -> list[str]:
    """The footer's keys as drawn: (key, description) of each one on its line."""
    return [(key, description) for key, _, _, description, _, _
            in app.screen.query_one(MonitorFooter).keys]


def footer_would_show(app) -> list[str]:
    """What Textual's own Footer composes for the bindings now (first shown per action)."""
    seen, keys = set(), []
    for _, binding, _, _ in app.screen.active_bindings.values():
        if binding.show and binding.action not in seen:
            seen.add(binding.action)
            keys.append((binding.key, binding.description))
    return keys


async def test_footer_shows_drill_keys_in_conversations_only():
    app = MonitorApp(RecordingBackend(finished_service()), interval=None)
    # Wide enough for every key (a narrower footer shows the keys that fit whole:
    # test_ui_edges.py)
    async with app.run_test(size=(220, 30)) as pilot:
        await settle(pilot)
        assert ("enter", "Packets") not in footer_keys(app)
        assert footer_keys(app) == footer_would_show(app)
        await pilot.press("4")
        await settle(pilot)
        assert ("enter", "Packets") in footer_keys(app) and ("w", "Write pcapng") in footer_keys(app)
        assert footer_keys(app) == footer_would_show(app)
        for key in "2134":
            await pilot.press(key)
            await settle(pilot)
            assert footer_keys(app) == footer_would_show(app), key
            assert (("w", "Write pcapng") in footer_keys(app)) == (key == "4")


async def test_a_switch_between_hosts_and_conversations_lays_nothing_out(monkeypatch):
    """The footer's keys change (Enter, ``w``) and one view fits the width where the other
    does not: neither lays the screen out again (which drew every line of it), once both
    views have been shown. The footer's line is drawn anew with the keys."""
    app = MonitorApp(RecordingBackend(finished_service()), interval=None)
    # 176 columns: Hosts' 173 fit, Conversations' 179 do not (a horizontal scrollbar)
    async with app.run_test(size=(176, 30)) as pilot:
        await settle(pilot)
        for key in "42":
            await pilot.press(key)
            await settle(pilot)
        screen = app.screen
        layouts, frames = [], []
        real = screen._refresh_layout
        monkeypatch.setattr(screen, "_refresh_layout", lambda *a, **k: (
            layouts.append(1), real(*a, **k))[1])
        real_frame = screen._compositor_refresh
        monkeypatch.setattr(screen, "_compositor_refresh", lambda: (
            frames.append(1), real_frame())[1])
        footer = screen.query_one(MonitorFooter)
        drawn = []
        monkeypatch.setattr(footer, "render_line", lambda y: (
            drawn.append(y), MonitorFooter.render_line(footer, y))[1])
        for key in "4242":
            drawn.clear()
            await pilot.press(key)
            await settle(pilot)
            assert app.table.virtual_size.width > 175 if key == "4" else \
                app.table.virtual_size.width <= 175
            assert drawn, key  # the footer's keys changed: its line drawn again
            assert (("w", "Write pcapng") in footer_keys(app)) == (key == "4")
        assert frames and layouts == []  # frames drawn, none laid out


class HeldBackend(RecordingBackend):
    """Answers queries only when told (the engine busy); the rest at once."""

    def __init__(self, service):
        super().__init__(service)
        self.held: list = []
        self.holding = False

    def send(self, request):
        if self.holding and isinstance(request, Query):
            self.sent.append(request)
            self.held.append(request)
            return
        super().send(request)

    def answer(self):
        held, self.held = self.held, []
        for request in held:
            super().send(request)


class CountingApp(MonitorApp):
    """Notes each frame drawn, with the status line and the table's first row then."""

    def __init__(self, backend):
        super().__init__(backend, interval=None)
        self.frames: list[tuple[str, str]] = []

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is not None and self._widgets_made:
            status = str(self.filterbar.status.render())
            self.frames.append((status, self.table.render_line(1).text))


async def test_a_view_switch_draws_nothing_until_its_page_then_rows_and_count_together(
        monkeypatch):
    monkeypatch.setattr(app_module, "VIEW_HOLD", 30.0)  # longer than this test takes
    backend = HeldBackend(finished_service())
    app = CountingApp(backend)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        backend.holding = True
        app.frames.clear()
        await pilot.press("4")
        await asyncio.sleep(0.1)
        await settle(pilot)
        assert app.frames == []  # hosts as they were, not an empty Conversations view
        backend.answer()
        await settle(pilot)
        assert app.frames, "the page was never drawn"
        status, first_row = app.frames[0]
        assert status.startswith("Conversations · 197 rows") and "192.168.2.126" in first_row


async def test_a_view_switch_whose_page_does_not_come_is_drawn_after_the_hold(monkeypatch):
    monkeypatch.setattr(app_module, "VIEW_HOLD", 0.1)
    backend = HeldBackend(finished_service())
    app = CountingApp(backend)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        backend.holding = True
        app.frames.clear()
        await pilot.press("4")
        await asyncio.sleep(0.3)
        await settle(pilot)
        assert app.frames and app.frames[-1][0].startswith("Conversations · sort")
        backend.answer()
        await settle(pilot)
        assert app.frames[-1][0].startswith("Conversations · 197 rows")


async def test_a_refresh_that_changes_no_height_draws_one_frame_and_lays_out_nothing(
        monkeypatch):
    """The header and the status line say something new at each refresh, in as many lines:
    the screen is not laid out again for them, and the table's scrollbars, unchanged, are
    not redrawn (a layout redrew them in a second frame)."""
    app = CountingApp(RecordingBackend(finished_service()))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        layouts = []
        screen = app.screen
        real = screen._refresh_layout
        monkeypatch.setattr(screen, "_refresh_layout",
                            lambda *a, **k: (layouts.append(1), real(*a, **k)))
        painted = []
        for bar in (app.table.vertical_scrollbar, app.table.horizontal_scrollbar):
            monkeypatch.setattr(bar, "render_line",
                                lambda y, bar=bar: (painted.append(bar), type(bar).render_line(bar, y))[1])
        app.frames.clear()
        app.header.page = None  # something new to say, in as many lines as before
        app.refresh_view(refresh=True)
        await settle(pilot)
        assert len(app.frames) == 1 and layouts == [] and painted == []
        assert app.frames[0][0].startswith("Hosts · ")


async def test_a_layout_that_changes_no_scrollbar_does_not_redraw_them(monkeypatch):
    """Textual repaints a scroll view's scrollbars at every layout of the screen (42 lines
    at 160x48, and a frame more): the table's are repainted only when they change."""
    app = CountingApp(RecordingBackend(finished_service()))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        painted = []
        bars = (app.table.vertical_scrollbar, app.table.horizontal_scrollbar)
        for bar in bars:
            monkeypatch.setattr(bar, "render_line",
                                lambda y, bar=bar: (painted.append(bar), type(bar).render_line(bar, y))[1])
        app.frames.clear()
        app.table.refresh(layout=True)
        await settle(pilot)
        assert painted == [] and len(app.frames) <= 1
        await pilot.press("end")  # the bar's thumb moves: it is drawn again
        await settle(pilot)
        assert bars[0] in painted


async def test_a_row_count_that_changes_lays_out_nothing_unless_a_scrollbar_comes(monkeypatch):
    """The rows of a live capture come and go at every refresh: the scrollbar follows
    without a layout of the screen, until the rows fit (the bar goes: a layout)."""
    app = CountingApp(RecordingBackend(finished_service()))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        table = app.table
        layouts = []
        screen = app.screen
        real = screen._refresh_layout
        monkeypatch.setattr(screen, "_refresh_layout",
                            lambda *a, **k: (layouts.append(1), real(*a, **k)))
        table.total += 500
        table._update_virtual_size()
        await settle(pilot)
        assert layouts == [] and table.vertical_scrollbar.window_virtual_size == table.total + 1
        assert table.max_scroll_y == table.total + 1 - table.scrollable_content_region.height
        table.total = 3
        table._update_virtual_size()
        await settle(pilot)
        assert layouts and not table.show_vertical_scrollbar


async def test_the_scrollbar_is_repainted_when_its_thumb_changes_not_its_row_count(
        monkeypatch):
    """A live capture's row count changes at every refresh; over many rows the thumb stays
    as it was, and the bar (41 lines at 160x48) is not repainted for it."""
    app = CountingApp(RecordingBackend(finished_service()))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        table = app.table
        bar = table.vertical_scrollbar
        painted = []
        monkeypatch.setattr(bar, "render_line",
                            lambda y: (painted.append(y), type(bar).render_line(bar, y))[1])
        table.total = 100_000
        table._update_virtual_size()
        await settle(pilot)
        assert painted, "a thumb a fraction of its length before: repainted"
        painted.clear()
        table.total += 50
        table._update_virtual_size()
        await settle(pilot)
        assert painted == [] and bar.window_virtual_size == 100_051
        table.total = 300
        table._update_virtual_size()
        await settle(pilot)
        assert painted


async def test_the_real_apps_start_up_objects_are_frozen_once_drawn():
    """``run_app`` sets ``freeze_gc``: once the first screen is drawn, what the start-up
    made leaves the collector's full walks (gc.freeze). Apps made by tests do not."""
    import gc

    gc.unfreeze()
    try:
        app = MonitorApp(RecordingBackend(finished_service()), interval=None)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            assert gc.get_freeze_count() == 0
        app = MonitorApp(RecordingBackend(finished_service()), interval=None)
        app.freeze_gc = True
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
