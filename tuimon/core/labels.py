"""Application-protocol labels of conversations (:mod:`tuimon.server.labeler` decides
them): naming a conversation's protocol moves what it counted, and its recent seconds, from
the old name to the new one in the application rows and the hosts' lists.

:class:`Labels` is a part of :class:`tuimon.core.engine.Engine` (a mixin)."""

from __future__ import annotations

from tuimon.capture.decode import V6
from tuimon.core.conversation import Conversation
from tuimon.core.rates import MASK, SHIFT


class Labels:
    """Conversation labels: :meth:`label`, :meth:`stop_dissecting`."""

    def stop_dissecting(self, conv: Conversation) -> None:
        """Hand no more of ``conv``'s packets to the dissector."""
        if conv.dis_left > 0:
            conv.dis_left = 0

    def label(self, conv: Conversation, app: str | None, source: str) -> None:
        """Name ``conv``'s application protocol; what it counted so far (and its recent
        seconds, for the rates) moves to the new name."""
        if app == conv.app:
            conv.app_src = source if app else ""
            return
        proto, lo, hi = conv.key[:3]
        v6 = lo >= V6
        packets, nbytes = conv.m_ab_p + conv.m_ba_p, conv.m_ab_b + conv.m_ba_b  # folded so far
        old = conv.app
        if old and packets:
            entry = self._apps.get((v6, proto, old))
            if entry is not None:
                entry[0] -= packets
                entry[1] -= nbytes
                _move_hist(entry[2], conv.hist, nbytes, -1)
                if entry[0] <= 0:
                    del self._apps[(v6, proto, old)]
            for addr in {lo, hi}:
                h = self.hosts.get(addr)
                if h is not None and h.apps:
                    left = h.apps.get(old, 0) - nbytes
                    if left > 0:
                        h.apps[old] = left
                    else:
                        h.apps.pop(old, None)
        conv.app, conv.app_src = app, (source if app else "")
        if app:
            self.names.apps.add(app)
        if app and packets:
            entry = self._apps.get((v6, proto, app))
            if entry is None:
                entry = self._apps[(v6, proto, app)] = [0, 0, []]
            entry[0] += packets
            entry[1] += nbytes
            _move_hist(entry[2], conv.hist, nbytes, 1)
            for addr in {lo, hi}:
                h = self.hosts.get(addr)
                if h is not None:
                    if h.apps is None:
                        h.apps = {}
                    h.apps[app] = h.apps.get(app, 0) + nbytes


def _move_hist(target: list, hist, total: int, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) a conversation's recent seconds (its packed
    history, :func:`tuimon.core.rates.bump_total`, of ``total`` bytes) to/from a
    ``[second, bytes, packets]`` history."""
    if hist is None:
        return
    if hist.__class__ is int and hist >> SHIFT == 0:  # a bare second: all of it then
        seconds = [(hist, total)]
    else:
        seconds = [(e >> SHIFT, e & MASK) for e in ((hist,) if hist.__class__ is int else hist)]
    merged = {s: [s, b, p] for s, b, p in target}
    for s, b in seconds:
        entry = merged.setdefault(s, [s, 0, 0])
        entry[1] += sign * b
    target[:] = sorted((e for e in merged.values() if e[1] > 0 or e[2] > 0), key=lambda e: e[0])
