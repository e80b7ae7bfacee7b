"""The rough edges a new user hits (issue 18): driven with Textual's Pilot."""

from __future__ import annotations

from tests.support.app import PCAP, make_app, played_service, settle
from tuimon.server.service import EngineService


def default_service(path: str = PCAP) -> EngineService:
    """``tuimon -r FILE --speed 0`` with the default idle timeouts (conversations expire)."""
    return played_service(path)


def status_text(app) -> str:
    return str(app.filterbar.status.render())


async def test_expired_conversations_stay_listed_dimmed_and_counted():
    """1kxun.pcap: 68 conversations in the table at its end, 129 idle past their timeout;
    the view lists all 197, the expired ones dim, and the status line says how many."""
    app = make_app(view="conversations", service=default_service())
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.table
        assert table.total == 197
        assert "197 rows · 129 expired (dim)" in status_text(app)
        shown = [i for i in table._rows if i < table.page_rows]
        dim = [i for i in shown if i in table._expired]
        assert dim and len(dim) < len(shown)  # expired rows among the active ones
        expired_style = table.get_component_rich_style("rowtable--expired")
        row = dim[0] if dim[0] != table.state.cursor else dim[1]
        strip = table.render_line(row - int(table.scroll_y) + 1)
        assert all(seg.style is not None and seg.style.dim for seg in strip if seg.text.strip())
        assert expired_style.dim
        active = next(i for i in shown if i not in table._expired and i != table.state.cursor)
        strip = table.render_line(active - int(table.scroll_y) + 1)
        assert not any(seg.style is not None and seg.style.dim for seg in strip)


def line_text(table, y: int) -> str:
    return table.render_line(y).text


async def test_a_column_cut_by_the_screen_edge_ends_in_an_ellipsis():
    """At 80 columns the rates are cut: ``732.5 k…``, never ``732.5 kb`` (a unit gone)."""
    app = make_app(view="conversations")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.table
        width = table.scrollable_content_region.width
        for y in range(0, 5):
            text = line_text(table, y)
            assert len(text) == width and text.endswith("…"), text
        cells = table._cells[0]  # the row's first cut cell reads as its start, then "…"
        names = [c.name for c in table.columns]
        left = sum(w + 1 for w in table._widths()[:names.index("rate_2s")])
        shown = line_text(table, 1)[left:-1]
        full = table._widths()[names.index("rate_2s")]
        assert shown and cells[names.index("rate_2s")].rjust(full).startswith(shown)
        await pilot.press("end")  # scrolled right: the column cut on the left starts with one
        table.scroll_to(x=3, animate=False)
        await settle(pilot)
        assert line_text(table, 1).startswith("…")
    app = make_app(view="protocols")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for y in range(0, 5):  # every column fits: no mark
            assert "…" not in line_text(app.table, y)


async def test_column_widths_follow_the_rows_on_screen():
    """An IPv6 address at the end of the list widens the Address column while it is on
    screen, not for good."""
    app = make_app(view="hosts")
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        table = app.table
        top = table.state.widths["address"]
        await pilot.press("end")
        await settle(pilot)
        bottom = table.state.widths["address"]
        assert bottom > top  # the IPv6 hosts are the smallest
        await pilot.press("home")
        await settle(pilot)
        assert table.state.widths["address"] == top


async def test_the_sorted_column_is_scrolled_into_view():
    app = make_app(view="conversations")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.table
        names = [c.name for c in table.columns]
        for _ in range(names.index("rate_40s") - names.index("bytes")):
            await pilot.press("greater_than_sign")
        await settle(pilot)
        assert table.state.sort == "rate_40s"
        left = sum(w + 1 for w in table._widths()[:names.index("rate_40s")])
        right = left + table._widths()[names.index("rate_40s")]
        x, width = int(table.scroll_x), table.scrollable_content_region.width
        assert x <= left and right <= x + width
        assert "40s ▼" in line_text(table, 0)


async def test_the_header_wraps_its_totals_rather_than_cut_them():
    """80 columns: ``Conv 68 +129 exp`` whole on a line of its own, not ``Conv 68 …``."""
    app = make_app(view="hosts", service=default_service())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = [strip.text.rstrip() for strip in app.header.render_lines(
            app.header.region.reset_offset)]
        assert any(line.strip().startswith("Conv 68 +129 exp") for line in lines), lines
        assert all(not line.endswith("…") for line in lines)
        assert all(len(line) <= 80 for line in lines)


