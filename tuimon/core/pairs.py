"""Host pairs (iftop's main screen): one record per pair of hosts, or per pair of
endpoints with their ports, folded from the conversations that changed.

Nothing here is per packet: :meth:`PairTable.fold` is handed, once per
:meth:`tuimon.core.engine.Engine.fold`, each changed conversation with what it counted
since the last fold in each direction, and adds that to the conversation's pair. A pair
keeps both directions apart (A is the endpoint that sent the pair's first counted packet,
as in a conversation): packets and bytes each way, a packed rate history each way
(:mod:`tuimon.core.rates`) and each way's peak, the highest 2 s rate any fold saw.

Two granularities: ``ports=False`` keys a pair by its two addresses (every protocol and
port between them together); ``ports=True`` by (protocol, address, port, address, port),
the conversation's own key, so a conversation that came back after expiry adds to the same
pair. A host talking to itself (one address both ways) counts all of it from A to B, as
Wireshark's statistics do. A pair idle for longer than ``idle`` seconds of capture time leaves the table
(checked once every ``idle / 4`` seconds), so the table follows the traffic, not the
session.
"""

from __future__ import annotations

from typing import NamedTuple

from tuimon.core.names import address_text
from tuimon.core.rates import MASK, SHIFT, WINDOWS, bump_packed, rates_packed

PAIR_IDLE = 300.0  # seconds a pair stays after its last packet (a TCP conversation's timeout)


class PairRow(NamedTuple):
    """One pair as the Pairs view and pairs.csv show it. Rates are bytes per second over
    iftop's 2 s, 10 s and 40 s; ``peak_*``: the highest 2 s rate seen each way."""

    protocol: str  # "" when the pair is by addresses only
    address_a: str
    port_a: int | None
    address_b: str
    port_b: int | None
    packets_a_to_b: int
    bytes_a_to_b: int
    packets_b_to_a: int
    bytes_b_to_a: int
    rate_a_to_b_2s: float | None  # None: not known (the table is younger than the window)
    rate_a_to_b_10s: float | None
    rate_a_to_b_40s: float | None
    rate_b_to_a_2s: float | None
    rate_b_to_a_10s: float | None
    rate_b_to_a_40s: float | None
    peak_a_to_b: float | None  # None: no rates kept (a headless run)
    peak_b_to_a: float | None
    conversations: int  # conversations the pair has had (one that came back counts again)
    first_seen: float
    last_seen: float

    @property
    def packets(self) -> int:
        return self.packets_a_to_b + self.packets_b_to_a

    @property
    def bytes(self) -> int:
        return self.bytes_a_to_b + self.bytes_b_to_a

    @property
    def rate_2s(self) -> float | None:
        return _plus(self.rate_a_to_b_2s, self.rate_b_to_a_2s)

    @property
    def rate_10s(self) -> float | None:
        return _plus(self.rate_a_to_b_10s, self.rate_b_to_a_10s)

    @property
    def rate_40s(self) -> float | None:
        return _plus(self.rate_a_to_b_40s, self.rate_b_to_a_40s)


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


class Pair:
    """Both directions of one pair; ``fwd``: A is the key's first endpoint."""

    __slots__ = ("key", "fwd", "ab_p", "ab_b", "ba_p", "ba_b", "hist_ab", "hist_ba",
                 "peak_ab", "peak_ba", "convs", "first", "last")

    def __init__(self, key: tuple, fwd: bool, first: float) -> None:
        self.key, self.fwd = key, fwd
        self.ab_p = self.ab_b = self.ba_p = self.ba_b = 0
        self.hist_ab = self.hist_ba = None
        self.peak_ab = self.peak_ba = 0.0
        self.convs = 0
        self.first = self.last = first

    def endpoints(self) -> tuple:
        """The row key: (proto, a, port a, b, port b); proto and ports None by addresses."""
        if len(self.key) == 2:
            lo, hi = self.key
            return (None, lo, None, hi, None) if self.fwd else (None, hi, None, lo, None)
        proto, lo, hi, plo, phi = self.key
        return (proto, lo, plo, hi, phi) if self.fwd else (proto, hi, phi, lo, plo)

    @property
    def bytes(self) -> int:
        return self.ab_b + self.ba_b

    @property
    def packets(self) -> int:
        return self.ab_p + self.ba_p

    def flip(self) -> None:
        """B becomes A: a conversation that started earlier than the one the pair was made
        from came in the same fold the other way round."""
        self.fwd = not self.fwd
        self.ab_p, self.ba_p, self.ab_b, self.ba_b = self.ba_p, self.ab_p, self.ba_b, self.ab_b
        self.hist_ab, self.hist_ba = self.hist_ba, self.hist_ab
        self.peak_ab, self.peak_ba = self.peak_ba, self.peak_ab


