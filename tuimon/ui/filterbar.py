"""FilterBar: the status line under the table, and the filter input ``/`` opens."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

PLACEHOLDER = "text, host ADDR, net CIDR, port N, proto NAME; and or not ( )"


class FilterInput(Input):
    BINDINGS = [Binding("enter", "submit", "Apply filter"),
                Binding("escape", "clear", "Clear filter")]

    def action_clear(self) -> None:
        self.post_message(FilterBar.Cleared())


class FilterBar(Widget):
    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar FilterInput, FilterBar FilterInput:focus {
        display: none; border: none; height: 1; padding: 0 1;
    }
    FilterBar.editing FilterInput { display: block; }
    FilterBar #filter-status { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap;
                               text-overflow: ellipsis; }
    FilterBar #filter-error { display: none; height: auto; padding: 0 1; color: $error; text-style: bold; }
    FilterBar.invalid #filter-error { display: block; }
    """

    class Applied(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Cleared(Message):
        pass

    _status_text: Text | None = None  # what the status line shows

    def compose(self) -> ComposeResult:
        self.entry = FilterInput(placeholder=PLACEHOLDER, id="filter-input")
        self.entry.cursor_blink = False  # steady screens (snapshots, slow SSH links)
        self.error = Static("", id="filter-error")
        self.status = Static("", id="filter-status")
        yield self.entry
        yield self.error
        yield self.status

    @property
    def editing(self) -> bool:
        return self.has_class("editing")

    def open(self, current: str) -> None:
        entry = self.entry
        entry.value = current
        entry.cursor_position = len(current)
        self.add_class("editing")
        # Focus now, not after a refresh: keys typed right after "/" belong to the input.
        entry.display = True
        self.screen.set_focus(entry)

    def close(self) -> None:
        self.remove_class("editing", "invalid")
        self.entry.display = False

    def show_error(self, message: str) -> None:
        self.error.update(Text(f"✗ {message}"))
        self.add_class("invalid")

    def show_status(self, text: Text) -> None:
        # One line whatever it says: no layout of the screen for it (nor a repaint when
        # it says the same, as most refreshes).
        if text != self._status_text:
            self._status_text = text
            self.status.update(text, layout=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(event.value))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.remove_class("invalid")
