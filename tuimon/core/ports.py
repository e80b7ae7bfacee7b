"""Ports (IPTraf's "TCP/UDP service monitor"): TCP and UDP ports by packets and bytes.

Counted on the packet path (:meth:`Ports.ingest`, called by
:meth:`tuimon.core.engine.Engine.ingest`): a batch's fast rows (numpy columns) are kept
(references to its columns) and added many batches at once (8,192 rows, or when rows are
asked for) with ``np.add.at`` into two dense tables indexed by transport and port, nothing
per packet in Python; slow rows (record tuples) one by one. The conntrack source, which
counts flows rather than packets, adds what each flow counted (:meth:`Ports.add`). A
packet counts
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


# Rows kept before they are counted together (see Ports.ingest)
_PENDING_ROWS = 1 << 13
_PENDING_BATCHES = 1024


class Ports:
    """(IP protocol, port) -> packets and bytes: :attr:`packets` and :attr:`bytes`, numpy
    tables of 2 x 65536 entries (TCP ports, then UDP ports)."""

    def __init__(self) -> None:
        self._packets = np.zeros(2 * _UDP, np.int64)
        self._bytes = np.zeros(2 * _UDP, np.int64)
        # batches kept to be counted together: their columns (references), their rows;
        # and the slow rows' table indices and lengths
        self._pending: list[tuple] = []
        self._pending_rows = 0
        self._slow_at: list[int] = []
        self._slow_len: list[int] = []

    @property
    def packets(self) -> np.ndarray:
        self._count_pending()
        return self._packets

    @property
    def bytes(self) -> np.ndarray:
        self._count_pending()
        return self._bytes

    def ingest(self, records) -> None:
        """Count a batch: a :class:`PacketColumns` (its fast rows kept and counted with
        other batches' in numpy, its slow rows one by one) or a list of record tuples."""
        if isinstance(records, PacketColumns):
            cols = records.cols
            self._pending.append((cols["fast"], cols["ported"], cols["proto"], cols["sport"],
                                  cols["dport"], cols["wlen"]))
            self._pending_rows += len(records)
            records = records.slow_recs
        at, lengths = self._slow_at, self._slow_len
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
        if (self._pending_rows + len(at) >= _PENDING_ROWS
                or len(self._pending) >= _PENDING_BATCHES):
            self._count_pending()

    def _count_pending(self) -> None:
        """Add the rows kept to the tables, in numpy: the fast rows' source and
        destination ports (once when equal), the slow rows' indices."""
        pending = self._pending
        if pending:
            self._pending, self._pending_rows = [], 0
            if len(pending) == 1:
                fast, ported, proto, sport, dport, wlen = pending[0]
            else:
                fast, ported, proto, sport, dport, wlen = (np.concatenate(x)
                                                           for x in zip(*pending))
            udp = proto == 17
            ok = fast & ported & (udp | (proto == 6))
            if ok.any():
                base = udp.view(np.uint8).astype(np.int64) << 16
                a = (base | sport)[ok]
                b = (base | dport)[ok]
                wlen = wlen[ok]
                other = a != b  # equal ports: the frame counts once
                both = np.concatenate((a, b[other]))
                np.add.at(self._packets, both, 1)
                np.add.at(self._bytes, both, np.concatenate((wlen, wlen[other])))
        if self._slow_at:
            np.add.at(self._packets, self._slow_at, 1)
            np.add.at(self._bytes, self._slow_at, self._slow_len)
            self._slow_at, self._slow_len = [], []

    def add(self, proto: int, port_a: int, port_b: int, packets: int, nbytes: int) -> None:
        """``packets`` and ``nbytes`` between two ports of TCP (6) or UDP (17)."""
        base = _UDP if proto == 17 else 0
        self._packets[base | port_a] += packets
        self._bytes[base | port_a] += nbytes
        if port_b != port_a:
            self._packets[base | port_b] += packets
            self._bytes[base | port_b] += nbytes

    def rows(self, services: dict) -> list[PortRow]:
        """``services``: (port, "tcp"/"udp") -> name (/etc/services)."""
        self._count_pending()
        out = []
        packets, nbytes = self._packets, self._bytes
        at = np.flatnonzero(packets)
        for i, p, b in zip(at.tolist(), packets[at].tolist(), nbytes[at].tolist()):
            transport = "udp" if i & _UDP else "tcp"
            port = i & 0xFFFF
            out.append(PortRow(transport, port, services.get((port, transport), ""), p, b))
        return out
