"""MonitorHeader: source, state, elapsed time, the quota and alert marks, totals, current
rates, drops, records skipped."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tuimon.server.protocol import Page
from tuimon.text import printable
from tuimon.ui import format as fmt
from tuimon.ui.alerts import alert_mark
from tuimon.ui.quota import quota_mark

_STATE_STYLES = {
    "capturing": "bold green", "playing": "bold green", "finished": "bold",
    "paused": "bold reverse", "error": "bold reverse red", "starting": "italic",
}


class MonitorHeader(Static):
    """Two lines (three with an error message). Everything shown comes in as plain text."""

    DEFAULT_CSS = """
    MonitorHeader { height: auto; background: $panel; padding: 0 1; text-wrap: nowrap;
                    text-overflow: ellipsis; }
    """

    def __init__(self, source: str = "", **kwargs) -> None:
        super().__init__("", **kwargs)
        self.source = printable(source, 80)
        self.state = "starting"
        self.message = ""
        self.paused = False
        self.human = True
        self.page: Page | None = None
        self._page_at = 0.0  # when the page came (monotonic): the clock runs on from it
        self.clock = time.monotonic
        self._height = 0  # the lines it shows (its height)

    def set_status(self, state: str, message: str = "", source: str = "") -> None:
        self.state, self.message = state, printable(message, 300)
        self.source = printable(source or self.source, 80)
        self.redraw()

    def set_page(self, page: Page) -> None:
        self.page = page
        self._page_at = self.clock()
        if page.state:
            self.state, self.message = page.state, printable(page.message, 300)
        self.source = printable(page.source or self.source, 80)
        self.redraw()

    def redraw(self) -> None:
        human = self.human
        state = "paused" if self.paused and self.state != "error" else self.state
        line = Text.assemble(("tuimon", "bold"), "  ", (self.source, "bold"), "  ",
                             (f" {state} ", _STATE_STYLES.get(state, "bold")))
        page = self.page
        if page is not None:
            line.append(f"  {fmt.duration(self.elapsed())}")
            line.append(quota_mark(page.quotas, human))
            line.append(alert_mark(page))
        text = Text("\n").join([line, *self._fold(self._pieces(page, human))])
        note = printable(page.note, 200) if page is not None else ""
        if self.message:
            text.append("\n")
            text.append(self.message, "bold red" if self.state == "error" else "bold yellow")
        elif note:
            text.append("\n")
            text.append(note, "yellow")
        # A layout of the screen only when the header's height changes (a line more or
        # less): the totals change at every refresh, its height seldom. The height set, not
        # update(layout=True): that one could leave the height measured before (Textual
        # keeps a widget's size until its layout counter moves, which a layout requested
        # while one is pending does not do).
        height = text.plain.count("\n") + 1  # (no wrapping: a line per line)
        if height != self._height:
            self._height = height
            self.styles.height = height
        self.update(text, layout=False)

    def elapsed(self) -> float:
        """The session's elapsed time: the last page's, run on while the display is paused
        (no pages come then, and the session goes on: a held clock then jumped on resume).
        A finished session's clock has stopped."""
        page = self.page
        if page is None:
            return 0.0
        if self.paused and self.state in ("playing", "capturing"):
            return page.elapsed + max(0.0, self.clock() - self._page_at)
        return page.elapsed

    def on_resize(self) -> None:
        self.redraw()

    def _fold(self, pieces: list[Text]) -> list[Text]:
        """The totals' label-value pairs on as many lines as the width needs: a pair is
        never cut (an 80-column terminal showed ``Conv 1 +3…``)."""
        room = self.size.width - 2  # (the padding)
        lines = [Text()]
        for piece in pieces:
            line = lines[-1]
            if line.cell_len and room > 0 and line.cell_len + 2 + piece.cell_len > room:
                line = Text()
                lines.append(line)
            if line.cell_len:
                line.append("  ")
            line.append_text(piece)
        return lines

    @staticmethod
    def _totals(page: Page | None, human: bool) -> Text:
        """The totals on one line."""
        return Text("  ").join(MonitorHeader._pieces(page, human))

    @staticmethod
    def _pieces(page: Page | None, human: bool) -> list[Text]:
        """The totals' label-value pairs, each a Text."""
        t = page.totals if page is not None else None
        if t is None:
            return [Text("no packets yet", "italic")]
        lag = page.lag
        bps, pps, now = t.rate_2s, t.packet_rate_2s, "Now "
        if lag is not None and lag.kernel_bps is not None:  # the counted rate lags too
            bps, pps, now = lag.kernel_bps, lag.kernel_pps, "Now (kernel) "
        pairs = [
            ("Total ", f"{fmt.count(t.packets, human)} pkts {fmt.size(t.bytes, human)}"
                       f"{'' if human else ' B'}"),
            (now, f"{fmt.bitrate(bps, human)}{'' if human else ' b/s'} "
                  f"{fmt.packet_rate(pps, human)}{'' if human else ' p/s'}"),
            ("Drops ", fmt.count(t.drops, human) if t.drops_reported else "n/a"),
        ]
        if lag is not None:  # apart from drops: nothing is lost yet, it waits
            pairs.append(("Behind ", f"{lag.seconds:.1f} s {fmt.count(lag.packets, human)} pkts"))
        if t.missed is not None:
            pairs.append(("Missed ", fmt.count(t.missed, human)))
        pairs += [("Hosts ", fmt.count(t.hosts, human)  # + those folded over --max-hosts
                   + (f" +{fmt.count(t.hosts_folded, human)} fold" if t.hosts_folded else "")),
                  ("Conv ", fmt.count(t.conversations, human)
                   + (f" +{fmt.count(t.expired, human)} exp" if t.expired else ""))]
        if t.skipped_records:  # damaged records the capture could not give (see Interfaces)
            pairs.append(("Skipped ", fmt.count(t.skipped_records, human)))
        # Application protocols still to come from tshark, and those it never got to.
        waiting, skipped = t.app_waiting, t.app_skipped
        if waiting or skipped:
            value = f"{fmt.count(waiting, human)} unlabelled"
            if skipped:
                value += f", {fmt.count(skipped, human)} by port only"
            pairs.append(("Apps ", value))
        pieces = []
        for label, value in pairs:
            piece = Text()
            piece.append(label, "dim")
            piece.append(value, "bold")
            pieces.append(piece)
        return pieces
