"""Building the plain rows of :mod:`tuimon.core.model` from the engine's records:
interfaces, hosts, the protocol hierarchy, conversations and the totals.

:class:`RowBuilder` is handed exactly the tables it reads (the engine's own containers,
which it reads and never changes); what changes between calls -- the clock, the
conversations to show -- comes with each call. :class:`tuimon.core.engine.Engine`
keeps one and answers ``interface_rows()`` and the others through it."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tuimon.capture.decode import IN, IPV4, IPV6, NONIP, OUT, UNDECODED
from tuimon.core.conversation import _FLAG_TEXT, Conversation, Host
from tuimon.core.hosts import HostTable
from tuimon.core.ifmeta import _IB, _IFIRST, _ILAST, _IP, _WAY, kernel_fields
from tuimon.core.ifmeta import InterfaceMeta
from tuimon.core.model import ConversationRow, HostRow, InterfaceRow, ProtocolRow, Totals
from tuimon.core.names import OTHER_HOSTS, Names, address_text, ethertype_name
from tuimon.core.rates import packet_rate, rates, rates_packed, rates_total


class EndpointTexts:
    """A conversation's protocol, its name and its two ends in A-to-B order as the rows
    write them, ``(proto, name, address A, port A, address B, port B)``: each protocol name
    and address text made once (a call per conversation, for a million of them)."""

    def __init__(self, names) -> None:
        self.ip_protocol = names.ip_protocol
        self.protocols: dict[int, str] = {}
        self.texts: dict[int, str] = {}

    def __call__(self, key: tuple, fwd: bool) -> tuple:
        """Of a conversation's canonical ``key`` and whether A is its first address."""
        proto, lo, hi, plo, phi = key
        if not fwd:
            lo, hi, plo, phi = hi, lo, phi, plo
        name = self.protocols.get(proto)
        if name is None:
            name = self.protocols[proto] = self.ip_protocol(proto)
        texts = self.texts
        a = texts.get(lo)
        if a is None:
            a = texts[lo] = address_text(lo)
        b = texts.get(hi)
        if b is None:
            b = texts[hi] = address_text(hi)
        return proto, name, a, plo, b, phi


