"""What a refresh of the Interfaces view's sparklines costs: Textual's ``Sparkline`` widget
(two per interface, in and out) against the Line-API ``SparkPanel`` tuimon draws.

Each refresh hands every chart a new 120-point series and waits for the screen to be drawn
(Pilot, headless); the CPU time per refresh is the median of the runs. Run by hand:
``python bench/sparkline_cost.py`` (not part of ``make bench``); figures in docs/usage.md.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline

from tuimon.core.model import InterfaceRow
from tuimon.server.protocol import Page, Trail
from tuimon.ui.sparkpanel import SparkPanel

INTERFACES = 4
POINTS = 120
REFRESHES = 150


def series(k: int, phase: int) -> list[float]:
    return [1000 + 900 * math.sin((i + phase + 17 * k) / 9) for i in range(POINTS)]


def page(phase: int) -> Page:
    rows = [InterfaceRow(f"eth{k}", 0, 0, "ethernet", 0, 0, 0, 0, None, None, None, 0)
            for k in range(INTERFACES)]
    trails = {f"eth{k}": Trail(series(k, phase), series(k, phase), series(k + 1, phase), True)
              for k in range(INTERFACES)}
    return Page(0, "interfaces", "bytes", True, "", None, INTERFACES, INTERFACES, 0, 0,
                rows=rows, trails=trails)


class TextualSparks(App):
    def compose(self) -> ComposeResult:
        with Vertical():
            for k in range(2 * INTERFACES):
                yield Sparkline([0.0], id=f"s{k}", classes="spark")

    CSS = ".spark { height: 1; }"

    def refresh_charts(self, phase: int) -> None:
        for k in range(INTERFACES):
            self.query_one(f"#s{2 * k}", Sparkline).data = series(k, phase)
            self.query_one(f"#s{2 * k + 1}", Sparkline).data = series(k + 1, phase)


class LineApiSparks(App):
    def compose(self) -> ComposeResult:
        self.panel = SparkPanel()
        yield self.panel

    def refresh_charts(self, phase: int) -> None:
        self.panel.set_page(page(phase))


async def measure(app_class, size) -> float:
    app = app_class()
    times = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for phase in range(REFRESHES):
            start = time.process_time()
            app.refresh_charts(phase)
            await pilot.pause()
            await pilot.pause()
            times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def main() -> int:
    for size in ((80, 24), (160, 48)):
        for app_class in (TextualSparks, LineApiSparks):
            ms = asyncio.run(measure(app_class, size))
            print(f"{app_class.__name__:<14} {size[0]}x{size[1]}: {ms:.2f} ms CPU per refresh "
                  f"({INTERFACES} interfaces, in and out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
