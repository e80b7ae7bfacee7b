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

    def compose(self) -> ComposeResult:
        entry = FilterInput(placeholder=PLACEHOLDER, id="filter-input")
        entry.cursor_blink = False  # steady screens (snapshots, slow SSH links)
        yield entry
        yield Static("", id="filter-error")
        yield Static("", id="filter-status")

    @property
    def editing(self) -> bool:
        return self.has_class("editing")

    def open(self, current: str) -> None:
        entry = self.query_one(FilterInput)
        entry.value = current
        entry.cursor_position = len(current)
        self.add_class("editing")
        # Focus now, not after a refresh: keys typed right after "/" belong to the input.
        entry.display = True
        self.screen.set_focus(entry)

    def close(self) -> None:
        self.remove_class("editing", "invalid")
        self.query_one(FilterInput).display = False

    def show_error(self, message: str) -> None:
        self.query_one("#filter-error", Static).update(Text(f"✗ {message}"))
        self.add_class("invalid")

    def show_status(self, text: Text) -> None:
        self.query_one("#filter-status", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Applied(event.value))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.remove_class("invalid")
