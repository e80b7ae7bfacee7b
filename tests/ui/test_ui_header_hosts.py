"""The header's hosts figure: the hosts folded into ``(other hosts)`` over ``--max-hosts``
are counted next to it, as expired conversations are next to theirs."""

from __future__ import annotations

from types import SimpleNamespace

from tuimon.core.model import Totals
from tuimon.ui.header import MonitorHeader


def header_text(**totals) -> str:
    t = Totals(10, 1000, 1.0, 2.0, 0, 0, 0, 5, 3, **totals)
    return MonitorHeader._totals(SimpleNamespace(totals=t, lag=None), False).plain


def test_folded_hosts_are_counted_in_the_header():
    assert "Hosts 5 +1234 fold  Conv 3" in header_text(hosts_folded=1234)
    assert "fold" not in header_text()
