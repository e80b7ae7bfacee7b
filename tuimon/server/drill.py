"""Drill-down: one conversation's packets, one packet's dissection, a conversation to pcapng.

Requests and replies of the engine worker's protocol (see :mod:`tuimon.server.worker`):

``Packets(key)``      -> ``PacketList``   the conversation's packets (at most LIST_LIMIT)
``Dissect(key, i)``   -> ``Dissection``   Wireshark's tree of packet ``i`` of that list, and
                                          its bytes
``WritePcap(key)``    -> ``Written``      all the conversation's packets into a pcapng file

The packets are read again from where they are: the playback file (through the same
capture filter), or the live capture's ring of recent traffic. The :class:`Driller` does
the slow part in the worker's drill thread, never touching the engine: the worker's main
thread looks the conversation up (:meth:`~tuimon.server.service.EngineService.drill_job`)
and hands over plain values. tshark runs once per listed conversation (the summaries of
a temporary pcapng of its packets), pyshark once per dissected packet.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field

from tuimon.capture.frames import B_TO_A, Scan, file_frames, ring_frames
from tuimon.capture.pcapng import PcapngWriter
from tuimon.core.conversation import tcp_flags_text
from tuimon.core.names import address_text
from tuimon.errors import TuimonError
from tuimon.scratch import scratch_folder
from tuimon.text import printable
from tuimon import timefmt
from tuimon.server.protocol import (Dissect, Dissection, HistoryChart, HistoryOf, LIST_LIMIT,
                                    PacketList, PacketRow, Packets, WritePcap, Written, one_line)

@dataclass
class Where:
    """Where a conversation's packets can be read again (plain values, thread-safe)."""

    path: str | None = None  # playback file
    capture_filter: str | None = None
    rings: list = field(default_factory=list)  # [(first interface index, Ring)]
    unavailable: str | None = None  # why they cannot be
    first_seen: float | None = None  # the conversation's first packet, as counted


def pcap_file_name(key: tuple, proto_name: str, now: float) -> str:
    """``tuimon-conv-<proto>-<a>-<pa>-<b>-<pb>-<time>.pcapng`` (IPv6 colons become dots)."""
    proto, a, pa, b, pb = key
    parts = [proto_name, address_text(a), pa, address_text(b), pb]
    text = "-".join(str(p).replace(":", ".") for p in parts if p is not None)
    stamp = timefmt.stamp(now)
    return f"tuimon-conv-{printable(text).replace('/', '_')}-{stamp}.pcapng"


def _clock(ts: float) -> str:
    return timefmt.clock(ts)


