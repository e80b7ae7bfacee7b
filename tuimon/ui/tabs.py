"""TabBar: the views, one line; click a tab or press its key: 1-4, 5 the named counters
(a tab shown when there are counters), 9 the host pairs, 0 the processes."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from tuimon.server.protocol import COUNTERS_VIEW, PAIRS_VIEW, PROCESSES_VIEW, VIEWS
from tuimon.ui.columns import VIEW_TITLES

# Each view's key (the app's bindings), fixed whatever tabs are shown.
VIEW_KEYS = {"interfaces": "1", "hosts": "2", "protocols": "3", "conversations": "4",
             COUNTERS_VIEW: "5", PAIRS_VIEW: "9", PROCESSES_VIEW: "0"}


class TabBar(Widget):
    DEFAULT_CSS = """
    TabBar { height: 1; }
    TabBar > .tabbar--active { text-style: bold reverse; }
    TabBar > .tabbar--inactive { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"tabbar--active", "tabbar--inactive"}

    class Selected(Message):
        def __init__(self, view: str) -> None:
            super().__init__()
            self.view = view

    def __init__(self, active: str = "hosts", counters: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.active = active
        mine = (PAIRS_VIEW, PROCESSES_VIEW)
        self.views = (*VIEWS, COUNTERS_VIEW, *mine) if counters else (*VIEWS, *mine)

    def show_counters(self) -> None:
        """The Counters view's tab (5) comes: there are counters after all (the kernel's)."""
        if COUNTERS_VIEW not in self.views:
            self.views = (*VIEWS, COUNTERS_VIEW, PAIRS_VIEW, PROCESSES_VIEW)
            self.refresh()

    def select(self, view: str) -> None:
        self.active = view
        self.refresh()

    def _labels(self) -> list[tuple[str, str]]:
        return [(view, f" {VIEW_KEYS[view]} {VIEW_TITLES[view]} ") for view in self.views]

    def render(self) -> Text:
        active = self.get_component_rich_style("tabbar--active")
        inactive = self.get_component_rich_style("tabbar--inactive")
        text = Text(no_wrap=True, overflow="crop")
        for view, label in self._labels():
            text.append(label, active if view == self.active else inactive)
            text.append(" ")
        return text

    def on_click(self, event: events.Click) -> None:
        left = 0
        for view, label in self._labels():
            if left <= event.x < left + len(label):
                self.post_message(self.Selected(view))
                return
            left += len(label) + 1
