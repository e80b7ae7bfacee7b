"""HistoryScreen: one interface's, host's, protocol's or conversation's traffic over the
last hour, day, month or year (the MRTG-style chart), the span's totals, today's, this
week's and this accounting period's totals (interfaces and hosts), and its time-of-day
profile.

Opened with ``H`` on a row (Enter too, outside Conversations); ``h`` ``d`` ``m`` ``y``
choose the span, Esc goes back. The figures come from the engine process (a
``HistoryChart`` reply to ``HistoryOf``): an interface's last hour from memory, per
second, when the session has counted that long or there is no database, and a
conversation's from the moment its history was opened (``tuimon.core.watch``); the rest
from the history database. A per-second chart is asked for again every
:data:`MEMORY_AGAIN` seconds, so it moves on. Without a database the screen says so in
one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from tuimon.server.protocol import SPANS, HistoryChart, HistoryOf
from tuimon.text import printable
from tuimon.ui import format as fmt
from tuimon.ui.history_chart import HistoryChartView
from tuimon.ui.history_profile import ProfileBars

MEMORY_AGAIN = 2.0  # seconds between two asks for a per-second chart from memory
GRAIN_NAMES = {1: "per second", 60: "per minute", 3600: "per hour", 86400: "per day"}


def conversation_title(row) -> str:
    """``conversation tcp 10.0.0.1:51234 > 10.0.0.2:443`` (A, the side that sent first,
    then B) from a Conversations row."""
    def end(address, port) -> str:
        address = printable(str(address), 46)
        if port is None:
            return address
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return (f"conversation {printable(str(row.protocol), 16)} "
            f"{end(row.address_a, row.port_a)} > {end(row.address_b, row.port_b)}")


def thing_name(kind: str, key) -> str:
    """``interface eth0``, ``host 10.0.0.1``, ``protocol tls (application)``."""
    if kind == "protocol":
        layer, protocol = key
        return f"protocol {printable(str(protocol), 40)} ({printable(str(layer), 16)})"
    return f"{kind} {printable(str(key), 64)}"


def totals_text(chart: HistoryChart, human: bool) -> Text:
    """The period's totals and peaks: in, out and both (or one figure without direction)."""
    text = Text()
    text.append(f"Last {chart.span}: ", "bold")
    step = max(1, chart.step)
    if chart.out_bytes is None:
        peak = max(chart.in_bytes, default=0) / step
        text.append(f"{fmt.size(sum(chart.bytes) or sum(chart.in_bytes), human)}")
        text.append(f", peak {fmt.bitrate(peak, human)}")
        return text
    total_in, total_out = sum(chart.in_bytes), sum(chart.out_bytes)
    names = ("A>B ", ", B>A ") if chart.kind == "conversation" else ("in ", ", out ")
    text.append(names[0], "bold")
    text.append(fmt.size(total_in, human))
    text.append(names[1], "bold")
    text.append(fmt.size(total_out, human))
    text.append(f" ({fmt.size(sum(chart.bytes), human)}); peaks "
                f"{fmt.bitrate(max(chart.in_bytes, default=0) / step, human)}, "
                f"{fmt.bitrate(max(chart.out_bytes, default=0) / step, human)}")
    return text


PERIOD_NAMES = {"today": "Today", "week": "this week", "period": "this period"}


def periods_text(chart: HistoryChart, human: bool) -> Text:
    """Today's, this week's and this accounting period's totals (from the database: they
    survive restarts); the period says the day it began (``--billing-day``)."""
    text = Text()
    for i, (name, start, nbytes, *_rest) in enumerate(chart.periods):
        if i:
            text.append(" · ")
        text.append(PERIOD_NAMES.get(name, name), "bold")
        if name == "period":
            day = time.strftime("%Y-%m-%d", time.gmtime(start))
            text.append(f" (from {day})")
        text.append(f" {fmt.size(nbytes, human)}")
    return text


