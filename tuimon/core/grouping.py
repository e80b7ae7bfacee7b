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

from tuimon.capture.decode import IPV6, V6


@dataclass
class Groups:
    """One entry per conversation of the batch, in the order of their first packet."""

    keys: list[tuple]  # (proto, lo, hi, port lo, port hi); ports None when it has none
    first_fwd: list[bool]  # the first packet went from the lower address (key order)
    first_ts: list[float]
    lo_packets: list[int]  # packets and bytes from the lower address...
    lo_bytes: list[int]
    hi_packets: list[int]  # ...and from the higher one
    hi_bytes: list[int]
    lo_flags: list[int]
    hi_flags: list[int]
    last: list[float]
    first_row: list[int]  # the batch row of its first packet
    # the batch rows of each group's packets, in batch order: rows[at[g]:at[g + 1]] for
    # the group's entry in ``group`` (entry i above is group ``group[i]`` there)
    rows: np.ndarray
    at: np.ndarray
    group: list[int]


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
    g_ported = ported[order][s]
    g_plo, g_phi = plo[order][s].tolist(), phi[order][s].tolist()
    g_lo, g_hi = lo[order][s].tolist(), hi[order][s].tolist()
    if any6:
        g_six = six[order][s]
        lo_top, hi_top = lo_hi[order][s].tolist(), hi_hi[order][s].tolist()
        for j in np.flatnonzero(g_six).tolist():
            g_lo[j] |= V6 | lo_top[j] << 64
            g_hi[j] |= V6 | hi_top[j] << 64
    keys = [(p, a, b, x, y) if ok else (p, a, b, None, None)
            for p, a, b, x, y, ok in zip(proto[order][s].tolist(), g_lo, g_hi, g_plo, g_phi,
                                         g_ported.tolist())]
    lo_p, total_b, lo_b = lo_p[by_first], total_b[by_first], lo_b[by_first]
    return Groups(
        keys=keys,
        first_fwd=fwd[s].tolist(),
        first_ts=ts[s].tolist(),
        lo_packets=lo_p.tolist(),
        lo_bytes=lo_b.tolist(),
        hi_packets=(counts[by_first] - lo_p).tolist(),
        hi_bytes=(total_b - lo_b).tolist(),
        lo_flags=lo_f[by_first].tolist(),
        hi_flags=hi_f[by_first].tolist(),
        last=last[by_first].tolist(),
        first_row=first_row[by_first].tolist(),
        rows=rows,
        at=np.append(starts, n),
        group=by_first.tolist(),
    )


def _compiled(cols: dict[str, np.ndarray], grouper) -> Groups:
    """:func:`conversations` with the compiled stage's grouping
    (:meth:`tuimon.capture.cwalk.Walker.group`): its groups come in the order of their
    first row already."""
    fast = np.flatnonzero(cols["fast"])
    g = grouper.group(cols, fast, IPV6)
    k = g["keys"]
    word = k[:, 0].astype(np.int64)
    g_lo, g_hi = k[:, 1].tolist(), k[:, 2].tolist()
    six = np.flatnonzero(word >> 41 & 1).tolist()
    if six:
        lo_top, hi_top = k[:, 3].tolist(), k[:, 4].tolist()
        for j in six:
            g_lo[j] |= V6 | lo_top[j] << 64
            g_hi[j] |= V6 | hi_top[j] << 64
    keys = [(p, a, b, x, y) if ok else (p, a, b, None, None)
            for p, a, b, x, y, ok in zip((word >> 33 & 0xFF).tolist(), g_lo, g_hi,
                                         (word >> 16 & 0xFFFF).tolist(),
                                         (word & 0xFFFF).tolist(), (word >> 32 & 1).tolist())]
    n = len(keys)
    return Groups(
        keys=keys,
        first_fwd=g["fwd"].tolist(),
        first_ts=g["first"].tolist(),
        lo_packets=g["lo_p"].tolist(),
        lo_bytes=g["lo_b"].tolist(),
        hi_packets=g["hi_p"].tolist(),
        hi_bytes=g["hi_b"].tolist(),
        lo_flags=g["lo_f"].tolist(),
        hi_flags=g["hi_f"].tolist(),
        last=g["last"].tolist(),
        first_row=k[:, 5].astype(np.int64).tolist(),
        rows=g["rows"],
        at=g["at"],
        group=list(range(n)),
    )
