"""Quotas in the app (--quota): the header's mark from 80 %, a notification at 80 % and at
100 % (once each), and the Counters view's Quota column.

Snapshot baseline: snapshots/test_ui_quota/ (regenerate with --snapshot-update after a
deliberate change, and look at it).
"""

from __future__ import annotations

import os

from tests.support.app import DATA, RecordingBackend, args_for, run_to_the_end, settle
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp

NETFLIX = os.path.join(DATA, "netflix.pcap")
COUNTERS = (("web", "port 80 or port 443"), ("dns", "port 53"))


def web_bytes() -> int:
    svc = run_to_the_end(EngineService(args_for(NETFLIX, counters=COUNTERS)))
    return {r.name: r.total_bytes for r in svc.engine.counters.rows()}["web"]


def quota_app(web_limit: int, dns_limit: int) -> MonitorApp:
    svc = EngineService(args_for(NETFLIX, counters=COUNTERS,
                                 quotas=(("web", web_limit, "month"),
                                         ("dns", dns_limit, "day"))),
                        clock=lambda: 50.0, wallclock=lambda: 1700000000.0)
    run_to_the_end(svc)
    return MonitorApp(RecordingBackend(svc), interval=None, view="counters", counters=True,
                      extra_columns=frozenset({"quota_used"}))


def header_text(app) -> str:
    return str(app.header.render())


async def test_the_header_and_notifications_warn_at_80_and_100_percent():
    used = web_bytes()
    app = quota_app(int(used / 0.85), 10**12)  # web at 85 %, dns far from it
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        text = header_text(app)
        assert "quota web 85% of" in text and "/month" in text and "over" not in text
        notes = [n.message for n in app._notifications]
        assert sum("Quota" in n.title for n in app._notifications) == 1
        assert any("web 85% of" in m for m in notes)
        await pilot.press("r")  # more refreshes: no second notification at the same level
        await settle(pilot)
        assert sum("Quota" in n.title for n in app._notifications) == 1
    app = quota_app(used // 2, 10**12)  # web at 200 %
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert "quota web 200% of" in header_text(app) and "over" in header_text(app)
        assert any("used up" in n.message for n in app._notifications)
    app = quota_app(used * 10, 10**12)  # 10 %: nothing said
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert "quota" not in header_text(app)
        assert not any("Quota" in n.title for n in app._notifications)


def test_counters_view_with_quotas(snap_compare):
    used = web_bytes()
    assert snap_compare(quota_app(int(used / 0.85), 10**12), terminal_size=(160, 24),
                        run_before=settle)
