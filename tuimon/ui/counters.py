"""CounterKeys: the Counters view's own keys, ``z`` (read and zero the counter under the
cursor) and ``Z`` (all of them), and the engine's answer shown as a notification.

The engine reads and zeroes in one step, between two batches
(:class:`~tuimon.server.protocol.ResetCounters`); the notification shows the figures
at that instant, which the table no longer holds.
"""

from __future__ import annotations

from collections.abc import Callable

from tuimon.server.protocol import CountersReset, ResetCounters
from tuimon.text import printable
from tuimon.ui import format as fmt

NO_COUNTERS = ("No named counters: start tuimon with --counter NAME=EXPR "
               "(e.g. --counter web='port 443') or --counters FILE; the kernel's nfacct "
               "and nft counters show here during a live capture as root.")


class CounterKeys:
    """Sends the resets and shows their answers; ``send``: a request to the engine,
    ``notify``: the app's notification."""

    def __init__(self, send: Callable[[object], None], notify: Callable[..., None]) -> None:
        self._send = send
        self._notify = notify
        self._seq = 0
        self.human = True
        self.read: list = []  # every CountersReset answered, in order (tests, the log)

    def reset(self, name: str | None) -> None:
        """Read and zero ``name`` (None: every counter)."""
        self._seq += 1
        self._send(ResetCounters(None if name is None else (name,), self._seq))

    def reply(self, reply: CountersReset) -> None:
        self.read.append(reply)
        if reply.error:
            self._notify(reply.error, title="Counters", severity="warning", timeout=6,
                         markup=False)
            return
        lines = [f"{printable(r.name, 40)}: {fmt.count(r.packets, self.human)} packets, "
                 f"{fmt.size(r.bytes, self.human)} since {fmt.clock_time(r.since)}"
                 for r in reply.rows[:8]]
        if len(reply.rows) > 8:
            lines.append(f"… and {len(reply.rows) - 8} more")
        self._notify("\n".join(lines) or "nothing to reset",
                     title="Read and zeroed" if reply.rows else "Counters", timeout=10,
                     markup=False)
