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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence

from tuimon.capture.decode import IN, IPV4, IPV6, NONIP, OUT, UNDECODED, V6
from tuimon.engine.model import (
    ConversationRow,
    HostRow,
    InterfaceRow,
    ProtocolRow,
    Snapshot,
    Totals,
)
from tuimon.engine.names import Names, address_text, ethertype_name, port_app
from tuimon.engine.rates import (
    MASK,
    SHIFT,
    bump,
    bump_packed,
    bump_total,
    packet_rate,
    rates,
    rates_packed,
    rates_total,
)

# Interface counter slots; per-kind packets/bytes live at 4 + 2 * kind, per-direction
# packets/bytes at _WAY + 2 * way (way IN = 1, OUT = 2).
_IP, _IB, _IFIRST, _ILAST = range(4)
_WAY = 4 + 2 * (IPV6 + 1) - 2
_COUNTERS = _WAY + 2 * (OUT + 1)

TCP_FLAG_NAMES = "FSRPAUECN"  # FIN SYN RST PSH ACK URG ECE CWR NS, bit 0 first
_FIN, _RST = 1, 4
_NO_PAYLOAD = 0x02 | 0x04  # SYN, RST: not worth handing to the application dissector

# Idle timeouts in seconds of capture time (see README, "Flow expiry").
TCP_TIMEOUT = 300.0
UDP_TIMEOUT = 180.0  # UDP and every other protocol
CLOSED_TIMEOUT = 10.0  # TCP after RST, or FIN in both directions
MAX_FLOWS = 1_000_000

_GONE = -2  # Conversation.gen of one that left the table
_PORTS = list(range(65536))  # one int object per port, shared by every conversation


def _flag_text(flags: int) -> str:
    return "".join(name for bit, name in enumerate(TCP_FLAG_NAMES) if flags >> bit & 1)


_FLAG_TEXT = [_flag_text(f) for f in range(512)]


def tcp_flags_text(flags: int) -> str:
    return _FLAG_TEXT[flags] if 0 <= flags < 512 else _flag_text(flags)


class Host:
    __slots__ = ("addr", "packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b", "first", "last", "hist",
                 "apps")

    def __init__(self, addr: int, first: float) -> None:
        self.addr = addr
        self.packets = self.bytes = self.tx_p = self.tx_b = self.rx_p = self.rx_b = 0
        self.first = self.last = first
        self.hist = None  # packed rate history (tuimon.engine.rates)
        self.apps: dict | None = None  # application protocol -> bytes, once there is one


class Conversation:
    """Both directions of one (protocol, A, port A, B, port B); A sent the first packet.

    The per-packet record too, one per conversation for both directions (memory: a
    million of them fit in well under 500 MB). ``key`` is the canonical key it is filed
    under (lower address first; the same tuple object as the table's key) and ``fwd``
    says whether A is that key's first endpoint. ``ab_*``/``ba_*`` count A to B and B to
    A as packets arrive, ``m_*`` are what the last :meth:`Engine.fold` saw of them.
    ``flags_ab``/``flags_ba``: TCP flags seen per direction. ``app`` is the application
    protocol: the port's guess (``app_src`` "port") until the dissector names it
    ("dissector"); ``dis_left`` how many more of its packets go to the dissector (-1:
    never dissected, the dissector was behind).
    """

    __slots__ = ("key", "fwd", "ab_p", "ab_b", "ba_p", "ba_b", "m_ab_p", "m_ab_b", "m_ba_p",
                 "m_ba_b", "first", "last", "flags_ab", "flags_ba", "gen", "service", "hist",
                 "app", "app_src", "dis_left")

    def __init__(self, key: tuple, fwd: bool, first: float, service: str | None,
                 dissect: int = 0) -> None:
        self.key, self.fwd = key, fwd
        self.ab_p = self.ab_b = self.ba_p = self.ba_b = 0
        self.m_ab_p = self.m_ab_b = self.m_ba_p = self.m_ba_b = 0
        self.first = self.last = first
        self.flags_ab = self.flags_ba = 0
        self.gen = -1
        self.service = service
        self.hist = None  # rate history (tuimon.engine.rates.bump_total)
        self.app = port_app(service, key[0]) if service else None
        self.app_src = "port" if self.app else ""
        self.dis_left = dissect

    @property
    def proto(self) -> int:
        return self.key[0]

    @property
    def a(self) -> int:
        return self.key[1] if self.fwd else self.key[2]

    @property
    def b(self) -> int:
        return self.key[2] if self.fwd else self.key[1]

    @property
    def pa(self):
        return self.key[3] if self.fwd else self.key[4]

    @property
    def pb(self):
        return self.key[4] if self.fwd else self.key[3]

    def endpoints(self) -> tuple:
        """(proto, a, pa, b, pb) at once."""
        proto, lo, hi, plo, phi = self.key
        return (proto, lo, plo, hi, phi) if self.fwd else (proto, hi, phi, lo, plo)

    @property
    def flags(self) -> int:
        return self.flags_ab | self.flags_ba

    @property
    def closed(self) -> bool:
        """TCP: reset, or finished in both directions."""
        return self.key[0] == 6 and bool((self.flags_ab | self.flags_ba) & _RST or
                                         self.flags_ab & self.flags_ba & _FIN)


