"""Named counters (``--counter NAME=EXPR``): the packets and bytes an expression picks.

Counted on the packet path, in :meth:`tuimon.core.engine.Engine.ingest`, for every
packet of every batch, live and playback, app and headless. A counter's packets and bytes
are frames and frame lengths on the wire, like ``interfaces.csv``.

An expression arrives compiled to plain tuples (:mod:`tuimon.server.counterspec` builds
them from the filter language; the core knows no parser)::

    ("host", addr)               either address is ``addr`` (IPv6: with the V6 bit)
    ("net", v6, bits, shift)     either address's top bits are ``bits``
    ("port", frozenset)          either TCP/UDP port is one of them
    ("proto", frozenset)         the outermost IP header's protocol is one of them
    ("family", 4 | 6)            IPv4 / IPv6
    ("not", node)  ("and", a, b)  ("or", a, b)

All counters are compiled together into one generated function of a decoded tuple
(:func:`matcher`: each distinct term evaluated once) whose answer is remembered. A
:class:`PacketColumns` batch's fast rows are counted by numpy masks over the batch
(:func:`_mask`, leaf masks shared by the counters), or, when the batch holds few
conversations for its rows (:data:`GROUPS_RATIO`), a conversation at a time from the
engine's grouping, the verdict remembered per conversation key (every term is symmetric in
the two ends). Record tuples and slow rows are counted per decoded tuple, whose packets
and bytes add up in a cell per tuple and reach their counters once per batch.
:func:`predicate` is the plain per-record reading, the tests' reference.

Reading and zeroing (:meth:`Counters.reset`) happens between two batches: the engine
process counts in one thread, so the figures a reset returns are exactly those counted
before it, and every packet after it counts in the next period -- none is lost or
counted twice.
"""

from __future__ import annotations

from itertools import compress
from typing import NamedTuple

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IPV4, IPV6, V6
from tuimon.core.rates import bump, packet_rate, rates

_MEMO_MAX = 200_000  # decoded tuples whose verdicts are remembered (cleared when full)
# A batch's fast rows are counted a conversation at a time when it has at most one
# conversation per GROUPS_RATIO rows, else by masks: a conversation costs about a
# microsecond of Python, a row about 50 ns of numpy for 20 counters (the benchmark's
# capture, a new conversation every 4 packets: masks add 0.3 s per million, groups 1.2 s).
GROUPS_RATIO = 16


class CounterRow(NamedTuple):
    """One counter: ``packets``/``bytes`` since ``since`` (the last reset, else the first
    packet counted); ``total_*`` since the start, resets or not; rates in bytes per
    second over 2, 10, 40 s (``packet_rate``: packets per second over 2 s)."""

    name: str
    expression: str
    packets: int
    bytes: int
    since: float | None
    total_packets: int = 0
    total_bytes: int = 0
    resets: int = 0
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    packet_rate: float = 0.0
    quota: int = 0  # --quota: the bytes allowed per quota_period (0: no quota)
    quota_period: str = ""  # "day", "week" or "month" (from the billing day)
    quota_used: int = 0  # bytes counted in the quota period so far


class QuotaUse(NamedTuple):
    """A counter's quota as it stands: bytes used of ``limit`` in the ``period`` that
    began at ``start``."""

    name: str
    limit: int
    period: str
    start: int
    used: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0


class CounterSpec(NamedTuple):
    """A counter as configured: its name, its expression's text and compiled tree."""

    name: str
    expression: str
    tree: tuple


# -- numpy masks over a batch's fast rows (IPv4 and IPv6) ----------------------------------

_LOW = (1 << 64) - 1


def _eq(cols: dict, side: str, addr: int) -> np.ndarray:
    """Rows whose ``side`` address ("src"/"dst") is ``addr`` (IPv6: with the V6 bit)."""
    if addr >= V6:
        a = addr ^ V6
        return (cols["kind"] == IPV6) & (cols[side + "_hi"] == np.uint64(a >> 64)) \
            & (cols[side] == np.uint64(a & _LOW))
    if addr < 0 or addr >= 1 << 32:
        return np.zeros(len(cols[side]), np.bool_)
    return (cols["kind"] == IPV4) & (cols[side] == np.uint64(addr))


def _in_net(cols: dict, side: str, v6: bool, bits: int, shift: int) -> np.ndarray:
    """Rows whose ``side`` address's top bits (all but ``shift`` low ones) are ``bits``."""
    if not v6:
        return (cols["kind"] == IPV4) & ((cols[side] >> np.uint64(shift)) == np.uint64(bits))
    kind = cols["kind"] == IPV6
    hi, lo = cols[side + "_hi"], cols[side]
    if shift >= 128:
        return kind
    if shift >= 64:
        return kind & ((hi >> np.uint64(shift - 64)) == np.uint64(bits))
    top, low = bits >> (64 - shift), bits & ((1 << (64 - shift)) - 1)
    return kind & (hi == np.uint64(top)) & ((lo >> np.uint64(shift)) == np.uint64(low))


