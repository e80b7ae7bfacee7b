"""The app's drill-down glue: Enter on a conversation, Enter on a packet, ``w``.

The screens only draw; requests go to the engine process through the backend and the
replies (``PacketList``, ``Dissection``, ``Written``) come back as EngineReply messages,
routed here to the screen that asked.
"""

from __future__ import annotations

from textual.binding import Binding

from tuimon.server.protocol import (Dissect, Dissection, PacketList, Packets, WritePcap, Written,
                                    conversation_name)
from tuimon.ui.dissection import DissectionScreen
from tuimon.ui.packets import PacketsScreen

DRILL_BINDINGS = [
    Binding("enter", "drill", "Packets",
            tooltip="Conversations: the packets of the conversation under the cursor "
                    "(Enter on a packet: Wireshark's dissection and its bytes; Esc: back)"),
    Binding("w", "write_pcap", "Write pcapng",
            tooltip="Conversations: write the conversation's packets to a pcapng file "
                    "(into --csv DIR, else the current directory)"),
]
DRILL_SCREENS = (PacketsScreen, DissectionScreen)
DRILL_REPLIES = (PacketList, Dissection, Written)
# App keys that still work while a packet list or a dissection is shown.
DRILL_APP_ACTIONS = frozenset({"quit_app", "quit_now", "help", "save"})


class DrillMixin:
    """Mixed into MonitorApp (which has ``backend``, ``table``, ``csv_dir``, ``notify``)."""

    _drill_seq = 0

    def _next_drill_seq(self) -> int:
        self._drill_seq += 1
        return self._drill_seq

    def action_drill(self) -> None:
        if isinstance(self.screen, DRILL_SCREENS) or self.table.view != "conversations":
            return
        key, row = self.table.cursor_row()
        if key is None:
            return
        title = conversation_name(key, row.protocol if row is not None else str(key[0]))
        screen = PacketsScreen(key, title, row)
        screen.seq = self._next_drill_seq()
        self.push_screen(screen)
        self.backend.send(Packets(key, screen.seq))

    def open_packet(self, packets: PacketsScreen, index: int) -> None:
        row = packets.reply.rows[index]
        title = (f"Packet {row.number} ({'B→A' if row.reverse else 'A→B'}, {row.length} bytes)"
                 f" of {packets.title_text}")
        screen = DissectionScreen(packets.key, index, title)
        screen.seq = self._next_drill_seq()
        self.push_screen(screen)
        self.backend.send(Dissect(packets.key, index, screen.seq))

    def action_write_pcap(self) -> None:
        if isinstance(self.screen, DRILL_SCREENS):
            self.write_conversation(self.screen.key)
            return
        if self.table.view != "conversations":
            return
        key, _ = self.table.cursor_row()
        if key is not None:
            self.write_conversation(key)

    def write_conversation(self, key: tuple) -> None:
        self.notify("Writing the conversation's packets…", timeout=3, markup=False)
        self.backend.send(WritePcap(key, self.csv_dir, self._next_drill_seq()))

    def drill_reply(self, reply) -> None:
        if isinstance(reply, Written):
            self._written(reply)
            return
        kind = PacketsScreen if isinstance(reply, PacketList) else DissectionScreen
        for screen in self.screen_stack:
            if isinstance(screen, kind) and getattr(screen, "seq", None) == reply.seq:
                screen.show(reply)

    def _written(self, written: Written) -> None:
        if written.error:
            self.notify(written.error, title="pcapng not written", severity="error",
                        timeout=10, markup=False)
            return
        message = f"Wrote {written.packets} packets to {written.path}"
        if written.note:
            message += f" ({written.note})"
        self.notify(message, title="Written", timeout=8, markup=False)
