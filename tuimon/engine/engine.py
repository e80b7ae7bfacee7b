"""The accounting engine: ``ingest()`` packet records, ``snapshot()`` plain tables.

Per packet the engine touches two things only: its interface's counters (direction
included, when the record knows it) and one
*directional flow* ``(proto, src, dst, sport, dport)``. Hosts, protocols and
conversations are derived from the flows that changed, once per :meth:`fold` (once a
second, and before every snapshot), so their cost is per active flow, not per packet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tuimon.capture.decode import IN, IPV4, IPV6, NONIP, OUT, UNDECODED
from tuimon.engine.model import (
    ConversationRow,
    HostRow,
    InterfaceRow,
    ProtocolRow,
    Snapshot,
    Totals,
)
from tuimon.engine.names import Names, address_text, ethertype_name
from tuimon.engine.rates import bump, packet_rate, rates

# Flow list slots (a list, not an object: it is touched for every packet).
_P, _B, _LAST, _FLAGS, _GEN, _FIRST, _FP, _FB, _CONV, _REV, _KEY = range(11)
# Interface counter slots; per-kind packets/bytes live at 4 + 2 * kind, per-direction
# packets/bytes at _WAY + 2 * way (way IN = 1, OUT = 2).
_IP, _IB, _IFIRST, _ILAST = range(4)
_WAY = 4 + 2 * (IPV6 + 1) - 2
_COUNTERS = _WAY + 2 * (OUT + 1)

TCP_FLAG_NAMES = "FSRPAUECN"  # FIN SYN RST PSH ACK URG ECE CWR NS, bit 0 first


def tcp_flags_text(flags: int) -> str:
    return "".join(name for bit, name in enumerate(TCP_FLAG_NAMES) if flags >> bit & 1)


class Host:
    __slots__ = ("addr", "packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b", "first", "last", "hist")

    def __init__(self, addr: int, first: float) -> None:
        self.addr = addr
        self.packets = self.bytes = self.tx_p = self.tx_b = self.rx_p = self.rx_b = 0
        self.first = self.last = first
        self.hist: list = []


class Conversation:
    """Both directions of one (protocol, A, port A, B, port B); A sent the first packet."""

    __slots__ = ("proto", "a", "pa", "b", "pb", "ab_p", "ab_b", "ba_p", "ba_b", "first", "last",
                 "flags", "service", "hist")

    def __init__(self, key: tuple, first: float, service: str | None) -> None:
        self.proto, self.a, self.b, self.pa, self.pb = key
        self.ab_p = self.ab_b = self.ba_p = self.ba_b = 0
        self.first = self.last = first
        self.flags = 0
        self.service = service
        self.hist: list = []


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
    def __init__(self, names: Names | None = None) -> None:
        self.names = names or Names()
        self.now: float | None = None  # the capture clock: newest packet time, or advance()
        self._counters: list[list] = []
        self._meta: list[InterfaceMeta] = []
        self._flows: dict[tuple, list] = {}
        self._dirty: list[list] = []
        self._gen = 0
        self.hosts: dict[int, Host] = {}
        self.conversations: list[Conversation] = []
        self._nonip: dict[int, list] = {}  # ethertype -> [packets, bytes]
        self._transport: dict[int, list] = {}  # IP protocol -> [packets, bytes, hist]
        self._services: dict[str, list] = {}  # service name -> [packets, bytes, hist]

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
        """Count packet records ``(iface, ts, wire_len, decoded, way)`` from a capture source."""
        flows, dirty, gen, counters = self._flows, self._dirty, self._gen, self._counters
        new_flow = self._new_flow
        newest = self.now if self.now is not None else -math.inf
        for ifidx, ts, wlen, dec, way in records:
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
                key = dec[1:6]
                f = flows.get(key)
                if f is None:
                    f = new_flow(key, ts)
                f[0] += 1
                f[1] += wlen
                f[3] |= dec[6]
                if ts > f[2]:
                    f[2] = ts
                if f[4] != gen:
                    f[4] = gen
                    dirty.append(f)
            elif kind == NONIP:
                n = self._nonip.get(dec[1])
                if n is None:
                    n = self._nonip[dec[1]] = [0, 0, []]
                n[0] += 1
                n[1] += wlen
        if newest > -math.inf:
            self.now = newest

    def _new_flow(self, key: tuple, ts: float) -> list:
        proto, src, dst, sport, dport = key
        conv, rev = None, False
        if sport is not None or proto not in (6, 17):  # fragments without ports: hosts only
            back = self._flows.get((proto, dst, src, dport, sport))
            if back is not None and back[_CONV] is not None:
                conv, rev = back[_CONV], True
            else:
                conv = Conversation(key, ts, self.names.service(proto, sport, dport))
                self.conversations.append(conv)
        f = [0, 0, ts, 0, -1, ts, 0, 0, conv, rev, key]
        self._flows[key] = f
        return f

    def conversation(self, key: tuple) -> Conversation | None:
        """The conversation of a row key ``(proto, a, port a, b, port b)``, if counted."""
        proto, a, pa, b, pb = key
        f = self._flows.get((proto, a, b, pa, pb))
        return f[_CONV] if f is not None else None

    # -- folding flows into hosts, protocols, conversations ----------------------------

    def advance(self, now: float) -> None:
        """Move the clock on without packets (live capture on a quiet link)."""
        if self.now is None or now > self.now:
            self.now = now

    def fold(self) -> None:
        """Apply what the flows counted since the last fold to the derived tables."""
        sec = int(self.now) if self.now is not None else 0
        hosts, transport, services = self.hosts, self._transport, self._services
        for f in self._dirty:
            p, b = f[_P], f[_B]
            dp, db = p - f[_FP], b - f[_FB]
            f[_FP], f[_FB] = p, b
            proto, src, dst = f[_KEY][:3]
            first, last = f[_FIRST], f[_LAST]
            h = hosts.get(src)
            if h is None:
                h = hosts[src] = Host(src, first)
            h.packets += dp
            h.bytes += db
            h.tx_p += dp
            h.tx_b += db
            if first < h.first:
                h.first = first
            if last > h.last:
                h.last = last
            bump(h.hist, sec, db)
            if dst != src:
                h = hosts.get(dst)
                if h is None:
                    h = hosts[dst] = Host(dst, first)
                h.packets += dp
                h.bytes += db
                if first < h.first:
                    h.first = first
                if last > h.last:
                    h.last = last
                bump(h.hist, sec, db)
            h.rx_p += dp
            h.rx_b += db
            t = transport.get(proto)
            if t is None:
                t = transport[proto] = [0, 0, []]
            t[0] += dp
            t[1] += db
            bump(t[2], sec, db)
            conv = f[_CONV]
            if conv is not None:
                if f[_REV]:
                    conv.ba_p += dp
                    conv.ba_b += db
                else:
                    conv.ab_p += dp
                    conv.ab_b += db
                if last > conv.last:
                    conv.last = last
                conv.flags |= f[_FLAGS]
                bump(conv.hist, sec, db)
                if conv.service:
                    s = services.get(conv.service)
                    if s is None:
                        s = services[conv.service] = [0, 0, []]
                    s[0] += dp
                    s[1] += db
                    bump(s[2], sec, db)
        self._dirty.clear()
        self._gen += 1
        for c, meta in zip(self._counters, self._meta):
            if c[_IB] != meta.folded_b:
                bump(meta.hist, sec, c[_IB] - meta.folded_b, c[_IP] - meta.folded_p)
                meta.folded_b, meta.folded_p = c[_IB], c[_IP]

    # -- reading ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        self.fold()
        now = self.now
        return Snapshot(now, self.totals(), self.interface_rows(), self.host_rows(),
                        self.protocol_rows(), self.conversation_rows())

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

    def host_rows(self, hosts: Sequence[Host] | None = None) -> list[HostRow]:
        now = self.now
        return [HostRow(address_text(h.addr), h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b,
                        h.first, h.last, *rates(h.hist, now))
                for h in (self.hosts.values() if hosts is None else hosts)]

    def protocol_rows(self) -> list[ProtocolRow]:
        now = self.now
        rows = []
        ip4 = sum(c[4 + 2 * IPV4] for c in self._counters), sum(c[5 + 2 * IPV4] for c in self._counters)
        ip6 = sum(c[4 + 2 * IPV6] for c in self._counters), sum(c[5 + 2 * IPV6] for c in self._counters)
        und = (sum(c[4 + 2 * UNDECODED] for c in self._counters),
               sum(c[5 + 2 * UNDECODED] for c in self._counters))
        for name, (p, b) in (("ipv4", ip4), ("ipv6", ip6), ("undecoded", und)):
            if p:
                rows.append(ProtocolRow(name, p, b, "network"))
        for etype, (p, b, hist) in self._nonip.items():
            rows.append(ProtocolRow(ethertype_name(etype), p, b, "network", *rates(hist, now)))
        for proto, (p, b, hist) in self._transport.items():
            rows.append(ProtocolRow(self.names.ip_protocol(proto), p, b, "transport", *rates(hist, now)))
        for service, (p, b, hist) in self._services.items():
            rows.append(ProtocolRow(service, p, b, "service", *rates(hist, now)))
        return rows

    def conversation_rows(self, convs: Sequence[Conversation] | None = None) -> list[ConversationRow]:
        now, names = self.now, self.names
        return [ConversationRow(names.ip_protocol(c.proto), address_text(c.a), c.pa,
                                address_text(c.b), c.pb, c.ab_p, c.ab_b, c.ba_p, c.ba_b,
                                c.first, c.last, tcp_flags_text(c.flags) if c.proto == 6 else "",
                                c.service or "", *rates(c.hist, now))
                for c in (self.conversations if convs is None else convs)]

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
            len(self.hosts), len(self.conversations),
            *(sum(r[i] for r in hist_rates) for i in range(3)),
            sum(packet_rate(m.hist, self.now) for m in self._meta),
            any(m.drops is not None for m in self._meta), self._missed(),
        )

    def _missed(self) -> int | None:
        missed = [kernel_fields(m.kernel, c[_IP])[-1] for c, m in zip(self._counters, self._meta)
                  if m.kernel is not None]
        known = [n for n in missed if n is not None]
        return sum(known) if known else None
