"""DissectionScreen: Wireshark's dissection tree of one packet above its bytes, like
termshark. The tree comes from pyshark in the engine process (a ``Dissection`` reply);
moving through the tree highlights the bytes the field stands for. Tab moves between the
tree and the bytes, Enter/space folds a branch, Esc goes back to the packet list.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, Tree

from tuimon.server.protocol import Dissection
from tuimon.text import printable

HEX_LIMIT = 64 * 1024  # bytes shown


def hex_dump(data: bytes, start: int = 0, size: int = 0) -> Text:
    """Offset, 16 bytes in hex, the same as ASCII ('.' for the rest); bytes
    ``start``..``start+size`` highlighted."""
    text = Text(no_wrap=True)
    shown = data[:HEX_LIMIT]
    end = start + size

    def style(i: int) -> str:
        return "reverse" if start <= i < end else ""

    for line in range(0, len(shown), 16):
        chunk = shown[line:line + 16]
        text.append(f"{line:04x}  ", "dim")
        for j, byte in enumerate(chunk):
            text.append(f"{byte:02x}", style(line + j))
            text.append("  " if j == 7 else " ")
        text.append("   " * (16 - len(chunk)) + (" " if len(chunk) <= 8 else "") + " ")
        for j, byte in enumerate(chunk):
            text.append(chr(byte) if 0x20 <= byte < 0x7F else ".", style(line + j))
        text.append("\n")
    if len(data) > HEX_LIMIT:
        text.append(f"… {len(data) - HEX_LIMIT} more bytes not shown\n", "italic")
    return text


class DissectionScreen(Screen):
    DEFAULT_CSS = """
    DissectionScreen { layout: vertical; }
    DissectionScreen #dissect-title { height: 1; background: $panel; padding: 0 1;
                                      text-wrap: nowrap; text-overflow: ellipsis; }
    DissectionScreen Tree { height: 3fr; border-bottom: solid $panel; }
    DissectionScreen #hex-scroll { height: 2fr; }
    """
    BINDINGS = [Binding("escape", "back", "Back",
                        tooltip="Dissection: back to the packet list (Tab: tree / bytes)")]

    def __init__(self, key: tuple, index: int, title: str, seq: int = 0) -> None:
        super().__init__()
        self.key = key
        self.seq = seq  # of the request whose answer this screen shows
        self.index = index
        self.title_text = title
        self.reply: Dissection | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(self.title_text, 200), style="bold"), id="dissect-title",
                     markup=False)
        self.tree_view = Tree(Text("dissecting with Wireshark…", style="italic"), id="dissect-tree")
        self.tree_view.show_root = True
        yield self.tree_view
        self.hex_view = Static("", id="hex", markup=False)
        with VerticalScroll(id="hex-scroll"):
            yield self.hex_view
        yield Footer()

    def on_mount(self) -> None:
        self.tree_view.focus()

    def show(self, reply: Dissection) -> None:
        self.reply = reply
        self.hex_view.update(hex_dump(reply.data))
        tree = self.tree_view
        if reply.error:
            tree.root.set_label(Text(printable(reply.error, 300), style="bold red"))
            return
        tree.show_root = False
        tree.root.set_label(Text("packet"))
        parents = [tree.root]
        nodes = reply.tree
        for i, (depth, label, pos, size) in enumerate(nodes):
            depth = min(depth, len(parents) - 1)
            del parents[depth + 1:]
            branch = i + 1 < len(nodes) and nodes[i + 1][0] > depth
            label = Text(printable(label, 400))
            if branch:  # layers open (but the frame's metadata), details folded
                parents.append(parents[-1].add(label, data=(pos, size),
                                               expand=depth == 0 and i > 0))
            else:
                parents[-1].add_leaf(label, data=(pos, size))
        tree.root.expand()
        tree.cursor_line = 0

    def on_tree_node_highlighted(self, message: Tree.NodeHighlighted) -> None:
        data = message.node.data
        if self.reply is not None and data:
            self.hex_view.update(hex_dump(self.reply.data, *data))

    def action_back(self) -> None:
        self.app.pop_screen()
