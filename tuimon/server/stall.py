"""A live capture that has gone quiet while the kernel still counts packets on its
interface: dumpcap stopped (SIGSTOP, a debugger), stuck, or starved of CPU.

Such a capture ends nothing and reports no drops: the only other sign is the kernel's
"missed" growing. So once a second, next to the kernel's counters
(:meth:`tuimon.server.session.Session.kernel_tick`), :class:`StallWatch` compares what the
kernel counted on each interface with the frames its dumpcap handed over. Packets the
kernel counted at least ``seconds`` ago of which not one came through make the capture
*stalled*; the first frame that comes through ends it. A healthy dumpcap hands a packet
over within about a second (libpcap's timeout), so a quiet link or a burst just before a
reading is never taken for a stall. Only unfiltered captures are watched: with a capture
filter the kernel counts what the filter rightly leaves out.
"""

from __future__ import annotations

STALL_SECONDS = 3.0  # packets the kernel counted this long ago, none handed over: stalled
STALL_PACKETS = 5  # ... and at least this many of them


class StallWatch:
    def __init__(self, seconds: float = STALL_SECONDS, packets: int = STALL_PACKETS) -> None:
        self.seconds, self.packets = seconds, packets
        # capture index -> (frames handed over, kernel's packets then, when the kernel
        # first counted more without a frame coming through, or None)
        self._last: dict[int, tuple[int, int, float | None]] = {}
        self.stalled: dict[int, int] = {}  # capture index -> packets the kernel counted since

    def update(self, now: float, kernel: dict, frames: dict[int, int]) -> None:
        """``kernel``: index -> :class:`~tuimon.capture.kernel.KernelRow` (this reading);
        ``frames``: index -> frames the capture of that index has handed over so far."""
        for index in list(self._last):
            if index not in frames:
                del self._last[index]
                self.stalled.pop(index, None)
        for index, count in frames.items():
            row = kernel.get(index)
            if row is None or not row.comparable:
                self._last.pop(index, None)
                self.stalled.pop(index, None)
                continue
            seen = row.packets_in + row.packets_out
            # both count from the capture's start: nothing handed over, nothing counted
            last = self._last.get(index, (0, 0, None))
            if count != last[0]:
                self._last[index] = (count, seen, None)
                self.stalled.pop(index, None)
                continue
            _, seen_then, growing_since = last
            if seen <= seen_then:
                continue
            if growing_since is None:
                self._last[index] = (count, seen_then, now)
            elif now - growing_since >= self.seconds and seen - seen_then >= self.packets:
                self.stalled[index] = seen - seen_then
