"""The kernel's named counters (nfacct objects, nftables named counters) beside tuimon's own.

A live session polls them (:mod:`tuimon.capture.kernel_counters`: the ``nfacct`` and ``nft``
tools) in a thread of its own, every :data:`EVERY` seconds while there are some and every
:data:`IDLE` seconds while there are none, never on the counting path. The Counters view
and ``counters.csv`` show each as a :class:`~tuimon.core.counters.CounterRow` named as the
kernel lists it (``nfacct:http``, ``nft:inet/filter/web``), its expression ``kernel
nfacct`` or ``kernel nft`` (their bytes are the kernel's: IP bytes, not frames), with rates
from the polls (a poll's growth spread over the seconds since the one before).

``z`` on one, or ``Z``, reads and zeroes it in the kernel in one operation (``nfacct get NAME
reset``, ``nft reset counter``): the figures returned are those at that instant, and
nothing counted meanwhile is lost or counted twice. A counter that shrinks between two
polls was reset by someone else: it counts from there, ``since`` that poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tuimon.capture.kernel_counters import KernelCounter, list_counters, reset_counter
from tuimon.core.counters import CounterRow
from tuimon.core.rates import bump, packet_rate, rates
from tuimon.errors import TuimonError

EVERY = 2.0  # seconds between polls while the kernel has named counters
IDLE = 30.0  # ... while it has none


class _State:
    __slots__ = ("packets", "bytes", "base_p", "base_b", "since", "resets", "hist", "seen")

    def __init__(self, c: KernelCounter, now: float) -> None:
        self.packets, self.bytes = c.packets, c.bytes  # the kernel's figures, last poll
        self.base_p = self.base_b = 0  # counted before the kernel's figures last went to 0
        self.since = now
        self.resets = 0
        self.hist: list = []
        self.seen = int(now)  # the second of the last poll


def kind_of(name: str) -> str:
    return "kernel nft" if name.startswith("nft:") else "kernel nfacct"


class KernelPoller:
    """Polls the kernel's named counters; thread-safe (a lock around the figures)."""

    def __init__(self, lister: Callable[[], list] = list_counters,
                 resetter: Callable[[str], KernelCounter] = reset_counter,
                 clock: Callable[[], float] = time.time) -> None:
        self.lister, self.resetter, self.clock = lister, resetter, clock
        self._lock = threading.Lock()
        self._counters: dict[str, _State] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""  # why the last poll failed (no CAP_NET_ADMIN), or ""

    def poll(self) -> bool:
        """Read every counter now; False when the tools refused (nothing changes then)."""
        try:
            found = self.lister()
        except TuimonError as err:
            self.error = str(err)
            return False
        self.error = ""
        now = self.clock()
        with self._lock:
            self._take(found, now)
        return True

    def _take(self, found: list, now: float) -> None:
        sec = int(now)
        names = set()
        for c in found:
            names.add(c.name)
            st = self._counters.get(c.name)
            if st is None:
                self._counters[c.name] = _State(c, now)
                continue
            if c.packets < st.packets or c.bytes < st.bytes:  # zeroed by someone else
                st.base_p, st.base_b = st.base_p + st.packets, st.base_b + st.bytes
                st.since, st.resets = now, st.resets + 1
                dp, db = c.packets, c.bytes
            else:
                dp, db = c.packets - st.packets, c.bytes - st.bytes
            self._spread(st, sec, dp, db)
            st.packets, st.bytes = c.packets, c.bytes
        for gone in set(self._counters) - names:
            del self._counters[gone]

    @staticmethod
    def _spread(st: _State, sec: int, dp: int, db: int) -> None:
        """The growth since the last poll, spread over the seconds between them."""
        span = max(1, sec - st.seen)
        if dp or db:
            for i in range(span):
                s = sec - span + 1 + i
                share_b = db // span + (1 if i < db % span else 0)
                share_p = dp // span + (1 if i < dp % span else 0)
                bump(st.hist, s, share_b, share_p)
        st.seen = sec

    def __len__(self) -> int:
        with self._lock:
            return len(self._counters)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._counters)

    def _row(self, name: str, st: _State, now: float) -> CounterRow:
        r2, r10, r40 = rates(st.hist, now)
        return CounterRow(name, kind_of(name), st.packets, st.bytes, st.since,
                          st.base_p + st.packets, st.base_b + st.bytes, st.resets,
                          r2, r10, r40, packet_rate(st.hist, now))

    def rows(self, now: float | None = None) -> list[CounterRow]:
        """Every kernel counter as of the last poll, rates at ``now`` (default: the
        clock's)."""
        now = self.clock() if now is None else now
        with self._lock:
            return [self._row(n, self._counters[n], now) for n in sorted(self._counters)]

    def reset(self, names: list[str] | None = None) -> list[CounterRow]:
        """Read and zero ``names`` (None: every one) in the kernel, each in one operation:
        the rows returned hold the figures at that instant. Unknown names are left out;
        a refusal is a TuimonError."""
        with self._lock:
            chosen = sorted(self._counters) if names is None else \
                [n for n in names if n in self._counters]
        out = []
        for name in chosen:
            c = self.resetter(name)
            now = self.clock()
            with self._lock:
                st = self._counters.get(name)
                if st is None:
                    continue
                self._spread(st, int(now), max(0, c.packets - st.packets),
                              max(0, c.bytes - st.bytes))
                st.packets, st.bytes = c.packets, c.bytes
                out.append(self._row(name, st, now))
                st.base_p, st.base_b = st.base_p + c.packets, st.base_b + c.bytes
                st.packets = st.bytes = 0
                st.since, st.resets = now, st.resets + 1
        return out

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tuimon-kernel-counters",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(EVERY if len(self) else IDLE):
            self.poll()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
