"""The display filter: ``/`` in the UI.

Language (keywords are case-insensitive)::

    expr     := or_expr
    or_expr  := and_expr ( ("or" | "||") and_expr )*
    and_expr := unary ( [ "and" | "&&" ] unary )*      adjacent terms are and-ed
    unary    := ("not" | "!") unary | "(" expr ")" | term
    term     := "host" ADDR | "net" CIDR | "port" PORT | "proto" NAME | WORD | "quoted text"

* ``WORD`` / ``"quoted text"``: a case-insensitive substring of any text cell of the row
  (addresses, ports as shown, protocol, service, flags, interface name, link, layer).
  Counters are not searched. Quote text that would read as a keyword: ``"not"``.
* ``host ADDR``: an IPv4 or IPv6 address. ``net CIDR``: ``10.0.0.0/8``, ``2001:db8::/32``
  (a bare address means that one host).
* ``port PORT``: a number 0-65535 or a service name from /etc/services (``port https``).
* ``proto NAME``: an IP protocol (``tcp``, ``udp``, ``icmp`` -- ICMP and ICMPv6 --,
  ``gre``, a number), a service name (``https``, ``domain``), an application protocol
  under Wireshark's name (``tls``, ``dns``, ``quic``: what the dissector or the port guess
  named the conversation), an address family (``ip``/``ipv4``, ``ip6``/``ipv6``) or, for
  the protocols view, an ethertype (``arp``) or a link type (``ether``).

What each term means per view:

=============  ===============================  ==================================
term           hosts                            conversations
=============  ===============================  ==================================
host / net     the host's address               either endpoint
port           the host has a conversation      either endpoint's port
               on that port
proto          the host has a conversation      the conversation's IP protocol,
               of that protocol                 service, application protocol
                                                or address family
=============  ===============================  ==================================

Counters view: text only (a counter's name or expression). Stations view: ``host`` and
``net`` pick the stations that sent from a matching address; words search the MAC
address, vendor, VLAN ids and addresses. Sizes view: text only (the interface). Ports
view: ``port`` picks the port, ``proto`` tcp or udp or a service name; words search the
protocol, port and service.
Protocols view: ``proto`` picks the rows of that name (``proto icmp`` shows icmp and
icmpv6; a service name picks the application rows it is guessed as: ``proto https`` shows
tls), ``port N`` the application rows a port-N service is guessed as. Interfaces view:
text only.
A term that has no meaning in a view (``host`` on the protocols view) is left out of the
expression there, as if it were not written, so one filter can stay on while switching
views. If nothing applies, the view is unfiltered.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tuimon.capture.decode import V6
from tuimon.core.conversation import tcp_flags_text
from tuimon.capture.linktypes import LINKTYPES
from tuimon.core.names import (
    ETHERTYPES,
    IP_PROTOCOLS,
    PORT_APPS,
    Names,
    address_text,
    parse_address,
    port_app,
)


class FilterError(ValueError):
    """An expression that does not parse; ``str()`` is a one-line message for the user."""


# -- the tree ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Text:
    text: str  # lower case


@dataclass(frozen=True)
class HostTerm:
    addr: int


@dataclass(frozen=True)
class NetTerm:
    v6: bool
    bits: int  # network bits, shifted right
    shift: int  # host bits


@dataclass(frozen=True)
class PortTerm:
    ports: frozenset


@dataclass(frozen=True)
class ProtoTerm:
    numbers: frozenset  # IP protocol numbers
    services: frozenset  # service names
    rows: frozenset  # protocols-view row names
    family: int | None = None  # 4 or 6
    apps: frozenset = frozenset()  # application protocol names


@dataclass(frozen=True)
class Not:
    node: object


@dataclass(frozen=True)
class And:
    left: object
    right: object


@dataclass(frozen=True)
class Or:
    left: object
    right: object


# -- parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|\'([^\']*)\'|(&&|\|\||!)|([^\s()"\']+)|(["\']))')
_KEYWORDS = {"and", "or", "not", "host", "net", "port", "proto", "&&", "||", "!"}
_FAMILIES = {"ip": 4, "ipv4": 4, "ip4": 4, "ip6": 6, "ipv6": 6}


def _tokens(text: str) -> list[tuple[str, str]]:
    """[(kind, value)]: kind is '(' ')' 'word' 'text' (quoted) or 'kw'."""
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        lp, rp, dq, sq, op, word, stray = m.groups()
        if lp:
            out.append(("(", lp))
        elif rp:
            out.append((")", rp))
        elif dq is not None or sq is not None:
            out.append(("text", dq if dq is not None else sq))
        elif op:
            out.append(("kw", {"&&": "and", "||": "or", "!": "not"}[op]))
        elif stray:
            raise FilterError(f"unterminated quote {stray}")
        elif word.lower() in _KEYWORDS:
            out.append(("kw", word.lower()))
        else:
            out.append(("word", word))
    return out


class _Parser:
    def __init__(self, tokens: list, names: Names) -> None:
        self.tokens = tokens
        self.pos = 0
        self.names = names

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self):
        left = self.and_expr()
        while self.peek() == ("kw", "or"):
            self.take()
            if self.peek()[0] in (None, ")"):
                raise FilterError("'or' needs something after it")
            left = Or(left, self.and_expr())
        return left

    def and_expr(self):
        left = self.unary()
        while True:
            kind, value = self.peek()
            if (kind, value) == ("kw", "and"):
                self.take()
                if self.peek()[0] in (None, ")") or self.peek() == ("kw", "or"):
                    raise FilterError("'and' needs something after it")
            elif kind in (None, ")") or (kind, value) == ("kw", "or"):
                return left
            left = And(left, self.unary())

    def unary(self):
        kind, value = self.take()
        if kind is None:
            raise FilterError("the expression ends too early")
        if kind == "kw" and value == "not":
            if self.peek()[0] in (None, ")"):
                raise FilterError("'not' needs something after it")
            return Not(self.unary())
        if kind == "(":
            if self.peek()[0] == ")":
                raise FilterError("empty parentheses")
            node = self.expr()
            if self.take()[0] != ")":
                raise FilterError("missing ')'")
            return node
        if kind == ")":
            raise FilterError("unexpected ')'")
        if kind == "kw" and value in ("and", "or"):
            raise FilterError(f"'{value}' needs something before it")
        if kind == "kw":
            arg_kind, arg = self.take()
            if arg_kind not in ("word", "text"):
                raise FilterError(f"'{value}' needs {_ARG_NAMES[value]}")
            return _TERMS[value](arg, self.names)
        return Text(value.lower())


_ARG_NAMES = {"host": "an address", "net": "a network like 10.0.0.0/8",
              "port": "a port number or service name", "proto": "a protocol name"}


def _host(arg: str, names: Names) -> HostTerm:
    try:
        return HostTerm(parse_address(arg.strip("[]")))
    except ValueError:
        raise FilterError(f"host: {arg!r} is not an IP address") from None


def _net(arg: str, names: Names) -> NetTerm:
    try:
        net = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise FilterError(f"net: {arg!r} is not a network like 10.0.0.0/8") from None
    shift = net.max_prefixlen - net.prefixlen
    return NetTerm(net.version == 6, int(net.network_address) >> shift, shift)


def _port(arg: str, names: Names) -> PortTerm:
    if arg.isdigit():
        port = int(arg)
        if port > 65535:
            raise FilterError(f"port: {arg} is out of range (0-65535)")
        return PortTerm(frozenset({port}))
    wanted = arg.lower()
    ports = frozenset(port for (port, _), name in names.services.items() if name == wanted)
    if not ports:
        raise FilterError(f"port: {arg!r} is neither a number nor a known service")
    return PortTerm(ports)


def _ip_protocols(names: Names) -> dict[str, int]:
    table = names.ip_protocol_numbers()
    table.update({name: number for number, name in IP_PROTOCOLS.items()})
    table["icmp6"] = table["ipv6-icmp"] = 58
    return table


def _proto(arg: str, names: Names) -> ProtoTerm:
    wanted = arg.lower()
    if wanted in _FAMILIES:
        family = _FAMILIES[wanted]
        return ProtoTerm(frozenset(), frozenset(), frozenset({f"ipv{family}"}), family)
    numbers: set[int] = set()
    if wanted.isdigit() and int(wanted) < 256:
        numbers.add(int(wanted))
    else:
        number = _ip_protocols(names).get(wanted)
        if number is not None:
            numbers.add(number)
        if wanted == "icmp":
            numbers.add(58)
    services = {wanted} if wanted in set(names.services.values()) else set()
    apps = {wanted} if wanted in names.apps or wanted in set(PORT_APPS.values()) else set()
    rows = {names.ip_protocol(n) for n in numbers} | services | apps
    rows |= {port_app(s, p) for s in services for p in (6, 17)}
    if (wanted in ETHERTYPES.values() or wanted == "undecoded"
            or wanted in {name for name, _ in LINKTYPES.values()}):
        rows.add(wanted)
    if not rows:
        raise FilterError(f"proto: unknown protocol or service {arg!r}")
    return ProtoTerm(frozenset(numbers), frozenset(services), frozenset(rows),
                     apps=frozenset(apps))


_TERMS = {"host": _host, "net": _net, "port": _port, "proto": _proto}


def parse(text: str, names: Names | None = None):
    """The expression tree of ``text``, None for an empty filter; raise FilterError."""
    tokens = _tokens(text or "")
    if not tokens:
        return None
    parser = _Parser(tokens, names or _default_names())
    node = parser.expr()
    if parser.pos < len(tokens):
        kind, value = parser.peek()
        raise FilterError("unexpected ')'" if kind == ")" else f"unexpected {value!r}")
    return node


def check(text: str, names: Names | None = None) -> str | None:
    """None when ``text`` is a valid filter, else the error message."""
    try:
        parse(text, names)
    except FilterError as err:
        return str(err)
    return None


_NAMES: Names | None = None


def _default_names() -> Names:
    global _NAMES
    if _NAMES is None:
        _NAMES = Names()
    return _NAMES


# -- evaluation --------------------------------------------------------------------------

class FilterContext:
    """What predicates need beyond the row: the engine (for hosts-view port/proto terms)
    and a cache of the text that plain words are matched against."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self._conv_text: dict = {}  # Conversation -> (flags, text)
        # the texts of the engine's conversations by slot (texts), and what each was made
        # of (Engine.text_stamps): made again when that changes
        self._slot_text: dict[int, str] = {}
        self._stamps = np.zeros((0, 3), np.int64)

    def texts(self, slots: np.ndarray) -> list[str]:
        """The texts plain words are matched against (as :meth:`conversation_text`), of
        the engine's conversations at ``slots``: made once, again when its TCP flags or
        its label change."""
        engine = self.engine
        stamps = engine.text_stamps(slots)
        if len(slots) and int(slots.max()) >= len(self._stamps):
            grown = np.full((max(2 * len(self._stamps), int(slots.max()) + 1), 3), -1, np.int64)
            grown[:len(self._stamps)] = self._stamps
            self._stamps = grown
        stale = slots[(self._stamps[slots] != stamps).any(axis=1)]
        if len(stale):
            names = engine.names
            cache = self._slot_text
            for slot, (key, fwd, flags, service, app) in zip(stale.tolist(),
                                                             engine.text_parts(stale)):
                proto, lo, hi, plo, phi = key
                if not fwd:
                    lo, hi, plo, phi = hi, lo, phi, plo
                cache[slot] = _text(names, proto, lo, plo, hi, phi, service, flags, app)
            self._stamps[stale] = engine.text_stamps(stale)
        cache = self._slot_text
        return [cache[s] for s in slots.tolist()]

    def conversation_text(self, c) -> str:
        entry = self._conv_text.get(c)
        if entry is None or entry[0] != c.flags:
            text = _text(self.engine.names, c.proto, c.a, c.pa, c.b, c.pb, c.service,
                         c.flags, c.app)
            if len(self._conv_text) > 2 * len(self.engine.conversations) + 10_000:
                self._conv_text.clear()  # conversations that left the table
            entry = self._conv_text[c] = (c.flags, text, c.app)
        elif entry[2] != c.app:  # relabelled by the dissector
            del self._conv_text[c]
            return self.conversation_text(c)
        return entry[1]


