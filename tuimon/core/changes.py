"""What one fold counted, per changed conversation, for the fold's watchers (the host
pairs, :mod:`tuimon.core.pairs`; the processes, :mod:`tuimon.core.processes`).

The engine folds its conversations as columns (:mod:`tuimon.core.store`); a
:class:`Changes` hands the watchers the same as lists, one entry per conversation that
counted since the last fold: its canonical key, whether A is the key's first address, its
first and last packet times, whether this is its first fold, and what it counted since the
last one each way (``dap``/``dab``: A to B packets and bytes, ``dbp``/``dbb``: B to A).
The conversations themselves (handles) are made only when asked for, by iterating:
``(conversation, dap, dab, dbp, dbb)`` per entry.
"""

from __future__ import annotations

import numpy as np

from tuimon.core.store import ConversationStore, key_tuples


class Changes:
    __slots__ = ("_store", "slots", "dap", "dab", "dbp", "dbb", "new", "_keys", "_lists")

    def __init__(self, store: ConversationStore, slots: np.ndarray, dap, dab, dbp, dbb,
                 new) -> None:
        self._store, self.slots = store, slots
        self.dap, self.dab, self.dbp, self.dbb = (x.tolist() for x in (dap, dab, dbp, dbb))
        self.new = new.tolist()
        self._keys = None
        self._lists = {}

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
        return len(self.new)

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
    def fwd(self) -> list[bool]:
        return self._column("fwd")

    @property
    def first(self) -> list[float]:
        return self._column("first")

    @property
    def last(self) -> list[float]:
        return self._column("last")

    def conversations(self) -> list:
        """The changed conversations themselves (handles of the store)."""
        return self._store.conversations(self.slots)

    def __iter__(self):
        return zip(self.conversations(), self.dap, self.dab, self.dbp, self.dbb)
