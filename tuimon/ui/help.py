"""HelpScreen: every key, from the app's bindings plus the table's."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

FILTER_HELP = """\
Filter (/): plain words match any text cell (address, port, protocol, service).
Expressions: host ADDR, net CIDR, port N (or a service name), proto NAME (tcp, udp,
icmp, ipv6, https, domain...), combined with and, or, not and ( ). Enter applies,
Esc clears. On Hosts, port/proto pick hosts with such a conversation; a term that
means nothing in a view (host on Protocols) is ignored there.
Mouse: click a column header to sort by it (again: reverse), a tab to switch view.
Drill-down: the packets are read again from the file (live: from the ring of recent
traffic, --ring MB); at most 10,000 are listed."""

KEY_NAMES = {"question_mark": "?", "slash": "/", "less_than_sign": "<",
             "greater_than_sign": ">", "plus": "+", "minus": "-", "space": "space",
             "escape": "Esc", "pageup": "PgUp", "pagedown": "PgDn", "up": "↑", "down": "↓",
             "left": "←", "right": "→", "home": "Home", "end": "End",
             "enter": "Enter"}


def key_name(key: str) -> str:
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def help_text(bindings: list[Binding]) -> Text:
    """Every key, one a line; the views' keys (1-9, 0) last, so the keys that act on the
    table are on the first screen."""
    text = Text()
    text.append("Keys\n\n", "bold")
    views = [b for b in bindings if b.action.startswith("view(")]
    for binding in [*(b for b in bindings if b not in views), *views]:
        text.append(f"  {key_name(binding.key):<8}", "bold")
        text.append(f"{binding.tooltip or binding.description}\n")
    text.append("\n")
    text.append(FILTER_HELP)
    text.append("\n\nEsc, ? or q closes this help.", "italic")
    return text


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 86; height: 90%; border: round $accent; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close help", key_display="Esc")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings_list = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self.bindings_list), id="help-text")
        yield Footer()
