"""ProfileBars: the 24-bar time-of-day profile of the History view, each hour of the day
(UTC) the average bytes of the days that had traffic in it (Line API).
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from tuimon.ui import format as fmt
from tuimon.ui.spark import cell, eighths

AXIS = 11  # as the chart's, so the two line up


class ProfileBars(Widget):
    COMPONENT_CLASSES = {"profilebars--bar", "profilebars--axis"}
    DEFAULT_CSS = """
    ProfileBars { height: 6; background: $surface; }
    ProfileBars > .profilebars--bar { color: $warning; }
    ProfileBars > .profilebars--axis { color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.profile: list = []  # (hour, days, bytes, in, out) per hour of day
        self.human = True
        self._cache: tuple[tuple, list[Strip]] | None = None

    def show(self, profile: list) -> None:
        self.profile = list(profile)
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
        axis = base + self.get_component_rich_style("profilebars--axis")
        bar = base + self.get_component_rich_style("profilebars--bar")
        if len(self.profile) != 24 or not any(h[2] for h in self.profile):
            return []
        rows = max(1, height - 1)
        slot = max(2, (width - AXIS) // 24)
        thick = max(1, slot - 1)
        values = [h[2] for h in self.profile]
        peak = max(values)
        levels = [eighths(v, peak, rows) for v in values]
        strips = []
        for r in range(rows):
            bottom = (rows - 1 - r) * 8
            label = fmt.size(round(peak), self.human) if r == 0 else "0" if r == rows - 1 else ""
            segments = [Segment(f"{label:>{AXIS - 1}}" + ("┤" if label else "│"), axis)]
            for e in levels:
                fill = e - bottom
                segments.append(Segment((cell(fill) if fill > 0 else " ") * thick, bar))
                segments.append(Segment(" " * (slot - thick), base))
            strips.append(Strip(segments))
        hours = []
        every = 3 if slot < 4 else 2 if slot < 6 else 1
        for hour in range(24):
            hours.append(f"{hour:<{slot}}"[:slot] if hour % every == 0 else " " * slot)
        strips.append(Strip([Segment(" " * (AXIS - 1) + "└", axis),
                             Segment("".join(hours), axis)]))
        return strips
