"""TabBar: the views, one line; click a tab or press its key. Every view has a fixed key
(1-9, then 0: :data:`VIEW_KEYS`), so a key names the same view whichever tabs show (5,
the named counters, only when there are counters).

Ten tabs do not fit 80 columns with their full titles: the bar takes the widest layout
that fits its width -- full titles, short ones (``Ifaces``, ``Convs``), short ones
without padding, then three letters each."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from tuimon.server.protocol import ALL_VIEWS, COUNTERS_VIEW
from tuimon.ui.columns import VIEW_TITLES

# The key of each view, in tab order; a view the engine does not know is left out.
VIEW_KEYS = {"interfaces": "1", "hosts": "2", "protocols": "3", "conversations": "4",
             "counters": "5", "stations": "6", "sizes": "7", "ports": "8", "pairs": "9",
             "processes": "0"}
SHORT_TITLES = {"interfaces": "Ifaces", "protocols": "Protos", "conversations": "Convs",
                "counters": "Ctrs", "processes": "Procs"}
VIEW_HELP = {
    "interfaces": "Interfaces view",
    "hosts": "Hosts view",
    "protocols": "Protocols view",
    "conversations": "Conversations view",
    "counters": "Counters view (named counters: --counter NAME=EXPR)",
    "stations": "Stations view (LAN: MAC addresses, vendors, VLANs)",
    "sizes": "Sizes view (packet sizes per interface)",
    "ports": "Ports view (TCP and UDP ports)",
    "pairs": "Pairs view: host pairs, rates each way (iftop)",
    "processes": "Processes view: each local process's traffic, live (nethogs)",
}


def title(view: str) -> str:
    return VIEW_TITLES.get(view) or view.capitalize()


def tab_views(counters: bool) -> tuple[str, ...]:
    """The tabs shown, in key order."""
    return tuple(v for v in VIEW_KEYS if v in ALL_VIEWS and (counters or v != COUNTERS_VIEW))


def view_bindings() -> list[Binding]:
    """The app's keys for the views (1-9, 0)."""
    return [Binding(VIEW_KEYS[v], f"view('{v}')", title(v), tooltip=VIEW_HELP.get(v, f"{title(v)} view"),
                    show=False, priority=True)
            for v in VIEW_KEYS if v in ALL_VIEWS]


def layouts(views: tuple[str, ...]) -> list[list[tuple[str, str]]]:
    """The labels of every layout, widest first."""
    short = {v: SHORT_TITLES.get(v, title(v)) for v in views}
    return [
        [(v, f" {VIEW_KEYS[v]} {title(v)} ") for v in views],
        [(v, f" {VIEW_KEYS[v]} {short[v]} ") for v in views],
        [(v, f"{VIEW_KEYS[v]} {short[v]}") for v in views],
        [(v, f"{VIEW_KEYS[v]}{short[v][:3]}") for v in views],
    ]


def fit(views: tuple[str, ...], width: int) -> list[tuple[str, str]]:
    """The widest layout whose tabs (one space between them) fit ``width`` columns (the
    narrowest when none does: the line is cropped)."""
    options = layouts(views)
    for labels in options:
        if sum(len(label) + 1 for _, label in labels) - 1 <= width:
            return labels
    return options[-1]


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
        self.views = tab_views(counters)

    def show_counters(self) -> None:
        """The Counters view's tab (5) comes: there are counters after all (the kernel's)."""
        if COUNTERS_VIEW not in self.views:
            self.views = tab_views(True)
            self.refresh()

    def select(self, view: str) -> None:
        self.active = view
        self.refresh()

    def _labels(self) -> list[tuple[str, str]]:
        return fit(self.views, self.size.width or 80)

    def render(self) -> Text:
        active = self.get_component_rich_style("tabbar--active")
        inactive = self.get_component_rich_style("tabbar--inactive")
        text = Text(no_wrap=True, overflow="crop")
        for i, (view, label) in enumerate(self._labels()):
            if i:
                text.append(" ")
            text.append(label, active if view == self.active else inactive)
        return text

    def on_click(self, event: events.Click) -> None:
        left = 0
        for view, label in self._labels():
            if left <= event.x < left + len(label):
                self.post_message(self.Selected(view))
                return
            left += len(label) + 1
