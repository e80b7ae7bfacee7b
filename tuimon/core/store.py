"""The engine's conversations as columns: one *slot* per conversation in numpy arrays (its
canonical key as five 64-bit words, counts each way, times, TCP flags, labels, state) and
an index from key to slot (:mod:`tuimon.core.slotindex`), so a million conversations cost
no Python object each (memory: about 190 bytes a conversation, against some 480 as objects).

The engine adds a batch's counts to the columns in numpy (:meth:`tuimon.core.engine.Engine.ingest`)
and folds the slots that changed in numpy too. Whoever wants one conversation as an object
(a row of the Conversations view, the labeller, a watch, the flow log) asks
:meth:`ConversationStore.conversation` for a :class:`StoredConversation`: a
:class:`~tuimon.core.conversation.Conversation` whose fields read and write the columns.
There is one per slot while anything holds it (a weak cache), so identity holds as it did
for the objects. When a slot is freed, a handle still held turns into a plain
:class:`~tuimon.core.conversation.Conversation` holding the final values (it stays valid,
``gen`` says it is gone), and the slot is used again.

A slot is ``LIVE`` (in the table and the index), ``LEFT`` (left the table, still listed:
the kept conversations of :meth:`tuimon.core.engine.Engine.keep_left`) or ``FREE``. The
``order`` column gives the listing's order: a live conversation's creation number, a left
one's number past every live one in the order they left.

Key words (as :func:`tuimon.core.grouping.conversations` makes them): word 0 is
``IPv6 << 41 | proto << 33 | ported << 32 | lower port << 16 | higher port``, words 1 and 2
the lower and the higher address (low 64 bits), 3 and 4 their high 64 bits (IPv6).
"""

from __future__ import annotations

import mmap
import weakref
from collections.abc import Sequence

import numpy as np

from tuimon.capture.decode import V6
from tuimon.core.conversation import _GONE, Conversation
from tuimon.core.rates import SHIFT
from tuimon.core.slotindex import DictIndex

FREE, LIVE, LEFT = 0, 1, 2
LEFT_BASE = 1 << 62  # ``order`` of a left conversation: past every live one
APP_SOURCES = ("", "port", "dissector")
_SOURCE_ID = {s: i for i, s in enumerate(APP_SOURCES)}
_LOW64 = (1 << 64) - 1

# name -> dtype of the one-value-a-slot columns (``keys`` is (capacity, 5) uint64)
COLUMNS = {
    "fwd": np.bool_,  # A (the first packet's sender) is the key's lower address
    "ab_p": np.int64, "ab_b": np.int64, "ba_p": np.int64, "ba_b": np.int64,
    "first": np.float64, "last": np.float64,
    "flags_ab": np.int16, "flags_ba": np.int16,  # (9 bits, NS included)
    "iface": np.int32,  # the interface of its first packet
    "app": np.int32,  # an id in ConversationStore.names (0: None)
    "app_src": np.int8,  # an index in APP_SOURCES
    "service": np.int32,  # an id in ConversationStore.names (0: None)
    "dis_left": np.int32,  # packets still for the dissector (-1: never dissected)
    "hsec": np.int64,  # rate history: -1 none, a second (bare), -2 in ConversationStore.hmore
    "order": np.int64,  # the listing's order (see the module's docstring)
    "state": np.uint8,  # FREE, LIVE, LEFT
    "listed": np.bool_,  # a conversation of the table (not a port-less fragment's record)
    "pend": np.int32,  # its row in the pending counts (counted since the last fold), or -1
    "hlo": np.int32, "hhi": np.int32,  # the engine's host ids of the key's two addresses
}
_COUNTS = ("ab_p", "ab_b", "ba_p", "ba_b")  # each with a pending row (see ConversationStore)
_FIELDS = ("flags_ab", "flags_ba", "iface", "dis_left")


def mapped(n: int, dtype, large: int = 1 << 20) -> np.ndarray:
    """A zeroed column; a large one (``large`` bytes or more) in memory of its own (an
    anonymous map), returned to the system whole when the column grows or is dropped (a
    heap keeps what it freed, fragmented: a long-lived array in it keeps the temporaries'
    memory below it from going back)."""
    nbytes = n * np.dtype(dtype).itemsize
    if nbytes < large:
        return np.zeros(n, dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype)


def capacity(cap: int, need: int) -> int:
    """Rows for ``need``: ``cap`` (at least 1,024) doubled as often as it takes."""
    cap = max(cap, 1024)
    while cap < need:
        cap *= 2
    return cap


