"""MonitorFooter: the keys of Textual's Footer, drawn as one line by one widget.

Textual's Footer is a row of ``FooterKey`` widgets, one per key. A view switch shows or
hides a few of them (Conversations has Enter and ``w``), and a widget shown or hidden
lays out the whole screen again and draws every line of it: about 10 ms of the UI's CPU
per switch, paid between the key press and the new page on screen. This footer draws its
keys itself (the Line API): a switch that changes them repaints this one line, the screen
is not laid out. It looks and behaves as Footer does: a key in the accent colour and
bold, its description after it, a disabled key dim, the key under the mouse highlighted
with its tooltip, a click presses it; only keys that fit whole are shown (``u Un`` would
say nothing; ``?`` lists them all).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

# (key, key_display, action, description, enabled, tooltip): one key the footer shows
Entry = tuple


class MonitorFooter(Widget, can_focus=False):
    """Only for bindings without groups (the monitor has none)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-key--key", "footer-key--description", "footer-key--hover"}
    # Footer's and FooterKey's rules, for the one widget (Footer's default, not compact).
    DEFAULT_CSS = """
    MonitorFooter {
        color: $footer-foreground;
        background: $footer-background;
        dock: bottom;
        height: 1;
    }
    MonitorFooter > .footer-key--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    MonitorFooter > .footer-key--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    MonitorFooter > .footer-key--hover {
        background: $block-hover-background;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: list[Entry] = []
        self._spans: list[tuple[int, int, Entry]] = []  # (x, end, entry) of each key drawn
        self._hover: Entry | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    @property
    def keys(self) -> list[Entry]:
        """The keys drawn (whole ones that fit), in order."""
        return [entry for _, _, entry in self._spans]

    @property
    def entries(self) -> list[Entry]:
        """Every key the bindings show now, whether or not it fits."""
        return list(self._shown)

    def _entries(self) -> list[Entry]:
        """What Footer would show now: the first shown binding of each action."""
        entries, actions = [], set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in actions:
                actions.add(binding.action)
                entries.append((binding.key, self.app.get_key_display(binding), binding.action,
                                binding.description, enabled, tooltip))
        return entries

    def bindings_changed(self, screen) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        shown = self._entries()
        if shown != self._shown:
            self._shown = shown
            self._place()
            self.refresh()

    def on_resize(self) -> None:
        self._place()
        self.refresh()

    def _place(self) -> None:
        """Where each key goes: `` k `` and ``Description `` one after the other, as
        FooterKey draws them; the keys that fit whole, in order."""
        room, x, spans = self.size.width, 0, []
        for entry in self._shown:
            _, key_display, _, description, _, _ = entry
            width = cell_len(key_display) + 2 + (cell_len(description) + 1 if description else 0)
            if x + width > room:
                break
            spans.append((x, x + width, entry))
            x += width
        self._spans = spans
        if self._hover is not None and self._hover not in self.keys:
            self._hover = None

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.size.width
        if y or width <= 0:
            return Strip.blank(width, base)
        key_style = self.get_component_rich_style("footer-key--key")
        text_style = self.get_component_rich_style("footer-key--description")
        hover = self.get_component_rich_style("footer-key--hover")
        segments, used = [], 0
        for _, end, entry in self._spans:
            _, key_display, _, description, enabled, _ = entry
            k, d = base + key_style, base + text_style
            if entry == self._hover:  # (the key's and description's colours stay)
                k, d = k + Style(bgcolor=hover.bgcolor), d + Style(bgcolor=hover.bgcolor)
            if not enabled:
                k, d = k + Style(dim=True), d + Style(dim=True)
            segments.append(Segment(f" {key_display} ", k))
            if description:
                segments.append(Segment(f"{description} ", d))
            used = end
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, width)

    def _entry_at(self, x: int) -> Entry | None:
        for start, end, entry in self._spans:
            if start <= x < end:
                return entry
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        entry = self._entry_at(event.x)
        if entry != self._hover:
            self._hover = entry
            self.tooltip = (entry[5] or None) if entry is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        entry = self._entry_at(event.x)
        if entry is None:
            return
        if entry[4]:
            self.app.simulate_key(entry[0])
        else:
            self.app.bell()
