"""Snapshots of every view at 80x24 and 160x48 (baselines: top-level snapshots/ folder).

Deterministic: the fixture capture counted up front by an in-process engine, a fixed clock
(elapsed 00:00:00), UTC times (conftest), no refresh timer. Regenerate after a deliberate
change with ``pytest tests/test_ui_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest

from tests.support.app import make_app, played_service, settle

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", ["interfaces", "hosts", "protocols", "conversations"])
def test_view(snap_compare, view, size):
    """``tuimon -r tests/data/1kxun.pcap --speed 0`` at its end (the README's pictures): the
    default timeouts, so the conversations that expired are listed dim."""
    assert snap_compare(make_app(view=view, service=played_service()),
                        terminal_size=SIZES[size], run_before=settle)


@pytest.mark.parametrize("size", list(SIZES))
def test_pairs_view(snap_compare, size):
    """9: the host pairs, rates each way (the fixture capture's last seconds) and peaks."""
    assert snap_compare(make_app(view="pairs"), terminal_size=SIZES[size], run_before=settle)


def test_pairs_view_by_ports(snap_compare):
    """p in the Pairs view: a row per protocol and ports."""
    assert snap_compare(make_app(view="pairs"), press=["p"], terminal_size=(80, 24),
                        run_before=settle)


def test_help_screen(snap_compare):
    assert snap_compare(make_app(), press=["question_mark"], terminal_size=(80, 24),
                        run_before=settle)


def test_filter_error_inline(snap_compare):
    keys = ["slash", *"port 99999", "enter"]
    assert snap_compare(make_app(view="conversations"), press=keys, terminal_size=(80, 24),
                        run_before=settle)


def test_filtered_conversations_with_cursor(snap_compare):
    keys = ["slash", *"port 443 or proto domain", "enter", "down", "down", "r"]
    assert snap_compare(make_app(view="conversations"), press=keys, terminal_size=(80, 24),
                        run_before=settle)


def test_no_color(snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(view="hosts"), press=["down"], terminal_size=(80, 24),
                        run_before=settle)


def test_playback_progress_paused_after_a_gap(snap_compare, tmp_path):
    """Mid-playback, held with space, at 2x, after a skipped gap; a fake clock drives it."""
    from tests.support.playback import Clock, capture, span
    from tests.support.uiplayback import advance, app_for, playing
    from tuimon.server.protocol import Speed

    clock = Clock()
    # Mid-playback, tshark's verdicts would come in at tshark's pace: port guesses only, so
    # the picture does not depend on how fast tshark is.
    svc = playing(capture(tmp_path, [*span(10.0), *[3610.0 + t for t in span(10.0)]]), clock,
                  dissect_packets=0)
    advance(svc, clock, 5.0)
    svc.handle(Speed(1))
    advance(svc, clock, 5.0)  # 5 s, the gap, then 5 s of capture at 2x
    assert snap_compare(app_for(svc), press=["space"], terminal_size=(80, 24),
                        run_before=settle)


async def _open_packets(pilot):
    from tests.support.drillui import open_first_conversation

    await open_first_conversation(pilot.app, pilot)


def test_packet_list(snap_compare):
    """The packets of the largest conversation of the fixture capture."""
    assert snap_compare(make_app(view="conversations"), terminal_size=(100, 30),
                        run_before=_open_packets)


async def _open_dissection(pilot):
    from tests.support.drillui import open_first_conversation, wait_for
    from tuimon.ui.dissection import DissectionScreen

    app = pilot.app
    await open_first_conversation(app, pilot)
    await pilot.press("down", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DissectionScreen) and app.screen.reply)
    await pilot.press(*["down"] * 5)  # to the IPv4 header: its bytes light up
    await settle(pilot)


def test_packet_dissection(snap_compare):
    """Wireshark's tree of the conversation's second packet, and its bytes."""
    assert snap_compare(make_app(view="conversations"), terminal_size=(100, 30),
                        run_before=_open_dissection)


def _fake_processes():
    """A socket table for the fixture capture, as psutil would give it on a machine with
    its two clients' addresses: 192.168.2.126's TCP sockets a browser's, 192.168.115.8's
    an app's, the UDP ones a resolver's (the capture's own conversations, counted once
    here without tshark)."""
    from tests.support.app import PCAP
    from tuimon.capture.file import FileSource
    from tuimon.capture.sockets import Socket
    from tuimon.core.engine import Engine
    from tuimon.core.names import parse_address
    from tuimon.core.processes import ProcessTable

    engine, source = Engine(flow_timeout=0), FileSource(PCAP)
    try:
        for batch in source.batches():
            engine.ingest(batch)
    finally:
        source.close()
    browser, app = parse_address("192.168.2.126"), parse_address("192.168.115.8")
    sockets = []
    for c in engine.conversations:
        for addr, port in ((c.a, c.pa), (c.b, c.pb)):
            if addr in (browser, app) and port is not None:
                pid, name = ((812, "systemd-resolve") if c.proto == 17 else
                             (2211, "firefox-esr") if addr == browser else (3120, "kankan"))
                sockets.append(Socket(c.proto, addr, port, pid, name))
    table = ProcessTable()
    table.set_sockets(sockets, frozenset({browser, app}))
    return table


@pytest.mark.parametrize("size", list(SIZES))
def test_processes_view(snap_compare, size):
    """0: the local processes (a fake socket table on the fixture capture's client)."""
    from tests.support.app import finished_service

    app = make_app(view="processes", service=finished_service(processes=_fake_processes()))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=settle)


def test_processes_view_in_playback(snap_compare):
    """A playback has no sockets to see: one unattributed row says so."""
    assert snap_compare(make_app(view="processes"), terminal_size=(80, 24), run_before=settle)
