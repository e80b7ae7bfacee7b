"""Named counters as configured: ``--counter NAME=EXPR`` and ``--counters FILE`` checked
and compiled for the core (:mod:`tuimon.core.counters`).

An expression is written in the display filter's language (:mod:`tuimon.server.filter`):
``host``, ``net``, ``port``, ``proto``, ``and``/``or``/``not``, parentheses, IPv6 too. Per
packet it means:

* ``host A`` / ``net N``: the outermost IP header's source or destination;
* ``port P``: the TCP or UDP source or destination port (a service name: its ports);
* ``proto tcp`` (a number, ``icmp`` -- ICMP and ICMPv6 --, ...): the outermost IP header's
  protocol; ``proto ip``/``ipv4``/``ip6``/``ipv6``: the address family;
  ``proto SERVICE`` (``https``, ``domain``): the service's TCP ports for TCP packets, its
  UDP ports for UDP packets.

Refused, with a line that says why: plain words (they search a row's text, a packet has
none) and application protocols under Wireshark's names (``proto tls``, ``proto dns``):
those are known only once tshark has seen a conversation's first packets, after they were
counted, so a counter could not count them exactly; ``port 443`` or ``proto https``
counts the traffic of the port instead.
"""

from __future__ import annotations

import re

from tuimon.core.counters import CounterSpec
from tuimon.core.names import Names
from tuimon.errors import TuimonError
from tuimon.server.filter import (
    And,
    FilterError,
    HostTerm,
    NetTerm,
    Not,
    Or,
    PortTerm,
    ProtoTerm,
    Text,
    parse,
)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}\Z")


class CounterError(TuimonError):
    """A counter that cannot be counted: its name or its expression."""


def _tree(node, names: Names) -> tuple:
    if isinstance(node, Not):
        return ("not", _tree(node.node, names))
    if isinstance(node, And):
        return ("and", _tree(node.left, names), _tree(node.right, names))
    if isinstance(node, Or):
        return ("or", _tree(node.left, names), _tree(node.right, names))
    if isinstance(node, HostTerm):
        return ("host", node.addr)
    if isinstance(node, NetTerm):
        return ("net", node.v6, node.bits, node.shift)
    if isinstance(node, PortTerm):
        return ("port", node.ports)
    if isinstance(node, ProtoTerm):
        return _proto(node, names)
    if isinstance(node, Text):
        raise FilterError(f"{node.text!r} is not a counter term: use host, net, port or proto "
                          f"(and, or, not)")
    raise FilterError(f"cannot count {node!r}")


def _proto(node: ProtoTerm, names: Names) -> tuple:
    if node.family is not None:
        return ("family", node.family)
    if node.numbers:
        return ("proto", node.numbers)
    if node.services:
        parts = []
        for number, transport in ((6, "tcp"), (17, "udp")):
            ports = frozenset(port for (port, t), name in names.services.items()
                              if t == transport and name in node.services)
            if ports:
                parts.append(("and", ("proto", frozenset({number})), ("port", ports)))
        tree = parts[0]
        for part in parts[1:]:
            tree = ("or", tree, part)
        return tree
    wanted = ", ".join(sorted(node.apps or node.rows))
    if not node.apps:
        raise FilterError(f"'proto {wanted}' is not an IP protocol, address family or "
                          f"service: a counter counts IP packets")
    raise FilterError(f"'proto {wanted}' is known only after tshark has seen a "
                      f"conversation's first packets, so it cannot be counted per packet: "
                      f"count its port instead (port 443, proto https)")


def compile_counter(name: str, expression: str, names: Names | None = None) -> CounterSpec:
    """A counter's spec, or raise :class:`CounterError` naming the counter and the
    problem in one line."""
    if not NAME.match(name or ""):
        raise CounterError(f"counter {name!r}: a name is 1-64 letters, digits and _ . : + - "
                           f"(starting with a letter or digit)")
    try:
        node = parse(expression, names)
        if node is None:
            raise FilterError("no expression (NAME=EXPR, e.g. web='port 443')")
        tree = _tree(node, names or Names())
    except FilterError as err:
        raise CounterError(f"counter {name!r}: {err}") from None
    return CounterSpec(name, " ".join(expression.split()), tree)


def split_counter(text: str) -> tuple[str, str]:
    """``NAME=EXPR`` (or ``NAME = EXPR``) -> (name, expression)."""
    name, eq, expression = text.partition("=")
    if not eq:
        raise CounterError(f"counter {text.strip()!r}: write it NAME=EXPR, e.g. "
                           f"web='port 443'")
    return name.strip(), expression.strip()


def read_counters(path: str) -> list[tuple[str, str]]:
    """The ``NAME = EXPR`` lines of a counters file (``#`` starts a comment)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 text"
        raise CounterError(f"--counters {path}: {reason}") from None
    out = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(split_counter(line))
        except CounterError as err:
            raise CounterError(f"{path}:{number}: {err}") from None
    return out


def compile_all(pairs: list[tuple[str, str]], names: Names | None = None) -> list[CounterSpec]:
    """Every counter compiled; a name given twice is refused."""
    names = names or Names()
    specs, seen = [], set()
    for name, expression in pairs:
        if name in seen:
            raise CounterError(f"counter {name!r}: the name is given twice")
        seen.add(name)
        specs.append(compile_counter(name, expression, names))
    return specs
