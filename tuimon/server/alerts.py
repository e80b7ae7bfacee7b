"""Alerts (``--alert EXPR``): the rules evaluated once per fold of the engine, in the engine
process, on the capture clock (no clock of their own).

:class:`AlertWatch` is handed the parsed rules (:mod:`tuimon.server.alertspec`) and the
engine; :meth:`AlertWatch.attach` makes the engine call :meth:`AlertWatch.evaluate` at the
end of every fold. A rule fires **once per crossing**: when its value goes over the
threshold it records an :class:`Alert` and stays raised until the value falls below
``REARM`` (90 %) of the threshold, which re-arms it (the hysteresis keeps a rate that
hovers at the threshold from firing every second). ``new-host`` fires once per host first
seen after the capture's first ``LEARN`` seconds.

What it records goes to ``alerts.csv`` (:mod:`tuimon.sinks.csv`), the app's notifications
and the header's mark (:class:`tuimon.server.protocol.Page`).
"""

from __future__ import annotations

from tuimon.core.names import address_text
from tuimon.core.rates import rate2_packed
from tuimon.server.alertspec import LEARN, AlertRule
from tuimon.server.protocol import Alert
from tuimon.text import printable

REARM = 0.9  # a raised rule re-arms when its value falls below this share of the threshold
MAX_ALERTS = 100_000  # alerts kept for the saves; past it they are counted, not kept


class AlertWatch:
    """The rules of one session against its engine, once per fold (see the module)."""

    def __init__(self, rules: list[AlertRule], engine) -> None:
        self.rules = list(rules)
        self.engine = engine
        self.alerts: list[Alert] = []
        self.count = 0  # alerts raised in all (those past MAX_ALERTS too)
        self.raised: set[tuple] = set()  # (rule index, subject) over their threshold
        self.notes: list[str] = []  # said once: a rule that cannot fire
        self._noted: set[int] = set()
        self._start: float | None = None  # the capture clock at the first evaluation
        self._new_host = any(r.kind == "new-host" for r in self.rules)
        self._ifaces = any(r.kind == "iface" for r in self.rules)

    @classmethod
    def attach(cls, rules: list[AlertRule], engine) -> "AlertWatch":
        watch = cls(rules, engine)
        if watch._new_host:
            engine.new_hosts = []
        engine.on_fold = watch.evaluate
        return watch

    @property
    def active(self) -> int:
        """Rules (per subject) over their threshold now."""
        return len(self.raised)

    def _record(self, alert: Alert) -> None:
        self.count += 1
        if len(self.alerts) < MAX_ALERTS:
            self.alerts.append(alert)

    def _note(self, i: int, text: str) -> None:
        if i not in self._noted:
            self._noted.add(i)
            self.notes.append(text)

    def _cross(self, i: int, rule: AlertRule, subject: str, value: float | None,
               now: float) -> None:
        """The rule's value now (None: not known): fire on the way up, re-arm below REARM."""
        key = (i, subject)
        if value is None:
            return
        if key in self.raised:
            if value < rule.limit * REARM:
                self.raised.discard(key)
            return
        if value > rule.limit:
            self.raised.add(key)
            if rule.percent:
                self._record(Alert(now, rule.text, subject, round(value, 1), rule.limit, "%"))
            else:
                self._record(Alert(now, rule.text, subject, round(value * 8),
                                   round(rule.limit * 8), "b/s"))

    def evaluate(self) -> None:
        """Once per fold: every rule against the engine's figures at its clock."""
        engine = self.engine
        now = engine.now
        if now is None:
            return
        if self._start is None:
            self._start = now
        sec = int(now)
        ifaces = {row.interface: row for row in engine.interface_rows()} if self._ifaces else {}
        for i, rule in enumerate(self.rules):
            if rule.kind == "host":
                host = engine.hosts.get(rule.subject)
                value = rate2_packed(host.hist, sec) if host is not None else 0.0
                self._cross(i, rule, rule.subject_text(), value, now)
            elif rule.kind == "iface":
                row = ifaces.get(rule.subject)
                if row is None:
                    if ifaces:  # the capture's interfaces are known: not this one
                        self._note(i, f"alert {rule.text!r}: no interface {rule.subject} in "
                                      f"this capture (it never fires)")
                    continue
                if rule.percent:
                    if row.link_speed is None or row.utilisation is None:
                        self._note(i, f"alert {rule.text!r}: the link speed of {rule.subject} "
                                      f"is not known (it never fires)")
                        continue
                    value = row.utilisation
                else:
                    value = row.rate_2s
                self._cross(i, rule, rule.subject, value, now)
        if self._new_host:
            fresh, engine.new_hosts = engine.new_hosts, []
            if now - self._start >= LEARN:
                text = next(r.text for r in self.rules if r.kind == "new-host")
                for addr in fresh:
                    self._record(Alert(now, text, address_text(addr), None, None, ""))


def bits_text(bps: float) -> str:
    """``62.3 Mb/s``, ``20.8 kb/s``, ``1.2 Gb/s``, ``800 b/s`` (SI, as the expressions)."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if bps >= scale:
            return f"{bps / scale:.1f} {prefix}b/s"
    return f"{bps:.0f} b/s"


def alert_line(alert: Alert) -> str:
    """One line for an alert: ``alert host 10.0.0.5 > 50Mb/s: 10.0.0.5 at 62.3 Mb/s``."""
    if alert.unit == "%":
        value = f"{alert.value:.1f}% of its link speed"
    elif alert.unit == "b/s":
        value = bits_text(alert.value)
    else:
        value = "first seen"
    return printable(f"alert {alert.alert}: {alert.subject} {'at ' if alert.unit else ''}{value}",
                     300)
