"""HistoryChartView: an MRTG-style chart of one thing's traffic over a span, in as a filled
area (``█``), out as a line of dots (``•``) over it; a rate axis on the left, times below
(Line API: it draws its own lines). The newest column is at the right edge.

The points come from a ``HistoryChart`` reply (bytes per ``step`` seconds); each column of
the chart is the average rate of the points it holds, or a point is drawn over several
columns when there are fewer points than columns.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tuimon.server.protocol import HistoryChart
from tuimon.ui import format as fmt
from tuimon.ui.spark import cell, columns, eighths, nice_peak, time_label

AXIS = 11  # the rate labels' width, the axis line included


def layout(chart: HistoryChart, width: int) -> tuple[list, list | None, int, int]:
    """(in rates, out rates or None, points per column, columns per point) for ``width``
    columns of chart: rates in bytes per second."""
    step = max(1, chart.step)
    ins = [b / step for b in chart.in_bytes]
    outs = None if chart.out_bytes is None else [b / step for b in chart.out_bytes]
    n = len(ins)
    if n == 0 or width <= 0:
        return [], None, 1, 1
    if n >= width:
        per = -(-n // width)
        return columns(ins, width), None if outs is None else columns(outs, width), per, 1
    repeat = width // n
    stretch = lambda vals: [v for v in vals for _ in range(repeat)]  # noqa: E731
    return stretch(ins), None if outs is None else stretch(outs), 1, repeat


class HistoryChartView(Widget):
    COMPONENT_CLASSES = {"historychart--in", "historychart--out", "historychart--axis"}
    DEFAULT_CSS = """
    HistoryChartView { height: 1fr; min-height: 4; background: $surface; }
    HistoryChartView > .historychart--in { color: $success; }
    HistoryChartView > .historychart--out { color: $accent; text-style: bold; }
    HistoryChartView > .historychart--axis { color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart: HistoryChart | None = None
        self.human = True
        self._cache: tuple[tuple, list[Strip]] | None = None

    def show(self, chart: HistoryChart) -> None:
        self.chart = chart
        self._cache = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if self._cache is None or self._cache[0] != (width, height):
            self._cache = ((width, height), self._draw(width, height))
        strips = self._cache[1]
        if y < len(strips):
            return strips[y].crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    def _draw(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        axis = base + self.get_component_rich_style("historychart--axis")
        in_style = base + self.get_component_rich_style("historychart--in")
        out_style = base + self.get_component_rich_style("historychart--out")
        over_in = out_style + Style(bgcolor=in_style.color)
        chart = self.chart
        rows = max(1, height - 1)
        if chart is None or not chart.in_bytes:
            return []
        ins, outs, per, repeat = layout(chart, width - AXIS)
        pad = max(0, width - AXIS - len(ins))  # the newest column at the right edge
        peak = nice_peak(max(max(ins, default=0), max(outs or [0])) * 8) / 8
        strips = []
        labels = {0: fmt.bitrate(peak, self.human), rows // 2: fmt.bitrate(peak / 2, self.human)
                  if rows > 3 else "", rows - 1: "0"}
        e_in = [eighths(v, peak, rows) for v in ins]
        e_out = [eighths(v, peak, rows) for v in outs] if outs is not None else None
        for r in range(rows):
            bottom = (rows - 1 - r) * 8
            label = labels.get(r, "")
            segments = [Segment(f"{label:>{AXIS - 1}}" + ("┤" if label else "│"), axis)]
            if pad:
                segments.append(Segment(" " * pad, base))
            for i, e in enumerate(e_in):
                fill = e - bottom
                if e_out is not None and e_out[i] and (e_out[i] - 1) // 8 == bottom // 8:
                    segments.append(Segment("•", over_in if fill >= 4 else out_style))
                else:
                    segments.append(Segment(cell(fill) if fill > 0 else " ", in_style))
            strips.append(Strip(segments))
        time_axis = self._time_axis(chart, len(ins), per, repeat)
        strips.append(Strip([Segment(time_axis[:AXIS] + " " * pad + time_axis[AXIS:], axis)]))
        return strips

    @staticmethod
    def _time_axis(chart: HistoryChart, cols: int, per: int, repeat: int) -> str:
        """└ then the first column's time on the left, the end's on the right, one between."""
        n = len(chart.in_bytes)
        first = chart.start + (n - (n // per) * per if per > 1 else 0) * chart.step
        end = chart.start + n * chart.step
        line = [" "] * cols
        left = time_label(first, chart.step)
        right = time_label(end, chart.step)
        middle = time_label((first + end) / 2, chart.step)

        def put(at: int, text: str) -> None:
            for j, ch in enumerate(text):
                if 0 <= at + j < cols:
                    line[at + j] = ch

        put(0, left)
        if cols > len(left) + len(middle) + len(right) + 4:
            put(cols // 2 - len(middle) // 2, middle)
        put(cols - len(right), right)
        return " " * (AXIS - 1) + "└" + "".join(line)
