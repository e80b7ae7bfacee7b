"""Quotas in the app (``--quota NAME=SIZE/PERIOD``): the header's mark and the
notifications at 80 % and 100 % of a named counter's quota.

:func:`quota_mark` is the header's text for the quota nearest its end once one has
reached 80 %; :class:`QuotaWatch` notifies once per quota and threshold crossed (a new
period starts over).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from tuimon.text import printable
from tuimon.ui import format as fmt

WARN = (0.8, 1.0)


def _describe(q, human: bool) -> str:
    return (f"{printable(q.name, 24)} {q.share * 100:.0f}% of "
            f"{fmt.size(q.limit, human)}/{q.period}")


def quota_mark(quotas: list, human: bool = True) -> Text:
    """``  quota web 82% of 50.0 GB/month`` (yellow; red, "over", from 100 %), for the
    fullest quota at 80 % or more; empty below."""
    text = Text()
    over = [q for q in quotas if q.limit and q.share >= WARN[0]]
    if not over:
        return text
    worst = max(over, key=lambda q: q.share)
    style = "bold red" if worst.share >= WARN[1] else "bold yellow"
    text.append("  quota ", style)
    text.append(_describe(worst, human), style)
    if worst.share >= WARN[1]:
        text.append(" over", style)
    if len(over) > 1:
        text.append(f" (+{len(over) - 1})", style)
    return text


def cell(row, human: bool = True) -> str:
    """The Counters view's Quota cell: ``41.0 GB of 50.0 GB/month 82%``, or blank."""
    if not getattr(row, "quota", 0):
        return ""
    share = row.quota_used / row.quota * 100
    return (f"{fmt.size(row.quota_used, human)} of {fmt.size(row.quota, human)}/"
            f"{row.quota_period} {share:.0f}%")


class QuotaWatch:
    """Notifies once when a quota reaches 80 % and once when it reaches 100 %."""

    def __init__(self, notify: Callable[..., None]) -> None:
        self.notify = notify
        self.reached: dict[tuple[str, int], float] = {}  # (name, period start) -> level

    def check(self, quotas: list, human: bool = True) -> None:
        for q in quotas:
            if not q.limit:
                continue
            level = max((w for w in WARN if q.share >= w), default=0.0)
            key = (q.name, q.start)
            if level > self.reached.get(key, 0.0):
                self.reached[key] = level
                over = level >= WARN[1]
                self.notify(f"Counter {_describe(q, human)}" +
                            (": the quota is used up" if over else ""),
                            title="Quota", severity="error" if over else "warning",
                            timeout=10, markup=False)
