"""The short plain-text summary ``--no-ui`` prints when no ``--csv`` folder is given."""

from __future__ import annotations

import humanize

from tuimon.core.model import Snapshot
from tuimon.sinks.csv import protocol_totals


def _size(n: int) -> str:
    """``725 B``, ``28.8 kB``: one unit style in every column (humanize says "725 Bytes")."""
    return f"{n} B" if n < 1000 else humanize.naturalsize(n, binary=False)


def _n(count: int, word: str) -> str:
    """``1 host``, ``2 hosts``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _top(rows: list, top: int, word: str) -> str:
    """A table's title: ``Top 10 hosts`` when some are left out, else ``Hosts``."""
    return f"Top {top} {word}s" if len(rows) > top else f"{word.capitalize()}s"


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [title, fmt.format(*header), *(fmt.format(*map(str, r)) for r in rows), ""]


def render_summary(snap: Snapshot, top: int = 10) -> str:
    t = snap.totals
    lines = [
        f"{_n(t.packets, 'packet')}, {_size(t.bytes)}"
        f"{f' ({t.bytes} bytes)' if t.bytes >= 1000 else ''}, {_n(t.hosts, 'host')}"
        f"{f' ({t.hosts_folded} folded into (other hosts))' if t.hosts_folded else ''}, "
        f"{_n(t.conversations, 'conversation')}"
        f"{f' ({t.expired} expired)' if t.expired else ''}, "
        f"{t.undecoded} undecoded, "
        f"{t.skipped_records} records skipped, {t.drops} dropped"
        + (f", {t.missed} missed (the kernel counted more)" if t.missed else ""),
    ]
    lines += [f"skipped on {i.interface}: {i.skipped_reasons}"
              for i in snap.interfaces if i.skipped_records and i.skipped_reasons]
    lines.append("")
    lines += _table("Interfaces", ["interface", "packets", "bytes"],
                    [[i.interface, i.packets, _size(i.bytes)] for i in snap.interfaces])
    hosts = sorted(snap.hosts, key=lambda h: -h.bytes)
    if hosts:  # (no "Top 0 hosts")
        lines += _table(_top(hosts, top, "host"), ["address", "packets", "bytes", "tx", "rx"],
                        [[h.address, h.packets, _size(h.bytes), _size(h.tx_bytes),
                          _size(h.rx_bytes)] for h in hosts[:top]])
    totals = protocol_totals(snap.protocols)
    for layer, title in (("transport", "Protocols"), ("application", "Application protocols")):
        protos = sorted((p for p in totals if p.layer == layer), key=lambda p: (-p.bytes, p.protocol))
        if protos:
            lines += _table(title, ["protocol", "packets", "bytes"],
                            [[p.protocol, p.packets, _size(p.bytes)] for p in protos[:top]])
    convs = sorted(snap.conversations, key=lambda c: -c.bytes)
    if convs:
        lines += _table(_top(convs, top, "conversation"),
                        ["protocol", "a", "b", "app", "packets", "bytes"],
                        [[c.protocol, _endpoint(c.address_a, c.port_a),
                          _endpoint(c.address_b, c.port_b),
                          c.app_protocol + ("?" if c.app_source == "port" else ""), c.packets,
                          _size(c.bytes)] for c in convs[:top]])
    if snap.counters:
        lines += _table("Counters", ["name", "expression", "packets", "bytes"],
                        [[c.name, c.expression, c.packets, _size(c.bytes)]
                         for c in snap.counters])
    return "\n".join(lines)


def _endpoint(address: str, port: int | None) -> str:
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
