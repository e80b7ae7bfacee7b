"""PlaybackBar: one line under the header while a recorded capture plays.

``▶ 12:34:56 +00:01:23 ██████░░░░  42%  1234 pkts  speed 2×  2 gaps skipped (8h 20m)``

the state (▶ playing, ‖ paused, ■ finished), the capture time reached (local clock) and
how far into the capture that is, the share of the file
consumed (bytes; no bar for standard input, whose size is unknown: the bytes read
instead), packets read, speed (``max``: as fast as possible) and the quiet gaps longer
than ``--max-gap`` that were skipped. Hidden for a live capture.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tuimon.ui import format as fmt

FULL, EMPTY = "█", "░"
GLYPHS = {"playing": "▶", "paused": "‖", "finished": "■"}


SEP = " · "  # between the line's items: a visible mark, not spaces alone ("speed max5 gaps")


def speed_text(speed: float) -> str:
    return "max" if speed == 0 else f"{speed:g}×"


def short_duration(seconds: float) -> str:
    """The two largest units: ``45s``, ``8m 20s``, ``8h 20m``, ``3d 4h``."""
    s = int(round(max(0.0, seconds)))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {s}s" if m else f"{s}s"


def progress_text(p, width: int = 80, human: bool = True) -> Text:
    """The bar's line for :class:`~tuimon.server.playback.Progress` ``p`` in ``width`` cells.
    What does not fit goes, in this order: the bar (the percentage stays), the offset into
    the capture, the word "speed"."""
    state = "finished" if p.finished else "paused" if p.paused else "playing"
    percent = p.percent
    for bar, offset, speed_word in ((True, True, True), (False, True, True),
                                    (False, False, True), (False, False, False)):
        head = Text()
        head.append(GLYPHS[state], "bold")
        if p.reached is None:
            head.append(" playback", "bold")
        else:
            head.append(f" {fmt.clock_time(p.reached)}", "bold")
            if offset:
                head.append(f" +{fmt.duration(p.offset)}")
        tail = Text()
        if percent is None:  # standard input: no size, no bar
            tail.append(f"{SEP}{fmt.size(p.position, human)}{'' if human else ' B'} read")
        else:
            tail.append(f" {percent:3.0f}%", "bold")
        tail.append(f"{SEP}{fmt.count(p.packets, human)} pkts{SEP}")
        if speed_word:
            tail.append("speed ", "dim")
        tail.append(speed_text(p.speed), "bold")
        if p.gaps:
            tail.append(SEP)
            tail.append(f"{p.gaps} gap{'s' if p.gaps != 1 else ''} skipped "
                        f"({short_duration(p.skipped)})", "yellow")
        room = width - head.cell_len - tail.cell_len - 2
        if bar and percent is not None and room >= 5:
            cells = min(40, room)
            filled = int(round(cells * percent / 100))
            middle = Text(" ")
            middle.append(FULL * filled, "bold green")
            middle.append(EMPTY * (cells - filled), "dim")
            return Text.assemble(head, middle, tail)
        if not bar and head.cell_len + tail.cell_len <= width:
            return Text.assemble(head, tail)
    return Text.assemble(head, tail)


class PlaybackBar(Widget):
    DEFAULT_CSS = """
    PlaybackBar { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap;
                  text-overflow: ellipsis; display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.progress = None
        self.human = True

    def set_progress(self, progress) -> None:
        if progress is None:
            return
        self.progress = progress
        self.display = True
        self.refresh()

    def render(self) -> Text:
        if self.progress is None:
            return Text("")
        return progress_text(self.progress, max(20, self.size.width), self.human)
