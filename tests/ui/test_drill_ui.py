"""Drill-down in the app (Pilot): Enter on a conversation lists its packets, Enter on a
packet shows Wireshark's tree and the bytes, Esc goes back, w writes pcapng."""

from __future__ import annotations

import os
import subprocess

from tests.support.drill import tshark_conversation_frames
from tests.support.app import PCAP, make_app, settle
from tuimon.capture.frames import A_TO_B
from tuimon.core.names import address_text
from tuimon.ui.dissection import DissectionScreen, hex_dump
from tuimon.ui.help import HelpScreen
from tuimon.ui.packets import PacketsScreen
from tests.support.drillui import open_first_conversation, wait_for


def cells(table, column: str) -> list[str]:
    return [table.get_cell_at((row, table.get_column_index(column))).plain
            for row in range(table.row_count)]


async def test_enter_lists_the_packets_wireshark_sees():
    app = make_app(view="conversations")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        _, row = app.table.cursor_row()
        screen = await open_first_conversation(app, pilot)
        oracle = tshark_conversation_frames(PCAP)[
            (row.protocol, row.address_a, row.port_a, row.address_b, row.port_b)]
        table = screen.table
        assert table.row_count == row.packets == len(oracle)
        assert cells(table, "Dir") == ["A→B" if d == A_TO_B else "B→A" for _, d, _ in oracle]
        assert cells(table, "No.") == [str(n) for n, _, _ in oracle]
        assert cells(table, "Length") == [str(n) for _, _, n in oracle]
        assert all(cells(table, "Info"))
        assert f"{row.packets} packets" in str(screen.status_line.render())
        # The monitor's keys do not reach the hidden table.
        await pilot.press("1", "r")
        assert isinstance(app.screen, PacketsScreen) and app.table.view == "conversations"
        assert app.table.state.descending
        # Enter on the third packet: its dissection and bytes.
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DissectionScreen) and app.screen.reply)
        await settle(pilot)
        dissection = app.screen
        assert dissection.reply.error is None and dissection.index == 2
        tops = [str(node.label) for node in dissection.tree_view.root.children]
        assert tops[0].startswith(f"Frame {oracle[2][0]}: ") and any(t.startswith("Transmission Control Protocol")
                                                       for t in tops)
        hex_text = str(dissection.hex_view.render())
        assert hex_text.startswith("0000  ") and hex_dump(dissection.reply.data).plain == hex_text
        assert len(dissection.reply.data) == oracle[2][2]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, (PacketsScreen, DissectionScreen))
        assert app.table.view == "conversations"


async def test_w_writes_the_conversation_for_wireshark(tmp_path):
    app = make_app(view="conversations", csv_dir=str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        _, row = app.table.cursor_row()
        await pilot.press("w")
        await wait_for(pilot, lambda: any(f.endswith(".pcapng") for f in os.listdir(tmp_path)))
        await settle(pilot)
        [name] = os.listdir(tmp_path)
        assert name.startswith(f"tuimon-conv-tcp-{row.address_a}-{row.port_a}-")
        messages = [n.message for n in app._notifications]
        assert any(f"Wrote {row.packets} packets to" in m and name in m for m in messages)
        back = subprocess.run(["tshark", "-r", str(tmp_path / name), "-T", "fields", "-e",
                               "frame.len"], capture_output=True, text=True).stdout.split()
        assert len(back) == row.packets
        # From the packet list too; a folder that cannot be written is a notification.
        screen = await open_first_conversation(app, pilot)
        app.csv_dir = str(tmp_path / name)  # a file, not a folder
        await pilot.press("w")
        await wait_for(pilot, lambda: any(n.title == "pcapng not written"
                                          for n in app._notifications))
        assert app.screen is screen and app.is_running


async def test_enter_elsewhere_and_help():
    app = make_app(view="hosts")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("w")  # outside Conversations: nothing to write
        await settle(pilot)
        await pilot.press("enter")  # a host: its conversations (tests/ui/test_ui_pairs.py)
        await settle(pilot)
        assert not isinstance(app.screen, PacketsScreen)
        assert app.table.view == "conversations" and app.filter_text.startswith("host ")
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "Enter" in text and "pcapng" in text and "--ring" in text


def test_packet_list_shows_addresses_as_text():
    # the title names the endpoints as the tables do
    from tuimon.server.protocol import conversation_name
    from tuimon.core.names import parse_address

    key = (6, parse_address("2001:db8::1"), 443, parse_address("10.0.0.1"), 5000)
    assert conversation_name(key, "tcp") == "tcp [2001:db8::1]:443 ⇄ 10.0.0.1:5000"
    assert address_text(key[3]) == "10.0.0.1"
