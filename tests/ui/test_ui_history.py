"""The Interfaces view's sparklines and rate bars, and the History view (issue 15, the app).

Snapshots at 80x24 and 160x48 (baselines in snapshots/test_ui_history/) from a fixed
history (tests/support/historyfix.py: the wave capture played on a fake clock, a database
of fixed rows), UTC times (conftest), no refresh timer; a Pilot test opens the view from a
row of each view and goes back with Esc.
"""

from __future__ import annotations

import pytest

from tests.support.app import RecordingBackend, settle
from tests.support.drillui import wait_for
from tests.support.historyfix import (CONVERSATION_DAYS, LOCAL, NAME, conversation_row,
                                      history_service)
from tuimon.server.protocol import HistoryOf
from tuimon.ui.app import MonitorApp
from tuimon.ui.history import HistoryScreen

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def history_app(tmp_path, view="interfaces", with_history=True):
    svc = history_service(tmp_path, with_history)
    return MonitorApp(RecordingBackend(svc), interval=None, view=view)


def open_history(*keys):
    async def run(pilot):
        app = pilot.app
        await settle(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.chart)
        for key in keys:
            seq = app.screen.seq
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen.chart.seq != seq)
        await settle(pilot)
    return run


@pytest.mark.parametrize("size", list(SIZES))
def test_sparklines(snap_compare, tmp_path, size):
    """Each interface's in and out over the last minutes under the table; bars behind the
    rates."""
    assert snap_compare(history_app(tmp_path), terminal_size=SIZES[size], run_before=settle)


def test_sparklines_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(history_app(tmp_path), terminal_size=(80, 24), run_before=settle)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("span", ["hour", "day", "year"])
def test_history_view(snap_compare, tmp_path, span, size):
    keys = {"hour": (), "day": ("d",), "year": ("y",)}[span]
    assert snap_compare(history_app(tmp_path), terminal_size=SIZES[size],
                        run_before=open_history(*keys))


def test_history_of_a_host_month(snap_compare, tmp_path):
    assert snap_compare(history_app(tmp_path, view="hosts"), terminal_size=(80, 24),
                        run_before=open_history("m"))


@pytest.mark.parametrize("size,span", [("80x24", "day"), ("160x48", "month")])
def test_history_of_a_conversation(snap_compare, tmp_path, size, span):
    """The wave conversation's last day (its lifetime today at its average rate) and month
    (its earlier lifetimes, one a day at 14:00, from the database), A>B and B>A apart."""
    assert snap_compare(history_app(tmp_path, view="conversations"), terminal_size=SIZES[size],
                        run_before=open_history(span[0]))


def test_history_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(history_app(tmp_path), terminal_size=(80, 24),
                        run_before=open_history("d"))


def test_history_without_a_database(snap_compare, tmp_path):
    """One line says so; the interface's last hour from memory, per second."""
    assert snap_compare(history_app(tmp_path, with_history=False), terminal_size=(80, 24),
                        run_before=open_history())


async def test_history_opens_from_a_row_and_esc_goes_back(tmp_path):
    app = history_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for view_key, moves, enter, kind, key in (
                ("1", 0, "enter", "interface", NAME), ("2", 0, "H", "host", LOCAL),
                ("3", 2, "h", "protocol", ("transport", "udp"))):  # linux-sll, ipv4, udp
            await pilot.press(view_key)
            await settle(pilot)
            await pilot.press(*["down"] * moves)
            await settle(pilot)
            await pilot.press(enter)
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                           and app.screen.chart is not None)
            screen = app.screen
            assert (screen.kind, screen.key) == (kind, key)
            sent = [r for r in app.backend.sent if isinstance(r, HistoryOf)][-1]
            assert (sent.kind, sent.key, sent.span) == (kind, key, "hour")
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.chart.span == "year")
            assert screen.chart.source == "history" and sum(screen.chart.bytes) > 0
            await pilot.press("escape")
            await settle(pilot)
            assert not isinstance(app.screen, HistoryScreen)
            assert app.table.view == {"1": "interfaces", "2": "hosts", "3": "protocols"}[view_key]
        # H in Conversations: the conversation's history (Enter there opens its packets).
        await pilot.press("4")
        await settle(pilot)
        key, row = app.table.cursor_row()
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and app.screen.chart is not None)
        screen = app.screen
        assert (screen.kind, screen.key) == ("conversation", key)
        assert screen.chart.source == "memory" and screen.chart.step == 1
        assert "5000" in screen.title_text and "6000" in screen.title_text
        await pilot.press("m")
        await wait_for(pilot, lambda: screen.chart.span == "month")
        # its recorded lifetimes (either way round) and this one, at their average rates
        recorded = sum(sum(conversation_row(d)[i] for i in (5, 7))
                       for d in range(1, CONVERSATION_DAYS + 1))
        assert sum(screen.chart.bytes) == recorded + row.bytes
        assert sum(screen.chart.in_bytes) == row.bytes_a_to_b + sum(
            conversation_row(d)[5 if (conversation_row(d)[0] == row.address_a) else 7]
            for d in range(1, CONVERSATION_DAYS + 1))
        await pilot.press("escape")
        await settle(pilot)
        assert app.table.view == "conversations"


async def test_history_figures_match_the_rows(tmp_path):
    """The chart's points and totals are the database's rows for the span."""
    from tests.support.historyfix import END_MINUTE, history_rows

    app = history_app(tmp_path)
    rows = history_rows()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_history("d")(pilot)
        chart = app.screen.chart
        assert chart.source == "history" and chart.step == 60 and len(chart.bytes) == 1440
        expected = {t: v for t, v in rows["minutes"].items()
                    if chart.start <= t < chart.start + 86400}
        assert chart.start + 86400 == END_MINUTE + 60
        assert sum(chart.in_bytes) == sum(i for i, _ in expected.values())
        assert sum(chart.out_bytes) == sum(o for _, o in expected.values())
        assert chart.bytes[-2] == sum(rows["minutes"][END_MINUTE - 60])
        assert len(chart.profile) == 24
