"""The engine's hosts as columns: one *id* per host in numpy arrays (its counts, first and
last packet times, peak rate, application protocols) and a dict from address to id, so tens
of thousands of hosts cost no Python object each (about 75 MiB as objects for the memory
benchmark's 69,632 hosts; see docs/speed.md).

Whoever wants a host as an object (a row of the Hosts view, the alerts, the history's
minute) gets a :class:`StoredHost` from :class:`HostsView` (the engine's ``hosts``): a
:class:`~tuimon.core.conversation.Host` whose fields read the columns, one per id while
anything holds it (a weak cache). When a host folds into ``(other hosts)`` its handle turns
into a plain ``Host`` holding the final values, and its id is used again.

The rate history is kept by second, not by host (:class:`HostTable`'s ``past``): each
second of the longest window, the ids of the hosts that counted bytes in it (sorted) and
those bytes, 12 bytes a host and second; the current second's bytes in a column. A host's
packed history (:mod:`tuimon.core.rates`) is made from it when asked (:attr:`StoredHost.hist`)
and many hosts' rates at once in numpy (:meth:`HostTable.rates`): seconds older than the
longest window are dropped as the clock moves, which changes no rate.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping

import numpy as np

from tuimon.core.conversation import Host
from tuimon.core.rates import _LONGEST, SHIFT, WINDOWS
from tuimon.core.store import capacity, kept, regrow

# name -> dtype of the one-value-an-id columns
COLUMNS = {
    "packets": np.int64, "bytes": np.int64, "tx_p": np.int64, "tx_b": np.int64,
    "rx_p": np.int64, "rx_b": np.int64,
    "first": np.float64, "last": np.float64,
    "peak": np.float64,  # the highest 2 s rate seen at a fold (bytes/s)
    "app": np.int32,  # its one application protocol (a name id), 0: none, -1: see ``more``
    "app_b": np.int64,  # ...and that protocol's bytes
    "cur": np.int64,  # its bytes in the second ``cur_sec`` (the rate history's newest)
}
_COUNTS = ("packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b")
_FIELDS = (*_COUNTS, "first", "last", "peak")


class HostTable:
    """The hosts' columns (:data:`COLUMNS`), the address -> id dict (``ids``, in the order
    the hosts were made: the hosts' order), each id's address (``addrs``, None: free), the
    free ids, and the rate history. ``names``, ``name_id``: the application protocols'
    names by id and a name's id (the conversation store's: the fold hands its ids)."""

    def __init__(self, names: list, name_id, capacity: int = 1024) -> None:
        self.names, self._name_id = names, name_id
        self.ids: dict[int, int] = {}
        self.addrs: list[int | None] = []
        self._free: list[int] = []
        self.cap = 0
        for name, dtype in COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype))
        self.more: dict[int, dict[str, int]] = {}  # id -> app -> bytes (two apps or more)
        self.past: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # second -> (ids, bytes)
        self.cur_sec: int | None = None
        self._handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        # the IPv4 hosts' addresses sorted, with their ids (find_v4: a batch's lookups in
        # numpy), and those added since the last lookup
        self._v4 = np.zeros(0, np.uint64)
        self._v4_ids = np.zeros(0, np.int64)
        self._v4_new: list[tuple[int, int]] = []
        self._grow(capacity)

    def _grow(self, need: int) -> None:
        cap = capacity(self.cap, need)
        if cap != self.cap:
            regrow(self, COLUMNS, self.cap, cap)
            self.cap = cap

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, addr: int, first: float) -> int:
        """A new host's id (a free one, else the next)."""
        if self._free:
            hid = self._free.pop()
            self.addrs[hid] = addr
        else:
            hid = len(self.addrs)
            if hid >= self.cap:
                self._grow(hid + 1)
            self.addrs.append(addr)
        self.ids[addr] = hid
        self.first[hid] = self.last[hid] = first
        if 0 <= addr < 1 << 32:
            self._v4_new.append((addr, hid))
        return hid

    def find_v4(self, addrs: np.ndarray) -> np.ndarray:
        """The ids of the hosts of IPv4 addresses ``addrs`` (uint64), -1 where none is:
        what ``ids.get`` gives, for a batch at once (a binary search in the sorted
        addresses)."""
        if self._v4_new:
            new = np.array(self._v4_new, np.uint64)
            self._v4_new = []
            new = new[np.argsort(new[:, 0])]
            at = np.searchsorted(self._v4, new[:, 0])
            self._v4 = np.insert(self._v4, at, new[:, 0])
            self._v4_ids = np.insert(self._v4_ids, at, new[:, 1].astype(np.int64))
        out = np.full(len(addrs), -1, np.int64)
        if len(self._v4) and len(addrs):
            at = np.minimum(np.searchsorted(self._v4, addrs), len(self._v4) - 1)
            hit = self._v4[at] == addrs
            out[hit] = self._v4_ids[at[hit]]
        return out

    def _forget_v4(self, addrs: list[int]) -> None:
        """Take the IPv4 ones of ``addrs`` (hosts that left) out of find_v4's arrays."""
        self.find_v4(np.zeros(0, np.uint64))  # (the new ones in first)
        gone = np.array([a for a in addrs if 0 <= a < 1 << 32], np.uint64)
        if len(gone):
            keep = ~np.isin(self._v4, gone)
            self._v4, self._v4_ids = self._v4[keep], self._v4_ids[keep]

    # -- counting (the engine's fold) -------------------------------------------------

    def count(self, hids: np.ndarray, packets, nbytes, tx_p, tx_b, rx_p, rx_b, firsts,
              lasts) -> None:
        """Add a fold part's counts to hosts ``hids`` (distinct)."""
        for name, value in zip(_COUNTS, (packets, nbytes, tx_p, tx_b, rx_p, rx_b)):
            getattr(self, name)[hids] += value
        self.first[hids] = np.minimum(self.first[hids], firsts)
        self.last[hids] = np.maximum(self.last[hids], lasts)

    def bump(self, hids: np.ndarray, sec: int, nbytes: np.ndarray) -> None:
        """``nbytes`` at second ``sec`` (never earlier than the last) to the rate history of
        hosts ``hids`` (distinct); their peak: the 2 s rate now, if higher."""
        if sec != self.cur_sec:
            self._flush(sec)
        cur = self.cur
        cur[hids] += nbytes
        total = cur[hids] + self._at(sec - 1, hids)
        self.peak[hids] = np.maximum(self.peak[hids], total / 2)

    def _flush(self, sec: int) -> None:
        """The clock moved to ``sec``: the current second joins the past ones, and seconds
        older than the longest window go."""
        if self.cur_sec is not None:
            n = len(self.addrs)
            ids = np.flatnonzero(self.cur[:n])
            if len(ids):
                self.past[self.cur_sec] = (kept(ids, np.int32), kept(self.cur[ids], np.int64))
                self.cur[ids] = 0
        for s in [s for s in self.past if s <= sec - _LONGEST]:
            del self.past[s]
        self.cur_sec = sec

    def _at(self, sec: int, hids: np.ndarray) -> np.ndarray:
        """The bytes of hosts ``hids`` in past second ``sec`` (0 where none)."""
        got = self.past.get(sec)
        if got is None or not len(got[0]):
            return np.zeros(len(hids), np.int64)
        ids, nbytes = got
        pos = np.minimum(np.searchsorted(ids, hids), len(ids) - 1)
        return np.where(ids[pos] == hids, nbytes[pos], 0)

    def add_apps(self, hids: list, name_ids: list, nbytes: list) -> None:
        """Bytes of application protocols (name ids) to hosts, pair by pair."""
        app, app_b, names = self.app, self.app_b, self.names
        for hid, a, b in zip(hids, name_ids, nbytes):
            have = app.item(hid)
            if have == a or have == 0:
                app[hid] = a
                app_b[hid] += b
            else:
                self._give(hid, names[a], b)

    def give_app(self, addr: int, name: str, nbytes: int) -> None:
        """``nbytes`` more to ``name`` of the host of ``addr``, if there is one."""
        hid = self.ids.get(addr)
        if hid is None:
            return
        a = self._name_id(name)
        have = self.app.item(hid)
        if have == a or have == 0:
            self.app[hid] = a
            self.app_b[hid] += nbytes
        else:
            self._give(hid, name, nbytes)

    def _give(self, hid: int, name: str, nbytes: int) -> None:
        apps = self._spill(hid)
        apps[name] = apps.get(name, 0) + nbytes

    def _spill(self, hid: int) -> dict:
        """The host's apps as a dict of its own (``more``), from now on."""
        apps = self.more.get(hid)
        if apps is None:
            apps = self.more[hid] = {}
            have = self.app.item(hid)
            if have > 0:
                apps[self.names[have]] = self.app_b.item(hid)
            self.app[hid] = -1
            self.app_b[hid] = 0
        return apps

    def take_app(self, addr: int, name: str, nbytes: int) -> None:
        """``nbytes`` less for ``name`` of the host of ``addr`` (gone at 0 or below)."""
        hid = self.ids.get(addr)
        if hid is None:
            return
        have = self.app.item(hid)
        if have == -1:
            apps = self.more[hid]
            left = apps.get(name, 0) - nbytes
            if left > 0:
                apps[name] = left
            else:
                apps.pop(name, None)
        elif have > 0 and self.names[have] == name:
            left = self.app_b.item(hid) - nbytes
            if left > 0:
                self.app_b[hid] = left
            else:
                self.app[hid] = self.app_b[hid] = 0

    # -- reading ---------------------------------------------------------------------

    def apps_of(self, hid: int) -> dict | None:
        """Application protocol -> bytes of a host (None: none yet)."""
        have = self.app.item(hid)
        if have == -1:
            return dict(self.more[hid])
        return {self.names[have]: self.app_b.item(hid)} if have else None

    def hist_of(self, hid: int):
        """A host's packed rate history (:func:`tuimon.core.rates.bump_packed`'s form) of
        the seconds of the longest window: None, an int, or a list."""
        return self._hists(np.array([hid], np.int64))[0]

    def rates(self, hids: np.ndarray, now: float | None) -> tuple:
        """The rates of hosts ``hids`` over each window ending at ``now`` (bytes/s), as
        :func:`tuimon.core.rates.rates_packed` gives them: three float arrays."""
        sums = [np.zeros(len(hids), np.int64) for _ in WINDOWS]
        if now is not None and len(hids):
            sec = int(now)
            seconds = [(s, None) for s in self.past]
            if self.cur_sec is not None:
                seconds.append((self.cur_sec, self.cur[hids]))
            for s, got in seconds:
                age = sec - s
                if age >= _LONGEST:
                    continue
                nbytes = got if got is not None else self._at(s, hids)
                for total, width in zip(sums, WINDOWS):
                    if age < width:
                        total += nbytes
        return tuple(total / width for total, width in zip(sums, WINDOWS))

    def all_rates(self, now: float | None) -> list[list[float]]:
        """:meth:`rates` of every id (free ones 0), as three lists indexed by id."""
        return [r.tolist() for r in self.rates(np.arange(len(self.addrs)), now)]

    def handle(self, hid: int) -> StoredHost:
        """The host of ``hid`` as an object (the same one while anything holds it)."""
        h = self._handles.get(hid)
        if h is None:
            h = StoredHost.__new__(StoredHost)
            h._t, h.hid, h.addr = self, hid, self.addrs[hid]
            self._handles[hid] = h
        return h

    # -- hosts that leave -----------------------------------------------------------

    def fold_into(self, hids: list[int], into: int, want: bool) -> list[Host]:
        """Hosts ``hids`` (distinct) fold into host ``into``: their counts add up there,
        its first and last widen, their application protocols join its. Then they leave,
        their ids free. Returns them (``want``; else only those someone holds) as plain
        Hosts with their final values, in this order."""
        sel = np.array(hids, np.int64)
        for name in _COUNTS:
            col = getattr(self, name)
            col[into] += int(col[sel].sum())
        self.first[into] = min(self.first.item(into), float(self.first[sel].min()))
        self.last[into] = max(self.last.item(into), float(self.last[sel].max()))
        handles = self._handles
        held = {}
        for hid in hids:
            h = handles.pop(hid, None)
            if h is not None:
                held[hid] = h
        gone = []
        if want or held:
            values = zip(*(getattr(self, name)[sel].tolist() for name in _FIELDS))
            for hid, hist, figures in zip(hids, self._hists(sel), values):
                h = held.get(hid)
                if h is None and not want:
                    continue
                if h is None:
                    h = Host(self.addrs[hid], 0.0, hid)
                else:
                    h.__class__ = Host
                    h._t = None
                for name, v in zip(_FIELDS, figures):
                    setattr(h, name, v)
                h.hist, h.apps = hist, self.apps_of(hid)
                gone.append(h)
        self._forget_v4([self.addrs[hid] for hid in hids])
        for hid in hids:
            apps = self.apps_of(hid)
            if apps:
                for app, nbytes in apps.items():
                    self._give(into, app, nbytes)
            self.more.pop(hid, None)
            del self.ids[self.addrs[hid]]
            self.addrs[hid] = None
        self._free.extend(hids)
        for name in COLUMNS:
            getattr(self, name)[sel] = 0
        for s, (ids, nbytes) in list(self.past.items()):
            keep = ~np.isin(ids, sel)
            if not keep.all():
                self.past[s] = (ids[keep], nbytes[keep])
        return gone

    def _hists(self, sel: np.ndarray) -> list:
        """:meth:`hist_of` of each id of ``sel``."""
        seconds = sorted(self.past)
        got = [self._at(s, sel).tolist() for s in seconds]
        if self.cur_sec is not None:
            seconds.append(self.cur_sec)
            got.append(self.cur[sel].tolist())
        out = []
        for per in zip(*got) if got else ([()] * len(sel)):
            entries = [s << SHIFT | b for s, b in zip(seconds, per) if b]
            out.append(None if not entries else entries[0] if len(entries) == 1 else entries)
        return out


