"""Application protocols by Wireshark's dissectors, off the counting path.

The engine hands over the first ``--dissect-packets`` packets of every TCP/UDP
conversation (``Engine.dissect_queue``). :class:`AppLabeler` writes them, as pcapng, to ONE
long-running tshark (:class:`Dissector`: ``tshark -n -l -r - -T fields -e frame.number
-e frame.protocols``, reassembly off) and maps the frame numbers tshark prints back to
conversations. A conversation's application protocol is the layer right above ``tcp`` or
``udp`` in ``frame.protocols`` of the first of those packets that has one (``data`` and
``_ws.*`` are not protocols): ``tls``, ``http``, ``dns``, ``quic`` ...

Nothing here waits for tshark while counting: frames go to a writer thread, verdicts come
back through a reader thread and are applied between batches. Once ``max_waiting`` frames
are with tshark, conversations that start are never dissected and keep their port guess
(``Engine.app_skipped``) until it has caught up to half of that; so at most
``max_waiting`` plus one batch's worth of frames wait. TCP SYN and RST segments, which
carry no application data, are not handed over (they count among the first N). tshark
missing or dying leaves every conversation with its port guess and a note, never an
error.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time

# The same preferences as the tests' oracle: every packet dissected on its own.
PREFS = ["ip.defragment:FALSE", "ipv6.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE",
         "udp.process_info:FALSE"]
DEFAULT_PACKETS = 10
MAX_WAITING = 4096  # frames with tshark at most
DRAIN_TIMEOUT = 10.0  # seconds to wait for the last verdicts at the end of a file
NICE = 10  # tshark's scheduling priority, below the counting
RESTART_FRAMES = 200_000  # then a new tshark: its memory grows with the frames it was given

_EPB = struct.Struct("<IIIIIII")
_DEAD = object()
# The reader and writer threads wake at most once per GATHER seconds (verdicts and frames
# gather meanwhile): woken once per tshark line or per batch, they took the interpreter's
# lock from the counting thread hundreds of times a second.
GATHER = 0.01


def app_from_protocols(protocols) -> str | None:
    """``eth:ethertype:ip:tcp:tls`` -> ``tls``; None when nothing sits above tcp/udp.
    Text or bytes (as tshark writes it)."""
    if isinstance(protocols, str):
        protocols = protocols.encode("utf-8", "replace")
    layers = protocols.strip().split(b":")
    for i, layer in enumerate(layers):
        if layer == b"tcp" or layer == b"udp":
            above = layers[i + 1] if i + 1 < len(layers) else b""
            if not above or above == b"data" or above.startswith(b"_ws."):
                return None
            return above.decode("ascii", "replace")
    return None


# One line of tshark's output: the frame number, and the layer above the first tcp/udp
# layer of frame.protocols (empty when there is none). A layer name has no ':'.
_VERDICT = re.compile(
    rb"^(\d+)\t(?:(?:[^:\n]*:)*?(?:tcp|udp)(?::([^:\n]*))?(?=[:\n]|$))?[^\n]*$", re.M)
_NAMES: dict[bytes, str | None] = {}


def _app_name(above: bytes) -> str | None:
    name = _NAMES.get(above, "")
    if name == "":
        name = _NAMES[above] = app_from_protocols(b"tcp:" + above) if above else None
    return name


def tshark_argv(tshark: str = "tshark") -> list[str]:
    argv = [tshark, "-n", "-l", "-r", "-", "-T", "fields", "-E", "separator=/t",
            "-e", "frame.number", "-e", "frame.protocols"]
    for pref in PREFS:
        argv += ["-o", pref]
    return argv


def _block(btype: int, body: bytes) -> bytes:
    pad = -len(body) % 4
    length = 12 + len(body) + pad
    return struct.pack("<II", btype, length) + body + b"\0" * pad + struct.pack("<I", length)


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int) -> bytes:
    """An interface description block, microsecond timestamps (the default)."""
    return _block(1, struct.pack("<HHI", linktype, 0, 0))


_TRAILERS: dict[int, bytes] = {}  # captured length -> padding and the block's closing length


def _trailer(caplen: int) -> bytes:
    """A packet block's padding after ``caplen`` captured bytes, and its closing length."""
    pad = -caplen % 4
    trailer = _TRAILERS[caplen] = b"\0" * pad + struct.pack("<I", 32 + caplen + pad)
    return trailer


def epb(ifid: int, ts: float, wire_len: int, frame: bytes) -> bytes:
    """An enhanced packet block: microsecond timestamp, captured bytes, wire length."""
    caplen = len(frame)
    pad = -caplen % 4
    length = 32 + caplen + pad
    units = int(ts * 1e6 + 0.5) if ts > 0 else 0
    trailer = _TRAILERS.get(caplen)
    if trailer is None:
        trailer = _trailer(caplen)
    return (_EPB.pack(6, length, ifid, units >> 32, units & 0xFFFFFFFF, caplen,
                      wire_len if wire_len > caplen else caplen) + frame + trailer)


