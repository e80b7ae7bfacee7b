"""An index from conversation keys to slots, for a columnar conversation store.

A columnar store keeps its conversations in numpy arrays, one row (a *slot*) each, and each
conversation's canonical key as five uint64 words in row ``slot`` of a C-contiguous array
``keys`` of shape (capacity, 5): the key word (IPv6 << 41 | proto << 33 | ported << 32 |
low port << 16 | high port), the lower and the higher address (low 64 bits), their high 64
bits (IPv6; else 0) -- the first five words per group of the compiled grouping
(``capture/walk.c``'s ``tuimon_group``). The index answers, for a batch of keys, which slot
holds each, without a Python object per conversation.

:class:`SlotIndex` is a hash table of slot numbers (int64, -1 empty) probed in C
(``tuimon_index_find``, ``_insert``, ``_remove`` of walk.c, handed over by the compiled
stage: this module imports none of it), at most half full, doubled as it fills, never
smaller than :data:`INITIAL` (and never shrunk): 8 bytes an entry, 16 to 32 a
conversation as the table grows. :class:`DictIndex` is the same
in pure Python, a dict from the five words to the slot, for when the compiled stage is not
built (``TUIMON_NO_CWALK=1``, no compiler), and the reference of the tests.
:func:`slot_index` picks one.

The store passes its current ``keys`` on every call (it may reallocate it as it grows); a
slot's key row must be written before the slot is inserted and stay intact until it is
removed. Inserted slots must be absent and distinct; removed ones present.
"""

from __future__ import annotations

import numpy as np

INITIAL = 1024  # the table's entries at first, and at least ever after


def _rows(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != 5 or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous uint64 array of shape (n, 5)")
    return a


def _slots(slots) -> np.ndarray:
    return np.ascontiguousarray(slots, dtype=np.int64).reshape(-1)


class SlotIndex:
    """The compiled index: ``lib`` has the three C functions of walk.c as ``index_find``,
    ``index_insert`` and ``index_remove`` (ctypes functions with their signatures set, as
    :class:`tuimon.capture.cwalk.Walker` has them). ``count``: the slots in it."""

    __slots__ = ("_find", "_insert", "_remove", "_table", "count", "_top")

    def __init__(self, lib, size: int = INITIAL) -> None:
        if size < 2 or size & (size - 1):
            raise ValueError("the table's size must be a power of two")
        self._find, self._insert, self._remove = lib.index_find, lib.index_insert, \
            lib.index_remove
        self._table = np.full(size, -1, dtype=np.int64)
        self.count = 0
        self._top = 0  # 1 + the highest slot ever inserted: ``keys`` must hold that many

    @property
    def nbytes(self) -> int:
        """The table's bytes."""
        return self._table.nbytes

    def _keys(self, keys: np.ndarray) -> np.ndarray:
        _rows(keys, "keys")
        if len(keys) < self._top:  # the C side reads keys[slot] of every slot it meets
            raise ValueError(f"keys has {len(keys)} rows; the index has slot {self._top - 1}")
        return keys

    def _check(self, keys: np.ndarray, slots: np.ndarray) -> None:
        if len(slots) and (slots.min() < 0 or slots.max() >= len(keys)):
            raise ValueError("a slot outside keys")

    def find(self, keys: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The slot holding each key row of ``q`` ((n, 5) uint64, C-contiguous), -1 where
        none does."""
        self._keys(keys)
        _rows(q, "q")
        out = np.empty(len(q), dtype=np.int64)
        if len(q):
            t = self._table
            self._find(t.ctypes.data, len(t) - 1, keys.ctypes.data, q.ctypes.data, len(q),
                       out.ctypes.data)
        return out

    def insert(self, keys: np.ndarray, slots) -> None:
        """Enter ``slots`` (absent and distinct; their key rows written in ``keys``),
        doubling the table first as often as it takes to stay at most half full."""
        self._keys(keys)
        slots = _slots(slots)
        n = len(slots)
        if not n:
            return
        self._check(keys, slots)
        self._top = max(self._top, int(slots.max()) + 1)
        self.reserve(keys, self.count + n)
        t = self._table
        self._insert(t.ctypes.data, len(t) - 1, keys.ctypes.data, slots.ctypes.data, n)
        self.count += n

    def reserve(self, keys: np.ndarray, n: int) -> None:
        """Room for ``n`` slots at most half full: the table doubled as often as it takes
        (its slots entered again; their key rows in ``keys``), never shrunk."""
        size = len(self._table)
        while 2 * n > size:
            size <<= 1
        if size != len(self._table):
            live = self._table[self._table >= 0]
            self._table = np.full(size, -1, dtype=np.int64)
            self._insert(self._table.ctypes.data, size - 1, keys.ctypes.data,
                         live.ctypes.data, len(live))

    def remove(self, keys: np.ndarray, slots) -> None:
        """Take out ``slots`` (in the index; their key rows still intact in ``keys``)."""
        self._keys(keys)
        slots = _slots(slots)
        if not len(slots):
            return
        self._check(keys, slots)
        t = self._table
        self._remove(t.ctypes.data, len(t) - 1, keys.ctypes.data, slots.ctypes.data,
                     len(slots))
        self.count -= len(slots)


class DictIndex:
    """:class:`SlotIndex` in pure Python: a dict from the five words to the slot."""

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[tuple, int] = {}

    @property
    def count(self) -> int:
        return len(self._map)

    def find(self, keys: np.ndarray, q: np.ndarray) -> np.ndarray:
        get = self._map.get
        return np.array([get(k, -1) for k in map(tuple, _rows(q, "q").tolist())],
                        dtype=np.int64)

    def insert(self, keys: np.ndarray, slots) -> None:
        slots = _slots(slots)
        self._map.update(zip(map(tuple, _rows(keys, "keys")[slots].tolist()),
                             slots.tolist()))

    def reserve(self, keys: np.ndarray, n: int) -> None:
        """(A dict makes its own room.)"""

    def remove(self, keys: np.ndarray, slots) -> None:
        slots = _slots(slots)
        pop = self._map.pop
        for k in map(tuple, _rows(keys, "keys")[slots].tolist()):
            pop(k)


def slot_index(grouper=None) -> SlotIndex | DictIndex:
    """A new index: the compiled one when ``grouper`` (``PacketColumns.grouper``: the
    compiled stage, or None) has the index functions, else a :class:`DictIndex`."""
    if grouper is not None and hasattr(grouper, "index_find"):
        return SlotIndex(grouper)
    return DictIndex()