def _leaf_mask(node: tuple, cols: dict) -> np.ndarray:
    op = node[0]
    if op == "host":
        return _eq(cols, "src", node[1]) | _eq(cols, "dst", node[1])
    if op == "net":
        _, v6, bits, shift = node
        return _in_net(cols, "src", v6, bits, shift) | _in_net(cols, "dst", v6, bits, shift)
    if op == "port":
        ports = node[1]
        if len(ports) == 1:
            (port,) = ports
            hit = (cols["sport"] == port) | (cols["dport"] == port)
        else:
            wanted = np.fromiter(ports, np.int64, len(ports))
            hit = np.isin(cols["sport"], wanted) | np.isin(cols["dport"], wanted)
        return hit & cols["ported"]
    if op == "proto":
        numbers = node[1]
        if len(numbers) == 1:
            (number,) = numbers
            return cols["proto"] == number
        return np.isin(cols["proto"], np.fromiter(numbers, np.int64, len(numbers)))
    if op == "family":
        return cols["kind"] == (IPV4 if node[1] == 4 else IPV6)
    raise ValueError(f"unknown counter term {op!r}")


def _mask(node: tuple, cols: dict, leaves: dict) -> np.ndarray:
    op = node[0]
    if op == "not":
        return ~_mask(node[1], cols, leaves)
    if op == "and":
        return _mask(node[1], cols, leaves) & _mask(node[2], cols, leaves)
    if op == "or":
        return _mask(node[1], cols, leaves) | _mask(node[2], cols, leaves)
    m = leaves.get(node)
    if m is None:
        m = leaves[node] = _leaf_mask(node, cols)
    return m


# -- predicates over a record's decoded tuple (kind, proto, src, dst, sport, dport, flags) --

def _addr_match(node: tuple):
    if node[0] == "host":
        addr = node[1]
        return lambda a: a == addr
    _, v6, bits, shift = node
    if v6:
        return lambda a: a >= V6 and ((a ^ V6) >> shift) == bits
    return lambda a: a < V6 and (a >> shift) == bits


def predicate(node: tuple):
    """``node`` as a function of a decoded tuple (True: the packet counts)."""
    op = node[0]
    if op == "not":
        inner = predicate(node[1])
        return lambda d: not inner(d)
    if op in ("and", "or"):
        left, right = predicate(node[1]), predicate(node[2])
        if op == "and":
            return lambda d: left(d) and right(d)
        return lambda d: left(d) or right(d)
    if op in ("host", "net"):
        match = _addr_match(node)
        return lambda d: d[0] >= IPV4 and (match(d[2]) or match(d[3]))
    if op == "port":
        ports = node[1]
        return lambda d: d[0] >= IPV4 and (d[4] in ports or d[5] in ports)
    if op == "proto":
        numbers = node[1]
        return lambda d: d[0] >= IPV4 and d[1] in numbers
    if op == "family":
        kind = IPV4 if node[1] == 4 else IPV6
        return lambda d: d[0] == kind
    raise ValueError(f"unknown counter term {op!r}")


def _leaf_code(node: tuple, const) -> str:
    """Python source of one term over ``k, pr, s, d, sp, dp`` (the decoded tuple's first
    six fields); ``const(value)`` names a constant."""
    op = node[0]
    if op == "host":
        a = const(node[1])
        return f"(ip and (s == {a} or d == {a}))"
    if op == "net":
        _, v6, bits, shift = node
        b, sh = const(bits), const(shift)
        if v6:
            return (f"(ip and ((s >= V6 and ((s ^ V6) >> {sh}) == {b}) or "
                    f"(d >= V6 and ((d ^ V6) >> {sh}) == {b})))")
        return f"(ip and ((s < V6 and (s >> {sh}) == {b}) or (d < V6 and (d >> {sh}) == {b})))"
    if op == "port":
        ports = const(node[1])
        return f"(ip and (sp in {ports} or dp in {ports}))"
    if op == "proto":
        return f"(ip and pr in {const(node[1])})"
    if op == "family":
        return f"(k == {IPV4 if node[1] == 4 else IPV6})"
    raise ValueError(f"unknown counter term {op!r}")


