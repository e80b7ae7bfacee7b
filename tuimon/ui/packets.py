"""PacketsScreen: the packets of one conversation (drill-down).

Time, direction (A→B from the endpoint that sent first), length on the wire, TCP flags and
Wireshark's one-line summary. The list comes from the engine process (a ``PacketList``
reply); Enter on a packet opens its dissection, ``w`` writes the conversation to pcapng,
Esc goes back. Every cell is a rich Text: packet text is never read as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tuimon.server.protocol import LIST_LIMIT, PacketList
from tuimon import timefmt
from tuimon.text import printable
from tuimon.ui import format as fmt

COLUMNS = ("No.", "Time", "Dir", "Length", "Flags", "Info")


def clock(ts: float) -> str:
    """Local time of day with microseconds, as the packet list shows it."""
    return timefmt.clock_micro(ts)


def conversation_title(title: str, row) -> Text:
    text = Text(printable(title, 200), style="bold")
    if row is not None:
        text.append(f"   A→B {row.packets_a_to_b} packets, {fmt.size(row.bytes_a_to_b)}"
                    f" · B→A {row.packets_b_to_a} packets, {fmt.size(row.bytes_b_to_a)}")
    return text


class PacketsScreen(Screen):
    DEFAULT_CSS = """
    PacketsScreen { layout: vertical; }
    PacketsScreen #drill-title { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap;
                                 text-overflow: ellipsis; }
    PacketsScreen #drill-status { height: 1; padding: 0 1; color: $text-muted;
                                  text-wrap: nowrap; text-overflow: ellipsis; }
    PacketsScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Packet list: back to the conversations"),
        Binding("w", "write", "Write pcapng", tooltip="Write the conversation to a pcapng file"),
    ]

    def __init__(self, key: tuple, title: str, row=None, seq: int = 0) -> None:
        super().__init__()
        self.key = key
        self.seq = seq  # of the request whose answer this screen shows
        self.title_text = title
        self.conversation = row
        self.reply: PacketList | None = None

    def compose(self) -> ComposeResult:
        self.heading = Static(conversation_title(self.title_text, self.conversation),
                              id="drill-title", markup=False)
        self.status_line = Static(Text("reading the packets again…", style="italic"),
                             id="drill-status", markup=False)
        self.table = DataTable(id="packets", cursor_type="row", zebra_stripes=False)
        yield self.heading
        yield self.status_line
        yield self.table
        yield Footer()

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.table.add_column(name, key=name)
        self.table.focus()

    def show(self, reply: PacketList) -> None:
        """The engine's answer: fill the table (once)."""
        self.reply = reply
        if reply.error:
            self.status_line.update(Text(printable(reply.error, 300), style="bold red"))
            return
        parts = [f"{reply.found} packets"]
        if reply.cut:
            parts = [f"the first {len(reply.rows)} of {reply.found} packets "
                     f"(at most {LIST_LIMIT} are listed; w writes them all)"]
        if reply.note:
            parts.append(printable(reply.note, 200))
        parts.append("Enter: dissect · w: write pcapng · Esc: back")
        self.status_line.update(Text(" · ".join(parts)))
        self.table.add_rows(
            [Text(str(r.number), justify="right"), Text(clock(r.ts)),
             Text("B→A" if r.reverse else "A→B"), Text(str(r.length), justify="right"),
             Text(r.flags), Text(printable(r.info, 300))]
            for r in reply.rows)
        if not reply.rows:
            self.status_line.update(Text(" · ".join(["no packets of this conversation were found",
                                                *parts[1:]])))

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        if self.reply is not None and 0 <= message.cursor_row < len(self.reply.rows):
            self.app.open_packet(self, message.cursor_row)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_write(self) -> None:
        self.app.write_conversation(self.key)
