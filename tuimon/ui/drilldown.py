"""The app's drill-down glue: Enter on a conversation, Enter on a packet, ``w``.

The screens only draw; requests go to the engine process through the backend and the
replies (``PacketList``, ``Dissection``, ``Written``) come back as EngineReply messages,
routed to the screen that asked. :class:`DrillDown` is the app's collaborator for this: it
is handed what it acts with (the engine client's ``send``, the app's ``notify`` and
``push_screen``) and the ``--csv`` folder; the app calls it with the conversation under
the cursor, the packet chosen, and each drill-down reply with the screens open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.binding import Binding
from textual.screen import Screen

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


class DrillDown:
    """Opens the packet list and the dissection screens, asks for what they show, writes
    conversations to pcapng files. ``send``: a request to the engine; ``notify(message,
    **options)``: the app's notification; ``push_screen``: show a screen."""

    def __init__(self, send: Callable[[object], None], notify: Callable[..., object],
                 push_screen: Callable[[Screen], object], csv_dir: str | None) -> None:
        self._send, self._notify, self._push_screen = send, notify, push_screen
        self.csv_dir = csv_dir
        self._seq = 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def open_conversation(self, key: tuple, row) -> None:
        """The packet list of the conversation ``key`` (``row``: its row, for the title)."""
        title = conversation_name(key, row.protocol if row is not None else str(key[0]))
        screen = PacketsScreen(key, title, row, seq=self._next_seq())
        self._push_screen(screen)
        self._send(Packets(key, screen.seq))

    def open_packet(self, packets: PacketsScreen, index: int) -> None:
        """The dissection of the packet at ``index`` of a packet list."""
        row = packets.reply.rows[index]
        title = (f"Packet {row.number} ({'B→A' if row.reverse else 'A→B'}, {row.length} bytes)"
                 f" of {packets.title_text}")
        screen = DissectionScreen(packets.key, index, title, seq=self._next_seq())
        self._push_screen(screen)
        self._send(Dissect(packets.key, index, screen.seq))

    def write_conversation(self, key: tuple) -> None:
        self._notify("Writing the conversation's packets…", timeout=3, markup=False)
        self._send(WritePcap(key, self.csv_dir, self._next_seq()))

    def reply(self, reply: PacketList | Dissection | Written, screens: Iterable[Screen]) -> None:
        """A drill-down answer: to the screen among ``screens`` that asked for it."""
        if isinstance(reply, Written):
            self._written(reply)
            return
        kind = PacketsScreen if isinstance(reply, PacketList) else DissectionScreen
        for screen in screens:
            if isinstance(screen, kind) and screen.seq == reply.seq:
                screen.show(reply)

    def _written(self, written: Written) -> None:
        if written.error:
            self._notify(written.error, title="pcapng not written", severity="error",
                         timeout=10, markup=False)
            return
        message = f"Wrote {written.packets} packets to {written.path}"
        if written.note:
            message += f" ({written.note})"
        self._notify(message, title="Written", timeout=8, markup=False)
