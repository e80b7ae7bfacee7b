"""Session: one source counted by one engine, with the labeller (tshark) and the kernel's
counters beside it. :mod:`tuimon.server.driver` decides when; this says how."""

from __future__ import annotations

import gc
import time

import numpy as np
from collections.abc import Callable

from tuimon.capture.source import SHED_BYTES
from tuimon.server.labeler import DEFAULT_PACKETS, AppLabeler
from tuimon.server.stall import StallWatch
from tuimon.core.engine import Engine
from tuimon.capture.columns import PacketColumns
from tuimon.capture.flowrecord import FlowRecord


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
        self._next_fold: float | None = None
        self.stall = StallWatch()  # .stalled: captures quiet while the kernel counts
        self.labeler = labeler_factory(self.engine, dissect_packets, self._linktype)
        if source.kind == "live":  # tshark's share of the CPU stays bounded
            self.labeler.go_live(clock)

    def kernel_tick(self, final: bool = False) -> None:
        """Read the kernel's counters (the driver calls this once a second); ``final``: the
        capture has ended, apply them at once."""
        if self.kernel is None:
            return
        if len(self.source.interfaces) != self._known:  # named before their first packet
            self.sync_interfaces()
        # "Missed" (kernel minus captured) must not count the packets still waiting in
        # the capture's pipe (the counting is behind, not losing them): they are taken off.
        waiting = 0 if final else self.source.behind()[1]
        rows = self.kernel.sample()
        for index, row in rows.items():
            self.engine.set_kernel(index, row._replace(waiting=waiting) if waiting else row)
        captured = None if final else self.source.captured()
        if captured is not None:
            self.stall.update(self.clock(), rows, captured)

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
            self.engine.set_interface(iface.index, iface.name, iface.link,
                                      self.source.drops_of(iface),
                                      sum(reasons.values()), reasons,
                                      iface.direction)
        if not interfaces:  # damage before the first interface: still reported
            reasons = self._skip_reasons(None)
            if reasons:
                self.engine.set_interface(0, self.source.name, "", None,
                                          sum(reasons.values()), reasons)
        self._known = len(interfaces)

    def _skip_reasons(self, index: int | None) -> dict[str, int]:
        """Skipped records by reason on interface ``index`` (None: all of them)."""
        return self.source.skip_reasons(index)

    def _ingest_by_second(self, batch) -> None:
        """Count ``batch`` a second of capture time at a time, folding between: a batch
        read as fast as possible may span many seconds, and rates, peaks and alerts must
        see each second's bytes in their second (headless without rates keeps batches
        whole: nothing reads the seconds). A cut is one numpy comparison for a batch of
        columns; a list of records is walked only when it crosses a second."""
        engine = self.engine
        if self._next_fold is None:
            self._next_fold = int(batch[0][1]) + 1
        while batch:
            cut = _first_at(batch, self._next_fold)
            if cut is None:
                break
            if cut:
                engine.ingest(batch[:cut])
                batch = batch[cut:]
            engine.fold()  # what came before belongs to the seconds before
            self._next_fold = int(batch[0][1]) + 1
        if batch:
            engine.ingest(batch)

    def ingest(self, batch: list) -> None:
        if len(self.source.interfaces) != self._known:
            self.sync_interfaces()
        engine = self.engine
        # Behind the capture (more than a read's worth waits in the pipe): the labeller
        # sheds new conversations to port guesses until the counting has caught up.
        self.labeler.behind = self.source.behind()[0] > SHED_BYTES
        if batch and type(batch[0]) is FlowRecord:  # the conntrack source: flows, no packets
            engine.ingest_flows(batch)
        elif engine.rates and batch:
            self._ingest_by_second(batch)
        else:
            engine.ingest(batch)
        if batch:
            newest = batch[-1][1]
            if self.newest is None or newest > self.newest:
                self.newest = newest
        if engine.dissect_queued:
            self.labeler.feed()
        self.labeler.poll()
        # Fold once per second of capture time so the rate windows see when traffic came.
        now = engine.now
        if now is not None and (self._next_fold is None or now >= self._next_fold):
            engine.fold()
            self._next_fold = int(now) + 1


def _first_at(batch, boundary: float) -> int | None:
    """The index of the first record of ``batch`` at or after ``boundary``, or None."""
    if isinstance(batch, PacketColumns):
        hits = np.flatnonzero(batch.cols["ts"] >= boundary)
        return int(hits[0]) if len(hits) else None
    for i, record in enumerate(batch):
        if record[1] >= boundary:
            return i
    return None
