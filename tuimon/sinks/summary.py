"""The short plain-text summary ``--no-ui`` prints when no ``--csv`` folder is given."""

from __future__ import annotations

import humanize

from tuimon.core.model import Snapshot
from tuimon.sinks.csv import protocol_totals


def _size(n: int) -> str:
    return humanize.naturalsize(n, binary=False)


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return [title, fmt.format(*header), *(fmt.format(*map(str, r)) for r in rows), ""]


def render_summary(snap: Snapshot, top: int = 10) -> str:
    t = snap.totals
    lines = [
        f"{t.packets} packets, {_size(t.bytes)} ({t.bytes} bytes), {t.hosts} hosts"
        f"{f' ({t.hosts_folded} folded into (other hosts))' if t.hosts_folded else ''}, "
        f"{t.conversations} conversations{f' ({t.expired} expired)' if t.expired else ''}, "
        f"{t.undecoded} undecoded, "
        f"{t.skipped_records} records skipped, {t.drops} dropped"
        + (f", {t.missed} missed (the kernel counted more)" if t.missed else ""),
    ]
    lines += [f"skipped on {i.interface}: {i.skipped_reasons}"
              for i in snap.interfaces if i.skipped_records and i.skipped_reasons]
    lines.append("")
    lines += _table("Interfaces", ["interface", "packets", "bytes"],
                    [[i.interface, i.packets, _size(i.bytes)] for i in snap.interfaces])
    hosts = sorted(snap.hosts, key=lambda h: -h.bytes)[:top]
    lines += _table(f"Top {len(hosts)} hosts", ["address", "packets", "bytes", "tx", "rx"],
                    [[h.address, h.packets, _size(h.bytes), _size(h.tx_bytes), _size(h.rx_bytes)]
                     for h in hosts])
    totals = protocol_totals(snap.protocols)
    for layer, title in (("transport", "Protocols"), ("application", "Application protocols")):
        protos = sorted((p for p in totals if p.layer == layer), key=lambda p: (-p.bytes, p.protocol))
        if protos:
            lines += _table(title, ["protocol", "packets", "bytes"],
                            [[p.protocol, p.packets, _size(p.bytes)] for p in protos[:top]])
    convs = sorted(snap.conversations, key=lambda c: -c.bytes)[:top]
    lines += _table(f"Top {len(convs)} conversations",
                    ["protocol", "a", "b", "app", "packets", "bytes"],
                    [[c.protocol, _endpoint(c.address_a, c.port_a), _endpoint(c.address_b, c.port_b),
                      c.app_protocol + ("?" if c.app_source == "port" else ""), c.packets,
                      _size(c.bytes)] for c in convs])
    if snap.counters:
        lines += _table("Counters", ["name", "expression", "packets", "bytes"],
                        [[c.name, c.expression, c.packets, _size(c.bytes)]
                         for c in snap.counters])
    return "\n".join(lines)


def _endpoint(address: str, port: int | None) -> str:
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
