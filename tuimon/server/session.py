"""Session: one source counted by one engine, with the labeller (tshark) and the kernel's
counters beside it. :mod:`tuimon.server.driver` decides when; this says how."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from tuimon.server.labeler import DEFAULT_PACKETS, AppLabeler
from tuimon.core.engine import Engine


KERNEL_LAG = 0.5  # seconds a kernel sample waits for the packets it counted


def tune_gc() -> None:
    """For the process that counts: the engine's records (a million of them) form no
    reference cycles, and the cyclic collector's frequent young-generation passes over
    them were a quarter of the playback CPU time. Collect far less often: a young
    collection once a million objects have piled up (at 100,000 they still took 4 % of a
    large file's playback)."""
    gc.set_threshold(1_000_000, 50, 100)


class Session:
    """One capture source counted by one engine; the first ``dissect_packets`` packets of
    each TCP/UDP conversation also go to tshark for the application protocol
    (:mod:`tuimon.server.labeler`; 0: port guesses only)."""

    def __init__(self, source, engine: Engine | None = None, kernel=None,
                 clock: Callable[[], float] = time.monotonic,
                 dissect_packets: int = DEFAULT_PACKETS, labeler_factory=AppLabeler) -> None:
        """``kernel``: a :class:`tuimon.capture.kernel.KernelCounters` for a live source's
        interfaces, sampled about once a second (:meth:`kernel_tick`), or None."""
        self.source = source
        self.engine = engine or Engine()
        self.kernel = kernel
        self.clock = clock
        self._known = 0
        self.newest: float | None = None  # capture time of the newest packet counted
        # Kernel samples wait until the capture has handed over what the kernel had then
        # (see kernel_tick): (when, rows), oldest first.
        self._kernel_pending: list[tuple[float, dict]] = []
        self._next_fold: float | None = None
        self._next_kernel = clock() + 1.0
        self.labeler = labeler_factory(self.engine, dissect_packets, self._linktype)

    def kernel_tick(self, force: bool = False) -> None:
        """Read the kernel's counters when a second has passed (or ``force``)."""
        if self.kernel is None:
            return
        now = self.clock()
        if not force and now < self._next_kernel:
            return
        self._next_kernel = now + 1.0
        if len(self.source.interfaces) != self._known:  # named before their first packet
            self.sync_interfaces()
        # "Missed" (kernel minus captured) must not count packets still on their way: a
        # sample is applied only once the capture's pipes are empty and it is KERNEL_LAG
        # old (dumpcap hands over what the kernel holds within 250 ms); at the end
        # (``force``), at once.
        pending = self._kernel_pending
        pending.append((now, self.kernel.sample()))
        if not force:
            if self.source.behind()[0]:
                del pending[:-8]  # behind: keep the last few, apply none
                return
            ready = [i for i, (when, _) in enumerate(pending) if when <= now - KERNEL_LAG]
            if not ready:
                return
            del pending[:ready[-1]]
        when, rows = pending.pop(0) if not force else pending[-1]
        if force:
            pending.clear()
        for index, row in rows.items():
            self.engine.set_kernel(index, row)

    def _linktype(self, index: int) -> int:
        for iface in self.source.interfaces:
            if iface.index == index:
                return iface.linktype
        return 1

    def poll_labels(self) -> bool:
        """Apply the application-protocol verdicts that came in; True when one did."""
        return self.labeler.poll()

    def finish_labels(self, timeout: float | None = None) -> None:
        """End of the capture: wait (bounded) for the verdicts still due."""
        if timeout is None:
            self.labeler.drain()
        else:
            self.labeler.drain(timeout)

    def close(self) -> None:
        self.labeler.close()

    def sync_interfaces(self) -> None:
        """Tell the engine the names, drops and skipped records (and why) the source knows of."""
        interfaces = self.source.interfaces
        for iface in interfaces:
            reasons = self._skip_reasons(iface.index)
            self.engine.set_interface(iface.index, iface.name, iface.link, iface.drops,
                                      sum(reasons.values()), reasons,
                                      getattr(iface, "direction", ""))
        if not interfaces:  # damage before the first interface: still reported
            reasons = self._skip_reasons(None)
            if reasons:
                self.engine.set_interface(0, self.source.name, "", None,
                                          sum(reasons.values()), reasons)
        self._known = len(interfaces)

    def _skip_reasons(self, index: int | None) -> dict[str, int]:
        """Skipped records by reason on interface ``index`` (None: all of them)."""
        return self.source.skip_reasons(index)

    def ingest(self, batch: list) -> None:
        if len(self.source.interfaces) != self._known:
            self.sync_interfaces()
        engine = self.engine
        engine.ingest(batch)
        if batch:
            newest = batch[-1][1]
            if self.newest is None or newest > self.newest:
                self.newest = newest
        if engine.dissect_queue:
            self.labeler.feed()
        self.labeler.poll()
        # Fold once per second of capture time so the rate windows see when traffic came.
        now = engine.now
        if now is not None and (self._next_fold is None or now >= self._next_fold):
            engine.fold()
            self._next_fold = int(now) + 1