def _text(names, proto: int, a: int, pa, b: int, pb, service, flags: int, app) -> str:
    """The text plain words are matched against, of a conversation's parts (A first)."""
    return " ".join((names.ip_protocol(proto), _endpoint(a, pa), _endpoint(b, pb),
                     service or "", tcp_flags_text(flags) if proto == 6 else "",
                     app or "")).lower()


def _endpoint(addr: int, port) -> str:
    text = address_text(addr)
    if port is None:
        return text
    return f"[{text}]:{port}" if addr >= V6 else f"{text}:{port}"


def _addr_pred(node) -> Callable[[int], bool]:
    if isinstance(node, HostTerm):
        addr = node.addr
        return lambda a: a == addr
    v6, bits, shift = node.v6, node.bits, node.shift
    if v6:
        return lambda a: a >= V6 and ((a ^ V6) >> shift) == bits
    return lambda a: a < V6 and (a >> shift) == bits


def _conversation_pred(node, ctx: FilterContext):
    if isinstance(node, Text):
        needle = node.text
        text = ctx.conversation_text
        return lambda c: needle in text(c)
    if isinstance(node, (HostTerm, NetTerm)):
        match = _addr_pred(node)
        return lambda c: match(c.key[1]) or match(c.key[2])
    if isinstance(node, PortTerm):
        ports = node.ports
        return lambda c: c.key[3] in ports or c.key[4] in ports
    if isinstance(node, ProtoTerm):
        if node.family is not None:
            v6 = node.family == 6
            return lambda c: (c.key[1] >= V6) == v6
        numbers, services, apps = node.numbers, node.services, node.apps
        return lambda c: c.key[0] in numbers or c.service in services or c.app in apps
    return None