def regrow(table, columns: dict, old: int, cap: int) -> None:
    """Give ``table``'s one-value-a-row columns (attribute name -> dtype) ``cap`` rows
    (:func:`mapped`), their first ``old`` copied over."""
    for name, dtype in columns.items():
        col = mapped(cap, dtype)
        col[:old] = getattr(table, name)
        setattr(table, name, col)


def kept(a: np.ndarray, dtype) -> np.ndarray:
    """A copy of ``a`` as ``dtype``, to be kept a while (a rate history's second, the expiry
    wheel's slots): from 64 KiB on in memory of its own (:func:`mapped`)."""
    out = mapped(len(a), dtype, 1 << 16)
    out[:] = a
    return out


def key_tuples(words: np.ndarray) -> list[tuple]:
    """The canonical key tuples ``(proto, lo, hi, port lo, port hi)`` of rows of key words
    (ports None when the key has none; IPv6 addresses with the V6 bit)."""
    if not len(words):
        return []
    w0 = words[:, 0].astype(np.int64)
    lo, hi = words[:, 1].tolist(), words[:, 2].tolist()
    for j in np.flatnonzero(w0 >> 41 & 1).tolist():
        lo[j] |= V6 | int(words[j, 3]) << 64
        hi[j] |= V6 | int(words[j, 4]) << 64
    return [(p, a, b, x, y) if ok else (p, a, b, None, None)
            for p, a, b, x, y, ok in zip((w0 >> 33 & 0xFF).tolist(), lo, hi,
                                         (w0 >> 16 & 0xFFFF).tolist(), (w0 & 0xFFFF).tolist(),
                                         (w0 >> 32 & 1).tolist())]


def key_words(key: tuple) -> tuple:
    """The five key words of a canonical key tuple (the inverse of :func:`key_tuples`)."""
    proto, lo, hi, plo, phi = key
    six = lo >= V6 or hi >= V6
    ported = plo is not None
    w0 = (six << 41) | (proto << 33) | (ported << 32) | ((plo << 16 | phi) if ported else 0)
    if six:
        return (w0, lo & _LOW64, hi & _LOW64, (lo >> 64) & _LOW64, (hi >> 64) & _LOW64)
    return (w0, lo, hi, 0, 0)


class StoredConversation(Conversation):
    """A conversation of the store: its fields are the columns at its slot (see the
    module's docstring). Once its slot is freed it is a plain Conversation."""

    __slots__ = ()

    @property
    def key(self) -> tuple:
        try:
            return _KEY.__get__(self)
        except AttributeError:
            w0, lo, hi, lo_hi, hi_hi = self._s.keys[self._i].tolist()
            if w0 >> 41 & 1:
                lo |= V6 | lo_hi << 64
                hi |= V6 | hi_hi << 64
            proto = w0 >> 33 & 0xFF
            k = (proto, lo, hi, w0 >> 16 & 0xFFFF, w0 & 0xFFFF) if w0 >> 32 & 1 else \
                (proto, lo, hi, None, None)
            _KEY.__set__(self, k)
            return k

    @property
    def fwd(self) -> bool:
        return bool(self._s.fwd[self._i])

    @property
    def gen(self) -> int:
        """``_GONE`` once it left the table (kept, LEFT), else 0."""
        return 0 if self._s.state[self._i] == LIVE else _GONE

    @property
    def app(self) -> str | None:
        s = self._s
        return s.names[s.app.item(self._i)]

    @app.setter
    def app(self, value: str | None) -> None:
        s = self._s
        s.app[self._i] = s.name_id(value)

    @property
    def service(self) -> str | None:
        s = self._s
        return s.names[s.service.item(self._i)]

    @property
    def app_src(self) -> str:
        return APP_SOURCES[self._s.app_src.item(self._i)]

    @app_src.setter
    def app_src(self, value: str) -> None:
        self._s.app_src[self._i] = _SOURCE_ID[value]

    @property
    def hist(self):
        return self._s.hist_of(self._i)

    @hist.setter
    def hist(self, value) -> None:
        self._s.set_hist(self._i, value)


def _column(name: str):
    def get(self):
        return getattr(self._s, name).item(self._i)

    def put(self, value) -> None:
        getattr(self._s, name)[self._i] = value

    return property(get, put)


