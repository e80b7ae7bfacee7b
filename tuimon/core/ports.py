"""Ports (IPTraf's "TCP/UDP service monitor"): TCP and UDP ports by packets and bytes.

Counted per fold, not per packet: what each conversation counted since the last fold is
added under its two ports (the engine's fold hands :meth:`Ports.add` the deltas). A
packet counts once under its source port and once under its destination port, and once
only when the two are equal: the frames and bytes of port N are those ``tshark -Y
'tcp.port == N'`` would pick, of the outermost TCP/UDP header (as conversations have
it; IP fragments after the first have no ports and count under none).
"""

from __future__ import annotations

from tuimon.core.model import PortRow

TRANSPORTS = {6: "tcp", 17: "udp"}


class Ports:
    """(IP protocol, port) -> [packets, bytes]."""

    def __init__(self) -> None:
        self.table: dict[tuple[int, int], list[int]] = {}

    def add(self, proto: int, port_a: int, port_b: int, packets: int, nbytes: int) -> None:
        table = self.table
        e = table.get((proto, port_a))
        if e is None:
            table[(proto, port_a)] = [packets, nbytes]
        else:
            e[0] += packets
            e[1] += nbytes
        if port_b != port_a:
            e = table.get((proto, port_b))
            if e is None:
                table[(proto, port_b)] = [packets, nbytes]
            else:
                e[0] += packets
                e[1] += nbytes

    def rows(self, services: dict) -> list[PortRow]:
        """``services``: (port, "tcp"/"udp") -> name (/etc/services)."""
        out = []
        for (proto, port), (p, b) in self.table.items():
            transport = TRANSPORTS[proto]
            out.append(PortRow(transport, port, services.get((port, transport), ""), p, b))
        return out
