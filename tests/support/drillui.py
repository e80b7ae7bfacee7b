"""Helpers shared by the tests, from test_drill_ui.py."""

from __future__ import annotations

from tests.support.app import settle
from tuimon.ui.packets import PacketsScreen


async def wait_for(pilot, predicate, tries: int = 400):
    for _ in range(tries):
        await pilot.pause(0.02)
        if predicate():
            return
    raise AssertionError("the drill-down reply did not arrive")


async def open_first_conversation(app, pilot):
    await settle(pilot)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, PacketsScreen) and app.screen.reply)
    await settle(pilot)
    return app.screen