class ConversationsView(Sequence):
    """The engine's conversations as a sequence (len, iteration, indexing) without a copy."""

    __slots__ = ("_table",)

    def __init__(self, table: dict) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self):
        return iter(self._table.values())

    def __getitem__(self, index):
        if isinstance(index, slice) or index < 0:
            return list(self._table.values())[index]
        try:
            return next(itertools.islice(self._table.values(), index, None))
        except StopIteration:
            raise IndexError("conversation index out of range") from None


def engine_for(args, rates: bool = True) -> "Engine":
    """The engine for the command line's ``--flow-timeout`` and ``--max-flows``
    (``rates=False``: for an export that shows no rates)."""
    return Engine(flow_timeout=getattr(args, "flow_timeout", None),
                  max_flows=getattr(args, "max_flows", MAX_FLOWS), rates=rates)


def canonical_key(proto: int, a: int, pa, b: int, pb) -> tuple:
    """The key both directions of a conversation share: the lower address (then port) first."""
    if a < b or (a == b and (pa is None or pa <= pb)):
        return (proto, a, b, pa, pb)
    return (proto, b, a, pb, pa)


def reasons_text(reasons: dict[str, int]) -> str:
    """``{"truncated final record": 1}`` -> ``"truncated final record: 1"``; several are
    joined with ``"; "``, the most frequent first."""
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{reason}: {count}" for reason, count in ordered if count)


class InterfaceMeta:
    __slots__ = ("name", "link", "drops", "skipped", "hist", "folded_b", "folded_p", "reasons",
                 "direction", "kernel")

    def __init__(self, name: str, link: str) -> None:
        self.name, self.link = name, link
        self.direction = ""  # where in/out comes from ("" : not known on this interface)
        self.kernel: tuple | None = None  # KernelRow fields (tuimon.capture.kernel)
        self.drops: int | None = None
        self.skipped = 0
        self.reasons = ""
        self.hist: list = []
        self.folded_b = self.folded_p = 0


_NO_KERNEL = (None,) * 11


def kernel_fields(kernel, captured: int) -> tuple:
    """The kernel columns of an interface row: the kernel's counters, link speed,
    utilisation, and ``missed`` = what the kernel counted minus what was captured (only
    when the capture was unfiltered, so that the two count the same frames)."""
    if kernel is None:
        return _NO_KERNEL
    missed = None
    if kernel.comparable:
        missed = max(0, kernel.packets_in + kernel.packets_out - captured)
    return (kernel.packets_in, kernel.bytes_in, kernel.packets_out, kernel.bytes_out,
            kernel.errors_in, kernel.errors_out, kernel.drops_in, kernel.drops_out,
            kernel.speed or None, kernel.utilisation, missed)

