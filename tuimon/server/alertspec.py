"""--alert EXPR: the alert expressions, parsed and checked (cli.py calls :func:`parse_alert`
for each one; a bad one is one line, exit 2).

The grammar (docs/usage.md, "Alerts")::

    host ADDR > RATE      a host's 2 s rate (both directions) over RATE
    iface NAME > RATE     an interface's captured 2 s rate over RATE
    iface NAME > PCT%     an interface's utilisation (the kernel's counters, busier
                          direction, 2 s) over PCT percent of its link speed
    new-host              a host first seen after the first LEARN seconds of the capture

RATE is a number with an optional SI prefix (k M G T, powers of 1000) and a unit: ``b/s``,
``bit/s`` or ``bps`` for bits, ``B/s`` for bytes (``50Mb/s``, ``1.5 GB/s``, ``800kbps``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tuimon.core.names import address_text, parse_address
from tuimon.errors import BadAlert

LEARN = 10.0  # new-host: the hosts of the capture's first LEARN seconds are the known ones
_PREFIX = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_RATE = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<p>[kKMGT]?)(?P<u>b/s|bit/s|bps|B/s)")
_PCT = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)\s*%")
_RULE = re.compile(r"(?P<kind>host|iface)\s+(?P<subject>\S+)\s*>\s*(?P<limit>.+)")


class AlertRule(NamedTuple):
    """One --alert: ``kind`` "host", "iface" or "new-host"; ``subject`` the address int (host)
    or the interface name; ``limit`` bytes per second, or percent when ``percent``;
    ``text`` the expression as given, spaces collapsed."""

    text: str
    kind: str
    subject: object = None
    limit: float = 0.0
    percent: bool = False

    def subject_text(self) -> str:
        return address_text(self.subject) if self.kind == "host" else str(self.subject or "")


def parse_rate(text: str) -> float:
    """``50Mb/s`` -> bytes per second (6,250,000.0); BadAlert when it is no rate."""
    m = _RATE.fullmatch(text.strip())
    if m is None:
        raise BadAlert(f"bad rate {text.strip()!r}: a number, an optional k/M/G/T and b/s, "
                       f"bit/s, bps or B/s (50Mb/s)")
    value = float(m["n"]) * _PREFIX[m["p"]]
    return value if m["u"] == "B/s" else value / 8


def parse_alert(text: str) -> AlertRule:
    """One alert expression, checked: its rule, or BadAlert with a one-line reason."""
    expr = " ".join(text.split())
    where = f"bad --alert {expr!r}"
    if expr == "new-host":
        return AlertRule(expr, "new-host")
    m = _RULE.fullmatch(expr)
    if m is None:
        raise BadAlert(f"{where}: expected 'host ADDR > RATE', 'iface NAME > RATE', "
                       f"'iface NAME > PCT%' or 'new-host'")
    kind, subject, limit = m["kind"], m["subject"], m["limit"].strip()
    if kind == "host":
        try:
            subject = parse_address(subject)
        except ValueError:
            raise BadAlert(f"{where}: {subject!r} is not an IP address") from None
    pct = _PCT.fullmatch(limit)
    if pct is not None:
        if kind == "host":
            raise BadAlert(f"{where}: a host has no link speed; give a rate (50Mb/s)")
        value = float(pct["n"])
        if not 0 < value <= 100:
            raise BadAlert(f"{where}: a percentage of the link speed is above 0 and at most 100")
        return AlertRule(expr, kind, subject, value, True)
    try:
        rate = parse_rate(limit)
    except BadAlert as err:
        raise BadAlert(f"{where}: {err}") from None
    if rate <= 0:
        raise BadAlert(f"{where}: the rate must be above 0")
    return AlertRule(expr, kind, subject, rate)
