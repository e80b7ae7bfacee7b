"""Names (n) and alerts (--alert) in the app: n shows the resolver's names in Hosts and
Conversations and takes them away again; an alert is notified once and marks the header.
A fake lookup answers (never the network); a fixed clock, as the other snapshots.

Snapshot baselines: snapshots/test_ui_alerts_names/ (regenerate with --snapshot-update
after a deliberate change, and look at them).
"""

from __future__ import annotations

import pytest

from tests.support.app import PCAP, RecordingBackend, args_for, run_to_the_end, settle
from tuimon.server.protocol import Query
from tuimon.server.service import EngineService
from tuimon.ui.alerts import describe
from tuimon.ui.app import MonitorApp

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
NAMES = {"192.168.2.126": "laptop.lan", "172.105.121.82": "cdn-82.example.net",
         "14.136.136.108": "video.example.hk", "161.117.13.29": "api.example.sg",
         "192.168.115.8": "phone.lan"}
# 50 Mb/s is never reached; 10 kb/s is still crossed at the end (the header's red mark)
ALERTS = ("host 192.168.2.126 > 1Mb/s", "iface 1kxun.pcap > 50Mb/s",
          "host 192.168.5.16 > 100kb/s", "iface 1kxun.pcap > 10kb/s")


def service(alerts=ALERTS) -> EngineService:
    svc = EngineService(args_for(PCAP, alerts=alerts), clock=lambda: 50.0,
                        wallclock=lambda: 1700000000.0, resolve=NAMES.get)
    return run_to_the_end(svc)


def app_for(svc: EngineService, view: str = "hosts", names: bool = False) -> MonitorApp:
    return MonitorApp(RecordingBackend(svc), interval=None, view=view, names=names)


async def names_on(pilot) -> None:
    """n, the background lookups answered, then the page again (the next refresh's)."""
    app = pilot.app
    await settle(pilot)
    if not app.names:
        await pilot.press("n")
        await settle(pilot)
    assert app.backend.service.resolver.wait(5)
    app.refresh_view()
    await settle(pilot)


def cells(app, column: str) -> list[str]:
    table = app.table
    index = [c.name for c in table.columns].index(column)
    return [table._cells[i][index] for i in sorted(table._cells)]


async def test_n_toggles_names_in_hosts_and_conversations():
    svc = service(())
    app = app_for(svc)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert svc.resolver is None  # names off: nothing looked up
        assert cells(app, "address")[0] == "192.168.2.126"
        await names_on(pilot)
        assert app.backend.sent[-1].names
        shown = cells(app, "address")
        assert shown[:2] == ["laptop.lan", "cdn-82.example.net"]
        assert "192.168.5.16" in shown  # no name: its address
        await pilot.press("4")
        await settle(pilot)
        ends = cells(app, "a") + cells(app, "b")
        assert "laptop.lan:45380" in ends and "api.example.sg:80" in ends
        await pilot.press("n")
        await settle(pilot)
        assert not app.backend.sent[-1].names
        assert "laptop.lan:45380" not in cells(app, "a") + cells(app, "b")
        assert "192.168.2.126:45380" in cells(app, "a")
    svc.close()


async def test_alerts_are_notified_once_and_mark_the_header():
    svc = service()
    watch = svc.alerts
    raised = {a.alert for a in watch.alerts}
    assert raised == {ALERTS[0], ALERTS[2], ALERTS[3]}  # 50 Mb/s never reached
    assert watch.count == len(watch.alerts) > 3 and watch.active == 1
    app = app_for(svc)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        notes = [n.message for n in app._notifications if n.title == "Alert"]
        # the last three one by one, then how many more
        assert notes[:3] == [describe(a) for a in watch.alerts[-3:]]
        assert notes[3] == f"{watch.count - 3} more alerts (all of them in alerts.csv when saved)"
        assert "host 192.168.2.126 > 1Mb/s: 192.168.2.126 at" in notes[1]
        header = str(app.header.render())
        assert f"ALERT 1  {ALERTS[3]}" in header
        await pilot.press("r")  # more pages: no notification again
        await settle(pilot)
        assert len([n for n in app._notifications if n.title == "Alert"]) == 4
    svc.close()


def test_a_page_carries_the_alerts():
    svc = service()
    page = svc.answer(Query(view="interfaces"))
    assert page.alerts_count == svc.alerts.count and page.alerts_active == 1
    assert page.alerts == svc.alerts.alerts[-20:] and len(page.alerts) == min(20, page.alerts_count)
    svc.close()


async def names_on_no_toasts(pilot) -> None:
    """names_on, then the notifications cleared (test_alerts_are_notified... checks them):
    the header's mark is what this picture is of."""
    await names_on(pilot)
    pilot.app.clear_notifications()
    await settle(pilot)


@pytest.mark.parametrize("size", list(SIZES))
def test_names_and_the_alert_mark(snap_compare, size):
    assert snap_compare(app_for(service()), terminal_size=SIZES[size],
                        run_before=names_on_no_toasts)


@pytest.mark.parametrize("size", list(SIZES))
def test_conversations_by_name(snap_compare, size):
    assert snap_compare(app_for(service(()), view="conversations", names=True),
                        terminal_size=SIZES[size], run_before=names_on)
