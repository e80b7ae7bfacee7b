"""A batch of packet records held as columns (numpy arrays) instead of one tuple each.

The reader builds one of these from a run of pcapng packet blocks (see
:mod:`tuimon.capture.vector`), and the engine counts it a batch at a time
(:meth:`tuimon.core.engine.Engine.ingest`), so nothing in Python runs per packet for the
common frames: Ethernet, IPv4 without options. Every other record of the batch (IPv6,
VLAN tags, non-IP, damaged frames, blocks with options) is a *slow* row: a record tuple
made by the reader's own decoder, kept at its place in the batch.

A ``PacketColumns`` is also a read-only sequence of the same record tuples the reader
makes otherwise (``(iface, ts, wire_len, decoded, way, buf, start, end)``), so whatever
walks a batch record by record (the playback pacer, the history's minute cut) still can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tuimon.capture.decode import IPV6, V6

# The columns every batch has, in one place: name -> dtype.
COLUMNS = {
    "iface": np.int64,  # the interface's engine-wide index
    "ts": np.float64,  # seconds
    "wlen": np.int64,  # the frame's length on the wire
    "way": np.int64,  # IN, OUT or UNKNOWN
    "start": np.int64,  # the frame is buf[start:end]
    "end": np.int64,
    "kind": np.int64,  # IPV4 or IPV6 (fast rows)
    "proto": np.int64,  # IP protocol (fast rows)
    "src": np.uint64,  # an IPv4 address, or an IPv6 address's low 64 bits (fast rows)
    "dst": np.uint64,
    "src_hi": np.uint64,  # an IPv6 address's high 64 bits
    "dst_hi": np.uint64,
    "sport": np.int64,  # ports, 0 when ``ported`` is False (fast rows)
    "dport": np.int64,
    "flags": np.int64,  # TCP flags, NS included (fast rows)
    "ported": np.bool_,  # the record has ports (TCP, UDP; not a later fragment)
    "fast": np.bool_,  # the row is counted from these columns (not a slow row)
}


class PacketColumns(Sequence):
    """``n`` packet records: columns for the fast rows, tuples for the slow ones."""

    __slots__ = ("buf", "cols", "slow_rows", "slow_recs", "_n", "grouper", "groups")

    def __init__(self, buf, cols: dict[str, np.ndarray], slow_rows: np.ndarray,
                 slow_recs: list, grouper=None) -> None:
        """``cols``: every column of :data:`COLUMNS`, of one length; ``slow_rows``: the
        rows (ascending) whose records are ``slow_recs`` (their columns hold only iface,
        ts, wlen and way). ``grouper``: the compiled stage that made the batch
        (:class:`tuimon.capture.cwalk.Walker`), which groups its fast rows by conversation
        for the engine (:func:`tuimon.core.grouping.conversations`), or None (numpy).
        ``groups``: those groups, made ahead of the counting (a headless playback's
        reader thread, :func:`tuimon.core.grouping.prepare`), else None (a part of the
        batch has none)."""
        self.buf = buf
        self.cols = cols
        self.slow_rows = slow_rows
        self.slow_recs = slow_recs
        self._n = len(cols["ts"])
        self.grouper = grouper
        self.groups = None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(i)
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        c = self.cols
        if not c["fast"][i]:
            return self.slow_recs[int(np.searchsorted(self.slow_rows, i))]
        ported = bool(c["ported"][i])
        kind = int(c["kind"][i])
        src, dst = int(c["src"][i]), int(c["dst"][i])
        if kind == IPV6:
            src |= V6 | int(c["src_hi"][i]) << 64
            dst |= V6 | int(c["dst_hi"][i]) << 64
        return (int(c["iface"][i]), float(c["ts"][i]), int(c["wlen"][i]),
                (kind, int(c["proto"][i]), src, dst,
                 int(c["sport"][i]) if ported else None, int(c["dport"][i]) if ported else None,
                 int(c["flags"][i])),
                int(c["way"][i]), self.buf, int(c["start"][i]), int(c["end"][i]))

    def __iter__(self):
        return iter(self.records())

    def records(self) -> list[tuple]:
        """Every record as the tuple the reader makes otherwise, in order."""
        c = self.cols
        fast = np.flatnonzero(c["fast"]).tolist()
        buf = self.buf
        ported = c["ported"][fast].tolist()
        srcs, dsts = addresses(c, fast)
        sports = [p if ok else None for p, ok in zip(c["sport"][fast].tolist(), ported)]
        dports = [p if ok else None for p, ok in zip(c["dport"][fast].tolist(), ported)]
        made = [(i, ts, w, (k, pr, s, d, sp, dp, fl), way, buf, st, en)
                for i, ts, w, k, pr, s, d, sp, dp, fl, way, st, en in zip(
                    c["iface"][fast].tolist(), c["ts"][fast].tolist(), c["wlen"][fast].tolist(),
                    c["kind"][fast].tolist(), c["proto"][fast].tolist(), srcs, dsts,
                    sports, dports, c["flags"][fast].tolist(), c["way"][fast].tolist(),
                    c["start"][fast].tolist(), c["end"][fast].tolist())]
        if not self.slow_recs:
            return made
        out: list = [None] * self._n
        for row, rec in zip(fast, made):
            out[row] = rec
        for row, rec in zip(self.slow_rows.tolist(), self.slow_recs):
            out[row] = rec
        return out

    def take(self, part: slice) -> "PacketColumns":
        """The rows of ``part`` (a slice with step 1) as a batch of their own."""
        a, b, step = part.indices(self._n)
        if step != 1:
            raise ValueError("PacketColumns slices take every row")
        b = max(a, b)
        lo, hi = np.searchsorted(self.slow_rows, [a, b])
        return PacketColumns(self.buf, {k: v[a:b] for k, v in self.cols.items()},
                             self.slow_rows[lo:hi] - a, self.slow_recs[lo:hi], self.grouper)


def addresses(c: dict[str, np.ndarray], rows) -> tuple[list[int], list[int]]:
    """The source and destination addresses of ``rows`` as the decoders give them (ints;
    IPv6 ones with the ``V6`` bit)."""
    srcs, dsts = c["src"][rows].tolist(), c["dst"][rows].tolist()
    six = np.flatnonzero(c["kind"][rows] == IPV6).tolist()
    if six:
        shi, dhi = c["src_hi"][rows].tolist(), c["dst_hi"][rows].tolist()
        for j in six:
            srcs[j] |= V6 | shi[j] << 64
            dsts[j] |= V6 | dhi[j] << 64
    return srcs, dsts
