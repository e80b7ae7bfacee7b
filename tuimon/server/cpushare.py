"""How much of the machine's CPU the rest of the system leaves free for tshark.

The labeller's tshark runs under SCHED_IDLE, yet on a machine with no idle core it still
took CPU the capture needed (dumpcap and the counting dropped packets beside it). So, once
a second, :class:`FreeShare` works out the share of all cores that nothing but tshark
wanted (the idle time plus tshark's own time, from ``/proc/stat`` and
``/proc/PID/stat``); below a floor, the labeller hands tshark nothing new that second.
Linux only; anywhere it cannot read, it reports plenty free.
"""

from __future__ import annotations

import os


def _system() -> tuple[int, int]:
    """(all jiffies, idle jiffies) of every core since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields[:8]), fields[3] + fields[4]  # idle + iowait; guest time is in user


def _process(pid: int) -> int:
    """utime + stime of ``pid`` in jiffies (its children not included)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rpartition(")")[2].split()
    return int(rest[11]) + int(rest[12])


class FreeShare:
    def __init__(self) -> None:
        self._last: tuple[int, int, int] | None = None

    def sample(self, pids: list[int]) -> float:
        """The share (0..1) of the CPU since the last sample that was idle or tshark's
        (``pids``); 1.0 the first time, or when it cannot be read."""
        try:
            total, idle = _system()
            mine = sum(_process(pid) for pid in pids)
        except (OSError, ValueError, IndexError):
            return 1.0
        last, self._last = self._last, (total, idle, mine)
        if last is None or total <= last[0]:
            return 1.0
        return min(1.0, max(0.0, (idle - last[1] + mine - last[2]) / (total - last[0])))


def cores() -> int:
    return os.cpu_count() or 1