class NotColumnar(Exception):
    """A filter the store's columns cannot answer (a plain word): the objects do."""


_M64 = (1 << 64) - 1


def conversation_mask(node, ctx: FilterContext | None = None):
    """The Conversations view's filter over the engine's columns: a function of the
    store's fields and its name-id lookup (:meth:`Engine.filtered`) giving a mask of the
    conversations kept, exactly as :func:`_conversation_pred` keeps them one by one; None
    when no part of the expression applies to conversations. A plain word is matched
    against each conversation's text (:meth:`FilterContext.texts`, ``ctx``'s; without
    one it raises :class:`NotColumnar`)."""
    if isinstance(node, Not):
        inner = conversation_mask(node.node, ctx)
        return None if inner is None else (lambda f, ids: _not(inner(f, ids)))
    if isinstance(node, (And, Or)):
        left, right = conversation_mask(node.left, ctx), conversation_mask(node.right, ctx)
        if left is None or right is None:
            return left or right
        if isinstance(node, And):
            return lambda f, ids: left(f, ids) & right(f, ids)
        return lambda f, ids: left(f, ids) | right(f, ids)
    if isinstance(node, Text):
        if ctx is None:
            raise NotColumnar(node.text)
        needle = node.text
        return lambda f, ids: np.array([needle in t for t in ctx.texts(f["slots"])], bool)
    if isinstance(node, (HostTerm, NetTerm)):
        return lambda f, ids: _addr_mask(node, f["lo"], f["lo_hi"], f["six"]) | \
            _addr_mask(node, f["hi"], f["hi_hi"], f["six"])
    if isinstance(node, PortTerm):
        ports = np.array(sorted(node.ports), np.int64)
        return lambda f, ids: np.isin(f["plo"], ports) | np.isin(f["phi"], ports)
    if isinstance(node, ProtoTerm):
        if node.family is not None:
            v6 = node.family == 6
            return lambda f, ids: f["six"] == v6
        numbers = np.array(sorted(node.numbers), np.int64)
        return lambda f, ids: (np.isin(f["proto"], numbers)
                               | np.isin(f["service"], ids(node.services))
                               | np.isin(f["app"], ids(node.apps)))
    return None


