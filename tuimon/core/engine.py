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
canonical keys, TCP flags), :mod:`tuimon.core.store` and :mod:`tuimon.core.hosts` (the
conversations and the hosts as columns), :mod:`tuimon.core.ifmeta` (per-interface metadata, the
counter slots, kernel fields), :mod:`tuimon.core.rows` (rows for snapshots, built by a
:class:`RowBuilder` handed the tables it reads), :mod:`tuimon.core.labels`
(application-protocol labels, an :class:`AppLabels` handed the tables it changes); this
module counts, folds and expires. Everything else reads the engine through its public
methods and properties, and imports each name from the module it lives in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import repeat
from operator import itemgetter

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IN, IPV4, IPV6, NONIP, OUT, V6
from tuimon.core.changes import Changes
from tuimon.core.conversation import _GONE, Conversation, Host, canonical_key
from tuimon.core.counters import Counters
from tuimon.core.flows import FlowAccounts
from tuimon.core.grouping import Groups, conversations
from tuimon.core.hosts import HostsView, HostTable
from tuimon.core.ifmeta import _COUNTERS, _IB, _IFIRST, _ILAST, _IP, _WAY, InterfaceMeta, reasons_text
from tuimon.core.labels import AppLabels
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
from tuimon.core.names import OTHER_HOSTS, Names, port_app
from tuimon.core.pairs import PairRow, PairTable
from tuimon.core.ports import Ports
from tuimon.core.processes import ProcessRow, ProcessTable
from tuimon.core.rates import (_LONGEST, SHIFT, WINDOWS, bump, bump_packed,
                               bump_total, bump_trail, rates_packed,
                               trail_series)
from tuimon.core.rows import RowBuilder, table_rows
from tuimon.core.sizes import Sizes
from tuimon.core.slotindex import DictIndex, slot_index
from tuimon.core.store import (FREE, LEFT, LIVE, ConversationColumns, ConversationStore, Handles,
                                SlotsView, key_tuples, key_words, kept)
from tuimon.core.stations import Stations
from tuimon.core.watch import Watches

_first = itemgetter(0)
_NO_PAYLOAD = 0x02 | 0x04  # SYN, RST: not worth handing to the application dissector
_FIN, _RST = 0x01, 0x04
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


