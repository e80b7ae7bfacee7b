"""The conversations that left the engine's table, kept on disk for the CSV report.

Conversations expire (idle timeouts, ``--max-flows``) so that memory stays bounded; their
bytes stay in the host, protocol and interface totals. Like a flow exporter (NetFlow,
conntrack's accounting), tuimon writes each one out as it leaves: its final
``conversations.csv`` line goes into a temporary file (deleted when tuimon exits), and
every save appends those lines after the conversations still in the table, with the
``state`` column saying ``expired``, oldest first (by first packet; in runs of ``HOLD``). So a report lists every conversation of the session.

A conversation that just left may still wait for its application protocol (the verdict of
Wireshark's dissectors arrives asynchronously, :mod:`tuimon.server.labeler`, and still
labels it after it left), so the latest ``HOLD`` of them are kept as they are and written
out only when more leave, or at a save; a headless run saves after the last verdicts.

The spool is bounded too (``limit`` bytes, 1 GiB by default: about seven million
conversations); what would pass it is counted in :attr:`FlowLog.lost`, never silently.
"""

from __future__ import annotations

import csv
import shutil
import tempfile

from tuimon.core.conversation import Conversation
from tuimon.sinks.csv import write_conversations

SPOOL_LIMIT = 1 << 30
HOLD = 50_000


class FlowLog:
    def __init__(self, engine, limit: int = SPOOL_LIMIT, folder: str | None = None,
                 hold: int = HOLD) -> None:
        self.engine = engine
        self.limit = limit
        self.hold = hold
        self._held: list = []  # left, not written yet (a verdict may still come)
        self.folder = folder
        self.rows = 0  # conversations that left and will be listed (spooled or held)
        self.lost = 0  # conversations that left when the spool was full: not listed
        self._file = None

    @classmethod
    def attach(cls, engine, **kwargs) -> FlowLog:
        """A flow log that receives every conversation leaving ``engine``'s table."""
        log = cls(engine, **kwargs)
        engine.on_leave = log.add
        return log

    def add(self, conversations: list) -> None:
        """Called by the engine with the conversations that just left its table."""
        held = self._held
        held.extend(conversations)
        self.rows += len(conversations)
        if len(held) > self.hold:
            self._write(held[: len(held) - self.hold])
            del held[: len(held) - self.hold]

    def _write(self, conversations: list) -> None:
        if not conversations:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile("w+", newline="", encoding="utf-8",
                                                prefix="tuimon-expired-", dir=self.folder)
        f = self._file
        if f.tell() >= self.limit:
            self.lost += len(conversations)
            self.rows -= len(conversations)
            return
        # Oldest first: the order in which they left depends on how the capture was cut
        # into batches, and a report must not.
        conversations = sorted(conversations, key=Conversation.oldest_first)
        rows = self.engine.conversation_rows(conversations, with_rates=False)
        write_conversations(f, csv.writer(f), rows, state="expired")

    def copy_to(self, out) -> None:
        """Append every conversation that left, in the order they left, to the open CSV
        file ``out``."""
        self._write(self._held)
        self._held = []
        f = self._file
        if f is None:
            return
        end = f.tell()
        f.flush()
        f.seek(0)
        try:
            shutil.copyfileobj(f, out, 1 << 20)
        finally:
            f.seek(end)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
