"""A batch's fast rows grouped by conversation: the engine's per-batch step (numpy, or the
compiled stage's hash table where it is built, ``capture/walk.c``).

:func:`conversations` puts every fast row of a
:class:`~tuimon.capture.columns.PacketColumns` under its conversation's canonical key (the
lower address first, as :func:`tuimon.core.conversation.canonical_key`), with a stable sort,
and adds up per group what :meth:`tuimon.core.engine.Engine.ingest` adds per packet:
packets and bytes each way, TCP flags each way, the last time. The engine then touches
each conversation once per batch instead of once per packet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IPV6
from tuimon.core.store import key_tuples


@dataclass
class Groups:
    """One entry per conversation of the batch, in the order of their first packet: numpy
    arrays (``keys``: the canonical key tuples, made when first asked for)."""

    words: np.ndarray  # (groups, 5) uint64: the key words (tuimon.core.store)
    first_fwd: np.ndarray  # bool: the first packet went from the lower address (key order)
    first_ts: np.ndarray
    lo_packets: np.ndarray  # packets and bytes from the lower address...
    lo_bytes: np.ndarray
    hi_packets: np.ndarray  # ...and from the higher one
    hi_bytes: np.ndarray
    lo_flags: np.ndarray
    hi_flags: np.ndarray
    last: np.ndarray
    first_row: np.ndarray  # the batch row of its first packet
    # the batch rows of each group's packets, in batch order: rows[at[g]:at[g + 1]] for
    # the group's entry in ``group`` (entry i above is group ``group[i]`` there)
    rows: np.ndarray
    at: np.ndarray
    group: np.ndarray
    _keys: list | None = None

    @property
    def keys(self) -> list[tuple]:
        """(proto, lo, hi, port lo, port hi) per entry; ports None when it has none."""
        if self._keys is None:
            self._keys = key_tuples(self.words)
        return self._keys

    def __len__(self) -> int:
        return len(self.words)


def prepare(batch) -> None:
    """Group a batch's fast rows ahead of the counting (``batch.groups``), where it is
    read: nothing of the engine's is needed (a headless playback's reader thread does it
    on the other core while the engine counts the batch before)."""
    if isinstance(batch, PacketColumns) and batch.cols["fast"].any():
        batch.groups = conversations(batch.cols, batch.grouper)


def conversations(cols: dict[str, np.ndarray], grouper=None) -> Groups:
    """The batch's fast rows by conversation. ``grouper``: the compiled stage that made
    the batch (``PacketColumns.grouper``), which groups with a hash table in one pass; the
    same groups, sums and keys as numpy's sort here (the reference, tested against it)."""
    if grouper is not None:
        return _compiled(cols, grouper)
    fast = np.flatnonzero(cols["fast"])
    src, dst = cols["src"][fast], cols["dst"][fast]
    sport, dport = cols["sport"][fast], cols["dport"][fast]
    ported = cols["ported"][fast]
    proto = cols["proto"][fast]
    six = cols["kind"][fast] == IPV6
    any6 = bool(six.any())
    if any6:  # addresses compared as the decoders' ints: high 64 bits, then low
        shi, dhi = cols["src_hi"][fast], cols["dst_hi"][fast]
        above = (shi > dhi) | ((shi == dhi) & (src > dst))
        same = (shi == dhi) & (src == dst)
    else:
        above, same = src > dst, src == dst
    swap = above | (same & ported & (sport > dport))
    lo, hi = np.where(swap, dst, src), np.where(swap, src, dst)
    plo, phi = np.where(swap, dport, sport), np.where(swap, sport, dport)
    k2 = (six.astype(np.int64) << 41) | (proto << 33) | (ported.astype(np.int64) << 32) \
        | (plo << 16) | phi
    if any6:
        lo_hi, hi_hi = np.where(swap, dhi, shi), np.where(swap, shi, dhi)
        keys = (k2, hi, hi_hi, lo, lo_hi)  # the last one sorts first
    else:
        keys = (k2, (lo << np.uint64(32)) | hi)  # IPv4 addresses: both in one word
    order = np.arange(len(fast))
    for key in keys:  # stable sorts, least significant key first: rows stay in order
        order = order[np.argsort(key[order], kind="stable")]
    n = len(order)
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for key in keys:
        ks = key[order]
        change |= ks[1:] != ks[:-1]
    cut = np.flatnonzero(change) + 1
    starts = np.concatenate(([0], cut))
    fwd = ~swap[order]
    wlen = cols["wlen"][fast][order]
    flags = cols["flags"][fast][order]
    ts = cols["ts"][fast][order]
    counts = np.diff(np.append(starts, n))
    lo_p = np.add.reduceat(fwd.astype(np.int64), starts)
    total_b = np.add.reduceat(wlen, starts)
    lo_b = np.add.reduceat(np.where(fwd, wlen, 0), starts)
    lo_f = np.bitwise_or.reduceat(np.where(fwd, flags, 0), starts)
    hi_f = np.bitwise_or.reduceat(np.where(fwd, 0, flags), starts)
    last = np.maximum.reduceat(ts, starts)
    rows = fast[order]
    first_row = rows[starts]
    by_first = np.argsort(first_row, kind="stable")
    s = starts[by_first]
    g_ported = ported[order][s].astype(np.uint64)
    g_six = six[order][s].astype(np.uint64)
    words = np.zeros((len(s), 5), np.uint64)
    words[:, 0] = (g_six << np.uint64(41)) | (proto[order][s].astype(np.uint64) << np.uint64(33)) \
        | (g_ported << np.uint64(32)) | (plo[order][s].astype(np.uint64) << np.uint64(16)) \
        | phi[order][s].astype(np.uint64)
    words[:, 1], words[:, 2] = lo[order][s], hi[order][s]
    if any6:
        words[:, 3], words[:, 4] = lo_hi[order][s], hi_hi[order][s]
    lo_p, total_b, lo_b = lo_p[by_first], total_b[by_first], lo_b[by_first]
    return Groups(
        words=words,
        first_fwd=fwd[s],
        first_ts=ts[s],
        lo_packets=lo_p,
        lo_bytes=lo_b,
        hi_packets=counts[by_first] - lo_p,
        hi_bytes=total_b - lo_b,
        lo_flags=lo_f[by_first],
        hi_flags=hi_f[by_first],
        last=last[by_first],
        first_row=first_row[by_first],
        rows=rows,
        at=np.append(starts, n),
        group=by_first,
    )


def _compiled(cols: dict[str, np.ndarray], grouper) -> Groups:
    """:func:`conversations` with the compiled stage's grouping
    (:meth:`tuimon.capture.cwalk.Walker.group`): its groups come in the order of their
    first row already."""
    fast = np.flatnonzero(cols["fast"])
    g = grouper.group(cols, fast, IPV6)
    k = g["keys"]
    n = len(k)
    return Groups(
        words=np.ascontiguousarray(k[:, :5]),
        first_fwd=g["fwd"],
        first_ts=g["first"],
        lo_packets=g["lo_p"],
        lo_bytes=g["lo_b"],
        hi_packets=g["hi_p"],
        hi_bytes=g["hi_b"],
        lo_flags=g["lo_f"],
        hi_flags=g["hi_f"],
        last=g["last"],
        first_row=k[:, 5].astype(np.int64),
        rows=g["rows"],
        at=g["at"],
        group=np.arange(n, dtype=np.int64),
    )
