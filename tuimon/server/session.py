"""Drives a capture source into an engine: the loop shared by headless mode and the UI worker."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from tuimon.server.labeler import DEFAULT_PACKETS, AppLabeler
from tuimon.core.engine import Engine


STOP_GRACE = 5.0


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
        for index, row in self.kernel.sample().items():
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
        by_reason = getattr(self.source, "skip_reasons", None)
        if by_reason is not None:
            return by_reason(index)
        skipped = self.source.skipped() if index in (None, 0) else 0  # a source without reasons
        return {"damaged": skipped} if skipped else {}

    def ingest(self, batch: list) -> None:
        if len(self.source.interfaces) != self._known:
            self.sync_interfaces()
        engine = self.engine
        engine.ingest(batch)
        if engine.dissect_queue:
            self.labeler.feed()
        self.labeler.poll()
        # Fold once per second of capture time so the rate windows see when traffic came.
        now = engine.now
        if now is not None and (self._next_fold is None or now >= self._next_fold):
            engine.fold()
            self._next_fold = int(now) + 1

    def run(self, stop: Callable[[], bool] | None = None, batches=None) -> None:
        """Count the whole source (or ``batches``, e.g. its paced playback), or until
        ``stop()`` says so.

        A source that can stop gracefully (live capture) is asked to, and what it still
        delivers is counted too, so nothing already captured is lost.
        """
        stopping = None  # when set: the monotonic deadline for the source to wind down
        for batch in self.source.batches() if batches is None else batches:
            self.ingest(batch)
            self.kernel_tick()
            if stopping is None and stop is not None and stop():
                if not hasattr(self.source, "stop"):
                    break
                self.source.stop()
                stopping = time.monotonic() + STOP_GRACE
            elif stopping is not None and time.monotonic() > stopping:
                break  # closing the generator makes the source kill what is left
        self.engine.fold()  # while tshark answers the last frames (labels move folded counts)
        self.finish_labels()
        self.sync_interfaces()
        self.kernel_tick(force=True)
        self.engine.fold()