class StoredHost(Host):
    """A host of a :class:`HostTable`: its fields are the columns at its id (see the
    module's docstring). Once it leaves the table it is a plain Host."""

    __slots__ = ()

    @property
    def hist(self):
        return self._t.hist_of(self.hid)

    @property
    def apps(self) -> dict | None:
        return self._t.apps_of(self.hid)


def _column(name: str):
    def get(self):
        return getattr(self._t, name).item(self.hid)

    return property(get)


for _name in _FIELDS:
    setattr(StoredHost, _name, _column(_name))


class HostsView(Mapping):
    """The engine's hosts, address -> :class:`StoredHost`, in the order they were made."""

    __slots__ = ("_t",)

    def __init__(self, table: HostTable) -> None:
        self._t = table

    def __len__(self) -> int:
        return len(self._t.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._t.ids)

    def __contains__(self, addr) -> bool:
        return addr in self._t.ids

    def __getitem__(self, addr) -> StoredHost:
        return self._t.handle(self._t.ids[addr])

    def get(self, addr, default=None):
        hid = self._t.ids.get(addr)
        return default if hid is None else self._t.handle(hid)

    def values(self) -> list[StoredHost]:
        handle = self._t.handle
        return [handle(hid) for hid in self._t.ids.values()]

    def items(self) -> list[tuple[int, StoredHost]]:
        handle = self._t.handle
        return [(addr, handle(hid)) for addr, hid in self._t.ids.items()]
