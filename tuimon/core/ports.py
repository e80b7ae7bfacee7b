"""Ports (IPTraf's "TCP/UDP service monitor"): TCP and UDP ports by packets and bytes.

Counted on the packet path, a batch at a time (:meth:`Ports.ingest`, called by
:meth:`tuimon.core.engine.Engine.ingest`): a batch's fast rows (numpy columns) are added
with ``np.add.at`` into two dense tables indexed by transport and port, nothing per packet
in Python; slow rows (record tuples) one by one. The conntrack source, which counts flows
rather than packets, adds what each flow counted (:meth:`Ports.add`). A packet counts
once under its source port and once under its destination port, and once only when the
two are equal: the frames and bytes of port N are those ``tshark -Y 'tcp.port == N'``
would pick, of the outermost TCP/UDP header (as conversations have it; IP fragments after
the first have no ports and count under none).
"""

from __future__ import annotations

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import NONIP
from tuimon.core.model import PortRow

TRANSPORTS = {6: "tcp", 17: "udp"}
_UDP = 1 << 16  # a table index: TCP port N is N, UDP port N is _UDP + N


class Ports:
    """(IP protocol, port) -> packets and bytes: :attr:`packets` and :attr:`bytes`, numpy
    tables of 2 x 65536 entries (TCP ports, then UDP ports)."""

    def __init__(self) -> None:
        self.packets = np.zeros(2 * _UDP, np.int64)
        self.bytes = np.zeros(2 * _UDP, np.int64)

    def ingest(self, records) -> None:
        """Count a batch: a :class:`PacketColumns` (its fast rows in numpy, its slow rows
        one by one) or a list of record tuples."""
        if isinstance(records, PacketColumns):
            cols = records.cols
            proto = cols["proto"]
            udp = proto == 17
            ok = cols["fast"] & cols["ported"] & (udp | (proto == 6))
            if ok.any():  # fast rows: their table indices, added in numpy
                base = udp.view(np.uint8).astype(np.int64) << 16
                a = (base | cols["sport"])[ok]
                b = (base | cols["dport"])[ok]
                wlen = cols["wlen"][ok]
                other = a != b  # equal ports: the frame counts once
                both = np.concatenate((a, b[other]))
                np.add.at(self.packets, both, 1)
                np.add.at(self.bytes, both, np.concatenate((wlen, wlen[other])))
            records = records.slow_recs
        at: list[int] = []  # slow rows: their table indices and lengths, added at once
        lengths: list[int] = []
        for rec in records:
            dec = rec[3]
            if dec[0] > NONIP:
                proto = dec[1]
                sport = dec[4]
                if (proto == 6 or proto == 17) and sport is not None:
                    base = _UDP if proto == 17 else 0
                    at.append(base | sport)
                    lengths.append(rec[2])
                    if dec[5] != sport:
                        at.append(base | dec[5])
                        lengths.append(rec[2])
        if at:
            np.add.at(self.packets, at, 1)
            np.add.at(self.bytes, at, lengths)

    def add(self, proto: int, port_a: int, port_b: int, packets: int, nbytes: int) -> None:
        """``packets`` and ``nbytes`` between two ports of TCP (6) or UDP (17)."""
        base = _UDP if proto == 17 else 0
        self.packets[base | port_a] += packets
        self.bytes[base | port_a] += nbytes
        if port_b != port_a:
            self.packets[base | port_b] += packets
            self.bytes[base | port_b] += nbytes

    def rows(self, services: dict) -> list[PortRow]:
        """``services``: (port, "tcp"/"udp") -> name (/etc/services)."""
        out = []
        at = np.flatnonzero(self.packets)
        for i, p, b in zip(at.tolist(), self.packets[at].tolist(), self.bytes[at].tolist()):
            transport = "udp" if i & _UDP else "tcp"
            port = i & 0xFFFF
            out.append(PortRow(transport, port, services.get((port, transport), ""), p, b))
        return out