def _not(mask):
    return ~mask


def _addr_mask(node, low: np.ndarray, high: np.ndarray, six: np.ndarray) -> np.ndarray:
    """:func:`_addr_pred` over an address's two words (and whether it is IPv6)."""
    if isinstance(node, HostTerm):
        a = node.addr
        return (six == (a >= V6)) & (low == np.uint64(a & _M64)) & \
            (high == np.uint64(a >> 64 & _M64))
    bits, shift = node.bits, node.shift
    if not node.v6:
        return ~six & ((low >> np.uint64(shift)) == np.uint64(bits)) if shift < 64 else ~six
    if shift >= 64:
        return six & ((high >> np.uint64(shift - 64)) == np.uint64(bits))
    return six & (high == np.uint64(bits >> (64 - shift) & _M64)) & \
        ((low >> np.uint64(shift)) == np.uint64(bits & ((1 << (64 - shift)) - 1)))


def _matching_keys(node, ctx: FilterContext) -> list[tuple]:
    """The keys of the conversations in the table a port or protocol term keeps."""
    slots = ctx.engine.filtered(conversation_mask(node), live_only=True)
    return ctx.engine.keys_at(slots) if slots is not None else []


def _host_pred(node, ctx: FilterContext):
    if isinstance(node, Text):
        needle = node.text
        return lambda h: needle in address_text(h.addr).lower()
    if isinstance(node, (HostTerm, NetTerm)):
        match = _addr_pred(node)
        return lambda h: match(h.addr)
    if isinstance(node, ProtoTerm) and node.family is not None:
        v6 = node.family == 6  # the "(other hosts)" row (a negative address) is neither
        return lambda h: h.addr >= 0 and (h.addr >= V6) == v6
    if isinstance(node, (PortTerm, ProtoTerm)):
        addrs = set()
        for key in _matching_keys(node, ctx):
            addrs.add(key[1])
            addrs.add(key[2])
        return lambda h: h.addr in addrs
    return None


