"""What one fold counted, per changed conversation, for the fold's watchers (the host
pairs, :mod:`tuimon.core.pairs`; the processes, :mod:`tuimon.core.processes`).

The engine folds its conversations as columns (:mod:`tuimon.core.store`); a
:class:`Changes` hands the watchers the same as lists, one entry per conversation that
counted since the last fold: its canonical key, whether A is the key's first address, its
first and last packet times, whether this is its first fold, and what it counted since the
last one each way (``dap``/``dab``: A to B packets and bytes, ``dbp``/``dbb``: B to A).
No conversation object is made: a watcher that wants one asks the engine.
"""

from __future__ import annotations

import numpy as np

from tuimon.core.store import LIVE, ConversationStore, key_tuples


class Changes:
    __slots__ = ("_store", "slots", "_counts", "_keys", "_lists")

    def __init__(self, store: ConversationStore, slots: np.ndarray, dap, dab, dbp, dbb,
                 new) -> None:
        self._store, self.slots = store, slots
        # the arrays (by_pair sums them in numpy); lists made when a watcher reads them
        self._counts = {"dap": dap, "dab": dab, "dbp": dbp, "dbb": dbb, "new": new}
        self._keys = None
        self._lists = {}

    def _list(self, name: str) -> list:
        got = self._lists.get(name)
        if got is None:
            got = self._lists[name] = self._counts[name].tolist()
        return got

    dap = property(lambda self: self._list("dap"), doc="A to B packets, per change")
    dab = property(lambda self: self._list("dab"), doc="A to B bytes")
    dbp = property(lambda self: self._list("dbp"), doc="B to A packets")
    dbb = property(lambda self: self._list("dbb"), doc="B to A bytes")
    new = property(lambda self: self._list("new"), doc="whether it is its first fold")

    @classmethod
    def join(cls, store: ConversationStore, parts: list) -> Changes:
        """One Changes of a fold's parts ``(slots, dap, dab, dbp, dbb, new)``."""
        if len(parts) == 1:
            return cls(store, *parts[0])
        if not parts:
            z = np.zeros(0, np.int64)
            return cls(store, z, z, z, z, z, z.astype(bool))
        return cls(store, *(np.concatenate(x) for x in zip(*parts)))

    @classmethod
    def seed(cls, store: ConversationStore, slots: np.ndarray) -> Changes:
        """The conversations ``slots`` as they stand: their folded counts as the change,
        every one at its first fold (a watcher made after the session started)."""
        return cls(store, slots, *store.folded(slots), np.ones(len(slots), bool))

    def __len__(self) -> int:
        return len(self.slots)

    def _column(self, name: str) -> list:
        got = self._lists.get(name)
        if got is None:
            got = self._lists[name] = getattr(self._store, name)[self.slots].tolist()
        return got

    @property
    def keys(self) -> list[tuple]:
        if self._keys is None:
            self._keys = key_tuples(self._store.keys[self.slots])
        return self._keys

    @property
    def serials(self) -> list[int]:
        """Each conversation's creation number in the store: one conversation's for its
        life (a key seen again after it left is another's)."""
        return self._column("order")

    def serials_alive(self, serials: list[int]) -> list[bool]:
        """Whether the conversations of these serials are still in the table."""
        s = self._store
        live = s.order[s.slots(LIVE, None)]
        return np.isin(np.array(serials, np.int64), live).tolist()

    @property
    def fwd(self) -> list[bool]:
        return self._column("fwd")

    @property
    def first(self) -> list[float]:
        return self._column("first")

    @property
    def last(self) -> list[float]:
        return self._column("last")

    def by_pair(self) -> list[tuple]:
        """The changes added up per pair of addresses (the Pairs view by addresses), in the
        order each pair first comes: ``(lower address, higher address, the smallest first
        time, whether A of the conversation with it is the lower address, the largest last
        time, first folds, the four counts of the conversations whose A is the lower
        address, the four of the others)``. (Of the conversations that start at the same
        time, the first one listed here.)"""
        n = len(self.slots)
        if not n:
            return []
        s, slots = self._store, self.slots
        code = s.hlo[slots].astype(np.int64) << 32 | s.hhi[slots]
        uniq, at, inv = np.unique(code, return_index=True, return_inverse=True)
        m = len(uniq)
        first, fwd = s.first[slots], s.fwd[slots]
        earliest = np.lexsort((np.arange(n), first, inv))  # by pair, then time, then place
        lead = earliest[np.flatnonzero(np.concatenate(([True], inv[earliest][1:]
                                                       != inv[earliest][:-1])))]
        last = np.full(m, -np.inf)
        np.maximum.at(last, inv, s.last[slots])
        c = self._counts
        new = np.bincount(inv, weights=c["new"].astype(np.float64), minlength=m)
        counts = []
        for side in (fwd, ~fwd):
            for d in (c["dap"], c["dab"], c["dbp"], c["dbb"]):
                counts.append(np.bincount(inv[side], weights=np.asarray(d, np.float64)[side],
                                          minlength=m).astype(np.int64))
        keys = key_tuples(s.keys[slots[at]])
        o = np.argsort(at, kind="stable")
        cols = [x[o].tolist() for x in (first[lead], fwd[lead], last, new.astype(np.int64),
                                         *counts)]
        return [(keys[j][1], keys[j][2], *row) for j, row in zip(o.tolist(), zip(*cols))]