def matcher(trees: list[tuple]):
    """One function ``match(dec) -> tuple`` of the indices of the ``trees`` a decoded
    tuple matches, each distinct term evaluated once (generated source: a miss of the
    memo costs one call, however many counters there are)."""
    consts: dict = {"V6": V6}
    names: dict = {}
    leaves: dict = {}

    def const(value) -> str:
        key = (type(value), value)
        if key not in names:
            names[key] = f"c{len(names)}"
            consts[names[key]] = value
        return names[key]

    def code(node: tuple) -> str:
        op = node[0]
        if op == "not":
            return f"(not {code(node[1])})"
        if op in ("and", "or"):
            return f"({code(node[1])} {op} {code(node[2])})"
        if node not in leaves:
            leaves[node] = (f"t{len(leaves)}", _leaf_code(node, const))
        return leaves[node][0]

    exprs = [code(tree) for tree in trees]
    lines = ["def match(dec):", "    k, pr, s, d, sp, dp = dec[:6]", "    ip = k >= 4"]
    lines += [f"    {name} = {src}" for name, src in leaves.values()]
    lines += ["    return tuple(compress(ALL, (" + "".join(f"{e}, " for e in exprs) + ")))"]
    consts.update(compress=compress, ALL=range(len(trees)))
    exec("\n".join(lines), consts)  # noqa: S102 - source built above from numbers only
    return consts["match"]