def _count(i: int):
    name = _COUNTS[i]

    def get(self):
        return getattr(self._s, name).item(self._i)

    def put(self, value) -> None:  # (the conntrack source's flows: counted outside ingest)
        self._s.count(self._i, i, value - getattr(self._s, name).item(self._i))

    return property(get, put)


def _folded(i: int):
    def get(self):
        return self._s.folded_one(self._i, i)

    return property(get)


for _name in (*_FIELDS, "first", "last"):
    setattr(StoredConversation, _name, _column(_name))
for _i, _name in enumerate(_COUNTS):
    setattr(StoredConversation, _name, _count(_i))
    setattr(StoredConversation, "m_" + _name, _folded(_i))
_KEY = Conversation.__dict__["key"]  # the slot a handle keeps its key tuple in


class ConversationStore:
    """The columns (:data:`COLUMNS`, and ``keys``), their free slots and the key index."""

    def __init__(self, index=None, capacity: int = 1024) -> None:
        self.index = index if index is not None else DictIndex()
        self.reserved = 0  # the most conversations asked room for (reserve)
        self.cap = 0
        self.top = 0  # slots below this were used at some time
        self.keys = np.zeros((0, 5), np.uint64)
        for name, dtype in COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype))
        self._free = np.zeros(0, np.int64)
        self._nfree = 0
        self.live = 0  # slots LIVE
        self.live_listed = 0  # ...of which listed (the table's length)
        self.left = 0  # slots LEFT
        self.names: list[str | None] = [None]  # app and service names by id
        self._ids: dict[str | None, int] = {None: 0, "": 0}
        self.hmore: dict[int, object] = {}  # slot -> a rate history beyond a bare second
        self._handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.serial = 0
        self._left_seq = 0
        self._listing: np.ndarray | None = None  # (listing())
        # Counted since the last fold: the slots in the order they were first counted, and
        # their pending counts (rows: A to B packets, bytes, B to A packets, bytes); a
        # slot's ``pend`` is its place here. (What the last fold saw is the total less
        # this: no column of its own.)
        self.pend_slots = np.zeros(1024, np.int64)
        self.pending = np.zeros((4, 1024), np.int64)
        self.npend = 0
        self._grow(capacity)

    # -- slots -------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        cap = capacity(self.cap, need)
        if cap == self.cap:
            return
        old = self.cap
        keys = mapped(5 * cap, np.uint64).reshape(cap, 5)
        keys[:old] = self.keys
        self.keys = keys
        regrow(self, COLUMNS, old, cap)
        self.pend[old:] = -1
        self.cap = cap

    def reserve(self, n: int) -> None:
        """Room for ``n`` conversations at once (columns and index), instead of growing
        there by doublings, each a copy of every column and a new index."""
        self.reserved = max(self.reserved, n)
        self._grow(n)
        self.index.reserve(self.keys, n)

    def name_id(self, name: str | None) -> int:
        i = self._ids.get(name)
        if i is None:
            i = self._ids[name] = len(self.names)
            self.names.append(name)
        return i

    def add(self, words: np.ndarray, listed: np.ndarray) -> np.ndarray:
        """Slots for new conversations of key ``words`` (absent, distinct), LIVE, in the
        index, ``order`` in their order; every other column zero (the caller fills them)."""
        k = len(words)
        take = min(k, self._nfree)
        if self.top + k - take > self.cap:
            self._grow(self.top + k - take)
        reuse = self._free[self._nfree - take:self._nfree][::-1].copy()
        self._nfree -= take
        fresh = np.arange(self.top, self.top + k - take, dtype=np.int64)
        self.top += k - take
        slots = np.concatenate((reuse, fresh)) if take else fresh
        self.keys[slots] = words
        self.state[slots] = LIVE
        self.listed[slots] = listed
        self.order[slots] = np.arange(self.serial, self.serial + k, dtype=np.int64)
        self.serial += k
        self.hsec[slots] = -1
        self.index.insert(self.keys, slots)
        self._listing = None
        self.live += k
        self.live_listed += int(np.count_nonzero(listed))
        return slots

    def find(self, words: np.ndarray) -> np.ndarray:
        """The LIVE slot of each row of key words, -1 where there is none."""
        if not len(words):
            return np.zeros(0, np.int64)
        return self.index.find(self.keys, np.ascontiguousarray(words, dtype=np.uint64))

    def find_key(self, key: tuple) -> int:
        return int(self.find(np.array([key_words(key)], np.uint64))[0])

    def leave(self, slots: np.ndarray, keep: bool) -> None:
        """LIVE ``slots`` leave the table (and the index): LEFT when ``keep``, else freed."""
        if not len(slots):
            return
        self.index.remove(self.keys, slots)
        self._listing = None
        self.live -= len(slots)
        self.live_listed -= int(np.count_nonzero(self.listed[slots]))
        if keep:
            self.state[slots] = LEFT
            n = len(slots)
            self.order[slots] = LEFT_BASE + np.arange(self._left_seq, self._left_seq + n)
            self._left_seq += n
            self.left += n
        else:
            self._release(slots)

    def drop_left(self, slots: np.ndarray) -> None:
        """LEFT ``slots`` are no longer listed: freed."""
        if len(slots):
            self.left -= len(slots)
            self._release(slots)

    def _release(self, slots: np.ndarray) -> None:
        self._listing = None
        handles = self._handles
        for s in slots.tolist():
            h = handles.pop(s, None)
            if h is not None:
                self._detach(h, s)
            if s in self.hmore:
                del self.hmore[s]
        self.state[slots] = FREE
        n = len(slots)
        if self._nfree + n > len(self._free):  # (grown as slots are freed, not with the table)
            free = np.zeros(max(2 * len(self._free), self._nfree + n, 1024), np.int64)
            free[:self._nfree] = self._free[:self._nfree]
            self._free = free
        self._free[self._nfree:self._nfree + n] = slots
        self._nfree += n
        for name in (*_FIELDS, *_COUNTS):
            getattr(self, name)[slots] = 0
        self.pend[slots] = -1

    def _detach(self, h: StoredConversation, s: int) -> None:
        """Turn handle ``h`` of slot ``s`` into a plain Conversation with its values."""
        values = {name: getattr(h, name)
                  for name in (*_FIELDS, *_COUNTS, *("m_" + n for n in _COUNTS))}
        key, fwd, first, last = h.key, h.fwd, h.first, h.last
        app, service, app_src, hist = h.app, h.service, h.app_src, h.hist
        h.__class__ = Conversation
        h.key, h.fwd, h.first, h.last = key, fwd, first, last
        h.app, h.service, h.app_src, h.hist = app, service, app_src, hist
        for name, v in values.items():
            setattr(h, name, v)
        h.gen = _GONE
        h._s = None

    # -- counting ------------------------------------------------------------------

    def mark(self, slots: np.ndarray) -> np.ndarray:
        """Pending rows for ``slots`` (distinct, in the order they were counted): made for
        the ones without one yet, in that order. Returns each slot's row."""
        fresh = slots[self.pend[slots] < 0]
        k = len(fresh)
        if k:
            n = self.npend
            if n + k > len(self.pend_slots):
                size = max(2 * len(self.pend_slots), n + k)
                grown = mapped(size, np.int64)
                grown[:n] = self.pend_slots[:n]
                self.pend_slots = grown
                pending = mapped(4 * size, np.int64).reshape(4, size)
                pending[:, :n] = self.pending[:, :n]
                self.pending = pending
            self.pend_slots[n:n + k] = fresh
            self.pending[:, n:n + k] = 0
            self.pend[fresh] = np.arange(n, n + k, dtype=np.int32)
            self.npend = n + k
        return self.pend[slots].astype(np.int64)

    def unmark(self, n: int) -> None:
        """The first ``n`` pending rows were folded: rows made since (counted between the
        parts of a fold) move to the front."""
        extra = self.npend - n
        if extra > 0:
            moved = self.pend_slots[n:n + extra].copy()
            self.pend_slots[:extra] = moved
            self.pending[:, :extra] = self.pending[:, n:n + extra].copy()
            self.pend[moved] = np.arange(extra, dtype=np.int32)
        self.npend = max(extra, 0)

    def add_counts(self, slots: np.ndarray, ab_p, ab_b, ba_p, ba_b, order=None) -> None:
        """Add counts to ``slots`` (distinct) and to their pending rows (made in the order
        of ``order``, the same slots: the order they were first counted)."""
        self.mark(slots if order is None else order)
        rows = self.pend[slots]
        pending = self.pending
        for i, (name, value) in enumerate(zip(_COUNTS, (ab_p, ab_b, ba_p, ba_b))):
            getattr(self, name)[slots] += value
            pending[i, rows] += value

    def count(self, slot: int, i: int, delta: int) -> None:
        """Add ``delta`` to count ``i`` (of _COUNTS) of one slot, and to its pending row."""
        row = int(self.mark(np.array([slot], np.int64))[0])
        getattr(self, _COUNTS[i])[slot] += delta
        self.pending[i, row] += delta

    def folded_one(self, slot: int, i: int) -> int:
        """Count ``i`` (of _COUNTS) of one slot as the last fold saw it."""
        total = getattr(self, _COUNTS[i]).item(slot)
        row = self.pend.item(slot)
        return total if row < 0 else total - self.pending.item(i, row)

    def folded(self, slots: np.ndarray) -> tuple:
        """The four counts of ``slots`` as the last fold saw them."""
        rows = self.pend[slots]
        has = rows >= 0
        out = []
        for i, name in enumerate(_COUNTS):
            v = getattr(self, name)[slots].copy()
            v[has] -= self.pending[i, rows[has]]
            out.append(v)
        return tuple(out)

    # -- reading -------------------------------------------------------------------

    def conversation(self, slot: int) -> StoredConversation:
        """The handle of a LIVE or LEFT slot (the same object while anything holds it)."""
        h = self._handles.get(slot)
        if h is None:
            h = StoredConversation.__new__(StoredConversation)
            h._s, h._i = self, slot
            self._handles[slot] = h
        return h

    def conversations(self, slots) -> list[StoredConversation]:
        get = self.conversation
        return [get(s) for s in (slots.tolist() if isinstance(slots, np.ndarray) else slots)]

    def listing(self) -> np.ndarray:
        """The listed slots, LIVE then LEFT, in listing order (kept until a slot is added,
        leaves or is freed)."""
        got = self._listing
        if got is None:
            top = self.top
            got = np.flatnonzero((self.state[:top] != FREE) & self.listed[:top])
            got = self._listing = got[np.argsort(self.order[got], kind="stable")]
        return got

    def slots(self, state: int = LIVE, listed: bool | None = True) -> np.ndarray:
        """The slots in ``state`` (and listed or not, None: either), in listing order."""
        top = self.top
        sel = self.state[:top] == state
        if listed is not None:
            sel &= self.listed[:top] == listed
        found = np.flatnonzero(sel)
        return found[np.argsort(self.order[found], kind="stable")]

    def fields(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """What a filter compares, of ``slots`` (``slots``): ``proto``, ``six`` (IPv6), each address's
        low and high 64 bits (``lo``/``lo_hi``, ``hi``/``hi_hi``: the key's lower and
        higher address), ports (``plo``/``phi``, -1: none), ``service`` and ``app`` ids
        (:meth:`name_ids`)."""
        w = self.keys[slots]
        w0 = w[:, 0].astype(np.int64)
        ported = (w0 >> 32 & 1).astype(bool)
        return {"slots": slots, "proto": w0 >> 33 & 0xFF, "six": (w0 >> 41 & 1).astype(bool),
                "lo": w[:, 1], "hi": w[:, 2], "lo_hi": w[:, 3], "hi_hi": w[:, 4],
                "plo": np.where(ported, w0 >> 16 & 0xFFFF, -1),
                "phi": np.where(ported, w0 & 0xFFFF, -1),
                "service": self.service[slots], "app": self.app[slots]}

    def name_ids(self, names) -> list[int]:
        """The ids of those of ``names`` the store has seen (apps, services)."""
        ids = self._ids
        return [ids[n] for n in names if n in ids and n]

    def hist_of(self, slot: int):
        sec = self.hsec.item(slot)
        if sec == -1:
            return None
        if sec == -2:
            return self.hmore[slot]
        return sec

    def set_hist(self, slot: int, hist) -> None:
        if hist is None:
            self.hsec[slot] = -1
            self.hmore.pop(slot, None)
        elif hist.__class__ is int and hist >> SHIFT == 0:  # a bare second (rates.bump_total)
            self.hsec[slot] = hist
            self.hmore.pop(slot, None)
        else:
            self.hsec[slot] = -2
            self.hmore[slot] = hist


class ConversationColumns:
    """Some of the store's conversations, read as lists a chunk at a time: what a writer of a
    million of them (conversations.csv, tuimon.sinks.csv) reads instead of objects."""

    __slots__ = ("store", "slots")
    CHUNK = 65536

    def __init__(self, store: ConversationStore, slots: np.ndarray) -> None:
        self.store, self.slots = store, slots

    def __len__(self) -> int:
        return len(self.slots)

    def take(self, which) -> ConversationColumns:
        """A subset (an index array or a slice), in its order."""
        return ConversationColumns(self.store, self.slots[which])

    def report_order(self) -> ConversationColumns:
        """conversations.csv's order: bytes (largest first), then first packet, then the
        listing's order."""
        s, slots = self.store, self.slots
        nbytes = s.ab_b[slots] + s.ba_b[slots]
        return self.take(np.lexsort((s.order[slots], s.first[slots], -nbytes)))

    def conversation(self, i: int) -> StoredConversation:
        return self.store.conversation(int(self.slots[i]))

    def chunks(self):
        """``(keys, fwd, ab_p, ab_b, ba_p, ba_b, first, last, flags, service, app,
        app_src)`` lists per chunk of conversations (flags: both ways together; names
        and the label's source as text, None where there is none)."""
        s = self.store
        names = s.names
        for at in range(0, len(self.slots), self.CHUNK):
            c = self.slots[at:at + self.CHUNK]
            yield (key_tuples(s.keys[c]), s.fwd[c].tolist(), s.ab_p[c].tolist(),
                   s.ab_b[c].tolist(), s.ba_p[c].tolist(), s.ba_b[c].tolist(),
                   s.first[c].tolist(), s.last[c].tolist(),
                   (s.flags_ab[c] | s.flags_ba[c]).tolist(),
                   [names[i] for i in s.service[c].tolist()],
                   [names[i] for i in s.app[c].tolist()],
                   [APP_SOURCES[i] for i in s.app_src[c].tolist()])


    def arrays(self):
        """The same a chunk at a time as numpy arrays: ``keys`` (rows of five key words),
        ``fwd``, ``ab_p``, ``ab_b``, ``ba_p``, ``ba_b``, ``first``, ``last``, ``flags``
        (both ways together), ``service`` and ``app`` (ids in the store's ``names``),
        ``app_src`` (an index in APP_SOURCES)."""
        s = self.store
        i64 = np.int64
        for at in range(0, len(self.slots), self.CHUNK):
            c = self.slots[at:at + self.CHUNK]
            yield {"keys": s.keys[c], "fwd": s.fwd[c], "ab_p": s.ab_p[c].astype(i64),
                   "ab_b": s.ab_b[c].astype(i64), "ba_p": s.ba_p[c].astype(i64),
                   "ba_b": s.ba_b[c].astype(i64), "first": s.first[c], "last": s.last[c],
                   "flags": (s.flags_ab[c] | s.flags_ba[c]).astype(i64),
                   "service": s.service[c].astype(i64), "app": s.app[c].astype(i64),
                   "app_src": s.app_src[c].astype(i64)}


class Handles(Sequence):
    """Conversations of the store at ``slots`` (in that order) as a read-only sequence of
    handles, each made when read: a sorted view of a million conversations whose window
    shows forty."""

    __slots__ = ("_store", "_slots")

    def __init__(self, store: ConversationStore, slots: np.ndarray | None) -> None:
        self._store, self._slots = store, slots

    def _all(self) -> np.ndarray:
        return self._slots

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index):
        slots = self._all()
        if isinstance(index, slice):
            return self._store.conversations(slots[index])
        return self._store.conversation(int(slots[index]))

    def __iter__(self):
        get = self._store.conversation
        return (get(s) for s in self._all().tolist())

    def index(self, conv, start: int = 0, stop=None) -> int:
        """Where ``conv`` (a handle of this store) is; ValueError when it is not here."""
        if getattr(conv, "_s", None) is self._store:
            at = np.flatnonzero(self._all()[start:stop] == conv._i)
            if len(at):
                return start + int(at[0])
        raise ValueError("conversation not in the sequence")


class SlotsView(Handles):
    """The store's listed conversations of one state (LIVE: the table's, LEFT: the kept
    ones), in listing order: the engine's ``conversations`` and ``left_conversations``.
    Its length is the store's count; the slots are looked up when first read."""

    __slots__ = ("_state",)

    def __init__(self, store: ConversationStore, state: int) -> None:
        super().__init__(store, None)
        self._state = state

    def _all(self) -> np.ndarray:
        if self._slots is None:
            self._slots = self._store.slots(self._state, True)
        return self._slots

    def __len__(self) -> int:
        s = self._store
        return s.live_listed if self._state == LIVE else s.left

    def __bool__(self) -> bool:
        return len(self) > 0
