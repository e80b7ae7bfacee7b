"""The accounting engine: ``ingest()`` packet records, ``snapshot()`` plain tables.

Per packet the engine touches two things only: its interface's counters (direction
included, when the record knows it) and one :class:`Conversation` record, found under the conversation's *canonical* key (the lower
address first), so both directions share one record. Hosts, protocols and the
conversations' rate histories are derived from the records that changed, once per
:meth:`fold` (once a second, and before every snapshot), so their cost is per active
conversation, not per packet.

The conversation table is bounded: a conversation idle for longer than its timeout (on
the capture clock; TCP ones sooner once closed by RST or FIN both ways, as conntrack
does) leaves the table, and so do the longest idle ones when it holds more than
``max_flows``. What leaves had already been folded into the host, protocol and
interface totals, so those never lose a byte; :attr:`Engine.expired` counts them.

The hosts table is bounded too (``max_hosts``): when it holds more, the least recently
seen hosts that no conversation in the table refers to fold into one synthetic host,
:data:`OTHER_HOSTS` (its packets and bytes, sent and received, are theirs added up, so the
sum over hosts stays exact); :attr:`Engine.hosts_folded` counts them. A conversation's
hosts never leave while it is in the table.

The engine's parts: :mod:`tuimon.core.conversation` (the per-conversation record, hosts,
canonical keys, TCP flags), :mod:`tuimon.core.ifmeta` (per-interface metadata, the
counter slots, kernel fields), :mod:`tuimon.core.rows` (rows for snapshots, built by a
:class:`RowBuilder` handed the tables it reads), :mod:`tuimon.core.labels`
(application-protocol labels, an :class:`AppLabels` handed the tables it changes); this
module counts, folds and expires. Everything else reads the engine through its public
methods and properties, and imports each name from the module it lives in.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IN, IPV4, IPV6, NONIP, OUT, V6
from tuimon.core.conversation import (
    _GONE,
    _PORTS,
    Conversation,
    ConversationOn,
    ConversationsView,
    Host,
    canonical_key,
)
from tuimon.core.counters import Counters
from tuimon.core.flows import FlowAccounts
from tuimon.core.grouping import conversations
from tuimon.core.ifmeta import _COUNTERS, _IB, _IFIRST, _ILAST, _IP, _WAY, InterfaceMeta, reasons_text
from tuimon.core.labels import AppLabels
from tuimon.core.leaders import LOW, Leaders
from tuimon.core.model import (
    ConversationRow,
    HostRow,
    InterfaceRow,
    PortRow,
    ProtocolRow,
    SizeRow,
    Snapshot,
    StationRow,
    Totals,
)
from tuimon.core.names import OTHER_HOSTS, Names
from tuimon.core.pairs import PairRow, PairTable
from tuimon.core.ports import Ports
from tuimon.core.processes import ProcessRow, ProcessTable
from tuimon.core.rates import (MASK, bump, bump_packed, bump_total, bump_trail, rate2_packed,
                               trail_series)
from tuimon.core.rows import RowBuilder
from tuimon.core.sizes import Sizes
from tuimon.core.stations import Stations
from tuimon.core.watch import Watches

_first = itemgetter(0)
_NO_PAYLOAD = 0x02 | 0x04  # SYN, RST: not worth handing to the application dissector
_V4P, _V4B = 4 + 2 * IPV4, 5 + 2 * IPV4  # an interface's IPv4 packets and bytes

# Idle timeouts in seconds of capture time (see README, "Flow expiry").
TCP_TIMEOUT = 300.0
UDP_TIMEOUT = 180.0  # UDP and every other protocol
CLOSED_TIMEOUT = 10.0  # TCP after RST, or FIN in both directions
MAX_FLOWS = 1_000_000
MAX_HOSTS = 200_000
# A fold with :attr:`Engine.between` set hands over after this many conversations: at
# 150,000 packets/s of the benchmark capture a second's fold is about 40,000 of them,
# 0.2-0.4 s on this machine's busy cores, which a key press had to wait out. A part of
# 1,024 takes 2-4 ms of CPU (4,096: 10 ms, and 30 at the 90th percentile).
FOLD_STEP = 1024


def _add_counts(c: list, packets: int, nbytes: int, v4_packets: int, v4_bytes: int,
                first: float, last: float) -> None:
    """What :meth:`Engine.ingest` added up for one interface, into its counters."""
    c[0] += packets
    c[1] += nbytes
    c[_V4P] += v4_packets
    c[_V4B] += v4_bytes
    c[2], c[3] = first, last


def _last_seen(h: Host) -> float:
    return h.last


class Engine:
    def __init__(self, names: Names | None = None, flow_timeout: float | None = None,
                 max_flows: int | None = MAX_FLOWS, rates: bool = True,
                 max_hosts: int | None = MAX_HOSTS) -> None:
        """``flow_timeout``: idle seconds after which a conversation leaves the table (None:
        TCP 300, others 180; 0: never); TCP conversations closed by RST or FIN both ways
        leave after 10 s (or ``flow_timeout`` if lower). ``max_flows``: the most
        conversations kept (0 or None: no bound); beyond it the longest idle leave.
        ``rates=False``: no rate histories for hosts, protocols and conversations (their
        rates stay 0; interfaces keep theirs), for a headless export that shows none.
        ``max_hosts``: the most hosts kept (0 or None: no bound); beyond it the least
        recently seen ones without a conversation in the table fold into
        :data:`OTHER_HOSTS`."""
        self.names = names or Names()
        self.rates = rates
        self.now: float | None = None  # the capture clock: newest packet time, or advance()
        self._counters: list[list] = []
        self._meta: list[InterfaceMeta] = []
        self._table: dict[tuple, Conversation] = {}  # canonical key -> conversation
        self._portless: dict[tuple, Conversation] = {}  # TCP/UDP fragments: hosts only
        self._dirty: list[Conversation] = []
        self._gen = 0
        self.hosts: dict[int, Host] = {}
        self._nonip: dict[int, list] = {}  # ethertype -> [packets, bytes]
        self._transport: dict[int, list] = {}  # IP protocol -> [packets, bytes, hist]
        self._apps: dict[tuple, list] = {}  # (v6, IP protocol, app) -> [packets, bytes, hist]
        # Application dissection (see tuimon.server.labeler, which sets it up through
        # set_dissection(), take_dissect_queue(), count_waiting() and stop_dissection()):
        # the first ``_dissect_packets`` packets of each TCP/UDP conversation are collected
        # in ``_dissect_queue`` as ``(conv, iface, ts, wire_len, buf, start, end)``.
        # -1: the dissector is behind, new conversations are not dissected (they count in
        # ``app_skipped``).
        self._dissect_packets = 0
        self._dissect_queue: list = []
        # conversations whose packets are with the dissector: counted when asked, by the
        # labeller (see the app_waiting property)
        self._waiting_count: Callable[[], int] | None = None
        self._app_waiting = 0
        self.app_skipped = 0  # conversations never dissected (the dissector was behind)
        self._service_ports = {6: {}, 17: {}}
        for (port, transport), name in self.names.services.items():
            self._service_ports[6 if transport == "tcp" else 17][port] = name
        if flow_timeout is None:
            self.timeouts = (TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
        elif flow_timeout > 0:
            self.timeouts = (flow_timeout, flow_timeout, min(CLOSED_TIMEOUT, flow_timeout))
        else:
            self.timeouts = None  # never expire
        self.max_flows = max_flows or 0
        self._wheel: dict[int, list] = {}  # second -> conversations to look at then
        self.expired = 0  # conversations that left the table (idle, or over max_flows)
        # Conversations that left, still listed (the app's Conversations view marks them
        # expired), oldest first: kept while the table and they stay within max_flows, the
        # oldest dropped first past it. None: none kept (keep_left() turns it on).
        self._kept: deque | None = None
        self.left_dropped = 0  # conversations that left and are no longer kept (memory)
        # The listed conversations with the most bytes (core/leaders.py): the default view.
        self._leaders = Leaders()
        self.max_hosts = max_hosts or 0
        self.hosts_folded = 0  # hosts folded into the OTHER_HOSTS row (over max_hosts)
        # After a fold-in that found too few hosts without conversations: the hosts then
        # (plus a margin), and the conversations that had left by then. The next one waits
        # for more hosts or for more conversations to leave (no scan every second).
        self._hosts_floor = 0
        self._hosts_scanned = 0
        # Called with the hosts that fold into OTHER_HOSTS (their final counts), once folded.
        self.on_hosts_leave: Callable[[list], None] | None = None
        # Called with the conversations that leave the table, once folded (FlowLog).
        self.on_leave: Callable[[list], None] | None = None
        # The addresses of the hosts each fold added to, for a reader that empties it (the
        # history's minute: no walk of every host); None: not kept.
        self.touched: set[int] | None = None
        # The addresses of the hosts made since a reader last emptied it (the alerts'
        # new-host rule, tuimon.server.alerts); None: not kept.
        self.new_hosts: list[int] | None = None
        # Called at the end of every fold (the alerts, evaluated per fold); None: nothing.
        self.on_fold: Callable[[], None] | None = None
        # Called between the parts of a long fold (the app's driver answers a key's query
        # there); None: a fold goes through at once.
        self.between: Callable[[], None] | None = None
        self._folding = False
        self._rows = RowBuilder(self._counters, self._meta, self._transport, self._apps,
                                self._nonip, self.names)
        self._labels = AppLabels(self._apps, self.hosts, self.names.apps)
        # Named counters (tuimon.core.counters), fed every batch by ingest(); None: none.
        self.counters: Counters | None = None
        # Counters counted elsewhere shown beside them (the kernel's nfacct and nft counters,
        # tuimon.server.kernel_poll): a function returning their rows; None: none.
        self.extra_counters: Callable[[], list] | None = None
        self._flows: FlowAccounts | None = None  # the conntrack source's flows, if any
        # Per-second trails of the conversations whose History was opened (core.watch).
        self.watches = Watches()
        # The Stations, Sizes and Ports views' accounts, counted per batch in ingest() (the
        # conntrack source's flows add their ports themselves, tuimon.core.flows).
        self.stations = Stations()
        self.sizes = Sizes()
        self.ports = Ports()
        # MAC int -> manufacturer name for the station rows (tuimon.server.manuf); None: "".
        self.vendors: Callable[[int], str] | None = None
        # Called after each fold with the conversations that changed and what each counted
        # since the last fold, ``(conversation, A->B packets, A->B bytes, B->A packets,
        # B->A bytes)``, the fold's second and the clock: the pairs (core/pairs.py) and the
        # processes' attribution (server/processes.py). Empty: the list is not even made.
        self.fold_watchers: list[Callable[[list, int, float | None], None]] = []
        self._pairs: dict[bool, PairTable] = {}  # by ports or not: made when first asked for
        self.processes: ProcessTable | None = None  # the Processes view's (track_processes)

    @property
    def conversations(self) -> "ConversationsView":
        """The conversations in the table, oldest first (a live, read-only sequence)."""
        return ConversationsView(self._table)

    def keep_left(self) -> None:
        """Keep the conversations that leave the table listed in :attr:`left_conversations`
        (within ``max_flows`` with the table's): idle expiry bounds memory, it should not
        hide a recording's conversations."""
        if self._kept is None:
            self._kept = deque()

    @property
    def left_conversations(self) -> Sequence[Conversation]:
        """The conversations that left the table and are still kept, oldest first."""
        return self._kept if self._kept is not None else ()

    def leading(self, need: int) -> list[Conversation] | None:
        """The ``need`` listed conversations (the table's, then the kept ones) with the
        most bytes, largest first, ties in listed order: what a sort of the whole listing by
        bytes begins with, from :class:`~tuimon.core.leaders.Leaders` (no pass over the
        table, unless its members fell short: then one, and they start again from it)."""
        table, kept = self._table, self.left_conversations
        listed = len(table) + len(kept)
        need = min(need, listed)
        floor = self._leaders.floor
        fresh = [f for f in self._dirty  # counted since the last fold, and listed
                 if f.ab_b + f.ba_b >= floor and f.gen != _GONE and table.get(f.key) is f]

        def walk():
            return itertools.chain(table.values(), kept)

        top = self._leaders.top(need, fresh, walk)
        if top is None:  # one pass, which the members start again from
            top = self._leaders.reset(walk(), max(LOW, 2 * need))[:need]
        return top

    def _trim_kept(self) -> None:
        """Past ``max_flows`` (the table and the kept ones), the oldest kept go."""
        kept = self._kept
        if kept and self.max_flows:
            over = min(len(kept), len(kept) + len(self._table) - self.max_flows)
            if over > 0:
                dropped = [kept.popleft() for _ in range(over)]
                self._leaders.members.difference_update(dropped)
                self._leaders.left(dropped)  # no longer listed
                self.left_dropped += over

    def conversation(self, key: tuple) -> Conversation | None:
        """The conversation of a row key ``(proto, a, port a, b, port b)`` (A first, as rows
        show it), if it is in the table."""
        c = self._table.get(canonical_key(*key))
        if c is None or c.endpoints() != tuple(key):
            return None
        return c

    # -- interfaces ---------------------------------------------------------------

    def set_interface(self, index: int, name: str, link: str = "",
                      drops: int | None = None, skipped: int = 0,
                      skipped_reasons: dict[str, int] | None = None, direction: str = "") -> None:
        """Name an interface (records refer to it by index) and update what its source knows:
        drops, records skipped as damaged and (``skipped_reasons``) why, reason -> count,
        and where the direction of its frames comes from (``direction``)."""
        self._grow(index)
        meta = self._meta[index]
        meta.name, meta.link = name, link or meta.link
        meta.drops, meta.skipped = drops, skipped
        meta.reasons = reasons_text(skipped_reasons or {})
        meta.direction = direction or meta.direction

    # -- application dissection (the labeller's side) --------------------------------------

    @property
    def dissect_packets(self) -> int:
        """How many of a new TCP/UDP conversation's first packets go to the dissector
        (0: none; -1: none, the dissector is behind -- counted in ``app_skipped``)."""
        return self._dissect_packets

    def set_dissection(self, packets: int) -> None:
        """Set :attr:`dissect_packets` for the conversations that start from now on."""
        self._dissect_packets = packets

    @property
    def dissect_queued(self) -> int:
        """Packets queued for the dissector since :meth:`take_dissect_queue`."""
        return len(self._dissect_queue)

    def take_dissect_queue(self) -> list:
        """The packets queued for the dissector, ``(conv, iface, ts, wire_len, buf, start,
        end)`` each; the queue starts again empty."""
        queued, self._dissect_queue = self._dissect_queue, []
        return queued

    def stop_dissecting(self, conv: Conversation) -> None:
        """Hand no more of ``conv``'s packets to the dissector."""
        if conv.dis_left > 0:
            conv.dis_left = 0

    def stop_dissection(self) -> None:
        """No more dissection: new conversations get none, none of the table's hands over
        more packets, and what was queued is dropped (every conversation keeps its label or
        its port guess)."""
        self._dissect_packets = 0
        for conv in self._table.values():
            if conv.dis_left > 0:
                conv.dis_left = 0
        self._dissect_queue = []

    def count_waiting(self, count: Callable[[], int] | None) -> None:
        """How :attr:`app_waiting` is counted when asked (the labeller's count)."""
        self._waiting_count = count

    @property
    def app_waiting(self) -> int:
        """Conversations whose first packets are with the dissector, no verdict yet."""
        count = self._waiting_count
        return count() if count is not None else self._app_waiting

    @app_waiting.setter
    def app_waiting(self, n: int) -> None:  # a fixed number instead of the count
        self._waiting_count = None
        self._app_waiting = n

    def label(self, conv: Conversation, app: str | None, source: str) -> None:
        """Name ``conv``'s application protocol (``source``: "dissector" or "port"); what
        it counted so far moves to the new name (:class:`AppLabels`)."""
        self._labels.label(conv, app, source)

    def set_kernel(self, index: int, kernel: tuple | None) -> None:
        """The kernel's own counters of a live interface during the capture
        (a :class:`tuimon.capture.kernel.KernelRow`), or None."""
        self._grow(index)
        self._meta[index].kernel = kernel

    def _grow(self, index: int) -> None:
        while len(self._counters) <= index:
            counters = [0] * _COUNTERS
            counters[_IFIRST], counters[_ILAST] = math.inf, -math.inf
            self._counters.append(counters)
            self._meta.append(InterfaceMeta(f"if{len(self._meta)}", ""))

    # -- the hot path ---------------------------------------------------------------

    def ingest(self, records: Iterable[tuple]) -> None:
        """Count packet records ``(iface, ts, wire_len, decoded, way, buf, start, end)`` from a
        capture source: a list of them, or a batch of columns
        (:class:`~tuimon.capture.columns.PacketColumns`, counted a conversation at a time)."""
        groups = None
        if isinstance(records, PacketColumns):
            groups = self._count_columns(records)
        else:
            self._count(records)
        if self.counters is not None:
            self.counters.ingest(records, groups)
        self.stations.ingest(records, [m.link == "ether" for m in self._meta])
        self.sizes.ingest(records)
        self.ports.ingest(records)
        if self.max_flows and len(self._table) > self.max_flows + (self.max_flows >> 3):
            self.fold()  # a flood of new conversations: keep the bound between folds too

    def _count_columns(self, batch: PacketColumns):
        """:meth:`ingest` for a batch of columns: the fast rows' interface counters by
        numpy, their conversations once each (:func:`tuimon.core.grouping.conversations`),
        the slow rows by :meth:`_count`, in their place among the conversations' first
        packets (so a conversation is created by its first packet, as per packet).
        Returns the fast rows' groups (None: no fast row), for the named counters."""
        g = None
        cols = batch.cols
        fast = cols["fast"]
        slow_rows, slow = batch.slow_rows.tolist(), batch.slow_recs
        if fast.any():
            g = conversations(cols, batch.grouper)
            table, gen, new = self._table, self._gen, self._new
            dirty = self._dirty.append
            skip: set[int] = set()
            if slow:
                fast, slow_rows, slow, skip = self._demote(batch, g, slow_rows, slow)
            if fast.any():
                self._count_interfaces(cols, fast)
            si, ns = 0, len(slow)
            queued: list = []  # (row, item) for the dissector
            ifaces = cols["iface"]
            # one interface for the whole batch (most often): no numpy scalar per new one
            iface = int(ifaces[0]) if len(ifaces) and (ifaces == ifaces[0]).all() else None
            for (key, fwd, ts, lo_p, lo_b, hi_p, hi_b, lo_f, hi_f, last, row, gi) in zip(
                    g.keys, g.first_fwd, g.first_ts, g.lo_packets, g.lo_bytes, g.hi_packets,
                    g.hi_bytes, g.lo_flags, g.hi_flags, g.last, g.first_row, g.group):
                if skip and gi in skip:
                    continue
                if si < ns and slow_rows[si] < row:
                    j = bisect_left(slow_rows, row, si)
                    self._count_slow(slow[si:j], slow_rows[si:j], queued)
                    si = j
                f = table.get(key)
                if f is None:
                    f = new(key, fwd, ts, int(ifaces[row]) if iface is None else iface)
                if f.fwd:
                    f.ab_p += lo_p
                    f.ab_b += lo_b
                    f.ba_p += hi_p
                    f.ba_b += hi_b
                    f.flags_ab |= lo_f
                    f.flags_ba |= hi_f
                else:
                    f.ab_p += hi_p
                    f.ab_b += hi_b
                    f.ba_p += lo_p
                    f.ba_b += lo_b
                    f.flags_ab |= hi_f
                    f.flags_ba |= lo_f
                if last > f.last:
                    f.last = last
                if f.gen != gen:
                    f.gen = gen
                    dirty(f)
                if f.dis_left > 0:  # some of its first packets: for the dissector
                    self._to_dissect(f, batch, g.rows[g.at[gi]:g.at[gi + 1]], queued)
            if si < ns:
                self._count_slow(slow[si:], slow_rows[si:], queued)
            if queued:
                queued.sort(key=_first)
                self._dissect_queue.extend(item for _, item in queued)
        elif slow:
            self._count(slow)
        return g

    def _demote(self, batch: PacketColumns, g, slow_rows: list[int], slow: list):
        """The conversations with both fast and slow rows in this batch (a VLAN tag on some
        of their packets, IPv4 options...) that are new or still being dissected: their
        fast rows join the slow ones, so they are created by their first packet and hand
        the dissector their first packets in order, as per packet. Returns the fast mask,
        the slow rows and records, and the groups to skip."""
        table = self._table
        keys = set()
        for rec in slow:
            dec = rec[3]
            if dec[0] > NONIP:
                _, proto, src, dst, sport, dport, _ = dec
                if src < dst or (src == dst and (sport is None or sport <= dport)):
                    keys.add((proto, src, dst, sport, dport))
                else:
                    keys.add((proto, dst, src, dport, sport))
        skip = set()
        for key, gi in zip(g.keys, g.group):
            if key in keys:
                f = table.get(key)
                if f is None or f.dis_left > 0:
                    skip.add(gi)
        if not skip:
            return batch.cols["fast"], slow_rows, slow, skip
        moved = np.concatenate([g.rows[g.at[gi]:g.at[gi + 1]] for gi in skip]).tolist()
        fast = batch.cols["fast"].copy()
        fast[moved] = False
        merged = sorted([*zip(slow_rows, slow), *((r, batch[r]) for r in moved)], key=_first)
        return fast, [r for r, _ in merged], [rec for _, rec in merged], skip

    def _count_slow(self, records: list, rows: list[int], queued: list) -> None:
        """Count slow rows; what they hand the dissector joins ``queued`` with its row, so
        the batch's packets reach the dissector in their order."""
        q = self._dissect_queue
        before = len(q)
        self._count(records)
        if len(q) > before:
            row_of = {(id(r[5]), r[6]): row for r, row in zip(records, rows)}
            queued.extend((row_of[id(item[4]), item[5]], item) for item in q[before:])
            del q[before:]

    def _count_interfaces(self, cols: dict, fast) -> None:
        """The fast rows' share of their interfaces' counters (IPv4 and IPv6 rows)."""
        iface = cols["iface"][fast]
        wlen, ts, way = cols["wlen"][fast], cols["ts"][fast], cols["way"][fast]
        kind = cols["kind"][fast]
        first_if = int(iface[0])
        for i in ([first_if] if (iface == first_if).all() else np.unique(iface).tolist()):
            sel = None if (iface == i).all() else iface == i
            w = wlen if sel is None else wlen[sel]
            t = ts if sel is None else ts[sel]
            d = way if sel is None else way[sel]
            k = kind if sel is None else kind[sel]
            self._grow(i)
            c = self._counters[i]
            c[0] += len(w)
            c[1] += int(w.sum())
            c[2] = min(c[2], float(t.min()))
            c[3] = max(c[3], float(t.max()))
            for family in (IPV4, IPV6):
                on = k == family
                n = int(on.sum())
                if n:
                    c[4 + 2 * family] += n
                    c[5 + 2 * family] += int(w[on].sum())
            for direction in (IN, OUT):
                on = d == direction
                if on.any():
                    c[_WAY + 2 * direction] += int(on.sum())
                    c[_WAY + 1 + 2 * direction] += int(w[on].sum())
        newest = max(cc[3] for cc in self._counters)
        if self.now is None or newest > self.now:
            self.now = newest

    def _to_dissect(self, f: Conversation, batch: PacketColumns, rows, queued: list) -> None:
        """The first of ``f``'s packets in this batch that its dissection still wants (as
        :meth:`_count` hands them, one by one)."""
        cols, buf = batch.cols, batch.buf
        for r in rows[:f.dis_left].tolist():
            f.dis_left -= 1
            if not cols["flags"][r] & _NO_PAYLOAD:
                queued.append((r, (f, int(cols["iface"][r]), float(cols["ts"][r]),
                                   int(cols["wlen"][r]), buf, int(cols["start"][r]),
                                   int(cols["end"][r]))))

    def _count(self, records: Iterable[tuple]) -> None:
        """:meth:`ingest` for record tuples, one by one."""
        table, dirty, gen, counters = self._table, self._dirty, self._gen, self._counters
        new = self._new
        to_dissect = self._dissect_queue.append  # the labeller takes the list between batches
        newest = self.now if self.now is not None else -math.inf
        # The interface's packets, bytes, IPv4 packets and bytes, first and last time add up
        # in local variables, written back to its counters when the interface changes (a
        # batch mostly comes from one) and at the end.
        last_if, c = -1, None
        n_p = n_b = n4_p = n4_b = 0
        first = last = 0.0
        for ifidx, ts, wlen, dec, way, buf, start, end in records:
            if ifidx != last_if:
                if c is not None:
                    _add_counts(c, n_p, n_b, n4_p, n4_b, first, last)
                    n_p = n_b = n4_p = n4_b = 0
                try:
                    c = counters[ifidx]
                except IndexError:
                    self._grow(ifidx)
                    c = counters[ifidx]
                first, last = c[2], c[3]
                last_if = ifidx
            n_p += 1
            n_b += wlen
            if way:
                c[_WAY + 2 * way] += 1
                c[_WAY + 1 + 2 * way] += wlen
            if ts > last:
                last = ts
            if ts < first:
                first = ts
            kind = dec[0]
            if kind == IPV4:
                n4_p += 1
                n4_b += wlen
            else:
                c[4 + 2 * kind] += 1
                c[5 + 2 * kind] += wlen
            if kind > NONIP:
                _, proto, src, dst, sport, dport, flags = dec
                if src < dst or (src == dst and (sport is None or sport <= dport)):
                    key = (proto, src, dst, sport, dport)
                    fwd = True
                else:
                    key = (proto, dst, src, dport, sport)
                    fwd = False
                f = table.get(key)
                if f is None:
                    f = new(key, fwd, ts, ifidx)
                if fwd is f.fwd:
                    f.ab_p += 1
                    f.ab_b += wlen
                    if flags:
                        f.flags_ab |= flags
                else:
                    f.ba_p += 1
                    f.ba_b += wlen
                    if flags:
                        f.flags_ba |= flags
                if ts > f.last:
                    f.last = ts
                if f.gen != gen:
                    f.gen = gen
                    dirty.append(f)
                if f.dis_left > 0:  # one of its first packets: for the dissector
                    f.dis_left -= 1
                    if not flags & _NO_PAYLOAD:  # SYN, RST: no application data
                        to_dissect((f, ifidx, ts, wlen, buf, start, end))
            elif kind == NONIP:
                n = self._nonip.get(dec[1])
                if n is None:
                    n = self._nonip[dec[1]] = [0, 0, []]
                n[0] += 1
                n[1] += wlen
        if c is not None:
            _add_counts(c, n_p, n_b, n4_p, n4_b, first, last)
            newest = max(newest, max(cc[3] for cc in counters))
        if newest > -math.inf:
            self.now = newest

    # -- flows counted by the kernel (the conntrack source, tuimon.core.flows) -------------

    def ingest_flows(self, flows: Iterable[tuple]) -> None:
        """Count :class:`~tuimon.core.flows.FlowRecord` tuples of the kernel's connection
        tracking instead of packets (:class:`~tuimon.core.flows.FlowAccounts`)."""
        if self._flows is None:
            self._flows = FlowAccounts(self)
        self._flows.ingest(flows)

    def nat_of(self, conv: Conversation) -> tuple | None:
        """The reply tuple of a NATed flow's conversation (conntrack source), else None."""
        return self._flows.nat_of(conv) if self._flows is not None else None

    def nat_text(self, conv: Conversation) -> str:
        """:meth:`nat_of` as text (``"B' > A'"``), "" when not NATed."""
        return self._flows.nat_text(conv) if self._flows is not None else ""

    def conversation_for(self, key: tuple, fwd: bool, ts: float) -> Conversation:
        """The conversation filed under canonical ``key``, made (A first when ``fwd``) if
        it is not in the table."""
        return self._table.get(key) or self._new(key, fwd, ts)

    def touch_conversation(self, conv: Conversation) -> None:
        """``conv``'s counters were changed outside :meth:`ingest`: fold it next time."""
        if conv.gen != self._gen:
            conv.gen = self._gen
            self._dirty.append(conv)

    def count_interface(self, index: int, packets: int, nbytes: int, kind: int,
                        ts: float) -> None:
        """Add ``packets``/``nbytes`` of IP ``kind`` seen at ``ts`` to interface ``index``."""
        self._grow(index)
        c = self._counters[index]
        c[_IP] += packets
        c[_IB] += nbytes
        c[4 + 2 * kind] += packets
        c[5 + 2 * kind] += nbytes
        if ts < c[_IFIRST]:
            c[_IFIRST] = ts
        if ts > c[_ILAST]:
            c[_ILAST] = ts

    def remove_conversations(self, convs: list) -> None:
        """``convs`` (already folded) leave the table now, as expired ones do."""
        table, left = self._table, []
        for f in convs:
            if f.gen != _GONE and table.get(f.key) is f:
                del table[f.key]
                f.gen = _GONE
                left.append(f)
        self._left(left)

    def _new(self, key: tuple, fwd: bool, ts: float, iface: int = 0) -> Conversation:
        """A new conversation (or a port-less TCP/UDP fragment's record) for ``key``, first
        seen on interface ``iface``; its addresses and ports are the host's and the shared
        int objects (memory)."""
        proto, lo, hi, plo, phi = key
        hosts = self.hosts
        h = hosts.get(lo)
        if h is None:
            h = hosts[lo] = Host(lo, ts)
            if self.new_hosts is not None:
                self.new_hosts.append(lo)
        lo = h.addr
        h = hosts.get(hi)
        if h is None:
            h = hosts[hi] = Host(hi, ts)
            if self.new_hosts is not None:
                self.new_hosts.append(hi)
        hi = h.addr
        if plo is None:
            if proto == 6 or proto == 17:  # a fragment without ports: hosts and protocols only
                f = self._portless.get(key)
                if f is None:
                    key = (proto, lo, hi, None, None)
                    f = self._portless[key] = (
                        ConversationOn(key, fwd, ts, None, 0, iface) if iface
                        else Conversation(key, fwd, ts, None))
                return f
            service = None
        else:
            if plo < 65536 and phi < 65536:
                plo, phi = _PORTS[plo], _PORTS[phi]
            ports = self._service_ports.get(proto)
            service = None
            if ports:  # the lower port's service, else the higher one's
                if plo <= phi:
                    service = ports.get(plo) or ports.get(phi)
                else:
                    service = ports.get(phi) or ports.get(plo)
        key = (proto, lo, hi, plo, phi)
        dissect = self._dissect_packets
        if dissect < 0:  # the dissector is too far behind: a port guess only
            self.app_skipped += 1
        f = self._table[key] = (ConversationOn(key, fwd, ts, service, dissect, iface) if iface
                                else Conversation(key, fwd, ts, service, dissect))
        return f

    # -- folding records into hosts, protocols, rates; expiry ------------------------

    def advance(self, now: float) -> None:
        """Move the clock on without packets (live capture on a quiet link)."""
        if self.now is None or now > self.now:
            self.now = now

    def fold(self) -> None:
        """Apply what the conversations counted since the last fold to the derived tables,
        then let the conversations that are due leave the table. With :attr:`between`
        set, it is called after every :data:`FOLD_STEP` conversations folded (a fold
        called meanwhile, by a query, does nothing)."""
        if self._folding:
            return
        self._folding = True
        try:
            self._fold()
        finally:
            self._folding = False

    def _fold(self) -> None:
        sec = int(self.now) if self.now is not None else 0
        hosts, transport, apps = self.hosts, self._transport, self._apps
        timeouts, wheel = self.timeouts, self._wheel
        if timeouts is not None:
            tcp_timeout, other_timeout, closed_timeout = timeouts
        with_rates = self.rates
        watchers = self.fold_watchers
        changes = [] if watchers else None
        change = changes.append if changes is not None else None
        leaders = self._leaders
        lead_floor, lead_add = leaders.floor, leaders.members.add
        dirty, between = self._dirty, self.between
        if between is None or len(dirty) <= FOLD_STEP:
            chunks = (dirty,)
            between = None  # (a short fold: in one go)
        else:  # a part at a time, the requests looked at between (a key waits less)
            chunks = (dirty[i:i + FOLD_STEP] for i in range(0, len(dirty), FOLD_STEP))
        for n, chunk in enumerate(chunks):
            if n:
                between()
            # (IPv4 or IPv6, IP protocol) -> (its transport entry, app -> its application
            # entry): the two tables' entries looked up once a chunk, under an int (the
            # protocol, its complement ~proto for IPv6: never equal), not a tuple made and
            # hashed per conversation. Made again every chunk: between() may label a
            # conversation, which can remove an application entry.
            entries: dict[int, tuple] = {}
            for f in chunk:
                ab_p, ab_b, ba_p, ba_b = f.ab_p, f.ab_b, f.ba_p, f.ba_b
                m_ab_p, m_ba_p = f.m_ab_p, f.m_ba_p
                dap, dab = ab_p - m_ab_p, ab_b - f.m_ab_b
                dbp, dbb = ba_p - m_ba_p, ba_b - f.m_ba_b
                if change is not None:
                    change((f, dap, dab, dbp, dbb))
                f.m_ab_p, f.m_ab_b, f.m_ba_p, f.m_ba_b = ab_p, ab_b, ba_p, ba_b
                dp, db = dap + dbp, dab + dbb
                first, last = f.first, f.last
                key = f.key
                proto, lo = key[0], key[1]
                app = f.app
                if f.fwd:
                    ha, hb = hosts[lo], hosts[key[2]]
                else:
                    ha, hb = hosts[key[2]], hosts[lo]
                if app:
                    happs = ha.apps
                    if happs is None:
                        ha.apps = {app: db}
                    else:
                        happs[app] = happs.get(app, 0) + db
                    if hb is not ha:
                        happs = hb.apps
                        if happs is None:
                            hb.apps = {app: db}
                        else:
                            happs[app] = happs.get(app, 0) + db
                ha.packets += dp
                ha.bytes += db
                ha.tx_p += dap
                ha.tx_b += dab
                ha.rx_p += dbp
                ha.rx_b += dbb
                if first < ha.first:
                    ha.first = first
                if last > ha.last:
                    ha.last = last
                if with_rates:
                    hist = ha.hist = bump_packed(ha.hist, sec, db)
                    # the 2 s rate for the peak: a one-second history is this second's bytes
                    r = (hist & MASK) / 2 if hist.__class__ is int else rate2_packed(hist, sec)
                    if r > ha.peak:
                        ha.peak = r
                if hb is not ha:
                    hb.packets += dp
                    hb.bytes += db
                    hb.tx_p += dbp
                    hb.tx_b += dbb
                    hb.rx_p += dap
                    hb.rx_b += dab
                    if first < hb.first:
                        hb.first = first
                    if last > hb.last:
                        hb.last = last
                    if with_rates:
                        hist = hb.hist = bump_packed(hb.hist, sec, db)
                        r = (hist & MASK) / 2 if hist.__class__ is int else rate2_packed(hist, sec)
                        if r > hb.peak:
                            hb.peak = r
                else:  # talking to itself: every packet is sent and received by it
                    ha.tx_p += dbp
                    ha.tx_b += dbb
                    ha.rx_p += dap
                    ha.rx_b += dab
                if ab_b + ba_b >= lead_floor and (
                        key[3] is not None or (proto != 6 and proto != 17)):
                    lead_add(f)  # (a port-less TCP/UDP fragment's record is not listed)
                kind = ~proto if lo >= V6 else proto
                entry = entries.get(kind)
                if entry is None:
                    t = transport.get((lo >= V6, proto))
                    if t is None:
                        t = transport[(lo >= V6, proto)] = [0, 0, []]
                    entry = entries[kind] = (t, {})
                t = entry[0]
                t[0] += dp
                t[1] += db
                if with_rates:
                    bump(t[2], sec, db)
                    f.hist = bump_total(f.hist, sec, db, ab_b + ba_b - db)
                if app:
                    s = entry[1].get(app)
                    if s is None:
                        s = apps.get((lo >= V6, proto, app))
                        if s is None:
                            s = apps[(lo >= V6, proto, app)] = [0, 0, []]
                        entry[1][app] = s
                    s[0] += dp
                    s[1] += db
                    if with_rates:
                        bump(s[2], sec, db)
                if timeouts is not None:
                    if m_ab_p == 0 and m_ba_p == 0:  # new: its first fold
                        due = int(last + (tcp_timeout if proto == 6 else other_timeout)) + 1
                        slot = wheel.get(due)
                        if slot is None:
                            wheel[due] = [f]
                        else:
                            slot.append(f)
                    if proto == 6 and (f.flags_ab | f.flags_ba) & 5 and f.closed:
                        due = int(last + closed_timeout) + 1
                        slot = wheel.get(due)
                        if slot is None:
                            wheel[due] = [f]
                        else:
                            slot.append(f)
        touched = self.touched
        if touched is not None:
            for f in self._dirty:
                key = f.key
                touched.add(key[1])
                touched.add(key[2])
        self._dirty.clear()
        self._gen += 1
        leaders.prune()
        if self.watches:
            self.watches.fold(self.conversation, sec)
        if changes is not None:
            for watch in watchers:
                if between is not None:  # each view's fold (the pairs' 10-15 ms) a part
                    between()
                watch(changes, sec, self.now)
        for c, meta in zip(self._counters, self._meta):
            if c[_IB] != meta.folded_b:
                if with_rates:
                    in_b, out_b = c[_WAY + 1 + 2 * IN], c[_WAY + 1 + 2 * OUT]
                    bump_trail(meta.trail, sec, c[_IB] - meta.folded_b,
                               in_b - meta.folded_in, out_b - meta.folded_out)
                    meta.folded_in, meta.folded_out = in_b, out_b
                bump(meta.hist, sec, c[_IB] - meta.folded_b, c[_IP] - meta.folded_p)
                meta.folded_b, meta.folded_p = c[_IB], c[_IP]
                if with_rates:
                    r = sum(e[1] for e in meta.hist if sec - e[0] < 2) / 2  # the 2 s rate
                    if r > meta.peak:
                        meta.peak = r
        if timeouts is not None and wheel and self.now is not None:
            self._expire(self.now)
        if self.max_flows:
            for table in (self._table, self._portless):
                if len(table) > self.max_flows:
                    self._evict(table, len(table) - self.max_flows)
        if self._kept:
            self._trim_kept()  # the table grew
        if self.max_hosts:
            real = len(self.hosts) - (OTHER_HOSTS in self.hosts)
            if real > self.max_hosts and (real > self._hosts_floor or self.expired
                                          - self._hosts_scanned >= max(1, self.max_hosts >> 4)):
                self._fold_hosts()
        if self.on_fold is not None:
            self.on_fold()

    def _timeout(self, f: Conversation) -> float:
        tcp, other, closed = self.timeouts
        if f.key[0] != 6:
            return other
        return closed if f.closed else tcp

    def _expire(self, now: float) -> None:
        """Conversations whose deadline passed leave; the others are looked at again at
        their new deadline (each conversation waits in the wheel once, so the wheel's
        size follows the table's)."""
        wheel = self._wheel
        left = []
        for due in sorted(s for s in wheel if s <= now):
            for f in wheel.pop(due):
                key = f.key
                table = self._portless if key[3] is None and key[0] in (6, 17) else self._table
                if f.gen == _GONE or table.get(key) is not f:
                    continue  # already gone (or scheduled twice)
                deadline = f.last + self._timeout(f)
                if deadline <= now:
                    del table[key]
                    f.gen = _GONE
                    if table is self._table:
                        left.append(f)
                else:
                    wheel.setdefault(int(deadline) + 1, []).append(f)
        self._left(left)

    def _left(self, conversations: list) -> None:
        """Conversations (already folded) that just left the table."""
        if conversations:
            self.expired += len(conversations)
            self._leaders.left(conversations)  # from the table to the kept, or gone
            if self._kept is None:  # no longer listed (kept: still listed, still leaders)
                self._leaders.members.difference_update(conversations)
            if self._kept is not None:
                self._kept.extend(conversations)
                self._trim_kept()
            if self.on_leave is not None:
                self.on_leave(conversations)

    def _evict(self, table: dict, count: int) -> None:
        """Over the bound: the ``count`` (and a little more, so this runs seldom) longest
        idle leave."""
        count = min(len(table), count + (self.max_flows >> 4))
        lasts = sorted(f.last for f in table.values())
        cutoff = lasts[count - 1]
        gone = [key for key, f in table.items() if f.last <= cutoff][:count]
        left = [table.pop(key) for key in gone]
        for f in left:
            f.gen = _GONE
        for due, waiting in self._wheel.items():  # let the wheel forget them now
            self._wheel[due] = [f for f in waiting if f.gen != _GONE]
        if table is self._table:
            self._left(left)

    def _fold_hosts(self) -> None:
        """Over the hosts bound: the least recently seen hosts that no conversation in the
        table (or the port-less fragments' table) refers to -- as many as are over the
        bound, and a little more, so this runs seldom -- fold into :data:`OTHER_HOSTS`.
        When too few have no conversation, what is left is the floor the next check starts
        from (no scan of the table every second)."""
        hosts = self.hosts
        other = hosts.get(OTHER_HOSTS)
        real = len(hosts) - (other is not None)
        count = real - self.max_hosts + (self.max_hosts >> 4)
        used = set()
        for table in (self._table, self._portless):
            for key in table:
                used.add(key[1])
                used.add(key[2])
        free = [h for addr, h in hosts.items() if addr not in used and addr != OTHER_HOSTS]
        if len(free) > count:
            free.sort(key=_last_seen)
            free = free[:count]
        if free:
            if other is None:
                other = hosts[OTHER_HOSTS] = Host(OTHER_HOSTS, math.inf)
                other.last = -math.inf
            for h in free:
                del hosts[h.addr]
                other.packets += h.packets
                other.bytes += h.bytes
                other.tx_p += h.tx_p
                other.tx_b += h.tx_b
                other.rx_p += h.rx_p
                other.rx_b += h.rx_b
                if h.first < other.first:
                    other.first = h.first
                if h.last > other.last:
                    other.last = h.last
                if h.apps:
                    if other.apps is None:
                        other.apps = {}
                    for app, nbytes in h.apps.items():
                        other.apps[app] = other.apps.get(app, 0) + nbytes
            self.hosts_folded += len(free)
            if self.on_hosts_leave is not None:
                self.on_hosts_leave(free)
        self._hosts_floor = len(hosts) - (OTHER_HOSTS in hosts) + (self.max_hosts >> 4)
        self._hosts_scanned = self.expired

    # -- reading ---------------------------------------------------------------------

    def interface_rows(self) -> list[InterfaceRow]:
        return self._rows.interface_rows(self.now, self.rates)

    def interface_trails(self, seconds: int) -> dict[str, tuple[list, list, list, bool]]:
        """Each interface's last ``seconds`` seconds of capture time, ending now: bytes per
        second all, in and out (oldest first), and whether its direction is known."""
        trails = {}
        for c, meta in zip(self._counters, self._meta):
            known = bool(meta.direction) or bool(c[_WAY + 2 * IN] or c[_WAY + 2 * OUT])
            trails[meta.name] = (*trail_series(meta.trail, self.now, seconds), known)
        return trails

    def host_rows(self, hosts: Iterable[Host] | None = None,
                  with_rates: bool = True) -> list[HostRow]:
        """Rows of ``hosts`` (None: every one); ``with_rates=False``: rates left at 0 (their
        peaks are kept all the same, when the engine keeps rates)."""
        return self._rows.host_rows(self.hosts.values() if hosts is None else hosts,
                                    self.now if with_rates else None, self.rates)

    def protocol_rows(self) -> list[ProtocolRow]:
        """The protocol hierarchy (:meth:`RowBuilder.protocol_rows`), with the VLAN tags of
        Ethernet links under the ``ether`` row: ``vlan`` (the tagged frames) and a ``vlan
        ID`` row per id (a double-tagged frame under both), link layer, no rates."""
        rows = self._rows.protocol_rows(self.now)
        tagged_p, tagged_b = self.stations.tagged
        if tagged_p:
            total = sum(c[1] for c in self._counters) or 1
            rows.append(ProtocolRow("vlan", tagged_p, tagged_b, "link", path="ether/vlan",
                                    depth=1, share=100.0 * tagged_b / total))
            for vid, (p, b) in sorted(self.stations.vlan_frames.items()):
                rows.append(ProtocolRow(f"vlan {vid}", p, b, "link",
                                        path=f"ether/vlan/vlan {vid}", depth=2,
                                        share=100.0 * b / total))
        return rows

    def conversation_rows(self, convs: Iterable[Conversation] | None = None,
                          with_rates: bool = True) -> list[ConversationRow]:
        """Rows of ``convs`` (None: every one in the table), in their order."""
        return self._rows.conversation_rows(self._table.values() if convs is None else convs,
                                            self.now, with_rates,
                                            self._flows.nat_text if self._flows else None)

    def station_rows(self) -> list[StationRow]:
        """The Stations view: every MAC address of the Ethernet interfaces."""
        return self.stations.rows(self.vendors)

    def size_rows(self) -> list[SizeRow]:
        """The Sizes view: every interface's frame-length buckets."""
        return self.sizes.rows([m.name for m in self._meta])

    def port_rows(self) -> list[PortRow]:
        """The Ports view: TCP and UDP ports."""
        return self.ports.rows(self.names.services)

    def totals(self) -> Totals:
        return self._rows.totals(self.now, len(self.hosts) - (OTHER_HOSTS in self.hosts),
                                 len(self._table), self.expired, self.app_waiting,
                                 self.app_skipped, self.hosts_folded,
                                 len(self._kept) if self._kept is not None else 0)

    def snapshot(self, with_rates: bool = True, conversations=None) -> Snapshot:
        """Every table (``with_rates=False``: host and conversation rates left at 0, for
        exports that do not show them: a million rows are built faster). ``conversations``:
        rows for just these (in this order) instead of every one."""
        self.fold()
        now = self.now
        return Snapshot(now, self.totals(), self.interface_rows(), self.host_rows(None, with_rates),
                        self.protocol_rows(), self.conversation_rows(conversations, with_rates),
                        self.counter_rows(now), self.station_rows(), self.size_rows(),
                        self.port_rows(), self.pair_rows() if False in self._pairs else [],
                        self.process_rows())

    def pairs(self, ports: bool = False) -> PairTable:
        """The host pairs (``ports``: per protocol and ports too), kept from now on: made
        on the first call from the conversations in the table (their counts so far), then
        folded with every fold. A pair leaves once idle as long as the longest idle
        timeout (never when conversations never expire)."""
        table = self._pairs.get(ports)
        if table is None:
            idle = max(self.timeouts[:2]) if self.timeouts is not None else None
            table = self._pairs[ports] = PairTable(ports, self.rates, idle)
            table.seed(self._table.values(), self.now)
            self.fold_watchers.append(table.fold)
        return table

    def pair_rows(self, pairs: Iterable | None = None, ports: bool = False) -> list[PairRow]:
        """Rows of ``pairs`` (None: every pair of that granularity)."""
        return self.pairs(ports).rows(pairs, self.now, self.names.ip_protocol)

    def track_processes(self, table: ProcessTable) -> None:
        """Attribute every fold's changes to local processes from now on (the Processes
        view, processes.csv); the socket table is the server's to keep current."""
        self.processes = table
        self.fold_watchers.append(table.fold)

    def process_rows(self) -> list[ProcessRow]:
        return self.processes.rows(self.now) if self.processes is not None else []

    def counter_rows(self, now: float | None = None) -> list:
        """The named counters' rows, then those of :attr:`extra_counters`."""
        own = self.counters.rows(now) if self.counters is not None else []
        return own + (self.extra_counters() if self.extra_counters is not None else [])