def _two_seconds(hist, sec: int) -> float:
    """The 2 s rate of a packed history at second ``sec`` (the peak's measure)."""
    total = 0
    for entry in ((hist,) if hist.__class__ is int else hist):
        if sec - (entry >> SHIFT) < 2:
            total += entry & MASK
    return total / 2


class PairTable:
    """The pairs of one granularity (``ports``), folded from changed conversations."""

    def __init__(self, ports: bool = False, rates: bool = True,
                 idle: float | None = PAIR_IDLE) -> None:
        self.ports = ports
        self.rates = rates
        self.idle = idle  # None or 0: pairs never leave
        self.pairs: dict[tuple, Pair] = {}
        self._next_sweep: float | None = None
        # Made after traffic was counted (seed): the clock then. Rates over a window longer
        # than the time since are not known (shown empty); the peaks are since then.
        self.made: float | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def fold(self, changes, sec: int, now: float | None) -> None:
        """Add each changed conversation's counts since the last fold to its pair
        (``changes``: a :class:`tuimon.core.changes.Changes`, A being each conversation's
        A); ``sec``: the fold's second."""
        before = self._add(changes, self.rates)
        for p, (ab_b, ba_b) in before.items():
            if p.ab_b != ab_b:
                p.hist_ab = h = bump_packed(p.hist_ab, sec, p.ab_b - ab_b)
                r = _two_seconds(h, sec)
                if r > p.peak_ab:
                    p.peak_ab = r
            if p.ba_b != ba_b:
                p.hist_ba = h = bump_packed(p.hist_ba, sec, p.ba_b - ba_b)
                r = _two_seconds(h, sec)
                if r > p.peak_ba:
                    p.peak_ba = r
        if self.idle and now is not None:
            if self._next_sweep is None:
                self._next_sweep = now + self.idle / 4
            elif now >= self._next_sweep:
                self._next_sweep = now + self.idle / 4
                self.sweep(now)

    def _add(self, changes, rates: bool) -> dict:
        """Add ``changes`` (as :meth:`fold` takes them) to their pairs; with ``rates``,
        returns each pair added to with its bytes each way before (else nothing)."""
        pairs, ports = self.pairs, self.ports
        # with rates, each pair this fold adds to: its bytes each way before it (what the
        # fold added is the difference: one bump and one peak per pair and fold)
        before: dict[Pair, list] = {}
        if not ports:
            self._add_by_pair(changes.by_pair(), rates, before)
            return before
        for ckey, fwd, first, last, new, dap, dab, dbp, dbb in zip(
                changes.keys, changes.fwd, changes.first, changes.last, changes.new,
                changes.dap, changes.dab, changes.dbp, changes.dbb):
            key = ckey if ports else (ckey[1], ckey[2])
            p = pairs.get(key)
            if p is None:
                p = pairs[key] = Pair(key, fwd, first)
                if rates:
                    before[p] = [0, 0]
            elif rates and p not in before:
                before[p] = [p.ab_b, p.ba_b]
            if new:  # the conversation's first fold
                p.convs += 1
            if first < p.first:
                p.first = first
                if fwd != p.fwd:  # A: the sender of the pair's first packet
                    p.flip()
                    if rates:  # what the pair had before this fold turns round too
                        before[p].reverse()
            # the conversation's A is the pair's A when both agree on the key's order
            if ckey[1] == ckey[2] and not ports:  # a host to itself: all of it A to B (tshark)
                p.ab_p += dap + dbp
                p.ab_b += dab + dbb
            elif fwd == p.fwd:
                p.ab_p += dap
                p.ab_b += dab
                p.ba_p += dbp
                p.ba_b += dbb
            else:
                p.ab_p += dbp
                p.ab_b += dbb
                p.ba_p += dap
                p.ba_b += dab
            if last > p.last:
                p.last = last
        return before

    def _add_by_pair(self, sums: list, rates: bool, before: dict) -> None:
        """:meth:`_add` by addresses, from the changes added up per pair
        (:meth:`tuimon.core.changes.Changes.by_pair`): the same as one change at a time."""
        pairs = self.pairs
        for (lo, hi, first, fwd, last, new, t_ap, t_ab, t_bp, t_bb, f_ap, f_ab, f_bp,
             f_bb) in sums:
            key = (lo, hi)
            p = pairs.get(key)
            if p is None:  # (a host to itself: A, the lower address, is B too)
                p = pairs[key] = Pair(key, fwd or lo == hi, first)
                if rates:
                    before[p] = [0, 0]
            else:
                if rates and p not in before:
                    before[p] = [p.ab_b, p.ba_b]
                if first < p.first:
                    p.first = first
                    if fwd != p.fwd and lo != hi:  # A: the sender of the pair's first packet
                        p.flip()  # (a host to itself has it all A to B: never turned round)
                        if rates:  # what the pair had before this fold turns round too
                            before[p].reverse()
            p.convs += new
            if lo == hi:  # a host to itself: all of it A to B (tshark)
                p.ab_p += t_ap + t_bp + f_ap + f_bp
                p.ab_b += t_ab + t_bb + f_ab + f_bb
            elif p.fwd:  # the lower address is A: the others' counts turn round
                p.ab_p += t_ap + f_bp
                p.ab_b += t_ab + f_bb
                p.ba_p += t_bp + f_ap
                p.ba_b += t_bb + f_ab
            else:
                p.ab_p += t_bp + f_ap
                p.ab_b += t_bb + f_ab
                p.ba_p += t_ap + f_bp
                p.ba_b += t_ab + f_bb
            if last > p.last:
                p.last = last

    def sweep(self, now: float) -> int:
        """Pairs idle for longer than ``idle`` leave; returns how many left."""
        cutoff = now - self.idle
        gone = [key for key, p in self.pairs.items() if p.last < cutoff]
        for key in gone:
            del self.pairs[key]
        return len(gone)

    def seed(self, changes, now: float | None = None) -> None:
        """Start from the conversations in the table as they stand (``changes``: their
        counts so far, :meth:`tuimon.core.changes.Changes.seed`; no rate history): a table
        made after the session started, at ``now``."""
        if len(changes) and now is not None:
            self.made = now
        self._add(changes, False)

    def rows(self, pairs, now: float | None, proto_name) -> list[PairRow]:
        """Rows of ``pairs`` (None: every one); ``proto_name``: IP protocol -> its name."""
        rows = []
        texts: dict[int, str] = {}
        with_rates = self.rates
        made = self.made
        known = [made is None or (now is not None and now - made >= w) for w in WINDOWS]
        unknown = not all(known)
        append = rows.append
        new_row = tuple.__new__  # PairRow(...) without its Python-level __new__
        none = (0.0, 0.0, 0.0)  # rates_packed's answer for no history
        for p in (self.pairs.values() if pairs is None else pairs):
            proto, a, pa, b, pb = p.endpoints()
            ta = texts.get(a)
            if ta is None:
                ta = texts[a] = address_text(a)
            tb = texts.get(b)
            if tb is None:
                tb = texts[b] = address_text(b)
            hist_ab, hist_ba = p.hist_ab, p.hist_ba
            rab = none if hist_ab is None else rates_packed(hist_ab, now)
            rba = none if hist_ba is None else rates_packed(hist_ba, now)
            if unknown:
                rab = [r if k else None for r, k in zip(rab, known)]
                rba = [r if k else None for r, k in zip(rba, known)]
            append(new_row(PairRow, (
                proto_name(proto) if proto is not None else "", ta, pa, tb, pb,
                p.ab_p, p.ab_b, p.ba_p, p.ba_b, *rab, *rba,
                p.peak_ab if with_rates else None, p.peak_ba if with_rates else None,
                p.convs, p.first, p.last)))
        return rows
