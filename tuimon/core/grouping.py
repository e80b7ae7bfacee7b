"""A batch's fast rows grouped by conversation, with numpy: the engine's per-batch step.

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


def conversations(cols: dict[str, np.ndarray]) -> Groups:
    fast = np.flatnonzero(cols["fast"])
    src, dst = cols["src"][fast], cols["dst"][fast]
    sport, dport = cols["sport"][fast], cols["dport"][fast]
    ported = cols["ported"][fast]
    proto = cols["proto"][fast]
    swap = (src > dst) | ((src == dst) & ported & (sport > dport))
    lo, hi = np.where(swap, dst, src), np.where(swap, src, dst)
    plo, phi = np.where(swap, dport, sport), np.where(swap, sport, dport)
    k1 = (lo << 32) | hi  # addresses below 2**32: no overflow of int64 once unsigned
    k1 = k1.view(np.uint64)
    k2 = (proto << 33) | (ported.astype(np.int64) << 32) | (plo << 16) | phi
    order = np.argsort(k2, kind="stable")
    order = order[np.argsort(k1[order], kind="stable")]  # by k1, then k2, rows in order
    k1s, k2s = k1[order], k2[order]
    n = len(order)
    cut = np.flatnonzero((k1s[1:] != k1s[:-1]) | (k2s[1:] != k2s[:-1])) + 1
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
    keys = [(p, a, b, x, y) if ok else (p, a, b, None, None)
            for p, a, b, x, y, ok in zip(proto[order][s].tolist(), lo[order][s].tolist(),
                                         hi[order][s].tolist(), g_plo, g_phi, g_ported.tolist())]
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