class Driller:
    """Runs the drill-down jobs (one thread). Keeps the last listed conversation's packets
    in a temporary pcapng, for dissection; everything is removed by :meth:`close`."""

    def __init__(self, tshark: str = "tshark") -> None:
        self.tshark = tshark
        self.folder: str | None = None
        self.key: tuple | None = None
        self.path: str | None = None
        self.offsets: list[tuple[int, int]] = []  # per listed packet: (file offset, captured)
        self.numbers: list[int] = []  # per listed packet: its frame number in self.path
        self.listed: list[int] = []  # per listed packet: the number the list shows

    def _folder(self) -> str:
        if self.folder is None:
            self.folder = scratch_folder("drill")
            # Removed by close(); else when the Driller goes away or the process exits.
            weakref.finalize(self, shutil.rmtree, self.folder, True)
        return self.folder

    def close(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = self.path = self.key = None

    # -- reading the packets again ------------------------------------------------------

    def frames(self, key: tuple, where: Where, scans: list):
        """The conversation's frames, oldest first; ``scans`` gets one Scan per ring."""
        if where.path is not None:
            return file_frames(where.path, key, where.capture_filter)
        streams = []
        for index, ring in where.rings:
            scan = Scan()
            scans.append((ring, scan))
            streams.append(ring_frames(ring.files(), key, index, scan))
        return heapq.merge(*streams, key=lambda frame: frame.ts)

    @staticmethod
    def ring_note(where: Where, scans: list, found: int) -> str:
        """What the ring no longer holds of this conversation ("" when nothing is missing)."""
        if where.path is not None:
            return ""
        errors = [ring.error for ring, _ in scans if ring.error]
        if errors:
            return errors[0]
        shed = [ring.note() for ring, _ in scans if ring.note()]
        gone = [scan.first_ts for ring, scan in scans if ring.dropped and scan.first_ts]
        if not gone:
            return shed[0] if shed else ""
        oldest = max(gone)
        if where.first_seen is not None and where.first_seen < oldest - 1e-6:
            if not found:
                return f"this conversation's packets are gone from the ring (it keeps traffic since {_clock(oldest)})"
            return f"packets before {_clock(oldest)} are gone from the ring"
        return ""

    # -- the jobs -------------------------------------------------------------------------

    def packets(self, request: Packets, where: Where) -> PacketList:
        reply = PacketList(request.seq, request.key)
        if where.unavailable:
            reply.error = where.unavailable
            return reply
        folder = self._folder()
        fd, path = tempfile.mkstemp(suffix=".pcapng", dir=folder)
        scans: list = []
        rows, offsets = [], []
        try:
            with os.fdopen(fd, "wb") as f:
                writer = PcapngWriter(f)
                for frame in self.frames(request.key, where, scans):
                    reply.found += 1
                    if len(rows) >= LIST_LIMIT:
                        continue
                    iface = frame.iface
                    offsets.append((writer.add(iface.linktype, iface.snaplen, iface.name,
                                               iface.scale, frame.ts, frame.data,
                                               frame.wire_len), len(frame.data)))
                    number = frame.number if where.path is not None else len(rows) + 1
                    rows.append([number, frame.ts, frame.direction == B_TO_A, frame.wire_len,
                                 len(frame.data), tcp_flags_text(frame.flags)
                                 if request.key[0] == 6 else "", ""])
        except TuimonError as err:
            os.unlink(path)
            reply.error = str(err)
            return reply
        except OSError as err:
            os.unlink(path)
            reply.error = f"cannot read the packets again: {err.strerror or err}"
            return reply
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.key, self.path, self.offsets = request.key, path, offsets
        self.numbers = list(range(1, len(rows) + 1))
        self.listed = [row[0] for row in rows]  # the numbers the list shows (the capture's)
        reply.cut = reply.found > len(rows)
        notes = [self.ring_note(where, scans, reply.found)]
        if rows:
            try:
                info = dissect_summaries(path, self.tshark)
            except TuimonError as err:
                info = {}
                notes.append(str(err))
            for i, row in enumerate(rows):
                row[6] = info.get(i + 1, "")
        reply.note = "; ".join(n for n in notes if n)
        reply.rows = [PacketRow(*row) for row in rows]
        return reply

    def dissect(self, request: Dissect) -> Dissection:
        reply = Dissection(request.seq, request.key, request.index)
        if request.key != self.key or self.path is None or \
                not 0 <= request.index < len(self.offsets):
            reply.error = "this packet is no longer at hand: open the conversation again"
            return reply
        offset, size = self.offsets[request.index]
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                reply.data = f.read(size)
            number = self.numbers[request.index]
            reply.tree = renumber(dissect_tree(self.path, number, self.tshark), number,
                                  self.listed[request.index])
        except TuimonError as err:
            reply.error = str(err)
        except OSError as err:
            reply.error = f"cannot read the packet: {err.strerror or err}"
        return reply

    def write(self, request: WritePcap, where: Where, proto_name: str, now: float) -> Written:
        reply = Written(request.seq, request.key)
        if where.unavailable:
            reply.error = where.unavailable
            return reply
        folder = request.folder or "."
        final = os.path.join(folder, pcap_file_name(request.key, proto_name, now))
        reply.path = final
        scans: list = []
        tmp = None
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tuimon-conv-", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as f:
                writer = PcapngWriter(f)
                for frame in self.frames(request.key, where, scans):
                    iface = frame.iface
                    writer.add(iface.linktype, iface.snaplen, iface.name, iface.scale,
                               frame.ts, frame.data, frame.wire_len)
                reply.packets = writer.count
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            tmp = None
        except TuimonError as err:
            reply.error = str(err)
        except OSError as err:
            reply.error = printable(f"cannot write {final}: {err.strerror or err}")
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        reply.note = self.ring_note(where, scans, reply.packets)
        return reply


def run_job(job, request):
    """Run a drill job; whatever goes wrong becomes the reply's one-line error."""
    try:
        return job()
    except Exception as err:  # noqa: BLE001 - the monitor goes on
        return failed(request, f"drill-down failed: {type(err).__name__}: {printable(str(err))}")


def failed(request, message: str):
    if isinstance(request, Packets):
        return PacketList(request.seq, request.key, error=message)
    if isinstance(request, Dissect):
        return Dissection(request.seq, request.key, request.index, error=message)
    if isinstance(request, HistoryOf):
        return HistoryChart(request.seq, request.kind, request.key, request.span,
                            note=one_line(message.replace("drill-down", "history")))
    return Written(request.seq, request.key, error=message)


def dissect_summaries(path: str, tshark: str) -> dict[int, str]:
    from tuimon.server.wireshark import summaries

    return summaries(path, tshark)


def renumber(tree: list, number: int, listed: int) -> list:
    """The tree of frame ``number`` of the conversation's own file, numbered as the packet
    list (and the capture) number it: ``Frame 1151: ...``, not ``Frame 2: ...``."""
    if number == listed:
        return tree
    out = []
    for depth, text, start, size in tree:
        if depth == 0 and text.startswith(f"Frame {number}:"):
            text = f"Frame {listed}:" + text[len(f"Frame {number}:"):]
        elif depth == 1 and text == f"Frame Number: {number}":
            text = f"Frame Number: {listed}"
        out.append((depth, text, start, size))
    return out


def dissect_tree(path: str, number: int, tshark: str) -> list:
    from tuimon.server.wireshark import dissection_tree

    return dissection_tree(path, number, tshark)
