"""Reverse DNS for addresses, in the background (the app's ``n``, ``--resolve``).

:class:`Resolver` lives in the engine process beside the counting and never on its path:
:meth:`Resolver.names` answers from its cache at once and queues what it does not know;
a few worker threads (``WORKERS``) take the queue (bounded: ``QUEUE``; what does not fit
is asked again next time) and call the injectable ``resolve`` function (by default
:func:`reverse`: ``socket.getnameinfo`` with ``NI_NAMEREQD``, so the hosts file and DNS
alike, as the system resolves). The cache holds names for ``TTL`` seconds and failures
(negative entries) for ``NEGATIVE_TTL``, at most ``CACHE`` addresses (the oldest go first).
Only the addresses on the page shown and the busiest hosts are asked for
(:meth:`tuimon.server.service.EngineService.answer`, the headless save).

A name is kept only when it looks like a host name (letters, digits, ``.``, ``-``, ``_``,
at most 253 characters): a PTR record is content from the network, never shown raw.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

WORKERS = 2
QUEUE = 256
CACHE = 10_000
TTL = 3600.0
NEGATIVE_TTL = 300.0
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")


def reverse(address: str) -> str | None:
    """The name the system gives ``address`` (hosts file, DNS), or None."""
    try:
        sockaddr = (address, 0, 0, 0) if ":" in address else (address, 0)
        name, _ = socket.getnameinfo(sockaddr, socket.NI_NAMEREQD)
    except (OSError, UnicodeError, ValueError):
        return None
    return name


def clean(name: str | None, address: str) -> str | None:
    """``name`` when it looks like a host name and is not the address itself."""
    if not name or name == address or _HOSTNAME.fullmatch(name) is None:
        return None
    return name.rstrip(".")


class Resolver:
    def __init__(self, resolve: Callable[[str], str | None] = reverse,
                 clock: Callable[[], float] = time.monotonic, workers: int = WORKERS,
                 queue_size: int = QUEUE, cache_size: int = CACHE, ttl: float = TTL,
                 negative_ttl: float = NEGATIVE_TTL) -> None:
        self.resolve, self.clock = resolve, clock
        self.ttl, self.negative_ttl, self.cache_size = ttl, negative_ttl, cache_size
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._pending: set[str] = set()  # queued or being resolved
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"tuimon-resolver-{i}",
                                          daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()
        self.lookups = 0  # resolve() calls made (tests, the figures)

    def names(self, addresses: Iterable[str]) -> dict[str, str]:
        """The names known now of ``addresses`` (never waits); the others are queued, those
        that do not fit in the queue are left for a later call."""
        now = self.clock()
        known: dict[str, str] = {}
        full = False
        with self._lock:
            for address in addresses:
                entry = self._cache.get(address)
                if entry is not None and entry[1] > now:
                    if entry[0]:
                        known[address] = entry[0]
                    continue
                if address in self._pending or full:
                    continue
                try:
                    self._queue.put_nowait(address)
                except queue.Full:
                    full = True  # asked again next time
                    continue
                self._pending.add(address)
        return known

    def known(self, addresses: Iterable[str]) -> dict[str, str]:
        """The names in the cache of ``addresses``, nothing queued (a save's hosts)."""
        now = self.clock()
        with self._lock:
            cache = self._cache
            out = {}
            for address in addresses:
                entry = cache.get(address)
                if entry is not None and entry[0] and entry[1] > now:
                    out[address] = entry[0]
            return out

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queued lookups; True when none is left."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                address = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                name = clean(self.resolve(address), address)
            except Exception:  # noqa: BLE001 - a resolver that fails is a negative answer
                name = None
            now = self.clock()
            with self._lock:
                self.lookups += 1
                self._cache[address] = (name, now + (self.ttl if name else self.negative_ttl))
                self._cache.move_to_end(address)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                self._pending.discard(address)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
