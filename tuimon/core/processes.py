"""Processes (nethogs, bandwhich): the traffic of each local process's sockets, attributed
per fold from the conversations that changed.

The socket table -- (protocol, local address, local port) -> (pid, process name), read
from the kernel by :mod:`tuimon.capture.sockets` in a thread of the engine process at
most once a second -- is handed to :meth:`ProcessTable.set_sockets` whole (one reference
swapped: the fold never waits for a poll). :meth:`ProcessTable.fold`, an
:attr:`tuimon.core.engine.Engine.fold_watchers` entry, then looks each changed TCP/UDP
conversation's two endpoints up once: an endpoint that is a local socket makes its process
the conversation's owner (both, when both ends are local: loopback), remembered for the
conversation's life, so its last packets still count after the socket closed. Bytes from
the local endpoint are the process's *sent*, bytes to it *received*. A socket bound to
every address (``0.0.0.0:53``) matches its port on any local address.

What no socket owns -- forwarded traffic of a gateway, other protocols than TCP/UDP,
sockets that came and went between two polls, every packet of a playback -- counts in one
:data:`UNATTRIBUTED` row. A conversation is looked up again at each fold until it has an
owner; what it counted before that stays unattributed.
"""

from __future__ import annotations

from typing import NamedTuple

from tuimon.core.rates import bump_packed, rates_packed

UNATTRIBUTED = None  # the key of the row no process owns
UNATTRIBUTED_NAME = "unattributed"


class ProcessRow(NamedTuple):
    """One process (or the unattributed traffic) as the Processes view and processes.csv
    show it; rates are bytes per second over 2 s, 10 s and 40 s, sent and received."""

    pid: int | None  # None: the unattributed row, or an owner the kernel did not name
    name: str
    packets_sent: int | None  # None for the unattributed row (no side is local)
    bytes_sent: int | None
    packets_received: int | None
    bytes_received: int | None
    packets: int  # both ways
    bytes: int
    rate_sent_2s: float | None
    rate_sent_10s: float | None
    rate_sent_40s: float | None
    rate_received_2s: float | None
    rate_received_10s: float | None
    rate_received_40s: float | None
    rate_2s: float
    rate_10s: float
    rate_40s: float
    conversations: int  # conversations attributed to it
    first_seen: float | None
    last_seen: float | None


class Proc:
    __slots__ = ("pid", "name", "sent_p", "sent_b", "recv_p", "recv_b", "hist_sent",
                 "hist_recv", "hist", "convs", "first", "last")

    def __init__(self, pid: int | None, name: str) -> None:
        self.pid, self.name = pid, name
        self.sent_p = self.sent_b = self.recv_p = self.recv_b = 0
        self.hist_sent = self.hist_recv = self.hist = None
        self.convs = 0
        self.first = self.last = None


