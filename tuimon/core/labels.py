"""Application-protocol labels of conversations (:mod:`tuimon.server.labeler` decides
them): naming a conversation's protocol moves what it counted, and its recent seconds, from
the old name to the new one in the application rows and the hosts' lists.

:class:`AppLabels` is handed exactly the tables it changes: the engine's application
rows, its hosts and the set of names seen so far. :class:`tuimon.core.engine.Engine`
keeps one and labels through it (:meth:`Engine.label`)."""

from __future__ import annotations

from tuimon.capture.decode import V6
from tuimon.core.conversation import Conversation
from tuimon.core.hosts import HostTable
from tuimon.core.rates import move_seconds


class AppLabels:
    """Conversation labels. ``apps``: (v6, IP protocol, app) -> [packets, bytes, history]
    (the protocol rows' application layer); ``hosts``: the engine's :class:`HostTable`;
    ``known``: every application protocol named so far (the filter's names)."""

    __slots__ = ("apps", "hosts", "known")

    def __init__(self, apps: dict[tuple, list], hosts: HostTable, known: set[str]) -> None:
        self.apps, self.hosts, self.known = apps, hosts, known

    def label(self, conv: Conversation, app: str | None, source: str) -> None:
        """Name ``conv``'s application protocol; what it counted so far (and its recent
        seconds, for the rates) moves to the new name."""
        if app == conv.app:
            conv.app_src = source if app else ""
            return
        apps, hosts = self.apps, self.hosts
        proto, lo, hi = conv.key[:3]
        v6 = lo >= V6
        packets, nbytes = conv.m_ab_p + conv.m_ba_p, conv.folded_bytes()  # folded so far
        old = conv.app
        if old and packets:
            entry = apps.get((v6, proto, old))
            if entry is not None:
                entry[0] -= packets
                entry[1] -= nbytes
                move_seconds(entry[2], conv.hist, nbytes, -1)
                if entry[0] <= 0:
                    del apps[(v6, proto, old)]
            for addr in {lo, hi}:
                hosts.take_app(addr, old, nbytes)
        conv.app, conv.app_src = app, (source if app else "")
        if app:
            self.known.add(app)
        if app and packets:
            entry = apps.get((v6, proto, app))
            if entry is None:
                entry = apps[(v6, proto, app)] = [0, 0, []]
            entry[0] += packets
            entry[1] += nbytes
            move_seconds(entry[2], conv.hist, nbytes, 1)
            for addr in {lo, hi}:
                hosts.give_app(addr, app, nbytes)