class RowBuilder:
    """The engine's tables as rows (see :meth:`Engine.snapshot`). ``counters`` and
    ``meta``: per interface, its counter slots and :class:`InterfaceMeta`;
    ``transport``: (v6, IP protocol) -> [packets, bytes, history]; ``apps``: (v6, IP
    protocol, app) -> the same; ``nonip``: ethertype -> the same."""

    __slots__ = ("counters", "meta", "transport", "apps", "nonip", "names")

    def __init__(self, counters: list[list], meta: list[InterfaceMeta], transport: dict,
                 apps: dict, nonip: dict, names: Names) -> None:
        self.counters, self.meta = counters, meta
        self.transport, self.apps, self.nonip = transport, apps, nonip
        self.names = names

    def interface_rows(self, now: float | None, peaks: bool = True) -> list[InterfaceRow]:
        """``peaks`` False: the engine keeps no rates beside the interfaces' own (headless),
        whose seconds are then a batch's, not the capture's: no peak (None)."""
        rows = []
        for c, meta in zip(self.counters, self.meta):
            ways = c[_WAY + 2 * IN: _WAY + 2 * OUT + 2]
            if not meta.direction and not any(ways):
                ways = [None] * 4
            kernel = kernel_fields(meta.kernel, c[_IP])
            rows.append(InterfaceRow(
                meta.name, c[_IP], c[_IB], meta.link,
                c[4 + 2 * IPV4], c[4 + 2 * IPV6], c[4 + 2 * NONIP], c[4 + 2 * UNDECODED],
                c[_IFIRST] if c[_IP] else None, c[_ILAST] if c[_IP] else None,
                meta.drops, meta.skipped, *rates(meta.hist, now), meta.reasons,
                *ways, *kernel, meta.peak if peaks else None))
        return rows

    @staticmethod
    def host_rows(hosts: Iterable[Host], now: float | None,
                  peaks: bool = True, table: HostTable | None = None) -> list[HostRow]:
        """Rows of ``hosts`` (``now`` None: rates left at 0; ``peaks`` False: the engine
        keeps no rates, so no peaks either: None, as for the other-hosts row). Hosts of
        ``table`` (the engine's) are read from its columns, all at once."""
        hosts = list(hosts)
        if table is not None and all(h._t is table for h in hosts):
            return table_rows([h.addr for h in hosts], [h.hid for h in hosts], now, peaks,
                              table)
        rows = []
        append = rows.append
        new_row = tuple.__new__  # HostRow(...) without its Python-level __new__
        r2 = r10 = r40 = 0.0  # (rates_packed's answer without a clock)
        peak = None
        for h in hosts:
            addr = h.addr
            if now is not None:
                r2, r10, r40 = rates_packed(h.hist, now)
            if peaks:
                peak = h.peak if addr != OTHER_HOSTS else None
            append(new_row(HostRow, (
                address_text(addr), h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b,
                h.first, h.last, r2, r10, r40, host_apps_text(h), peak, "")))
        return rows

    def protocol_rows(self, now: float | None) -> list[ProtocolRow]:
        """The protocol hierarchy, as ``tshark -z io,phs`` shows it: link, network, transport,
        application. Each row names its ``path`` (``ether/ipv4/tcp/tls``); network rows sit
        under the link row only when every interface has the same link type (conversations do not
        know their interface, so the layers above cannot be split by link)."""
        names, counters = self.names, self.counters
        total = sum(c[_IB] for c in counters) or 1
        rows: list[ProtocolRow] = []

        def add(name, p, b, layer, parent, r=(0.0, 0.0, 0.0)):
            path = f"{parent}/{name}" if parent else name
            rows.append(ProtocolRow(name, p, b, layer, *r, path, path.count("/"), 100.0 * b / total))
            return path

        links: dict[str, list] = {}
        for c, meta in zip(counters, self.meta):
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
        for (v6, proto), (p, b, hist) in self.transport.items():
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
                for (av6, aproto, app), (ap, ab, hist) in self.apps.items():
                    if av6 == v6 and aproto == proto and ap:
                        add(app, ap, ab, "application", tpath, rates(hist, now))
        for etype, (p, b, hist) in self.nonip.items():
            add(ethertype_name(etype), p, b, "network", top, rates(hist, now))
        und = sum(c[4 + 2 * UNDECODED] for c in counters)
        if und:
            add("undecoded", und, sum(c[5 + 2 * UNDECODED] for c in counters), "network", top)
        return rows

    def conversation_rows(self, convs: Iterable[Conversation], now: float | None,
                          with_rates: bool = True, nat_of=None) -> list[ConversationRow]:
        """``nat_of``: conversation -> the reply tuple's text of a NATed flow, or "" (the
        conntrack source's :meth:`tuimon.core.flows.FlowAccounts.nat_text`)."""
        rows = []
        append = rows.append
        new_row = tuple.__new__  # ConversationRow(...) without its Python-level __new__
        flag_text = _FLAG_TEXT
        endpoints = EndpointTexts(self.names)
        r2 = r10 = r40 = 0.0  # without rates
        nat = ""  # without nat_of
        for c in convs:
            proto, name, a, plo, b, phi = endpoints(c.key, c.fwd)
            if with_rates:
                r2, r10, r40 = rates_total(c.hist, c.ab_b + c.ba_b, now)
            if nat_of is not None:
                nat = nat_of(c)
            append(new_row(ConversationRow, (
                name, a, plo, b, phi,
                c.ab_p, c.ab_b, c.ba_p, c.ba_b, c.first, c.last,
                flag_text[c.flags_ab | c.flags_ba] if proto == 6 else "",
                c.service or "", r2, r10, r40, c.app or "", c.app_src, nat)))
        return rows

    def totals(self, now: float | None, hosts: int, conversations: int, expired: int,
               app_waiting: int, app_skipped: int, hosts_folded: int = 0,
               expired_listed: int = 0) -> Totals:
        """The totals; the counts of ``hosts`` (in the table, the other-hosts row not
        counted), ``conversations`` (in the table), ``expired`` ones, those waiting for or
        skipped by the dissector and ``hosts_folded`` are the engine's."""
        counters, metas = self.counters, self.meta
        packets = sum(c[_IP] for c in counters)
        firsts = [c[_IFIRST] for c in counters if c[_IP]]
        lasts = [c[_ILAST] for c in counters if c[_IP]]
        hist_rates = [rates(m.hist, now) for m in metas]
        return Totals(
            packets, sum(c[_IB] for c in counters),
            min(firsts) if firsts else None, max(lasts) if lasts else None,
            sum(c[4 + 2 * UNDECODED] for c in counters),
            sum(m.skipped for m in metas), sum(m.drops or 0 for m in metas),
            hosts, conversations,
            *(sum(r[i] for r in hist_rates) for i in range(3)),
            sum(packet_rate(m.hist, now) for m in metas),
            any(m.drops is not None for m in metas), self._missed(),
            expired, app_waiting, app_skipped, hosts_folded, expired_listed,
        )

    def _missed(self) -> int | None:
        missed = [kernel_fields(m.kernel, c[_IP])[-1] for c, m in zip(self.counters, self.meta)
                  if m.kernel is not None]
        known = [n for n in missed if n is not None]
        return sum(known) if known else None


def table_rows(addrs: list[int], ids: list[int], now: float | None, peaks: bool,
               table: HostTable) -> list[HostRow]:
    """:meth:`RowBuilder.host_rows` of the hosts of ``table`` with these addresses and
    ids: its columns read at once (no host objects)."""
    hids = np.array(ids, np.int64)
    zeros = [0.0] * len(hids)
    rates = [r.tolist() for r in table.rates(hids, now)] if now is not None else \
        [zeros, zeros, zeros]
    peak = table.peak[hids].tolist() if peaks else [None] * len(hids)
    new_row = tuple.__new__
    names, more = table.names, table.more
    # apps_text(table.apps_of(hid)) of each: most hosts have one protocol (a name id)
    apps = [names[a] if a > 0 else "" if a == 0 else apps_text(more[hid])
            for a, hid in zip(table.app[hids].tolist(), ids)]
    return [new_row(HostRow, (address_text(addr), *figures, r2, r10, r40,
                              app, p if addr != OTHER_HOSTS else None, ""))
            for addr, app, figures, r2, r10, r40, p in zip(
                addrs, apps,
                zip(*(getattr(table, name)[hids].tolist() for name in
                      ("packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b", "first", "last"))),
                *rates, peak)]


def host_apps_text(h: Host) -> str:
    """A host's application protocols, most bytes first: ``"tls dns http"``."""
    return apps_text(h.apps)


def apps_text(apps: dict | None) -> str:
    """Application protocol -> bytes as :func:`host_apps_text` writes them."""
    if not apps:
        return ""
    if len(apps) == 1:  # most hosts: nothing to sort
        return next(iter(apps))
    return " ".join(app for app, _ in sorted(apps.items(), key=lambda kv: (-kv[1], kv[0])))