class ProcessTable:
    """Per process, what its sockets' conversations counted (see the module)."""

    def __init__(self, rates: bool = True, live: bool = True) -> None:
        self.rates = rates
        self.live = live  # False: a playback, every byte unattributed (no sockets to see)
        # the socket table, the local addresses and, per protocol, the ports any socket has
        self._sockets: tuple[dict, frozenset, dict] = ({}, frozenset(), {})
        self.procs: dict = {}  # (pid, name) or UNATTRIBUTED -> Proc
        # a conversation's serial (Changes.serials) -> ((key, local is A), ...)
        self._owners: dict = {}
        self.polls = 0  # socket tables handed in
        self._prune_at = 10_000

    def set_sockets(self, sockets, local: frozenset = frozenset()) -> None:
        """A new socket table: :class:`tuimon.capture.sockets.Socket` tuples (``proto,
        addr, port, pid, name``; addr None: bound to every address) and the local
        addresses a wildcard socket stands for. Called from the polling thread."""
        table = {}
        ports: dict[int, set] = {}
        for proto, addr, port, pid, name in sockets:
            if pid is not None:  # an owner we cannot see is no owner: unattributed
                table.setdefault((proto, addr, port), (pid, name))
                ports.setdefault(proto, set()).add(port)
        self._sockets = (table, frozenset(local), ports)
        self.polls += 1

    def _owners_of(self, key: tuple, fwd: bool) -> tuple:
        """The processes owning the ends of the conversation of canonical ``key`` (A the
        key's first address when ``fwd``): ((pid, name), local end is A) each."""
        table, local, ports = self._sockets
        if not table:
            return ()
        proto, lo, hi, plo, phi = key
        if plo is None or proto not in (6, 17):
            return ()
        mine = ports.get(proto)
        if mine is None or (plo not in mine and phi not in mine):
            return ()  # neither port is a socket's: forwarded traffic, mostly
        owners = []
        for addr, port, is_lo in ((lo, plo, True), (hi, phi, False)):
            owner = table.get((proto, addr, port))
            if owner is None and addr in local:
                owner = table.get((proto, None, port))
            if owner is not None:
                # the side's local endpoint is A when it is the key's first and A is that
                owners.append(((owner[0], owner[1]), is_lo == fwd))
        return tuple(owners)

    def fold(self, changes, sec: int, now: float | None) -> None:
        """Attribute each change (``changes``: a :class:`tuimon.core.changes.Changes`) to
        the processes owning its ends (:data:`UNATTRIBUTED` when none)."""
        if not self.live:  # a playback: all of it unattributed, nothing to remember
            self._fold_unattributed(changes, sec)
            return
        owners_of, owners, procs = self._owners_of, self._owners, self.procs
        rates = self.rates
        # what no process owns, summed here and added once (one rate bump, not one a change)
        nobody = procs.get(UNATTRIBUTED)
        n_sp = n_sb = n_rp = n_rb = n_convs = 0
        n_first = n_last = None
        for serial, key, fwd, first, last, dap, dab, dbp, dbb, new in zip(
                changes.serials, changes.keys, changes.fwd, changes.first, changes.last,
                changes.dap, changes.dab, changes.dbp, changes.dbb, changes.new):
            mine = owners.get(serial)
            fresh = mine is None
            if fresh:  # not attributed yet: look it up in the latest socket table
                mine = owners_of(key, fwd)
                if mine:  # remembered for its life; without one, looked up again next fold
                    owners[serial] = mine
            if not mine:
                if nobody is None:
                    nobody = procs[UNATTRIBUTED] = Proc(None, UNATTRIBUTED_NAME)
                n_sp += dap
                n_sb += dab
                n_rp += dbp
                n_rb += dbb
                if new:  # its first fold
                    n_convs += 1
                if n_first is None or first < n_first:
                    n_first = first
                if n_last is None or last > n_last:
                    n_last = last
                continue
            for key, local_is_a in mine:
                p = procs.get(key)
                if p is None:
                    p = procs[key] = Proc(*key)
                if fresh:
                    p.convs += 1  # an owner's first fold of it
                if local_is_a:
                    sp, sb, rp, rb = dap, dab, dbp, dbb
                else:
                    sp, sb, rp, rb = dbp, dbb, dap, dab
                p.sent_p += sp
                p.sent_b += sb
                p.recv_p += rp
                p.recv_b += rb
                if p.first is None or first < p.first:
                    p.first = first
                if p.last is None or last > p.last:
                    p.last = last
                if rates:
                    if sb:
                        p.hist_sent = bump_packed(p.hist_sent, sec, sb)
                    if rb:
                        p.hist_recv = bump_packed(p.hist_recv, sec, rb)
        if n_first is not None:  # (no side is local: A to B counts as sent)
            p = nobody
            p.sent_p += n_sp
            p.sent_b += n_sb
            p.recv_p += n_rp
            p.recv_b += n_rb
            p.convs += n_convs
            if p.first is None or n_first < p.first:
                p.first = n_first
            if p.last is None or n_last > p.last:
                p.last = n_last
            if rates:
                if n_sb:
                    p.hist_sent = bump_packed(p.hist_sent, sec, n_sb)
                if n_rb:
                    p.hist_recv = bump_packed(p.hist_recv, sec, n_rb)
        if len(owners) > self._prune_at:  # forget the conversations that left the table
            alive = changes.serials_alive(list(owners))
            for serial in [s for s, ok in zip(owners, alive) if not ok]:
                del owners[serial]
            self._prune_at = max(10_000, 2 * len(owners))

    def _fold_unattributed(self, changes, sec: int) -> None:
        p = self.procs.get(UNATTRIBUTED)
        if p is None:
            p = self.procs[UNATTRIBUTED] = Proc(None, UNATTRIBUTED_NAME)
        packets = nbytes = convs = 0
        first, last = p.first, p.last
        if len(changes):
            packets = sum(changes.dap) + sum(changes.dbp)
            nbytes = sum(changes.dab) + sum(changes.dbb)
            convs = sum(changes.new)
            low, high = min(changes.first), max(changes.last)
            if first is None or low < first:
                first = low
            if last is None or high > last:
                last = high
        p.sent_p += packets  # (no side is local: the row shows both ways together)
        p.sent_b += nbytes
        p.convs += convs
        p.first, p.last = first, last
        if self.rates and nbytes:
            p.hist_sent = bump_packed(p.hist_sent, sec, nbytes)

    def rows(self, now: float | None) -> list[ProcessRow]:
        rows = []
        name_note = "" if self.live else " (live captures only)"
        for key, p in self.procs.items():
            sent = rates_packed(p.hist_sent, now)
            recv = rates_packed(p.hist_recv, now)
            both = tuple(s + r for s, r in zip(sent, recv))
            if key is UNATTRIBUTED:  # no side is local: neither sent nor received
                rows.append(ProcessRow(
                    None, UNATTRIBUTED_NAME + name_note, None, None, None, None,
                    p.sent_p + p.recv_p, p.sent_b + p.recv_b, None, None, None, None, None, None,
                    *both, p.convs, p.first, p.last))
                continue
            rows.append(ProcessRow(p.pid, p.name, p.sent_p, p.sent_b, p.recv_p, p.recv_b,
                                   p.sent_p + p.recv_p, p.sent_b + p.recv_b, *sent, *recv, *both,
                                   p.convs, p.first, p.last))
        return rows