async def test_the_footer_shows_whole_keys_only():
    """80 columns: the footer ends with the last key that fits whole, never ``u Un``."""
    from tuimon.ui.footer import MonitorFooter

    for size in ((80, 24), (60, 20), (160, 48)):
        app = make_app(view="hosts")
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            footer = app.screen.query_one(MonitorFooter)
            keys = footer.keys
            assert keys and keys[0][3] == "Quit"
            line = footer.render_line(0).text
            assert len(line) == size[0]
            last = keys[-1]
            shown = f" {last[1]} {last[3]} "
            assert shown in line and line.rstrip().endswith(shown.rstrip()), (size, line)
            if size[0] < 160:
                assert len(footer.entries) > len(keys)  # what did not fit
            else:
                assert footer.entries == keys
            await pilot.press("4")  # Conversations shows more keys: still whole ones
            await settle(pilot)
            line = footer.render_line(0).text
            last = footer.keys[-1]
            assert line.rstrip().endswith(f" {last[1]} {last[3]}"), (size, line)


async def test_the_footer_runs_a_clicked_key_and_shows_its_tooltip():
    """As Textual's Footer: a click on a key presses it; the key under the mouse is
    highlighted and its tooltip shown; a disabled key only rings."""
    from tuimon.ui.footer import MonitorFooter

    app = make_app(view="hosts")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(MonitorFooter)
        x = next(start for start, _, entry in footer._spans if entry[0] == "r")
        plain = footer.render_line(0)
        await pilot.hover(MonitorFooter, offset=(x + 1, 0))
        await settle(pilot)
        assert footer.tooltip == "Reverse the sort order"
        assert footer.render_line(0) != plain  # highlighted
        descending = app.table.state.descending
        await pilot.click(MonitorFooter, offset=(x + 1, 0))
        await settle(pilot)
        assert app.table.state.descending is not descending
        rung = []
        app.bell = lambda: rung.append(1)
        entry = footer._spans[0][2]
        footer._shown[0] = (*entry[:4], False, entry[5])  # Quit, disabled
        footer._place()
        await pilot.click(MonitorFooter, offset=(1, 0))
        await settle(pilot)
        assert rung and app.is_running


async def test_one_row_is_one_row():
    app = make_app(view="hosts")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"host 192.168.2.126", "enter")
        await settle(pilot)
        assert app.table.total == 1
        assert "Hosts · 1 row of 100 · " in status_text(app), status_text(app)


def header_clock(app) -> str:
    return str(app.header.render()).splitlines()[0].split()[-1]


async def test_the_elapsed_clock_runs_on_while_paused_and_does_not_jump(tmp_path):
    """space holds a playback: no pages come, and the clock froze, then jumped on resume."""
    from tests.support.playback import Clock, capture, span
    from tests.support.uiplayback import advance, app_for, playing

    clock = Clock()
    svc = playing(capture(tmp_path, span(60.0)), clock, dissect_packets=0)
    app = app_for(svc)
    async with app.run_test(size=(100, 30)) as pilot:
        app.header.clock = clock  # the UI's clock: the same fake one
        advance(svc, clock, 2.0)
        app.refresh_view()
        await settle(pilot)
        assert header_clock(app) == "00:00:02"
        await pilot.press("space")  # held
        await settle(pilot)
        clock.now += 5.0
        app._tick()
        await settle(pilot)
        assert header_clock(app) == "00:00:07"  # ran on
        await pilot.press("space")  # resumed: the engine's own figure, the same
        await settle(pilot)
        assert header_clock(app) == "00:00:07"


async def test_the_status_and_progress_lines_mark_where_an_item_ends():
    """Copied or read out, the spaces at a style's edge went: ``Hosts100 rows``,
    ``speed max5 gaps skipped``."""
    app = make_app(view="hosts")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert status_text(app).startswith("Hosts · 100 rows · sort Bytes ▼")
        bar = str(app.bar.render())
        assert " · 1723 pkts · speed max · 5 gaps skipped (2132d 21h)" in bar, bar