class DissectorUnavailable(Exception):
    """tshark could not be started; ``str()`` is the note for the user."""


class Dissector:
    """One tshark process fed pcapng blocks on stdin; verdicts in :attr:`results` as lists
    of ``(frame, app)``, then ``[(_DEAD, reason)]`` when tshark's output ends."""

    def __init__(self, argv: list[str] | None = None) -> None:
        argv = argv or tshark_argv()
        if shutil.which(argv[0]) is None:
            raise DissectorUnavailable(f"{argv[0]} not found (apt-get install tshark)")
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.stderr, start_new_session=True)
        except OSError as err:
            self.stderr.close()
            raise DissectorUnavailable(f"cannot start {argv[0]}: {err.strerror or err}") from None
        try:  # counting comes first: when CPU is short, tshark falls behind, not the counting
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, NICE)
        except (OSError, AttributeError):
            pass
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self.done = threading.Event()  # tshark's output has ended
        self._out.put(SHB)
        self._writer = threading.Thread(target=self._write, name="tuimon-dissect-w", daemon=True)
        self._reader = threading.Thread(target=self._read, name="tuimon-dissect-r", daemon=True)
        self._writer.start()
        self._reader.start()

    def send(self, data: bytes) -> None:
        self._out.put(data)

    def close_input(self) -> None:
        """No more frames: tshark finishes what it has, then its output ends."""
        self._out.put(None)

    def _write(self) -> None:
        stdin = self.proc.stdin
        try:
            while True:
                data = self._out.get()
                if data is None:
                    break
                parts, end = [data], False
                while True:  # everything sent meanwhile, in one write
                    try:
                        more = self._out.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        end = True
                        break
                    parts.append(more)
                stdin.write(b"".join(parts) if len(parts) > 1 else data)
                stdin.flush()
                if end:
                    break
                time.sleep(GATHER)
        except (OSError, ValueError):
            pass  # tshark is gone: the reader reports it
        try:
            stdin.close()
        except (OSError, ValueError):
            pass

    def _read(self) -> None:
        reason = "ended"
        out, tail, put = self.proc.stdout, b"", self.results.put
        try:
            while True:
                chunk = out.read1(65536)
                if not chunk:
                    break
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                data, tail = data[:cut], data[cut:]
                verdicts = [(int(number), _app_name(above))
                            for number, above in _VERDICT.findall(data)]
                if verdicts:
                    put(verdicts)
                time.sleep(GATHER)
        except (OSError, ValueError):
            reason = "output unreadable"
        status = self.proc.poll()
        if status is None:
            try:
                status = self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                status = None
        if status:
            reason = self.error_text() or f"exit status {status}"
        self.results.put([(_DEAD, reason)])
        self.done.set()

    def error_text(self) -> str:
        try:
            self.stderr.seek(0)
            lines = self.stderr.read(8192).decode("utf-8", "replace").splitlines()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in lines
                 if line.strip() and "dangerous" not in line and "Running as user" not in line]
        return lines[-1] if lines else ""

    def close(self) -> None:
        self._out.put(None)
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self._writer.join(timeout=1.0)
        self._reader.join(timeout=1.0)
        for f in (self.proc.stdout, self.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class _Run:
    """One tshark process and the frames it has not answered yet."""

    __slots__ = ("dissector", "frames", "sent", "ifids")

    def __init__(self, dissector) -> None:
        self.dissector = dissector
        self.frames: dict[int, object] = {}  # frame number -> conversation
        self.sent = 0
        self.ifids: dict[int, int] = {}  # engine interface index -> pcapng interface id


class AppLabeler:
    """Feeds an engine's dissect queue to a dissector and applies the verdicts.

    Called from the counting thread only (between batches). After ``restart_frames``
    frames, the tshark in use is told its input has ended (it answers what it has, then
    exits) and a new one takes the next frames, so tshark's memory (it keeps every frame's
    state) stays bounded on a long live capture."""

    def __init__(self, engine, packets: int = DEFAULT_PACKETS, linktypes=None,
                 dissector_factory=Dissector, max_waiting: int = MAX_WAITING,
                 restart_frames: int = RESTART_FRAMES) -> None:
        self.engine = engine
        self.packets = packets
        self.linktypes = linktypes or (lambda index: 1)  # engine interface index -> link type
        self.max_waiting = max_waiting
        self.restart_frames = restart_frames
        self.note = ""  # for the user: why there are only port guesses
        self.factory = dissector_factory
        self.current: _Run | None = None  # takes new frames
        self.retiring: list[_Run] = []  # finishing what they were given
        self.waiting: dict[object, int] = {}  # conversation -> frames with tshark
        self.started = 0  # tshark processes started
        if packets > 0:
            self._start()
        engine.dissect_packets = packets if self.current is not None else 0

    def _start(self) -> bool:
        try:
            self.current = _Run(self.factory())
        except DissectorUnavailable as err:
            self.current = None
            self.note = f"{err}: application protocols are guessed from ports"
            return False
        self.started += 1
        return True

    @property
    def active(self) -> bool:
        return self.current is not None

    @property
    def outstanding(self) -> int:
        """Frames handed over and not answered yet."""
        runs = self.retiring if self.current is None else [*self.retiring, self.current]
        return sum(len(run.frames) for run in runs)

    def feed(self) -> None:
        """Hand the packets the engine queued to tshark (or give their conversations up)."""
        engine = self.engine
        queued, engine.dissect_queue = engine.dissect_queue, []
        run = self.current
        if run is None:
            return
        if run.sent >= self.restart_frames:
            run.dissector.close_input()
            self.retiring.append(run)
            if not self._start():
                self._stop_all()
                return
            run = self.current
        blocks = []
        append = blocks.append
        outstanding = self.outstanding
        waiting, frames, ifids = self.waiting, run.frames, run.ifids
        sent, pack, trailers = run.sent, _EPB.pack, _TRAILERS
        for conv, ifidx, ts, wlen, buf, start, end in queued:
            if conv.app_src == "dissector":  # the verdict is in: no need for more
                continue
            ifid = ifids.get(ifidx)
            if ifid is None:
                ifid = ifids[ifidx] = len(ifids)
                append(idb(self.linktypes(ifidx)))
            # epb(ifid, ts, wlen, buf[start:end]), inlined: one packet block per frame
            caplen = end - start
            units = int(ts * 1e6 + 0.5) if ts > 0 else 0
            trailer = trailers.get(caplen)
            if trailer is None:
                trailer = _trailer(caplen)
            append(pack(6, 32 + caplen + (-caplen % 4), ifid, units >> 32, units & 0xFFFFFFFF,
                        caplen, wlen if wlen > caplen else caplen))
            append(buf[start:end])
            append(trailer)
            sent += 1
            frames[sent] = conv
            waiting[conv] = waiting.get(conv, 0) + 1
            outstanding += 1
        run.sent = sent
        if blocks:
            run.dissector.send(b"".join(blocks))
        engine.app_waiting = len(waiting)
        if outstanding >= self.max_waiting:
            # New conversations skip dissection until tshark has caught up (the engine
            # counts them in app_skipped); those of this batch were let through, so the
            # bound is max_waiting plus one batch's first packets.
            engine.dissect_packets = -1

    def poll(self) -> bool:
        """Apply the verdicts that came in; True when a label changed."""
        changed = False
        for run in [*self.retiring, self.current]:
            if run is not None and self._poll_run(run):
                changed = True
        engine = self.engine
        engine.app_waiting = len(self.waiting)
        if (engine.dissect_packets < 0 and self.current is not None
                and self.outstanding < self.max_waiting // 2):
            engine.dissect_packets = self.packets  # caught up: dissect new conversations again
        return changed

    def _poll_run(self, run: _Run) -> bool:
        engine, results, changed = self.engine, run.dissector.results, False
        frames, waiting = run.frames, self.waiting
        while True:
            try:
                verdicts = results.get_nowait()
            except queue.Empty:
                return changed
            for number, app in verdicts:
                if number is _DEAD:
                    self._ended(run, app)
                    return True
                conv = frames.pop(number, None)
                if conv is None:
                    continue
                self._answered(conv)
                if app and conv.app_src != "dissector":
                    engine.label(conv, app, "dissector")
                    engine.stop_dissecting(conv)
                    changed = True

    def _answered(self, conv) -> None:
        left = self.waiting.get(conv, 1) - 1
        if left > 0:
            self.waiting[conv] = left
        else:
            self.waiting.pop(conv, None)

    def _ended(self, run: _Run, reason: str) -> None:
        """A tshark's output ended: what it did not answer keeps its port guess."""
        for conv in run.frames.values():
            self._answered(conv)
        unanswered = bool(run.frames)
        run.frames.clear()
        run.dissector.close()
        if run in self.retiring:
            self.retiring.remove(run)
            return
        if reason != "ended" or unanswered:
            self.note = f"tshark stopped ({reason}): application protocols are guessed from ports"
        self.current = None
        self._stop_all()

    def _stop_all(self) -> None:
        """No more dissection: every conversation keeps what it has (or its port guess)."""
        engine = self.engine
        engine.dissect_packets = 0
        for conv in engine.conversations:
            if conv.dis_left > 0:
                engine.stop_dissecting(conv)
        engine.dissect_queue = []

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """End of the capture: wait (at most ``timeout``) for the verdicts still due."""
        if self.current is None and not self.retiring:
            return
        self.feed()
        if self.current is not None:
            self.current.dissector.close_input()  # it answers what it has, then ends
        deadline = time.monotonic() + timeout
        while self.outstanding and time.monotonic() < deadline:
            runs = [*self.retiring, self.current]
            busy = next((r for r in runs if r is not None and r.frames), None)
            if busy is not None:
                busy.dissector.done.wait(0.02)
            self.poll()
        self.poll()

    def close(self) -> None:
        runs = [*self.retiring, self.current]
        self.current, self.retiring = None, []
        for run in runs:
            if run is not None:
                run.dissector.close()
        self.engine.dissect_packets = 0
