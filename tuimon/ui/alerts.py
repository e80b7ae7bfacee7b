"""Alerts in the app (``--alert EXPR``): the header's mark and a notification per alert.

The engine raises them (server/alerts.py) and sends the last few with every page
(``Page.alerts``, ``alerts_count``, ``alerts_active``). :func:`alert_mark` is the header's
text: `` ALERT 2  host 10.0.0.5 > 50Mb/s`` in red while rules are over their threshold (how
many, and the latest alert's expression), ``alerts 3`` in yellow (how many were raised)
once all are back under; :class:`AlertNotes` notifies each alert once.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from tuimon.text import printable
from tuimon.ui import format as fmt

SHOWN = 3  # alerts notified one by one from one page; past that, one line says how many


def describe(alert, human: bool = True) -> str:
    """``host 10.0.0.5 > 50Mb/s: 10.0.0.5 at 62.3 Mb/s``; ``new-host: 10.0.0.9``."""
    subject = printable(alert.subject, 60)
    if alert.unit == "%":
        return f"{printable(alert.alert, 80)}: {subject} at {alert.value:.1f}% of its link"
    if alert.unit == "b/s":
        return (f"{printable(alert.alert, 80)}: {subject} at "
                f"{fmt.bitrate(alert.value / 8, human)}{'' if human else ' b/s'}")
    return f"{printable(alert.alert, 80)}: {subject}"


def alert_mark(page) -> Text:
    """The header's mark: red ``ALERT N (the latest)`` while N rules are over their
    threshold, yellow ``alerts N`` (raised in all) once none is; empty before any."""
    text = Text()
    if page is None or not page.alerts_count:
        return text
    if page.alerts_active:
        latest = page.alerts[-1].alert if page.alerts else ""
        text.append("  ")
        text.append(f" ALERT {page.alerts_active} ", "bold reverse red")
        text.append(f" {printable(latest, 40)}", "bold red")
    else:
        text.append(f"  alerts {page.alerts_count}", "bold yellow")
    return text


class AlertNotes:
    """Notifies each alert once (the count says which are new; pages may skip some)."""

    def __init__(self, notify: Callable[..., None]) -> None:
        self.notify = notify
        self.seen = 0

    def check(self, page, human: bool = True) -> None:
        new = page.alerts_count - self.seen
        if new <= 0:
            return
        self.seen = page.alerts_count
        fresh = page.alerts[-new:] if new <= len(page.alerts) else page.alerts
        for alert in fresh[-SHOWN:]:
            self.notify(describe(alert, human), title="Alert", severity="error", timeout=8,
                        markup=False)
        if new > SHOWN:
            self.notify(f"{new - SHOWN} more alerts (all of them in alerts.csv when saved)",
                        title="Alert", severity="warning", timeout=8, markup=False)
