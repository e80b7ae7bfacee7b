"""UI timings with 100,000 conversations in the engine (run through Textual's Pilot).

* refresh: one table refresh as the timer does it -- the engine query (filter, sort of
  all 100,000 conversations, the visible window; the engine's version bumped first, as
  when packets keep coming, so nothing is cached) plus the Line-API table applying the
  page and rendering every visible line;
* key press: from the key event of ``r`` (reverse the sort: a new query) reaching the
  app as a terminal's key press does, to the screen drawn with the new page (the app's
  ``_display`` called after the page was applied); also Pilot's ``press`` + ``pause``
  for comparison, which add Pilot's own waiting for idle.
* view switch: the same for ``2`` and ``4`` in turn (Hosts, Conversations), key to the
  screen drawn with the new view's page; and the UI's CPU for it, the engine's (its
  query, in this process here) taken out: what the UI process spends per switch in the
  real app, where the engine is a process of its own. The update is also turned into
  the terminal's bytes, as the real driver does (headless, Textual skips it).

``python -m bench.ui PCAP`` prints JSON; the capture must hold about 100,000 conversations.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from tuimon.config import Config

REPEAT = 25


def service(path: str):
    from tuimon.server.service import EngineService

    args = Config(read=path, flow_timeout=0, max_flows=0)
    svc = EngineService(args, clock=lambda: 50.0)
    svc.run_all()
    return svc


def timed_app(backend):
    """The app, noting when a page was applied and when the screen was next drawn."""
    from tuimon.ui.app import MonitorApp

    class TimedApp(MonitorApp):
        applied = shown = 0.0
        terminal = False  # turn each update into the terminal's bytes (view switch part)

        def _apply_page(self, page) -> None:
            super()._apply_page(page)
            self.applied = time.perf_counter()

        def _display(self, screen, renderable) -> None:
            super()._display(screen, renderable)
            if renderable is not None and self.applied:
                self.shown = time.perf_counter()
            if self.terminal and hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)  # what a terminal's driver writes

    return TimedApp(backend, interval=None, view="conversations")


class EngineTimed:
    """The in-process engine, its CPU time summed (to take it out of the UI's)."""

    def __init__(self, svc) -> None:
        self.svc = svc
        self.cpu = 0.0

    def handle(self, request):
        start = time.process_time()
        try:
            return self.svc.handle(request)
        finally:
            self.cpu += time.process_time() - start


async def measure(svc, size=(160, 48)) -> dict:
    from textual import events

    from tuimon.server.protocol import Query
    from tuimon.server.client import LocalClient

    app = timed_app(LocalClient(svc))
    query_ms, apply_ms, key_ms, pilot_ms = [], [], [], []
    async with app.run_test(size=size) as pilot:
        for _ in range(3):
            await pilot.pause()
        table = app.table
        for i in range(REPEAT):
            svc.version += 1  # new packets were counted: the query cannot use its cache
            start = time.perf_counter()
            page = svc.handle(Query(**table.window(), seq=10_000 + i))
            middle = time.perf_counter()
            table.apply_page(page)
            for y in range(table.size.height):
                table.render_line(y)
            end = time.perf_counter()
            query_ms.append((middle - start) * 1000)
            apply_ms.append((end - middle) * 1000)
        await pilot.pause()
        for _ in range(REPEAT):
            svc.version += 1
            seq = app._seq
            app.applied = app.shown = 0.0
            start = time.perf_counter()
            app._driver.send_message(events.Key("r", "r"))  # what a terminal's key press becomes
            while not (app.last_page is not None and app.last_page.seq > seq
                       and app.shown > app.applied > 0):
                await asyncio.sleep(0.0005)
            key_ms.append((app.shown - start) * 1000)
            await pilot.pause()
        for _ in range(5):  # the same through Pilot's press, which waits for idle itself
            svc.version += 1
            start = time.perf_counter()
            await pilot.press("r")
            await pilot.pause()
            pilot_ms.append((time.perf_counter() - start) * 1000)
        switch_ms, switch_cpu_ms = [], []
        engine = EngineTimed(svc)
        app.backend.service = engine
        app.terminal = True
        try:
            for i in range(REPEAT * 2):
                await asyncio.sleep(0.05)
                svc.version += 1
                key = "2" if app.table.view == "conversations" else "4"
                seq = app._seq
                app.applied = app.shown = 0.0
                engine.cpu = 0.0
                cpu = time.process_time()
                start = time.perf_counter()
                app._driver.send_message(events.Key(key, key))
                while not (app.last_page is not None and app.last_page.seq > seq
                           and app.shown > app.applied > 0):
                    await asyncio.sleep(0.0005)
                switch_ms.append((app.shown - start) * 1000)
                await pilot.pause()
                await asyncio.sleep(0.1)  # what the switch leaves to do after the frame
                switch_cpu_ms.append((time.process_time() - cpu - engine.cpu) * 1000)
        finally:
            app.backend.service = svc
        rows = app.last_page.count
    refresh = [q + a for q, a in zip(query_ms, apply_ms)]
    return {"conversations": rows, "refresh_ms": round(statistics.median(refresh), 1),
            "query_ms": round(statistics.median(query_ms), 1),
            "apply_ms": round(statistics.median(apply_ms), 1),
            "key_ms": round(statistics.median(key_ms), 1),
            "key_max_ms": round(max(key_ms), 1),
            "pilot_key_ms": round(statistics.median(pilot_ms), 1), "repeat": REPEAT,
            "switch_ms": round(statistics.median(switch_ms), 1),
            "switch_ui_cpu_ms": round(statistics.median(switch_cpu_ms), 1),
            "terminal": f"{size[0]}x{size[1]}"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    svc = service(argv[0])
    print(json.dumps(asyncio.run(measure(svc))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