class Engine:
    def __init__(self, names: Names | None = None, flow_timeout: float | None = None,
                 max_flows: int | None = MAX_FLOWS, rates: bool = True) -> None:
        """``flow_timeout``: idle seconds after which a conversation leaves the table (None:
        TCP 300, others 180; 0: never); TCP conversations closed by RST or FIN both ways
        leave after 10 s (or ``flow_timeout`` if lower). ``max_flows``: the most
        conversations kept (0 or None: no bound); beyond it the longest idle leave.
        ``rates=False``: no rate histories for hosts, protocols and conversations (their
        rates stay 0; interfaces keep theirs), for a headless export that shows none."""
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
        # Application dissection (see tuimon.engine.appproto): the first ``dissect_packets``
        # packets of each TCP/UDP conversation are collected in ``dissect_queue`` as
        # ``(conv, iface, ts, wire_len, buf, start, end)`` for the session to hand over.
        # -1: the dissector is behind, new conversations are not dissected (they count in
        # ``app_skipped``).
        self.dissect_packets = 0
        self.dissect_queue: list = []
        self.app_waiting = 0  # conversations whose packets are with the dissector
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
        # Called with the conversations that leave the table, once folded (FlowLog).
        self.on_leave: Callable[[list], None] | None = None

    @property
    def conversations(self) -> "ConversationsView":
        """The conversations in the table, oldest first (a live, read-only sequence)."""
        return ConversationsView(self._table)

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
        capture source."""
        table, dirty, gen, counters = self._table, self._dirty, self._gen, self._counters
        new = self._new
        newest = self.now if self.now is not None else -math.inf
        for ifidx, ts, wlen, dec, way, buf, start, end in records:
            try:
                c = counters[ifidx]
            except IndexError:
                self._grow(ifidx)
                c = counters[ifidx]
            c[0] += 1
            c[1] += wlen
            if way:
                c[_WAY + 2 * way] += 1
                c[_WAY + 1 + 2 * way] += wlen
            if ts > c[3]:
                c[3] = ts
                if ts > newest:
                    newest = ts
            if ts < c[2]:
                c[2] = ts
            kind = dec[0]
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
                    f = new(key, fwd, ts)
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
                        self.dissect_queue.append((f, ifidx, ts, wlen, buf, start, end))
            elif kind == NONIP:
                n = self._nonip.get(dec[1])
                if n is None:
                    n = self._nonip[dec[1]] = [0, 0, []]
                n[0] += 1
                n[1] += wlen
        if newest > -math.inf:
            self.now = newest
        if self.max_flows and len(table) > self.max_flows + (self.max_flows >> 3):
            self.fold()  # a flood of new conversations: keep the bound between folds too

    def _new(self, key: tuple, fwd: bool, ts: float) -> Conversation:
        """A new conversation (or a port-less TCP/UDP fragment's record) for ``key``; its
        addresses and ports are the host's and the shared int objects (memory)."""
        proto, lo, hi, plo, phi = key
        hosts = self.hosts
        h = hosts.get(lo)
        if h is None:
            h = hosts[lo] = Host(lo, ts)
        lo = h.addr
        h = hosts.get(hi)
        if h is None:
            h = hosts[hi] = Host(hi, ts)
        hi = h.addr
        if plo is None:
            if proto == 6 or proto == 17:  # a fragment without ports: hosts and protocols only
                f = self._portless.get(key)
                if f is None:
                    key = (proto, lo, hi, None, None)
                    f = self._portless[key] = Conversation(key, fwd, ts, None)
                return f
            service = None
        else:
            if plo < 65536 and phi < 65536:
                plo, phi = _PORTS[plo], _PORTS[phi]
            ports = self._service_ports.get(proto)
            service = None
            if ports:
                low, high = (plo, phi) if plo <= phi else (phi, plo)
                service = ports.get(low) or ports.get(high)
        key = (proto, lo, hi, plo, phi)
        dissect = self.dissect_packets
        if dissect < 0:  # the dissector is too far behind: a port guess only
            self.app_skipped += 1
        f = self._table[key] = Conversation(key, fwd, ts, service, dissect)
        return f

    # -- application protocols ---------------------------------------------------------

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

    # -- folding records into hosts, protocols, rates; expiry ------------------------

    def advance(self, now: float) -> None:
        """Move the clock on without packets (live capture on a quiet link)."""
        if self.now is None or now > self.now:
            self.now = now

    def fold(self) -> None:
        """Apply what the conversations counted since the last fold to the derived tables,
        then let the conversations that are due leave the table."""
        sec = int(self.now) if self.now is not None else 0
        hosts, transport, apps = self.hosts, self._transport, self._apps
        timeouts, wheel = self.timeouts, self._wheel
        with_rates = self.rates
        for f in self._dirty:
            ab_p, ab_b, ba_p, ba_b = f.ab_p, f.ab_b, f.ba_p, f.ba_b
            new = f.m_ab_p == 0 and f.m_ba_p == 0
            dap, dab, dbp, dbb = ab_p - f.m_ab_p, ab_b - f.m_ab_b, ba_p - f.m_ba_p, ba_b - f.m_ba_b
            f.m_ab_p, f.m_ab_b, f.m_ba_p, f.m_ba_b = ab_p, ab_b, ba_p, ba_b
            dp, db = dap + dbp, dab + dbb
            first, last = f.first, f.last
            key = f.key
            app = f.app
            if f.fwd:
                ha, hb = hosts[key[1]], hosts[key[2]]
            else:
                ha, hb = hosts[key[2]], hosts[key[1]]
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
                ha.hist = bump_packed(ha.hist, sec, db)
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
                    hb.hist = bump_packed(hb.hist, sec, db)
            else:  # talking to itself: every packet is sent and received by it
                ha.tx_p += dbp
                ha.tx_b += dbb
                ha.rx_p += dap
                ha.rx_b += dab
            proto = key[0]
            v6 = key[1] >= V6
            t = transport.get((v6, proto))
            if t is None:
                t = transport[(v6, proto)] = [0, 0, []]
            t[0] += dp
            t[1] += db
            if with_rates:
                bump(t[2], sec, db)
                f.hist = bump_total(f.hist, sec, db, ab_b + ba_b - db)
            if app:
                s = apps.get((v6, proto, app))
                if s is None:
                    s = apps[(v6, proto, app)] = [0, 0, []]
                s[0] += dp
                s[1] += db
                if with_rates:
                    bump(s[2], sec, db)
            if timeouts is not None:
                if new:
                    due = int(last + (timeouts[0] if proto == 6 else timeouts[1])) + 1
                    slot = wheel.get(due)
                    if slot is None:
                        wheel[due] = [f]
                    else:
                        slot.append(f)
                if proto == 6 and (f.flags_ab | f.flags_ba) & 5 and f.closed:
                    due = int(last + timeouts[2]) + 1
                    slot = wheel.get(due)
                    if slot is None:
                        wheel[due] = [f]
                    else:
                        slot.append(f)
        self._dirty.clear()
        self._gen += 1
        for c, meta in zip(self._counters, self._meta):
            if c[_IB] != meta.folded_b:
                bump(meta.hist, sec, c[_IB] - meta.folded_b, c[_IP] - meta.folded_p)
                meta.folded_b, meta.folded_p = c[_IB], c[_IP]
        if timeouts is not None and wheel and self.now is not None:
            self._expire(self.now)
        if self.max_flows:
            for table in (self._table, self._portless):
                if len(table) > self.max_flows:
                    self._evict(table, len(table) - self.max_flows)

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

    # -- reading ---------------------------------------------------------------------

    def snapshot(self, with_rates: bool = True) -> Snapshot:
        """Every table (``with_rates=False``: host and conversation rates left at 0, for
        exports that do not show them: a million rows are built faster)."""
        self.fold()
        now = self.now
        return Snapshot(now, self.totals(), self.interface_rows(), self.host_rows(None, with_rates),
                        self.protocol_rows(), self.conversation_rows(None, with_rates))

    def interface_rows(self) -> list[InterfaceRow]:
        rows = []
        for c, meta in zip(self._counters, self._meta):
            ways = c[_WAY + 2 * IN: _WAY + 2 * OUT + 2]
            if not meta.direction and not any(ways):
                ways = [None] * 4
            kernel = kernel_fields(meta.kernel, c[_IP])
            rows.append(InterfaceRow(
                meta.name, c[_IP], c[_IB], meta.link,
                c[4 + 2 * IPV4], c[4 + 2 * IPV6], c[4 + 2 * NONIP], c[4 + 2 * UNDECODED],
                c[_IFIRST] if c[_IP] else None, c[_ILAST] if c[_IP] else None,
                meta.drops, meta.skipped, *rates(meta.hist, self.now), meta.reasons,
                *ways, *kernel))
        return rows

    def host_rows(self, hosts: Sequence[Host] | None = None,
                  with_rates: bool = True) -> list[HostRow]:
        now = self.now if with_rates else None
        return [HostRow(address_text(h.addr), h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b,
                        h.first, h.last, *rates_packed(h.hist, now), host_apps_text(h))
                for h in (self.hosts.values() if hosts is None else hosts)]

    def protocol_rows(self) -> list[ProtocolRow]:
        """The protocol hierarchy, as ``tshark -z io,phs`` shows it: link, network, transport,
        application. Each row names its ``path`` (``ether/ipv4/tcp/tls``); network rows sit
        under the link row only when every interface has the same link type (conversations do not
        know their interface, so the layers above cannot be split by link)."""
        now, names, counters = self.now, self.names, self._counters
        total = sum(c[_IB] for c in counters) or 1
        rows: list[ProtocolRow] = []

        def add(name, p, b, layer, parent, r=(0.0, 0.0, 0.0)):
            path = f"{parent}/{name}" if parent else name
            rows.append(ProtocolRow(name, p, b, layer, *r, path, path.count("/"), 100.0 * b / total))
            return path

        links: dict[str, list] = {}
        for c, meta in zip(counters, self._meta):
            if c[_IP]:
                entry = links.setdefault(meta.link or "unknown", [0, 0, [0.0, 0.0, 0.0]])
                entry[0] += c[_IP]
                entry[1] += c[_IB]
                entry[2] = [x + y for x, y in zip(entry[2], rates(meta.hist, now))]
        top = ""
        for link, (p, b, r) in links.items():
            path = add(link, p, b, "link", "", tuple(r))
            if len(links) == 1:
                top = path
        transport = {}
        for (v6, proto), (p, b, hist) in self._transport.items():
            transport[(v6, proto)] = (p, b, rates(hist, now))
        for kind, name, v6 in ((IPV4, "ipv4", False), (IPV6, "ipv6", True)):
            p = sum(c[4 + 2 * kind] for c in counters)
            if not p:
                continue
            children = [(k, v) for k, v in transport.items() if k[0] == v6]
            r = tuple(sum(v[2][i] for _, v in children) for i in range(3))
            net = add(name, p, sum(c[5 + 2 * kind] for c in counters), "network", top, r)
            for (_, proto), (tp, tb, tr) in children:
                tpath = add(names.ip_protocol(proto), tp, tb, "transport", net, tr)
                for (av6, aproto, app), (ap, ab, hist) in self._apps.items():
                    if av6 == v6 and aproto == proto and ap:
                        add(app, ap, ab, "application", tpath, rates(hist, now))
        for etype, (p, b, hist) in self._nonip.items():
            add(ethertype_name(etype), p, b, "network", top, rates(hist, now))
        und = sum(c[4 + 2 * UNDECODED] for c in counters)
        if und:
            add("undecoded", und, sum(c[5 + 2 * UNDECODED] for c in counters), "network", top)
        return rows

    def conversation_rows(self, convs: Sequence[Conversation] | None = None,
                          with_rates: bool = True) -> list[ConversationRow]:
        now = self.now
        protocols: dict[int, str] = {}
        texts: dict[int, str] = {}  # address -> text, each made once
        rows = []
        append = rows.append
        new_row = tuple.__new__  # ConversationRow(...) without its Python-level __new__
        zero = (0.0, 0.0, 0.0)
        flag_text = _FLAG_TEXT
        for c in (self.conversations if convs is None else convs):
            proto, lo, hi, plo, phi = c.key
            if not c.fwd:
                lo, hi, plo, phi = hi, lo, phi, plo
            name = protocols.get(proto)
            if name is None:
                name = protocols[proto] = self.names.ip_protocol(proto)
            a = texts.get(lo)
            if a is None:
                a = texts[lo] = address_text(lo)
            b = texts.get(hi)
            if b is None:
                b = texts[hi] = address_text(hi)
            r = rates_total(c.hist, c.ab_b + c.ba_b, now) if with_rates else zero
            append(new_row(ConversationRow, (
                name, a, plo, b, phi,
                c.ab_p, c.ab_b, c.ba_p, c.ba_b, c.first, c.last,
                flag_text[c.flags_ab | c.flags_ba] if proto == 6 else "",
                c.service or "", r[0], r[1], r[2], c.app or "", c.app_src)))
        return rows

    def totals(self) -> Totals:
        counters = self._counters
        packets = sum(c[_IP] for c in counters)
        firsts = [c[_IFIRST] for c in counters if c[_IP]]
        lasts = [c[_ILAST] for c in counters if c[_IP]]
        hist_rates = [rates(m.hist, self.now) for m in self._meta]
        return Totals(
            packets, sum(c[_IB] for c in counters),
            min(firsts) if firsts else None, max(lasts) if lasts else None,
            sum(c[4 + 2 * UNDECODED] for c in counters),
            sum(m.skipped for m in self._meta), sum(m.drops or 0 for m in self._meta),
            len(self.hosts), len(self._table),
            *(sum(r[i] for r in hist_rates) for i in range(3)),
            sum(packet_rate(m.hist, self.now) for m in self._meta),
            any(m.drops is not None for m in self._meta), self._missed(),
            self.expired, self.app_waiting, self.app_skipped,
        )

    def _missed(self) -> int | None:
        missed = [kernel_fields(m.kernel, c[_IP])[-1] for c, m in zip(self._counters, self._meta)
                  if m.kernel is not None]
        known = [n for n in missed if n is not None]
        return sum(known) if known else None


def host_apps_text(h: Host) -> str:
    """A host's application protocols, most bytes first: ``"tls dns http"``."""
    if not h.apps:
        return ""
    return " ".join(app for app, _ in sorted(h.apps.items(), key=lambda kv: (-kv[1], kv[0])))


def _move_hist(target: list, hist, total: int, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) a conversation's recent seconds (its packed
    history, :func:`tuimon.engine.rates.bump_total`, of ``total`` bytes) to/from a
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