class Counters:
    """The named counters of one engine; one thread calls everything (the engine's)."""

    def __init__(self, specs: list[CounterSpec]) -> None:
        self.specs = list(specs)
        n = len(self.specs)
        self._match = matcher([s.tree for s in self.specs])
        self._trees = [s.tree for s in self.specs]
        self.packets = [0] * n
        self.bytes = [0] * n
        self._base_p = [0] * n  # the totals at the last reset
        self._base_b = [0] * n
        self.since: list[float | None] = [None] * n
        self.resets = [0] * n
        self._hist: list[list] = [[] for _ in range(n)]  # [second, bytes, packets]
        self._memo: dict[tuple, tuple] = {}  # conversation key -> indices of its counters
        self._cells: dict[tuple, list | bool] = {}  # decoded tuple -> [indices, packets, bytes]
        self.first: float | None = None  # the first packet's time
        self.now: float | None = None  # the newest packet's time
        # quotas by counter index: [limit, period, period start, bytes at it, bytes before]
        self._quotas: dict[int, list] = {}
        self._period_start = None  # (period, now) -> the period's first second

    def set_quota(self, name: str, limit: int, period: str, period_start, before: int = 0
                  ) -> None:
        """Counter ``name`` may count ``limit`` bytes a ``period``; ``period_start(period,
        now)`` gives the period's first second (the server's calendar: the billing day);
        ``before``: what it counted in the current period before this session (the
        history's)."""
        i = self.index(name)
        if i is None:
            raise ValueError(f"no counter named {name!r}")
        self._period_start = period_start
        self._quotas[i] = [limit, period, None, 0, before]

    def _quota(self, i: int, now: float | None) -> QuotaUse | None:
        q = self._quotas.get(i)
        if q is None:
            return None
        limit, period, start, at, before = q
        if now is not None:
            begun = self._period_start(period, now)
            if start is None:
                q[2] = begun  # this session's first look: ``before`` is this period's
            elif begun > start:  # a new period: the session's bytes from here on
                q[2], q[3], q[4] = begun, self.bytes[i], 0
        return QuotaUse(self.specs[i].name, limit, period, q[2] or 0,
                        q[4] + self.bytes[i] - q[3])

    def _roll_quotas(self, now: float) -> None:
        """A batch from ``now`` on: a quota whose period ended starts its next one before
        the batch is counted (a batch that straddles the boundary counts in the old)."""
        for i in self._quotas:
            self._quota(i, now)

    def quotas(self, now: float | None = None) -> list[QuotaUse]:
        """Every quota's use at ``now`` (default: the newest packet's time)."""
        now = self.now if now is None else now
        return [u for u in (self._quota(i, now) for i in sorted(self._quotas)) if u]

    def __len__(self) -> int:
        return len(self.specs)

    # -- counting ---------------------------------------------------------------------

    def ingest(self, records, groups=None) -> None:
        """Count a batch: record tuples, or a :class:`PacketColumns` (``groups``: its fast
        rows already grouped by conversation, :func:`tuimon.core.grouping.conversations`,
        counted a conversation at a time; else by numpy masks)."""
        if not self.specs or not len(records):
            return
        before_p, before_b = list(self.packets), list(self.bytes)
        if isinstance(records, PacketColumns):
            ts = records.cols["ts"]
            first, last = float(ts.min()), float(ts.max())
            self._roll_quotas(first)
            if groups is not None and len(groups) * GROUPS_RATIO <= len(ts):
                self._count_groups(groups)  # few conversations, many packets each
            else:
                self._count_columns(records)
            if records.slow_recs:
                self._count_records(records.slow_recs)
        else:
            first = records[0][1]  # in the order captured (interfaces may interleave
            last = max(first, records[-1][1])  # a little: rates, not counts, see it)
            self._roll_quotas(first)
            self._count_records(records)
        if self.first is None or first < self.first:
            self.first = first
            self.since = [first if s is None else s for s in self.since]
        if self.now is None or last > self.now:
            self.now = last
        sec = int(self.now)
        for i, hist in enumerate(self._hist):
            dp, db = self.packets[i] - before_p[i], self.bytes[i] - before_b[i]
            if dp:
                bump(hist, sec, db, dp)

    def _count_columns(self, batch: PacketColumns) -> None:
        """The fast rows by numpy masks, one per distinct term, over the whole batch."""
        cols = batch.cols
        fast = cols["fast"]
        if not fast.any():
            return
        leaves: dict = {}
        masks = np.empty((len(self._trees), len(fast)), np.bool_)
        for i, tree in enumerate(self._trees):
            masks[i] = _mask(tree, cols, leaves)
        masks &= fast
        packets = np.count_nonzero(masks, axis=1).tolist()
        nbytes = (masks.astype(np.int64) @ cols["wlen"]).tolist()
        p, b = self.packets, self.bytes
        for i, (dp, db) in enumerate(zip(packets, nbytes)):
            if dp:
                p[i] += dp
                b[i] += db

    def _count_groups(self, g) -> None:
        """The fast rows a conversation at a time: every term is symmetric in the two
        ends, so a counter's verdict is its canonical key's, remembered."""
        memo, match = self._memo, self._match
        p, b = self.packets, self.bytes
        for key, lo_p, lo_b, hi_p, hi_b in zip(g.keys, g.lo_packets.tolist(),
                                               g.lo_bytes.tolist(), g.hi_packets.tolist(),
                                               g.hi_bytes.tolist()):
            hit = memo.get(key)
            if hit is None:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                hit = memo[key] = match((IPV6 if key[1] >= V6 else IPV4, *key))
            if hit:
                dp, db = lo_p + hi_p, lo_b + hi_b
                for i in hit:
                    p[i] += dp
                    b[i] += db

    def _count_records(self, records) -> None:
        """Record tuples: each distinct decoded tuple's verdict is remembered with a cell
        that adds up its packets and bytes over the batch, handed to its counters once at
        the end (a packet costs a lookup and two additions, however many counters)."""
        memo, match = self._cells, self._match
        touched = []
        for rec in records:
            dec = rec[3]  # a key as it is: a few TCP flag variants cost less than a slice
            cell = memo.get(dec)
            if cell is None:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                hit = match(dec)
                cell = memo[dec] = [hit, 0, 0] if hit else False
            if cell:
                if not cell[1]:
                    touched.append(cell)
                cell[1] += 1
                cell[2] += rec[2]
        p, b = self.packets, self.bytes
        for cell in touched:
            hit, dp, db = cell
            cell[1] = cell[2] = 0
            for i in hit:
                p[i] += dp
                b[i] += db

    # -- reading ------------------------------------------------------------------------

    def index(self, name: str) -> int | None:
        for i, spec in enumerate(self.specs):
            if spec.name == name:
                return i
        return None

    def row(self, i: int, now: float | None) -> CounterRow:
        spec, hist = self.specs[i], self._hist[i]
        r2, r10, r40 = rates(hist, now)
        q = self._quota(i, now)
        return CounterRow(spec.name, spec.expression, self.packets[i] - self._base_p[i],
                          self.bytes[i] - self._base_b[i], self.since[i], self.packets[i],
                          self.bytes[i], self.resets[i], r2, r10, r40,
                          packet_rate(hist, now), *((q.limit, q.period, q.used) if q else ()))

    def rows(self, now: float | None = None) -> list[CounterRow]:
        """Every counter, in the order configured; rates at ``now`` (default: the newest
        packet's time)."""
        now = self.now if now is None else now
        return [self.row(i, now) for i in range(len(self.specs))]

    def reset(self, names: list[str] | None = None, now: float | None = None) -> list[CounterRow]:
        """Read and zero the counters ``names`` (None: all) in one step: the rows returned
        hold what they counted up to now; they count from zero from here on, ``since``
        ``now`` (default: the newest packet's time). Unknown names are left out."""
        now = self.now if now is None else now
        chosen = range(len(self.specs)) if names is None else \
            [i for i in (self.index(n) for n in names) if i is not None]
        read = []
        for i in chosen:
            read.append(self.row(i, now))
            self._base_p[i], self._base_b[i] = self.packets[i], self.bytes[i]
            self.since[i] = now
            self.resets[i] += 1
        return read
