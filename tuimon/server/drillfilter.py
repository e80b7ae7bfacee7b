"""Drill everywhere: the Conversations view's filter for what is behind a row of another
view (``Enter`` on a host, a protocol, a pair, a port, a station).

:func:`drill_filter` maps a view and the row under the cursor (the page's row and its key,
as the UI holds them) to filter text in the display filter's language
(:mod:`tuimon.server.filter`), which the UI puts in the filter bar, where the user sees it
and can edit it. ``None`` with a reason when nothing in the language picks the row's
conversations. Pure text: no engine, no Textual, so the UI and tests call it directly.

Per view:

* ``hosts``: ``host ADDR`` (the ``(other hosts)`` row has no address: none);
* ``protocols``: the row's path in the hierarchy as ``proto`` terms, ``ether/ipv4/udp/dns``
  -> ``proto ipv4 and proto udp and proto dns``; a link row, a non-IP ethertype or
  undecoded frames have no conversations: none;
* ``pairs``: ``host A and host B``, with ports ``proto tcp and host A and port PA and
  host B and port PB`` (a port term matches either side: with the hosts it picks the pair's
  conversations and perhaps one the other way round on the same ports);
* ``ports``: ``port N``, ``proto tcp and port N`` when the row names its protocol;
* ``stations``: ``host A or host B ...`` over the IP addresses seen behind the station;
  the filter language has no MAC address term, so a station without IP addresses has none.
"""

from __future__ import annotations

import ipaddress
import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # a protocol name the filter can take
_NETWORK = {"ipv4": "ipv4", "ipv6": "ipv6"}


class NoDrill(ValueError):
    """Nothing in the filter language picks this row's conversations; ``str()`` says why."""


def _address(text) -> str:
    """An address as the filter takes it (checked: never arbitrary text into a filter)."""
    try:
        return str(ipaddress.ip_address(str(text).strip("[]")))
    except ValueError:
        raise NoDrill(f"{text!s} is not an IP address: no conversation has it") from None


def _name(text: str) -> str:
    if not _NAME.match(text or ""):
        raise NoDrill(f"{text!r} is not a protocol the filter knows")
    return text.lower()


def _host(row) -> str:
    return f"host {_address(row.address)}"


def _protocol(row) -> str:
    parts = [p for p in (row.path or row.protocol).split("/")]
    terms = []
    for depth, part in enumerate(parts):
        if part in _NETWORK:
            terms.append(f"proto {_NETWORK[part]}")
            terms += [f"proto {_name(p)}" for p in parts[depth + 1:]]
            break
    if not terms:
        raise NoDrill(f"{row.protocol}: conversations are IP traffic; this row holds none")
    return " and ".join(terms)


def _pair(row) -> str:
    a, b = _address(row.address_a), _address(row.address_b)
    if row.port_a is None or row.port_b is None:
        return f"host {a} and host {b}"
    proto = f"proto {_name(row.protocol)} and " if row.protocol else ""
    return f"{proto}host {a} and port {int(row.port_a)} and host {b} and port {int(row.port_b)}"


def _port(row, key) -> str:
    port = getattr(row, "port", None)
    if port is None:
        port = key[-1] if isinstance(key, tuple) else key
    text = f"port {int(port)}"
    proto = getattr(row, "protocol", None) or (key[0] if isinstance(key, tuple) and len(key) > 1
                                               else None)
    if isinstance(proto, str) and proto:
        return f"proto {_name(proto)} and {text}"
    return text


def _station(row) -> str:
    addresses = getattr(row, "addresses", None) or ()
    if isinstance(addresses, str):
        addresses = addresses.split()
    hosts = [f"host {_address(a)}" for a in addresses]
    if not hosts:
        raise NoDrill("no IP address seen behind this station, and the filter language has "
                      "no MAC address term")
    return " or ".join(hosts)


DRILLS = {
    "hosts": lambda row, key: _host(row),
    "protocols": lambda row, key: _protocol(row),
    "pairs": lambda row, key: _pair(row),
    "ports": _port,
    "stations": lambda row, key: _station(row),
}


def drill_filter(view: str, row, key=None) -> str:
    """The Conversations filter for ``row`` (its ``key`` too) of ``view``; raises
    :class:`NoDrill` (one line for the user) when there is none."""
    make = DRILLS.get(view)
    if make is None:
        raise NoDrill(f"Enter opens the conversations of a host, protocol, pair, port or "
                      f"station; the {view} view has no such rows")
    if row is None:
        raise NoDrill("no row under the cursor")
    return make(row, key)