def _row_hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of key words (equal rows, equal hashes)."""
    h = np.zeros(len(words), np.uint64)
    for j in range(words.shape[1]):
        h = (h ^ words[:, j]) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
    return h


def _sums(keys: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[tuple[int, int, int]]:
    """``(key, sum of a, sum of b)`` per distinct key, in the order each key first comes."""
    if not len(keys):
        return []
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    sa = np.bincount(inv, weights=a, minlength=len(uniq))
    sb = np.bincount(inv, weights=b, minlength=len(uniq))
    o = np.argsort(first)
    return list(zip(uniq[o].tolist(), sa[o].astype(np.int64).tolist(),
                    sb[o].astype(np.int64).tolist()))


class Engine:
    def __init__(self, names: Names | None = None, flow_timeout: float | None = None,
                 max_flows: int | None = MAX_FLOWS, rates: bool = True,
                 max_hosts: int | None = MAX_HOSTS, index=None) -> None:
        """``flow_timeout``: idle seconds after which a conversation leaves the table (None:
        TCP 300, others 180; 0: never); TCP conversations closed by RST or FIN both ways
        leave after 10 s (or ``flow_timeout`` if lower). ``max_flows``: the most
        conversations kept (0 or None: no bound); beyond it the longest idle leave.
        ``rates=False``: no rate histories for hosts, protocols and conversations (their
        rates stay 0; interfaces keep theirs), for a headless export that shows none.
        ``max_hosts``: the most hosts kept (0 or None: no bound); beyond it the least
        recently seen ones without a conversation in the table fold into
        :data:`OTHER_HOSTS`. ``index``: the conversations' key index
        (:mod:`tuimon.core.slotindex`; None: a dict, until a batch's compiled stage
        hands a compiled one)."""
        self.names = names or Names()
        self.rates = rates
        self.now: float | None = None  # the capture clock: newest packet time, or advance()
        self._counters: list[list] = []
        self._meta: list[InterfaceMeta] = []
        # The conversations, and the TCP/UDP fragments' port-less records (hosts and
        # protocols only, not listed), as columns (tuimon.core.store).
        self._store = ConversationStore(index)
        # The hosts as columns (tuimon.core.hosts), and as a mapping address -> host object
        self._hosts = HostTable(self._store.names, self._store.name_id)
        self.hosts = HostsView(self._hosts)
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
        # a TCP or UDP port -> the id of its service name in the store (0: none)
        self._service_ids = {6: np.zeros(65536, np.int32), 17: np.zeros(65536, np.int32)}
        for (port, transport), name in self.names.services.items():
            if 0 <= port < 65536:
                self._service_ids[6 if transport == "tcp" else 17][port] = \
                    self._store.name_id(name)
        self._app_of: dict[int, int] = {}  # service id << 8 | proto -> app id (port_app)
        if flow_timeout is None:
            self.timeouts = (TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
        elif flow_timeout > 0:
            self.timeouts = (flow_timeout, flow_timeout, min(CLOSED_TIMEOUT, flow_timeout))
        else:
            self.timeouts = None  # never expire
        self.max_flows = max_flows or 0
        # second -> [(slots, the store's serial then)] to look at then (see _wheel_add)
        self._wheel: dict[int, list] = {}
        self.expired = 0  # conversations that left the table (idle, or over max_flows)
        # Conversations that left stay listed (the app's Conversations view marks them
        # expired), LEFT in the store: kept while the table and they stay within max_flows,
        # the oldest dropped first past it. False: none kept (keep_left() turns it on).
        self._keep = False
        self.left_dropped = 0  # conversations that left and are no longer kept (memory)
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
        self._labels = AppLabels(self._apps, self._hosts, self.names.apps)
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
    def conversations(self) -> SlotsView:
        """The conversations in the table, oldest first (a read-only sequence)."""
        return SlotsView(self._store, LIVE)

    def conversation_columns(self, convs: Iterable[Conversation] | None = None
                             ) -> ConversationColumns:
        """The table's conversations (or ``convs``, conversations of it), in listing order,
        as columns: for writers of a million of them (conversations.csv)."""
        st = self._store
        if convs is None:
            return ConversationColumns(st, st.slots(LIVE, True))
        return ConversationColumns(st, np.array([c._i for c in convs], np.int64))

    def keep_left(self) -> None:
        """Keep the conversations that leave the table listed in :attr:`left_conversations`
        (within ``max_flows`` with the table's): idle expiry bounds memory, it should not
        hide a recording's conversations."""
        self._keep = True

    @property
    def left_conversations(self) -> Sequence[Conversation]:
        """The conversations that left the table and are still kept, oldest first."""
        return SlotsView(self._store, LEFT)

    def leading(self, need: int) -> list[Conversation]:
        """The ``need`` listed conversations (the table's, then the kept ones) with the
        most bytes, largest first, ties in listed order: what a sort of the whole listing by
        bytes begins with (one numpy pass over the columns)."""
        st = self._store
        top = st.top
        listed = np.flatnonzero((st.state[:top] != FREE) & st.listed[:top])
        need = min(need, len(listed))
        if need <= 0:
            return []
        nbytes = st.ab_b[listed] + st.ba_b[listed]
        if need < len(listed):  # those above the need-th largest, and enough of its equals
            bar = np.partition(nbytes, len(nbytes) - need)[len(nbytes) - need]
            pick = nbytes >= bar
            listed, nbytes = listed[pick], nbytes[pick]
        order = np.lexsort((st.order[listed], -nbytes))[:need]
        return st.conversations(listed[order])

    # the Conversations view's columns a sort can read from the store (order_by)
    ORDERED = ("bytes", "packets", "bytes_a_to_b", "bytes_b_to_a", "packets_a_to_b",
               "packets_b_to_a", "first_seen", "last_seen", "tcp_flags", "protocol", "a", "b",
               "service", "app_protocol", "rate_2s", "rate_10s", "rate_40s")

    def order_by(self, column: str, descending: bool, need: int | None = None,
                 listed: np.ndarray | None = None) -> Sequence[Conversation] | None:
        """The listed conversations (the table's, then the kept ones; or those of
        ``listed``, :meth:`filtered`'s) sorted by a Conversations view ``column`` (one of
        :data:`ORDERED`; None for another), as a stable sort of the listing gives them (ties
        in listed order): in numpy over the columns, handles made only for what is read.
        ``need``: only the first ``need``."""
        if column not in self.ORDERED:
            return None
        st = self._store
        if listed is None:
            listed = st.listing()
        keys = self._sort_keys(column, listed)  # most significant last (np.lexsort)
        if descending:
            keys = [(np.iinfo(k.dtype).max - k) if k.dtype.kind == "u" else -k for k in keys]
        n = len(listed)
        if need is not None and len(keys) == 1 and 0 < need and need * 8 <= n:
            k = keys[0]  # the need-th smallest, and every one up to it
            cand = np.flatnonzero(k <= np.partition(k, need - 1)[need - 1])
            pick = cand[np.argsort(k[cand], kind="stable")][:need]
        else:
            pick = np.lexsort(keys) if len(keys) > 1 else np.argsort(keys[0], kind="stable")
            if need is not None:
                pick = pick[:need]
        return Handles(st, listed[pick])

    def filtered(self, mask_of, live_only: bool = False):
        """The listed conversations (``live_only``: those in the table) for which
        ``mask_of(fields, name_ids)`` is true, in listing order (slots, for
        :meth:`order_by` and :meth:`listed_at`); ``fields``: the store's columns a filter
        compares (:meth:`tuimon.core.store.ConversationStore.fields`). None when
        ``mask_of`` returns None (the filter does not apply)."""
        st = self._store
        slots = st.slots(LIVE, True) if live_only else st.listing()
        mask = mask_of(st.fields(slots), st.name_ids)
        return None if mask is None else slots[mask]

    def listed_at(self, slots: np.ndarray) -> Sequence[Conversation]:
        """The conversations of ``slots`` (:meth:`filtered`), in that order."""
        return Handles(self._store, slots)

    def text_stamps(self, slots: np.ndarray) -> np.ndarray:
        """What a conversation's text (the filter's plain words) is made of that changes,
        per slot: its creation number, TCP flags and label, as rows of three ints."""
        st = self._store
        return np.stack((st.order[slots], (st.flags_ab[slots] | st.flags_ba[slots]),
                         st.app[slots]), axis=1)

    def text_parts(self, slots: np.ndarray) -> list[tuple]:
        """``(key, fwd, flags, service, app)`` of each slot: what its text is made of."""
        st = self._store
        names = st.names
        return list(zip(key_tuples(st.keys[slots]), st.fwd[slots].tolist(),
                        (st.flags_ab[slots] | st.flags_ba[slots]).tolist(),
                        [names[i] for i in st.service[slots].tolist()],
                        [names[i] for i in st.app[slots].tolist()]))

    def keys_at(self, slots: np.ndarray) -> list[tuple]:
        """The canonical keys of the conversations of ``slots``."""
        return key_tuples(self._store.keys[slots])

    def _sort_keys(self, column: str, slots: np.ndarray) -> list[np.ndarray]:
        """The sort keys of ``column`` for ``slots``: what the Conversations view's sort
        compares (query.sort_key), least significant first."""
        st = self._store
        if column in ("bytes", "packets"):
            x = "b" if column == "bytes" else "p"
            return [getattr(st, "ab_" + x)[slots] + getattr(st, "ba_" + x)[slots]]
        if column.startswith(("bytes_", "packets_")):
            x = "b" if column.startswith("bytes") else "p"
            side = "ab_" if column.endswith("a_to_b") else "ba_"
            return [getattr(st, side + x)[slots]]
        if column in ("first_seen", "last_seen"):
            return [getattr(st, column[:-5])[slots]]
        if column == "tcp_flags":
            return [(st.flags_ab[slots] | st.flags_ba[slots]).astype(np.int64)]
        if column.startswith("rate_"):
            return [self._rates(slots, ("rate_2s", "rate_10s", "rate_40s").index(column))]
        w0 = st.keys[slots, 0].astype(np.int64)
        if column == "protocol":  # by the protocol's name
            proto = w0 >> 33 & 0xFF
            uniq = np.unique(proto)
            names = [self.names.ip_protocol(p) for p in uniq.tolist()]
            rank = np.empty(len(uniq), np.int64)
            rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(uniq))
            return [rank[np.searchsorted(uniq, proto)]]
        if column in ("service", "app_protocol"):  # by the name ("" for none)
            ids = (st.service if column == "service" else st.app)[slots]
            names = [n or "" for n in st.names]
            rank = np.empty(len(names), np.int64)
            rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
            return [rank[ids]]
        # an end's address, then its port (-1: none): A's, or B's
        fwd = st.fwd[slots] if column == "a" else ~st.fwd[slots]
        low = np.where(fwd, st.keys[slots, 1], st.keys[slots, 2])
        high = np.where(fwd, st.keys[slots, 3], st.keys[slots, 4])
        port = np.where(w0 >> 32 & 1, np.where(fwd, w0 >> 16 & 0xFFFF, w0 & 0xFFFF), -1)
        return [port, low, high, (w0 >> 41 & 1).astype(np.uint64)]

    def _rates(self, slots: np.ndarray, window: int) -> np.ndarray:
        """The conversations' rates over ``WINDOWS[window]`` ending now (bytes/s), as
        :func:`tuimon.core.rates.rate_key` gives them: a bare second's in numpy (the bytes
        the last fold saw, all in that second), a longer history's one by one."""
        out = np.zeros(len(slots))
        if self.now is None:
            return out
        st = self._store
        sec, width = int(self.now), WINDOWS[window]
        hs = st.hsec[slots]
        within = (hs >= 0) & (hs > sec - WINDOWS[-1]) & (sec - hs < width)
        if within.any():
            _, ab_b, _, ba_b = st.folded(slots[within])
            out[within] = (ab_b + ba_b) / width
        for j in np.flatnonzero(hs == -2).tolist():
            out[j] = rates_packed(st.hmore[int(slots[j])], self.now)[window]
        return out

    def _trim_kept(self) -> None:
        """Past ``max_flows`` (the table and the kept ones), the oldest kept go."""
        st = self._store
        if st.left and self.max_flows:
            over = min(st.left, st.left + st.live_listed - self.max_flows)
            if over > 0:
                st.drop_left(st.slots(LEFT, True)[:over])
                self.left_dropped += over

    def conversation(self, key: tuple) -> Conversation | None:
        """The conversation of a row key ``(proto, a, port a, b, port b)`` (A first, as rows
        show it), if it is in the table."""
        canon = canonical_key(*key)
        if canon[3] is None and canon[0] in (6, 17):
            return None  # a port-less fragment's record: not listed
        slot = self._store.find_key(canon)
        if slot < 0:
            return None
        c = self._store.conversation(slot)
        if c.endpoints() != tuple(key):
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
        dis = self._store.dis_left
        dis[dis > 0] = 0
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
        (:class:`~tuimon.capture.columns.PacketColumns`). Either way the conversations are
        counted a batch at a time: grouped by conversation, then added to the store's
        columns in numpy (:meth:`_apply`)."""
        groups = None
        if isinstance(records, PacketColumns):
            groups = self._count_columns(records)
        else:
            if not isinstance(records, list):
                records = list(records)
            self._apply(None, self._count_records(records, range(len(records))), records)
        if self.counters is not None:
            self.counters.ingest(records, groups)
        self.stations.ingest(records, [m.link == "ether" for m in self._meta])
        self.sizes.ingest(records)
        self.ports.ingest(records)
        st = self._store
        bound = self.max_flows + (self.max_flows >> 3)
        if self.max_flows and (st.live_listed > bound or st.live - st.live_listed > bound):
            self.fold()  # a flood of new conversations: keep the bound between folds too

    def _count_columns(self, batch: PacketColumns) -> Groups | None:
        """:meth:`ingest` for a batch of columns: the fast rows' interface counters by
        numpy and their conversations grouped (:func:`tuimon.core.grouping.conversations`),
        the slow rows' record by record; both added to the conversations at once. Returns
        the fast rows' groups (None: no fast row), for the named counters."""
        g = None
        cols = batch.cols
        fast = cols["fast"]
        if fast.any():
            if batch.grouper is not None:
                self._use_index(batch.grouper)
            g = batch.groups
            if g is None:
                g = conversations(cols, batch.grouper)
            self._count_interfaces(cols, fast)
        slow = batch.slow_recs
        self._apply(g, self._count_records(slow, batch.slow_rows.tolist()) if slow else None,
                    batch)
        return g

    def reserve(self, conversations: int) -> None:
        """Make room for about this many conversations at once (at most ``max_flows`` and
        its eighth over): a playback that knows its file's size spares the store and its
        index their doublings on the way up. Only room: nothing is counted differently."""
        if self.max_flows:
            conversations = min(conversations, self.max_flows + (self.max_flows >> 3))
        self._store.reserve(conversations)

    def _use_index(self, grouper) -> None:
        """Move the conversations' index to the compiled one the batch's stage offers (once:
        the store starts with a dict)."""
        st = self._store
        if not isinstance(st.index, DictIndex):
            return
        index = slot_index(grouper)
        if isinstance(index, DictIndex):
            return
        index.reserve(st.keys, st.reserved)
        live = np.flatnonzero(st.state[:st.top] == LIVE)
        if len(live):
            index.insert(st.keys, live)
        st.index = index

    def _count_records(self, records, rows) -> dict | None:
        """Record tuples (the slow rows of a batch, at ``rows``): interface and non-IP
        counts here, one by one; the IP ones grouped by canonical key, returned as
        key -> [first row, first forward, first time, last time, packets and bytes from
        the lower address, from the higher, flags from each, the rows] (None: none)."""
        counters = self._counters
        groups: dict = {}
        newest = self.now if self.now is not None else -math.inf
        # The interface's packets, bytes, IPv4 packets and bytes, first and last time add up
        # in local variables, written back to its counters when the interface changes (a
        # batch mostly comes from one) and at the end.
        last_if, c = -1, None
        n_p = n_b = n4_p = n4_b = 0
        first = last = 0.0
        for row, (ifidx, ts, wlen, dec, way, _, _, _) in zip(rows, records):
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
                    lo = True
                else:
                    key = (proto, dst, src, dport, sport)
                    lo = False
                e = groups.get(key)
                if e is None:
                    e = groups[key] = [row, lo, ts, ts, 0, 0, 0, 0, 0, 0, []]
                if lo:
                    e[4] += 1
                    e[5] += wlen
                    e[8] |= flags
                else:
                    e[6] += 1
                    e[7] += wlen
                    e[9] |= flags
                if ts > e[3]:
                    e[3] = ts
                e[10].append(row)
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
        return groups or None

    def _apply(self, g: Groups | None, slow: dict | None, batch) -> None:
        """Add a batch's conversations to the store: the fast rows' groups ``g`` and the
        slow rows' (:meth:`_count_records`), merged by key, in the order of their first
        packet (a conversation is made by its first packet, its first packets go to the
        dissector in order, as one by one)."""
        if g is None and slow is None:
            return
        st = self._store
        slow_rows = None  # entry -> its slow rows (entries with some)
        if slow is None:
            words, fwd, first, last = g.words, g.first_fwd, g.first_ts, g.last
            lo_p, lo_b, hi_p, hi_b = g.lo_packets, g.lo_bytes, g.hi_packets, g.hi_bytes
            lo_f, hi_f, first_row = g.lo_flags, g.hi_flags, g.first_row
        else:
            entries = list(slow.values())
            skeys = [key_words(k) for k in slow]
            if g is not None:  # the same key in both: the slow rows join the fast group
                # (the fast groups that may share a key with a slow one: by a hash of the
                # words; then compared word for word)
                cand = np.flatnonzero(np.isin(_row_hash(g.words),
                                              _row_hash(np.array(skeys, np.uint64))))
                at = {tuple(w): i for i, w in zip(cand.tolist(), g.words[cand].tolist())}
                lo_p, lo_b = g.lo_packets.copy(), g.lo_bytes.copy()
                hi_p, hi_b = g.hi_packets.copy(), g.hi_bytes.copy()
                lo_f, hi_f = g.lo_flags.copy(), g.hi_flags.copy()
                first, last, fwd = g.first_ts.copy(), g.last.copy(), g.first_fwd.copy()
                first_row = g.first_row.copy()
                only = []
                slow_rows = {}
                for k, e in zip(skeys, entries):
                    i = at.get(k)
                    if i is None:
                        only.append((k, e))
                        continue
                    lo_p[i] += e[4]
                    lo_b[i] += e[5]
                    hi_p[i] += e[6]
                    hi_b[i] += e[7]
                    lo_f[i] |= e[8]
                    hi_f[i] |= e[9]
                    if e[3] > last[i]:
                        last[i] = e[3]
                    if e[0] < first_row[i]:
                        first_row[i], fwd[i], first[i] = e[0], e[1], e[2]
                    slow_rows[i] = e[10]
                base = len(g)
                for j, (_, e) in enumerate(only):
                    slow_rows[base + j] = e[10]
                skeys = [k for k, _ in only]
                entries = [e for _, e in only]
            else:
                base = 0
                lo_p = lo_b = hi_p = hi_b = lo_f = hi_f = first = last = fwd = first_row = None
                slow_rows = {j: e[10] for j, e in enumerate(entries)}
            if entries:
                cols = list(zip(*entries))
                sw = np.array(skeys, np.uint64)
                extra = dict(first_row=np.array(cols[0], np.int64),
                             fwd=np.array(cols[1], bool), first=np.array(cols[2], np.float64),
                             last=np.array(cols[3], np.float64),
                             lo_p=np.array(cols[4], np.int64), lo_b=np.array(cols[5], np.int64),
                             hi_p=np.array(cols[6], np.int64), hi_b=np.array(cols[7], np.int64),
                             lo_f=np.array(cols[8], np.int64), hi_f=np.array(cols[9], np.int64))
                if g is None:
                    words = sw
                    first_row, fwd, first, last = (extra["first_row"], extra["fwd"],
                                                   extra["first"], extra["last"])
                    lo_p, lo_b, hi_p, hi_b = extra["lo_p"], extra["lo_b"], extra["hi_p"], \
                        extra["hi_b"]
                    lo_f, hi_f = extra["lo_f"], extra["hi_f"]
                else:
                    words = np.concatenate((g.words, sw))
                    first_row = np.concatenate((first_row, extra["first_row"]))
                    fwd = np.concatenate((fwd, extra["fwd"]))
                    first = np.concatenate((first, extra["first"]))
                    last = np.concatenate((last, extra["last"]))
                    lo_p = np.concatenate((lo_p, extra["lo_p"]))
                    lo_b = np.concatenate((lo_b, extra["lo_b"]))
                    hi_p = np.concatenate((hi_p, extra["hi_p"]))
                    hi_b = np.concatenate((hi_b, extra["hi_b"]))
                    lo_f = np.concatenate((lo_f, extra["lo_f"]))
                    hi_f = np.concatenate((hi_f, extra["hi_f"]))
            else:
                words = g.words
        n = len(words)
        # entries in the order of their first packet (the fast groups already are)
        by_first = None
        if slow is not None and n:
            by_first = np.argsort(first_row, kind="stable")
        slots = st.find(words)
        new = slots < 0
        if new.any():
            pick = np.flatnonzero(new)
            if by_first is not None:  # made in the order of their first packet
                pick = by_first[np.isin(by_first, pick)]
            if isinstance(batch, PacketColumns):
                ifaces = batch.cols["iface"][first_row[pick]]
            else:
                ifaces = np.array([batch[r][0] for r in first_row[pick].tolist()], np.int64)
            slots[pick] = self._create(words[pick], fwd[pick], first[pick], ifaces)
        sf = st.fwd[slots]
        st.add_counts(slots, np.where(sf, lo_p, hi_p), np.where(sf, lo_b, hi_b),
                      np.where(sf, hi_p, lo_p), np.where(sf, hi_b, lo_b),
                      slots if by_first is None else slots[by_first])
        st.flags_ab[slots] |= np.where(sf, lo_f, hi_f).astype(np.int16)
        st.flags_ba[slots] |= np.where(sf, hi_f, lo_f).astype(np.int16)
        st.last[slots] = np.maximum(st.last[slots], last)
        dis = np.flatnonzero(st.dis_left[slots] > 0)
        if len(dis):
            self._to_dissect(batch, g, slots, dis, slow_rows)

    def _create(self, words: np.ndarray, fwd: np.ndarray, first: np.ndarray,
                ifaces: np.ndarray) -> np.ndarray:
        """Slots for new conversations (or port-less TCP/UDP fragments' records) of key
        ``words``, in this order: their hosts (made here when new, in the order of the
        conversations' addresses), service and port guess, dissection."""
        st = self._store
        w0 = words[:, 0].astype(np.int64)
        proto = w0 >> 33 & 0xFF
        ported = (w0 >> 32 & 1).astype(bool)
        listed = ported | ((proto != 6) & (proto != 17))
        slots = st.add(words, listed)
        st.fwd[slots] = fwd
        st.first[slots] = first
        st.last[slots] = first
        st.iface[slots] = ifaces
        # hosts: the key's two addresses, made when new in the order they come (each
        # conversation's lower address, then its higher one): the known IPv4 ones found at
        # once, the others (new hosts, IPv6) one by one in that order
        n = len(slots)
        six = (w0 >> 41 & 1).astype(bool)
        addrs = np.empty(2 * n, np.uint64)  # the low 64 bits: lower, higher, lower, ...
        addrs[0::2], addrs[1::2] = words[:, 1], words[:, 2]
        hids = np.full(2 * n, -1, np.int64)
        four = np.flatnonzero(~np.repeat(six, 2))
        table, new_hosts = self._hosts, self.new_hosts
        hids[four] = table.find_v4(addrs[four])
        rest = np.flatnonzero(hids < 0)
        if len(rest):  # each distinct address once, in the order of its first place
            conv = rest >> 1
            ends = np.stack((addrs[rest], words[conv, 3 + (rest & 1)],
                             six[conv].astype(np.uint64)), axis=1)
            order = np.lexsort((ends[:, 0], ends[:, 1], ends[:, 2]))  # stable: first first
            e = ends[order]
            starts = np.flatnonzero(np.concatenate(([True], (e[1:] != e[:-1]).any(axis=1))))
            mark = np.zeros(len(rest), np.int64)
            mark[starts] = 1
            group = np.empty(len(rest), np.int64)
            group[order] = np.cumsum(mark) - 1
            at = order[starts]  # each distinct address's first place among the rest
            by_place = np.argsort(at)
            found = np.empty(len(at), np.int64)
            ids = table.ids
            firsts = first.tolist()
            for u, low, high, v6, j in zip(by_place.tolist(), *e[starts[by_place]].T.tolist(),
                                           conv[at[by_place]].tolist()):
                addr = V6 | high << 64 | low if v6 else low
                hid = ids.get(addr)
                if hid is None:  # (a folded host's id is used again: none refers to it)
                    hid = table.add(addr, firsts[j])
                    if new_hosts is not None:
                        new_hosts.append(addr)
                found[u] = hid
            hids[rest] = found[group]
        st.hlo[slots] = hids[0::2]
        st.hhi[slots] = hids[1::2]
        # the lower port's service, else the higher one's (TCP and UDP)
        service = np.zeros(len(slots), np.int32)
        plo, phi = w0 >> 16 & 0xFFFF, w0 & 0xFFFF
        low, high = np.minimum(plo, phi), np.maximum(plo, phi)
        for p, table in self._service_ids.items():
            on = ported & (proto == p)
            if on.any():
                a, b = table[low[on]], table[high[on]]
                service[on] = np.where(a > 0, a, b)
        if service.any():
            st.service[slots] = service
            code = service.astype(np.int64) << 8 | proto
            app_of = self._app_of
            named = np.flatnonzero(service > 0)
            codes, inv = np.unique(code[named], return_inverse=True)
            ids = np.empty(len(codes), np.int32)
            for j, c in enumerate(codes.tolist()):
                a = app_of.get(c)
                if a is None:
                    a = app_of[c] = st.name_id(port_app(st.names[c >> 8], c & 0xFF))
                ids[j] = a
            apps = np.zeros(len(slots), np.int32)
            apps[named] = ids[inv.reshape(-1)]
            st.app[slots] = apps
            st.app_src[slots] = np.where(apps > 0, 1, 0)
        dissect = self._dissect_packets
        if dissect:
            st.dis_left[slots[listed]] = dissect
            if dissect < 0:  # the dissector is too far behind: a port guess only
                self.app_skipped += int(np.count_nonzero(listed))
        return slots

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

    def _to_dissect(self, batch, g: Groups | None, slots: np.ndarray, dis: np.ndarray,
                    slow_rows: dict | None) -> None:
        """The first packets of this batch's conversations that their dissection still
        wants (``dis``: their entries), as many as each wants, in batch order (SYN and RST
        count, but carry no application data: not handed over). The entries with fast
        rows only are taken from the batch's columns at once; the others row by row."""
        st = self._store
        queued: list = []  # (row, item) of the entries taken row by row
        ng = len(g) if g is not None else 0
        fast = dis[dis < ng]
        if slow_rows:
            fast = fast[~np.isin(fast, np.fromiter(slow_rows, np.int64, len(slow_rows)))]
            mixed = np.setdiff1d(dis, fast, assume_unique=True)
        else:
            mixed = dis[dis >= ng]
        rows = np.zeros(0, np.int64)
        if len(fast):
            rows, who = self._dissect_rows(g, fast, slots)
            cols = batch.cols
            keep = (cols["flags"][rows] & _NO_PAYLOAD) == 0
            rows, who = rows[keep], who[keep]
        if len(mixed):
            queued = self._dissect_records(batch, g, slots, mixed, slow_rows)
        if not len(rows) and not queued:
            return
        items = []
        if len(rows):
            convs = {}
            conversation = st.conversation
            for slot in np.unique(who).tolist():
                convs[slot] = conversation(slot)
            cols = batch.cols
            items = list(zip([convs[s] for s in who.tolist()], cols["iface"][rows].tolist(),
                             cols["ts"][rows].tolist(), cols["wlen"][rows].tolist(),
                             repeat(batch.buf, len(rows)), cols["start"][rows].tolist(),
                             cols["end"][rows].tolist()))
        if queued:  # both kinds: in batch order
            queued += zip(rows.tolist(), items)
            queued.sort(key=_first)
            items = [item for _, item in queued]
        elif len(rows) > 1 and (np.diff(rows) < 0).any():
            items = [items[j] for j in np.argsort(rows, kind="stable").tolist()]
        self._dissect_queue.extend(items)

    def _dissect_rows(self, g: Groups, entries: np.ndarray,
                      slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of fast groups ``entries`` (their conversations at ``slots[entries]``)
        that the dissection still wants: the first ``dis_left`` of each group's rows, in
        batch order (``dis_left`` goes down by as many); and each row's slot."""
        st = self._store
        sl = slots[entries]
        gi = g.group[entries]
        start = g.at[gi]
        left = st.dis_left[sl].astype(np.int64)
        take = np.minimum(g.at[gi + 1] - start, left)
        st.dis_left[sl] = left - take
        ends = np.cumsum(take)
        total = int(ends[-1]) if len(ends) else 0
        offs = np.arange(total) - np.repeat(ends - take, take)
        return g.rows[np.repeat(start, take) + offs], np.repeat(sl, take)

    def _dissect_records(self, batch, g: Groups | None, slots: np.ndarray, dis: np.ndarray,
                         slow_rows: dict | None) -> list:
        """(row, item) of the packets to dissect of entries ``dis`` taken row by row (those
        with slow rows, or of a batch of records)."""
        st = self._store
        queued = []
        ng = len(g) if g is not None else 0
        columns = isinstance(batch, PacketColumns)
        if columns:
            cols, buf = batch.cols, batch.buf
            fast_col = cols["fast"]
        for i in dis.tolist():
            slot = int(slots[i])
            rows = []
            if i < ng:
                gi = int(g.group[i])
                rows = g.rows[g.at[gi]:g.at[gi + 1]].tolist()
            if slow_rows and i in slow_rows:
                rows = sorted(rows + slow_rows[i])
            left = int(st.dis_left[slot])
            conv = st.conversation(slot)
            for r in rows[:left]:
                left -= 1
                if columns and fast_col[r]:
                    if cols["flags"][r] & _NO_PAYLOAD:
                        continue
                    item = (conv, int(cols["iface"][r]), float(cols["ts"][r]),
                            int(cols["wlen"][r]), buf, int(cols["start"][r]),
                            int(cols["end"][r]))
                else:
                    rec = batch[r]
                    if rec[3][6] & _NO_PAYLOAD:
                        continue
                    item = (conv, rec[0], rec[1], rec[2], rec[5], rec[6], rec[7])
                queued.append((r, item))
            st.dis_left[slot] = left
        return queued

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
        st = self._store
        words = np.array([key_words(key)], np.uint64)
        slot = int(st.find(words)[0])
        if slot < 0:
            slot = int(self._create(words, np.array([fwd]), np.array([ts], np.float64),
                                    np.zeros(1, np.int64))[0])
        return st.conversation(slot)

    def touch_conversation(self, conv: Conversation) -> None:
        """``conv``'s counters were changed outside :meth:`ingest`: fold it next time."""
        st = self._store
        if st.state[conv._i] == LIVE:
            st.mark(np.array([conv._i], np.int64))

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
        st = self._store
        slots = [c._i for c in convs if getattr(c, "_s", None) is st and c.gen != _GONE]
        if slots:
            self._left(np.array(list(dict.fromkeys(slots)), np.int64))

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
        st = self._store
        n = st.npend  # the slots counted since the last fold, in order, and their counts
        dirty, pending = st.pend_slots[:n].copy(), st.pending[:, :n].copy()
        watchers = self.fold_watchers
        between = self.between
        step = len(dirty) if between is None or len(dirty) <= FOLD_STEP else FOLD_STEP
        if step == len(dirty):
            between = None  # (a short fold: in one go)
        parts = []
        for i in range(0, max(len(dirty), 1), max(step, 1)):
            if i:  # a part at a time, the requests looked at between (a key waits less)
                between()
            part = self._fold_part(dirty[i:i + step], pending[:, i:i + step], sec)
            if watchers:
                parts.append(part)
        st.unmark(n)
        touched = self.touched
        if touched is not None and len(dirty):
            addrs = self._hosts.addrs
            ids = np.unique(np.concatenate((st.hlo[dirty], st.hhi[dirty]))).tolist()
            touched.update(addrs[i] for i in ids if addrs[i] is not None)
        if self.watches:
            self.watches.fold(self.conversation, sec)
        if watchers:
            changes = Changes.join(st, parts)
            for watch in watchers:
                if between is not None:  # each view's fold (the pairs' 10-15 ms) a part
                    between()
                watch(changes, sec, self.now)
        with_rates = self.rates
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
        if self.timeouts is not None and self._wheel and self.now is not None:
            self._expire(self.now)
        if self.max_flows:
            if st.live_listed > self.max_flows:
                self._evict(True, st.live_listed - self.max_flows)
            if st.live - st.live_listed > self.max_flows:
                self._evict(False, st.live - st.live_listed - self.max_flows)
        if st.left:
            self._trim_kept()  # the table grew
        if self.max_hosts:
            real = len(self.hosts) - (OTHER_HOSTS in self.hosts)
            if real > self.max_hosts and (real > self._hosts_floor or self.expired
                                          - self._hosts_scanned >= max(1, self.max_hosts >> 4)):
                self._fold_hosts()
        if self.on_fold is not None:
            self.on_fold()

    def _fold_part(self, c: np.ndarray, pending: np.ndarray, sec: int):
        """Fold the slots ``c``: what each counted since its last fold goes to its hosts,
        its protocol rows and the rate histories, in numpy (a host, protocol and
        application a part in Python); the new ones and the closed ones are put in the
        expiry wheel. Returns the part's changes (for the fold watchers)."""
        st = self._store
        dap, dab, dbp, dbb = pending
        st.pend[c] = -1  # folded: what the last fold saw is its total now
        new = (st.ab_p[c] == dap) & (st.ba_p[c] == dbp)  # its first fold
        dp, db = dap + dbp, dab + dbb
        fwd, first, last = st.fwd[c], st.first[c], st.last[c]
        w0 = st.keys[c, 0].astype(np.int64)
        proto = w0 >> 33 & 0xFF
        six = w0 >> 41 & 1
        app = st.app[c]
        with_rates = self.rates
        self._fold_hosts_of(c, fwd, first, last, dap, dab, dbp, dbb, app, sec)
        # the protocol rows: (IPv4 or IPv6, IP protocol), and its applications
        transport, apps, names = self._transport, self._apps, st.names
        kind = six << 8 | proto
        for k, p, b in _sums(kind, dp, db):
            t = transport.get((bool(k >> 8), k & 0xFF))
            if t is None:
                t = transport[(bool(k >> 8), k & 0xFF)] = [0, 0, []]
            t[0] += p
            t[1] += b
            if with_rates:
                bump(t[2], sec, b)
        named = app > 0
        if named.any():
            for k, p, b in _sums(kind[named] << 32 | app[named], dp[named], db[named]):
                key = (bool(k >> 40), k >> 32 & 0xFF, names[k & 0xFFFFFFFF])
                s = apps.get(key)
                if s is None:
                    s = apps[key] = [0, 0, []]
                s[0] += p
                s[1] += b
                if with_rates:
                    bump(s[2], sec, b)
        if with_rates:
            self._bump_conversations(c, sec, db, st.ab_b[c] + st.ba_b[c])
        if self.timeouts is not None:
            self._schedule(c, new, proto, last)
        return (c, dap, dab, dbp, dbb, new)

    def _fold_hosts_of(self, c, fwd, first, last, dap, dab, dbp, dbb, app, sec: int) -> None:
        """A fold part's counts to the hosts: each host once, what its conversations
        added up (A sends A to B and receives B to A; a host talking to itself both)."""
        st = self._store
        hlo, hhi = st.hlo[c], st.hhi[c]
        ha, hb = np.where(fwd, hlo, hhi), np.where(fwd, hhi, hlo)
        same = ha == hb
        other = ~same
        dp, db = dap + dbp, dab + dbb
        hid = np.concatenate((ha, hb[other]))
        order = np.argsort(hid, kind="stable")
        hs = hid[order]
        if not len(hs):
            return
        starts = np.flatnonzero(np.concatenate(([True], hs[1:] != hs[:-1])))

        def total(a_side, b_side):
            return np.add.reduceat(np.concatenate((a_side, b_side[other]))[order], starts)

        zero = np.zeros(len(c), np.int64)
        packets, nbytes = total(dp, dp), total(db, db)
        tx_p = total(dap + np.where(same, dbp, zero), dbp)
        tx_b = total(dab + np.where(same, dbb, zero), dbb)
        rx_p = total(dbp + np.where(same, dap, zero), dap)
        rx_b = total(dbb + np.where(same, dab, zero), dab)
        firsts = np.minimum.reduceat(np.concatenate((first, first[other]))[order], starts)
        lasts = np.maximum.reduceat(np.concatenate((last, last[other]))[order], starts)
        table = self._hosts
        ids = hs[starts].astype(np.int64)
        table.count(ids, packets, nbytes, tx_p, tx_b, rx_p, rx_b, firsts, lasts)
        if self.rates:
            table.bump(ids, sec, nbytes)
        named = app > 0
        if named.any():  # each host's bytes per application (A's, then B's, per conversation)
            n = len(c)
            code = np.empty(2 * n, np.int64)
            code[0::2] = ha.astype(np.int64) << 32 | app
            code[1::2] = hb.astype(np.int64) << 32 | app
            keep = np.empty(2 * n, bool)
            keep[0::2] = named
            keep[1::2] = named & other
            nb = np.repeat(db, 2)
            sums = _sums(code[keep], nb[keep], nb[keep])
            table.add_apps([k >> 32 for k, _, _ in sums], [k & 0xFFFFFFFF for k, _, _ in sums],
                           [b for _, _, b in sums])

    def _bump_conversations(self, c: np.ndarray, sec: int, db: np.ndarray,
                            total: np.ndarray) -> None:
        """The conversations' rate histories (:func:`tuimon.core.rates.bump_total`): a
        bare second in a column, longer ones in the store's ``hmore``."""
        st = self._store
        if not 0 <= sec < 1 << SHIFT:  # (a crafted file's far times: one by one, as ints)
            for slot, b, t in zip(c.tolist(), db.tolist(), total.tolist()):
                st.set_hist(slot, bump_total(st.hist_of(slot), sec, b, t - b))
            return
        hs = st.hsec[c]
        none = hs == -1
        if none.any():
            st.hsec[c[none]] = sec
        later = (hs >= 0) & (hs != sec)
        more = hs == -2
        if later.any() or more.any():
            hmore = st.hmore
            for slot, s, b, t in zip(c[later].tolist(), hs[later].tolist(),
                                     db[later].tolist(), total[later].tolist()):
                hmore[slot] = (sec << SHIFT | b) if s <= sec - _LONGEST else \
                    [s << SHIFT | (t - b), sec << SHIFT | b]
            st.hsec[c[later]] = -2
            for slot, b in zip(c[more].tolist(), db[more].tolist()):
                hmore[slot] = bump_packed(hmore[slot], sec, b)

    def _schedule(self, c: np.ndarray, new: np.ndarray, proto: np.ndarray,
                  last: np.ndarray) -> None:
        """Put the part's new conversations in the expiry wheel at their idle deadline, and
        the closed TCP ones at their closed deadline."""
        tcp_timeout, other_timeout, closed_timeout = self.timeouts
        tcp = proto == 6
        closed = tcp & self._closed(c)
        at_new, at_closed = np.flatnonzero(new), np.flatnonzero(closed)
        if not len(at_new) and not len(at_closed):
            return
        due = np.trunc(np.concatenate((
            last[at_new] + np.where(tcp[at_new], tcp_timeout, other_timeout),
            last[at_closed] + closed_timeout)))
        pos = np.concatenate((2 * at_new, 2 * at_closed + 1))
        slots = np.concatenate((c[at_new], c[at_closed]))
        self._wheel_add(slots[np.lexsort((pos, due))], np.sort(due))

    def _closed(self, c: np.ndarray) -> np.ndarray:
        """TCP: reset, or finished both ways (Conversation.closed), of slots ``c``."""
        st = self._store
        fa, fb = st.flags_ab[c], st.flags_ba[c]
        return (((fa | fb) & _RST) != 0) | ((fa & fb & _FIN) != 0)

    def _wheel_add(self, slots: np.ndarray, whole: np.ndarray) -> None:
        """``slots`` whose deadlines' whole seconds are ``whole`` (ascending, floats: a
        crafted file's far times are beyond int64), each looked at the second after (a
        Python int), kept in this order. With them the store's next creation number: a
        slot made again since (or kept, LEFT) has a later ``order``, and is not theirs."""
        bound = self._store.serial
        slots = kept(slots, np.int32)
        cut = np.flatnonzero(whole[1:] != whole[:-1]) + 1
        wheel = self._wheel
        for a, b in zip(np.concatenate(([0], cut)).tolist(), np.append(cut, len(whole)).tolist()):
            wheel.setdefault(int(whole[a]) + 1, []).append((slots[a:b], bound))

    def _timeouts_of(self, slots: np.ndarray) -> np.ndarray:
        tcp, other, closed = self.timeouts
        proto = self._store.keys[slots, 0].astype(np.int64) >> 33 & 0xFF
        return np.where(proto != 6, other, np.where(self._closed(slots), closed, tcp))

    def _expire(self, now: float) -> None:
        """Conversations whose deadline passed leave; the others are looked at again at
        their new deadline (each conversation waits in the wheel once, so the wheel's
        size follows the table's)."""
        wheel = self._wheel
        dues = sorted(s for s in wheel if s <= now)
        if not dues:
            return
        parts = [p for d in dues for p in wheel.pop(d)]
        st = self._store
        slots = np.concatenate([p[0] for p in parts]).astype(np.int64)
        bounds = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts])
        valid = (st.state[slots] == LIVE) & (st.order[slots] < bounds)
        slots = slots[valid]  # (gone already, or scheduled twice: once is enough)
        _, at = np.unique(slots, return_index=True)
        slots = slots[np.sort(at)]
        deadline = st.last[slots] + self._timeouts_of(slots)
        gone = deadline <= now
        stay = slots[~gone]
        if len(stay):
            later = np.trunc(deadline[~gone])
            o = np.argsort(later, kind="stable")
            self._wheel_add(stay[o], later[o])
        leaving = slots[gone]
        if len(leaving):
            listed = st.listed[leaving]
            st.leave(leaving[~listed], False)  # port-less records: not listed, just gone
            self._left(leaving[listed])

    def _left(self, slots: np.ndarray) -> None:
        """Listed conversations (already folded) leave the table: kept (LEFT) or freed."""
        if not len(slots):
            return
        st = self._store
        self.expired += len(slots)
        handles = st.conversations(slots) if self.on_leave is not None else None
        st.leave(slots, self._keep)
        if self._keep:
            self._trim_kept()
        if handles is not None:
            self.on_leave(handles)

    def _evict(self, listed: bool, count: int) -> None:
        """Over the bound: the ``count`` (and a little more, so this runs seldom) longest
        idle of the table (``listed``) or of the port-less records leave."""
        st = self._store
        slots = st.slots(LIVE, listed)
        count = min(len(slots), count + (self.max_flows >> 4))
        lasts = st.last[slots]
        cutoff = np.partition(lasts, count - 1)[count - 1]
        gone = slots[lasts <= cutoff][:count]
        if listed:
            self._left(gone)
        else:
            st.leave(gone, False)

    def _fold_hosts(self) -> None:
        """Over the hosts bound: the least recently seen hosts that no conversation in the
        table (or the port-less fragments' records) refers to -- as many as are over the
        bound, and a little more, so this runs seldom -- fold into :data:`OTHER_HOSTS`.
        When too few have no conversation, what is left is the floor the next check starts
        from (no scan of the table every second)."""
        hosts = self.hosts
        other = hosts.get(OTHER_HOSTS)
        real = len(hosts) - (other is not None)
        count = real - self.max_hosts + (self.max_hosts >> 4)
        st = self._store
        live = np.flatnonzero(st.state[:st.top] == LIVE)
        used = np.unique(np.concatenate((st.hlo[live], st.hhi[live])))
        table = self._hosts
        hids = np.fromiter(table.ids.values(), np.int64, len(table.ids))  # the hosts' order
        free = hids[~np.isin(hids, used)]
        if other is not None:
            free = free[free != other.hid]
        if len(free) > count:
            free = free[np.argsort(table.last[free], kind="stable")[:count]]
        if len(free):
            if other is None:
                table.last[table.add(OTHER_HOSTS, math.inf)] = -math.inf
                other = hosts[OTHER_HOSTS]
            gone = table.fold_into(free.tolist(), other.hid, self.on_hosts_leave is not None)
            self.hosts_folded += len(free)
            if self.on_hosts_leave is not None:
                self.on_hosts_leave(gone)
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
        now = self.now if with_rates else None
        if hosts is None:  # every one: read from the columns, no host objects made
            ids = self._hosts.ids
            return table_rows(list(ids), list(ids.values()), now, self.rates, self._hosts)
        return self._rows.host_rows(hosts, now, self.rates, self._hosts)

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
        return self._rows.conversation_rows(self.conversations if convs is None else convs,
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
                                 self._store.live_listed, self.expired, self.app_waiting,
                                 self.app_skipped, self.hosts_folded,
                                 self._store.left)

    def snapshot(self, with_rates: bool = True, conversations=None,
                 tables: Collection[str] | None = None) -> Snapshot:
        """Every table (``with_rates=False``: host and conversation rates left at 0, for
        exports that do not show them: a million rows are built faster). ``conversations``:
        rows for just these (in this order) instead of every one. ``tables``: only these
        of the snapshot's lists (the others empty); None: all."""
        self.fold()
        now = self.now

        def rows(table: str, make: Callable[[], list]) -> list:
            return make() if tables is None or table in tables else []

        return Snapshot(
            now, self.totals(), rows("interfaces", self.interface_rows),
            rows("hosts", lambda: self.host_rows(None, with_rates)),
            rows("protocols", self.protocol_rows),
            rows("conversations", lambda: self.conversation_rows(conversations, with_rates)),
            rows("counters", lambda: self.counter_rows(now)), rows("stations", self.station_rows),
            rows("sizes", self.size_rows), rows("ports", self.port_rows),
            rows("pairs", lambda: self.pair_rows() if False in self._pairs else []),
            rows("processes", self.process_rows))

    def pairs(self, ports: bool = False) -> PairTable:
        """The host pairs (``ports``: per protocol and ports too), kept from now on: made
        on the first call from the conversations in the table (their counts so far), then
        folded with every fold. A pair leaves once idle as long as the longest idle
        timeout (never when conversations never expire)."""
        table = self._pairs.get(ports)
        if table is None:
            idle = max(self.timeouts[:2]) if self.timeouts is not None else None
            table = self._pairs[ports] = PairTable(ports, self.rates, idle)
            table.seed(Changes.seed(self._store, self._store.slots(LIVE, True)), self.now)
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
