"""SparkPanel: the Interfaces view's sparklines, each interface's in and out rate over the
last minutes, under the table (Line API: it draws its few lines itself).

The engine sends them with each page of the Interfaces view (``Page.trails``: SPARK_STEP
seconds a column, newest last); the panel shows the first interfaces of the page, as many
as fit in MAX_SHOWN, each on its own scale up to its peak, the peak at the line's end.
An interface whose direction is not known has one line, ``all``.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tuimon.server.protocol import SPARK_STEP, Page
from tuimon.text import printable
from tuimon.ui import format as fmt
from tuimon.ui.spark import sparkline

MAX_SHOWN = 4  # interfaces with sparklines (two lines each)
_NAME, _DIR, _PEAK = 12, 4, 11  # widths of the name, the direction and the peak


class SparkPanel(Widget):
    COMPONENT_CLASSES = {"sparkpanel--title", "sparkpanel--in", "sparkpanel--out",
                         "sparkpanel--name"}
    DEFAULT_CSS = """
    SparkPanel { height: auto; max-height: 9; background: $surface; }
    SparkPanel > .sparkpanel--title { color: $text-muted; background: $panel; }
    SparkPanel > .sparkpanel--in { color: $success; }
    SparkPanel > .sparkpanel--out { color: $accent; }
    SparkPanel > .sparkpanel--name { text-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shown: list[tuple[str, object]] = []  # (interface, Trail)
        self.human = True
        self._cache: tuple[int, list] | None = None  # (width, lines) drawn last

    def set_page(self, page: Page) -> None:
        """The sparklines of the page's first interfaces."""
        first = max(0, page.offset - page.start)
        shown = []
        for row in page.rows[first:]:
            trail = page.trails.get(row.interface)
            if trail is not None:
                shown.append((row.interface, trail))
            if len(shown) == MAX_SHOWN:
                break
        height = self._height(shown)
        changed = height != self._height(self.shown)
        self.shown = shown
        self._cache = None
        if changed:
            self.styles.height = height
        self.refresh()

    @staticmethod
    def _height(shown: list) -> int:
        if not shown:
            return 0
        return 1 + sum(2 if trail.direction else 1 for _, trail in shown)

    def set_human(self, human: bool) -> None:
        self.human = human
        self._cache = None
        self.refresh()

    def get_content_height(self, container, viewport, width: int) -> int:
        return self._height(self.shown)

    def _lines(self, width: int) -> list[list[tuple[str, str]]]:
        """Each line as (text, component class or "") pieces."""
        spark_width = max(4, width - _NAME - _DIR - _PEAK - 2)
        lines = []
        if self.shown:
            n = min(spark_width, len(self.shown[0][1].total))
            minutes = n * SPARK_STEP / 60
            lines.append([(f" Rates over the last {minutes:.1f} min, {SPARK_STEP} s a column; "
                           f"the peak on the right", "sparkpanel--title")])
        for name, trail in self.shown:
            series = ([("in", trail.in_rate, "sparkpanel--in"),
                       ("out", trail.out_rate, "sparkpanel--out")] if trail.direction
                      else [("all", trail.total, "sparkpanel--in")])
            values = [s[1][-spark_width:] for s in series]
            peak = max((max(v) for v in values if v), default=0.0)
            for i, ((label, _, style), vals) in enumerate(zip(series, values)):
                label_text = printable(name, _NAME - 2) if i == 0 else ""
                spark = sparkline(vals, peak).rjust(spark_width)
                top = fmt.bitrate(max(vals, default=0.0), self.human)
                lines.append([(f" {label_text:<{_NAME - 1}}", "sparkpanel--name"),
                              (f"{label:<{_DIR}}", ""), (spark, style),
                              (f" {top:>{_PEAK}}", "")])
        return lines

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if self._cache is None or self._cache[0] != width:
            self._cache = (width, self._lines(width))
        lines = self._cache[1]
        if y >= len(lines):
            return Strip.blank(width, base)
        segments = []
        for text, component in lines[y]:
            style: Style = base + self.get_component_rich_style(component) if component else base
            segments.append(Segment(text, style))
        end = segments[-1].style if lines[y][-1][1] == "sparkpanel--title" else base
        return Strip(segments).crop_extend(0, width, end)