def _protocol_pred(node, ctx: FilterContext):
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in r.protocol.lower() or needle in r.layer
    if isinstance(node, ProtoTerm):
        rows = node.rows
        return lambda r: r.protocol in rows
    if isinstance(node, PortTerm):
        services = ctx.engine.names.services
        wanted = {port_app(name, 17 if transport == "udp" else 6)
                  for (port, transport), name in services.items() if port in node.ports}
        return lambda r: r.layer == "application" and r.protocol in wanted
    return None


def _interface_pred(node, ctx: FilterContext):
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in r.interface.lower() or needle in (r.link or "").lower()
    return None


def _counter_pred(node, ctx: FilterContext):
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in r.name.lower() or needle in r.expression.lower()
    return None


def _station_pred(node, ctx: FilterContext):
    """Stations: words search the MAC, vendor, VLAN ids and addresses; ``host``/``net``
    pick the stations an address of which matches (the addresses they sent from)."""
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in " ".join((r.mac, r.vendor, r.vlans, r.addresses)).lower()
    if isinstance(node, (HostTerm, NetTerm)):
        match = _addr_pred(node)
        return lambda r: any(match(a) for a in _row_addresses(r.addresses))
    return None


def _row_addresses(text: str) -> list[int]:
    out = []
    for word in text.split():
        try:
            out.append(parse_address(word))
        except ValueError:  # "+3 more"
            pass
    return out


