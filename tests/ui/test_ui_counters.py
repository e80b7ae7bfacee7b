"""The Counters view (5): its snapshot, z and Z (read and zero, the figures at that instant
in a notification), and 5 without counters (a one-line hint, the view unchanged).

Snapshot baselines: snapshots/test_ui_counters/ (regenerate with --snapshot-update after
a deliberate change, and look at them).
"""

from __future__ import annotations

from tests.support.app import PCAP, RecordingBackend, args_for, make_app, run_to_the_end, settle
from tuimon.server.protocol import CountersReset, ResetCounters
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp

COUNTERS = (("web", "port 80 or port 443"), ("dns", "proto domain"),
            ("v6", "proto ipv6"), ("udp-not-dns", "proto udp and not port 53"))


def counted_service():
    svc = EngineService(args_for(PCAP, counters=COUNTERS), clock=lambda: 50.0,
                        wallclock=lambda: 1700000000.0)
    return run_to_the_end(svc)


def counters_app(service=None) -> MonitorApp:
    backend = RecordingBackend(service or counted_service())
    return MonitorApp(backend, interval=None, view="hosts", counters=True)


def test_counters_view(snap_compare):
    assert snap_compare(counters_app(), press=["5"], terminal_size=(120, 24),
                        run_before=settle)


async def test_z_reads_and_zeroes_the_counter_under_the_cursor():
    svc = counted_service()
    before = {r.name: r for r in svc.engine.counters.rows()}
    assert before["web"].packets > 0 and before["dns"].packets > 0
    app = counters_app(svc)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert app.table.view == "counters" and app.table.total == len(COUNTERS)
        await pilot.press("z")
        await settle(pilot)
        sent = [r for r in app.backend.sent if isinstance(r, ResetCounters)]
        assert len(sent) == 1 and sent[0].names is not None
        name = sent[0].names[0]
        (reply,) = app.counters.read
        assert isinstance(reply, CountersReset)
        assert [(r.name, r.packets, r.bytes) for r in reply.rows] == \
            [(name, before[name].packets, before[name].bytes)]
        after = {r.name: r for r in svc.engine.counters.rows()}
        assert after[name].packets == 0 and after[name].total_packets == before[name].packets
        await pilot.press("Z")
        await settle(pilot)
        assert len(app.counters.read) == 2
        assert {r.name for r in app.counters.read[1].rows} == {n for n, _ in COUNTERS}
        assert all(r.packets == 0 for r in svc.engine.counters.rows())
        assert all(row.packets == 0 for row in (app.table._rows[i] for i in app.table._rows))


async def test_5_without_counters_says_how_and_z_does_nothing():
    app = make_app(view="hosts")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        assert app.table.view == "hosts"
        assert any("--counter NAME=EXPR" in n.message for n in app._notifications)
        await pilot.press("z")
        await settle(pilot)
        assert not [r for r in app.backend.sent if isinstance(r, ResetCounters)]
