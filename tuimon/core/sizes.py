"""Packet sizes (IPTraf's "packet size breakdown"): per interface, how many frames and
bytes fell in each frame-length bucket, the buckets of ``tshark -z plen,tree`` (0-19,
20-39, 40-79, ... 2560-5119, 5120 and greater; the length on the wire, ``frame.len``).

Counted on the packet path: every row of a :class:`PacketColumns` has its interface and
wire length as columns (slow rows too), kept (references) and counted many batches at once
(8,192 rows, or when rows are asked for) by one ``np.searchsorted`` and a ``np.bincount``
per interface; a list of records is made into columns first.
"""

from __future__ import annotations

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.core.model import SizeRow

# The lower bound of each bucket; the last has no upper bound.
EDGES = (0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120)
_EDGES = np.array(EDGES[1:])
_N = len(EDGES)


def bucket_bounds(i: int) -> tuple[int, int | None]:
    """Bucket ``i``'s lowest and highest length (None: no bound)."""
    return EDGES[i], (EDGES[i + 1] - 1 if i + 1 < _N else None)


# Rows kept before they are counted together (see Sizes.ingest)
_PENDING_ROWS = 1 << 13
_PENDING_BATCHES = 1024


class Sizes:
    """Per interface index: [packets per bucket, bytes per bucket] (two lists)."""

    def __init__(self) -> None:
        self._table: dict[int, tuple[list[int], list[int]]] = {}
        self._pending: list[tuple] = []  # (interfaces, lengths) of batches not counted yet
        self._pending_rows = 0

    @property
    def table(self) -> dict[int, tuple[list[int], list[int]]]:
        self._count_pending()
        return self._table

    def ingest(self, records) -> None:
        if isinstance(records, PacketColumns):
            iface, wlen = records.cols["iface"], records.cols["wlen"]
        else:
            if not isinstance(records, list):
                records = list(records)
            if not records:
                return
            iface = np.fromiter((r[0] for r in records), np.int64, len(records))
            wlen = np.fromiter((r[2] for r in records), np.int64, len(records))
        self._pending.append((iface, wlen))
        self._pending_rows += len(wlen)
        if self._pending_rows >= _PENDING_ROWS or len(self._pending) >= _PENDING_BATCHES:
            self._count_pending()

    def _count_pending(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending, self._pending_rows = [], 0
        if len(pending) == 1:
            iface, wlen = pending[0]
        else:
            iface, wlen = np.concatenate([p[0] for p in pending]), \
                np.concatenate([p[1] for p in pending])
        if not len(wlen):
            return
        bucket = np.searchsorted(_EDGES, wlen, side="right")
        first = int(iface[0])
        ifaces = [first] if (iface == first).all() else np.unique(iface).tolist()
        for i in ifaces:
            sel = None if len(ifaces) == 1 else iface == i
            b = bucket if sel is None else bucket[sel]
            w = wlen if sel is None else wlen[sel]
            packets = np.bincount(b, minlength=_N).tolist()
            nbytes = np.bincount(b, weights=w, minlength=_N).tolist()
            entry = self._table.get(i)
            if entry is None:
                entry = self._table[i] = ([0] * _N, [0] * _N)
            p, by = entry
            for k in range(_N):
                p[k] += packets[k]
                by[k] += int(nbytes[k])

    def rows(self, names: list[str]) -> list[SizeRow]:
        """Every bucket of every interface that has frames (``names``: by interface index),
        in interface order, shortest first; ``share``: percent of the interface's frames,
        ``peak`` the largest of the interface's shares."""
        out = []
        table = self.table
        for i in sorted(table):
            p, b = table[i]
            total = sum(p)
            if not total:
                continue
            name = names[i] if i < len(names) else f"if{i}"
            peak = 100.0 * max(p) / total
            for k in range(_N):
                low, high = bucket_bounds(k)
                out.append(SizeRow(name, low, high, p[k], b[k], 100.0 * p[k] / total, peak))
        return out
