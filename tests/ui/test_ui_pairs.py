"""The Pairs view (9) and drill everywhere in the app (Pilot): p splits pairs by ports,
Enter on a host, a protocol or a pair opens the Conversations view filtered to it (the
filter in the status line, / to edit it), h and H open the history."""

from __future__ import annotations

from tests.support.app import make_app, settle, visible_column
from tuimon.server.protocol import Query
from tuimon.ui.history import HistoryScreen


async def test_nine_shows_the_pairs_and_p_splits_them_by_ports():
    app = make_app(view="hosts")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("9")
        await settle(pilot)
        assert app.table.view == "pairs" and app.tabs.active == "pairs"
        assert visible_column(app, "port_a")[0] is None
        by_hosts = app.table.total
        await pilot.press("p")
        await settle(pilot)
        assert [q for q in app.backend.sent if isinstance(q, Query)][-1].ports
        assert app.table.total > by_hosts
        assert all(p is not None for p in visible_column(app, "port_a")[:10])
        await pilot.press("p", "2", "p")  # p means nothing outside Pairs
        await settle(pilot)
        assert app.table.view == "hosts" and app.pair_ports is False


async def test_enter_on_a_host_a_protocol_and_a_pair_opens_their_conversations():
    app = make_app(view="hosts")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        _, host = app.table.cursor_row()
        await pilot.press("enter")
        await settle(pilot)
        assert app.table.view == "conversations" and app.filter_text == f"host {host.address}"
        rows = visible_column(app, "address_a"), visible_column(app, "address_b")
        assert rows[0] and all(host.address in pair for pair in zip(*rows))
        assert app.last_page.total < app.last_page.count  # filtered
        await pilot.press("escape", "9")  # Esc clears the filter; to the pairs
        await settle(pilot)
        _, pair = app.table.cursor_row()
        await pilot.press("enter")
        await settle(pilot)
        assert app.filter_text == f"host {pair.address_a} and host {pair.address_b}"
        ends = {pair.address_a, pair.address_b}
        page = app.last_page
        assert sum(r.bytes for r in page.rows) == pair.bytes and page.total == pair.conversations
        assert all({r.address_a, r.address_b} == ends for r in page.rows)
        await pilot.press("3", "down", "down")  # link, ipv4, then ipv4's first transport row
        await settle(pilot)
        _, proto = app.table.cursor_row()
        await pilot.press("enter")
        await settle(pilot)
        assert app.filter_text == f"proto ipv4 and proto {proto.protocol}"
        # (the exact bytes behind each row: tests/unit/test_drillfilter.py)
        assert {r.protocol for r in app.last_page.rows} == {proto.protocol}
        await pilot.press("slash")  # the drill's filter is there to edit
        await settle(pilot)
        assert app.filterbar.editing
        assert app.query_one("#filter-input").value == app.filter_text


async def test_h_and_H_open_the_history_and_enter_on_an_interface_too():
    app = make_app(view="hosts")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for keys in (("h",), ("H",), ("1", "enter")):
            await pilot.press(*keys)
            await settle(pilot)
            assert isinstance(app.screen, HistoryScreen), keys
            await pilot.press("escape")
            await settle(pilot)


async def test_p_is_text_while_a_filter_is_typed_in_the_pairs_view():
    app = make_app(view="pairs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"port 80", "enter")
        await settle(pilot)
        assert app.filter_text == "port 80" and app.pair_ports is False
        assert 0 < app.last_page.total < app.last_page.count