class HistoryScreen(Screen):
    DEFAULT_CSS = """
    HistoryScreen { layout: vertical; }
    HistoryScreen .history-line { height: 1; padding: 0 1; text-wrap: nowrap;
                                  text-overflow: ellipsis; }
    HistoryScreen #history-title { background: $panel; }
    HistoryScreen #history-source { color: $text-muted; }
    HistoryScreen #history-profile-title { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="History: back to the table"),
        Binding("h", "span('hour')", "Hour", tooltip="History: the last hour"),
        Binding("d", "span('day')", "Day", tooltip="History: the last day, per minute"),
        Binding("m", "span('month')", "Month", tooltip="History: the last 30 days, per hour"),
        Binding("y", "span('year')", "Year", tooltip="History: the last 365 days, per day"),
    ]

    def __init__(self, kind: str, key, send: Callable[[object], None],
                 next_seq: Callable[[], int], human: bool = True,
                 title: str | None = None) -> None:
        """``title``: what the screen is the history of (by default from kind and key)."""
        super().__init__()
        self.kind, self.key = kind, key
        self.title_text = title or thing_name(kind, key)
        self._send, self._next_seq = send, next_seq
        self.human = human
        self.span = "hour"
        self.seq = 0
        self.chart: HistoryChart | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="history-title", classes="history-line")
        yield Static("asking the engine…", id="history-source", classes="history-line")
        yield HistoryChartView(id="history-chart")
        yield Static(id="history-totals", classes="history-line")
        yield Static(id="history-periods", classes="history-line")
        yield Static(id="history-profile-title", classes="history-line")
        yield ProfileBars(id="history-profile")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#history-chart", HistoryChartView).human = self.human
        self.query_one("#history-profile", ProfileBars).human = self.human
        self.ask(self.span)

    def ask(self, span: str) -> None:
        self.span = span
        self.seq = self._next_seq()
        self._show_title()
        self._send(HistoryOf(self.kind, self.key, span, self.seq))

    def _show_title(self) -> None:
        text = Text()
        text.append("History of ", "bold")
        text.append(self.title_text, "bold")
        text.append("  ")
        for span in SPANS:
            label = f"[{span[0]}]{span[1:]}"
            text.append(label, "bold reverse" if span == self.span else "")
            text.append(" ")
        one = self.kind == "protocol" or self.chart is not None and self.chart.out_bytes is None
        if one:
            text.append(" █ both ways")
        else:
            text.append(" █ A>B • B>A" if self.kind == "conversation" else " █ in • out")
        self.query_one("#history-title", Static).update(text)

    def show(self, chart: HistoryChart) -> None:
        """The engine's answer (the app routes it here when its seq is this screen's)."""
        if chart.seq != self.seq:
            return
        self.chart = chart
        self._show_title()
        grain = GRAIN_NAMES.get(chart.step, f"every {chart.step} s")
        source = Text()
        if chart.note:  # first: what the user most needs to know
            source.append(printable(chart.note, 300), "bold")
            if chart.in_bytes:
                source.append(f" ({grain})")
        elif chart.in_bytes:
            where = "memory" if chart.source == "memory" else "the history database"
            source.append(f"{grain}, from {where}")
        self.query_one("#history-source", Static).update(source)
        self.query_one("#history-chart", HistoryChartView).show(chart)
        totals = totals_text(chart, self.human) if chart.in_bytes else Text("")
        self.query_one("#history-totals", Static).update(totals)
        self.query_one("#history-periods", Static).update(periods_text(chart, self.human))
        profile = Text()
        if chart.profile and any(h[2] for h in chart.profile):
            profile.append("Time of day (UTC): average bytes per day in each hour, last 30 days")
        elif chart.source != "memory" or chart.profile:
            profile.append("Time of day: nothing recorded in the last 30 days")
        else:
            profile.append("Time of day: kept only in the history database")
        self.query_one("#history-profile-title", Static).update(profile)
        self.query_one("#history-profile", ProfileBars).show(chart.profile)
        if chart.source == "memory" and chart.step == 1:  # per second: it moves on
            self.set_timer(MEMORY_AGAIN, partial(self._again, chart.seq))

    def _again(self, seq: int) -> None:
        """Ask again for a per-second chart from memory, unless the span was changed."""
        if seq == self.seq and self.is_current:
            self.ask(self.span)

    def action_span(self, span: str) -> None:
        if span != self.span:
            self.ask(span)

    def action_back(self) -> None:
        self.app.pop_screen()