def _size_pred(node, ctx: FilterContext):
    """Sizes: words search the interface's name."""
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in r.interface.lower()
    return None


def _port_pred(node, ctx: FilterContext):
    """Ports: ``port`` picks the port; ``proto`` tcp or udp, or a service name; words
    search the protocol, the port and the service."""
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in f"{r.protocol} {r.port} {r.service}".lower()
    if isinstance(node, PortTerm):
        ports = node.ports
        return lambda r: r.port in ports
    if isinstance(node, ProtoTerm):
        if node.family is not None:
            return None  # a port has no address family
        names = {IP_PROTOCOLS.get(n) for n in node.numbers}
        services = node.services
        return lambda r: r.protocol in names or r.service in services
    return None


def _pair_addrs(p) -> tuple[int, int]:
    key = p.key
    return (key[0], key[1]) if len(key) == 2 else (key[1], key[2])


def _pair_pred(node, ctx: FilterContext):
    """Pairs (tuimon.core.pairs.Pair): by addresses (key ``(lo, hi)``) or with their
    ports (key ``(proto, lo, hi, port lo, port hi)``, a conversation's)."""
    if isinstance(node, Text):
        needle = node.text
        names = ctx.engine.names

        def text(p) -> str:
            proto, a, pa, b, pb = p.endpoints()
            return " ".join((names.ip_protocol(proto) if proto is not None else "",
                             _endpoint(a, pa), _endpoint(b, pb))).lower()
        return lambda p: needle in text(p)
    if isinstance(node, (HostTerm, NetTerm)):
        match = _addr_pred(node)
        return lambda p: match(_pair_addrs(p)[0]) or match(_pair_addrs(p)[1])
    if isinstance(node, ProtoTerm) and node.family is not None:
        v6 = node.family == 6
        return lambda p: (_pair_addrs(p)[0] >= V6) == v6
    if isinstance(node, (PortTerm, ProtoTerm)):
        keys = set()  # the pairs (both granularities) of the conversations that match
        for key in _matching_keys(node, ctx):
            keys.add(key)
            keys.add((key[1], key[2]))
        if isinstance(node, PortTerm):
            ports = node.ports
            return lambda p: p.key in keys or (len(p.key) == 5 and (p.key[3] in ports
                                                                    or p.key[4] in ports))
        numbers = node.numbers
        return lambda p: p.key in keys or (len(p.key) == 5 and p.key[0] in numbers)
    return None


def _process_pred(node, ctx: FilterContext):
    """Processes: text only (the process's name or pid)."""
    if isinstance(node, Text):
        needle = node.text
        return lambda r: needle in r.name.lower() or (r.pid is not None and needle == str(r.pid))
    return None


_LEAVES = {"counters": _counter_pred, "stations": _station_pred, "sizes": _size_pred,
           "ports": _port_pred, "pairs": _pair_pred, "processes": _process_pred,
           "hosts": _host_pred, "conversations": _conversation_pred,
           "protocols": _protocol_pred, "interfaces": _interface_pred}


def compile_filter(node, view: str, ctx: FilterContext):
    """A predicate over the view's items (Host, Conversation or row), or None when no part
    of the expression applies to the view."""
    if node is None:
        return None
    if isinstance(node, Not):
        inner = compile_filter(node.node, view, ctx)
        return None if inner is None else (lambda x: not inner(x))
    if isinstance(node, (And, Or)):
        left = compile_filter(node.left, view, ctx)
        right = compile_filter(node.right, view, ctx)
        if left is None or right is None:
            return left or right
        if isinstance(node, And):
            return lambda x: left(x) and right(x)
        return lambda x: left(x) or right(x)
    return _LEAVES[view](node, ctx)
