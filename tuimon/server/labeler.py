"""Application protocols by Wireshark's dissectors, off the counting path.

The engine hands over the first ``--dissect-packets`` packets of every TCP/UDP
conversation (``Engine.take_dissect_queue()``). :class:`AppLabeler` writes them, as pcapng,
to ONE long-running tshark (:class:`Dissector`: ``tshark -n -l -r - -T fields -e frame.number
-e frame.protocols``, reassembly off) and maps the frame numbers tshark prints back to
conversations. A conversation's application protocol is the layer right above ``tcp`` or
``udp`` in ``frame.protocols`` of the first of those packets that has one (``data`` and
``_ws.*`` are not protocols): ``tls``, ``http``, ``dns``, ``quic`` ...

Nothing here waits for tshark while counting, and no thread runs beside the counting:
both pipes are non-blocking, frames are written between batches as far as the pipe takes
them, and the verdicts that came back are read and applied then too. Once ``max_waiting`` frames
are with tshark, conversations that start are never dissected and keep their port guess
(``Engine.app_skipped``) until it has caught up to half of that (or, live, until the
next second once ``budget`` frames went to tshark in this one); so at most
``max_waiting`` plus one batch's worth of frames wait. The same happens while the
counting itself is behind the capture (``behind``, set by the session): the labeller
sheds its own work, never packets. TCP SYN and RST segments, which
carry no application data, are not handed over (they count among the first N). tshark
missing or dying leaves every conversation with its port guess and a note, never an
error. At the end of a file, headless waits for the verdicts still due (:meth:`AppLabeler.drain`,
at most DRAIN_TIMEOUT); a conversation tshark has not answered by then keeps its port
guess (``app_source`` "port", or none), never a verdict it was not given.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
from collections import deque
from itertools import compress, repeat

import numpy as np

from tuimon.capture.pcapng import MAX_UNITS, interface_block, section_header
from tuimon.server.cpushare import FreeShare

# The same preferences as the tests' oracle: every packet dissected on its own.
PREFS = ["ip.defragment:FALSE", "ipv6.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE",
         "udp.process_info:FALSE"]
DEFAULT_PACKETS = 10
MAX_WAITING = 4096  # frames with tshark at most
# Live capture: frames handed to tshark per second at most. tshark dissects about 135,000
# frames a second on a whole core here; 15,000 keep it near a tenth of one, and name the
# first packets of 1,500 new conversations a second.
LIVE_BUDGET = 5_000
# ... and none in a second after one in which the rest of the machine left less than this
# share of all cores free (tuimon.server.cpushare): on a machine with no idle core tshark
# still took CPU from the capture, SCHED_IDLE or not.
FREE_FLOOR = 0.25
DRAIN_TIMEOUT = 10.0  # seconds to wait for the last verdicts at the end of a file
DRAIN_GATHER = 0.005  # ... reading them at most this often (seconds)
NICE = 10  # tshark's scheduling priority, below the counting
RESTART_FRAMES = 200_000  # then a new tshark: its memory grows with the frames it was given

# Seconds past the epoch whose microseconds still fit a packet block's 64 bits: a later
# time (a crafted if_tsoffset or if_tsresol) is given to tshark as MAX_UNITS, one before
# 1970 as 0 -- tshark names the protocol from the bytes, never from the time.
_FAR = 1.8e13
_DEAD = object()
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux
PIPE_SIZE = 1 << 20  # bytes a pipe to or from tshark holds (the default is 64 KiB)
READ_SIZE = 1 << 20


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


_APPS: dict[bytes, str | None] = {}  # frame.protocols -> its application (few distinct ones)


def _app_of(protocols: bytes) -> str | None:
    app = _APPS.get(protocols, "")
    if app == "":
        app = _APPS[protocols] = app_from_protocols(protocols)
    return app


def parse_verdicts(data: bytes) -> list[tuple[int, list]]:
    """Complete lines of tshark's output (``frame.number<TAB>frame.protocols``) as blocks
    ``(first frame number, [application of each frame, in order])``: one block when the
    numbers follow each other (as tshark writes them), else one block per line. The
    common case is split and looked up without a Python step per line."""
    if not data:
        return []
    if not data.endswith(b"\n"):
        data += b"\n"
    count = data.count(b"\n")
    if data.count(b"\t") == count:  # one tab a line: number, protocols, number, ...
        fields = data.replace(b"\n", b"\t").split(b"\t")
        numbers, paths = fields[0:-1:2], fields[1::2]
        if all(numbers) and b"".join(numbers).isdigit() and \
                int(numbers[-1]) - int(numbers[0]) + 1 == count:
            apps = list(map(_APPS.get, paths, repeat("")))
            if "" in apps:  # protocol paths not seen before
                apps = [_app_of(path) if app == "" else app for app, path in zip(apps, paths)]
            return [(int(numbers[0]), apps)]
    blocks = []  # not one block of tshark's fields: each line that is one, on its own
    for line in data.split(b"\n"):
        number, tab, protocols = line.partition(b"\t")
        if tab and number.isdigit():
            blocks.append((int(number), [_app_of(protocols)]))
    return blocks


def tshark_argv(tshark: str = "tshark") -> list[str]:
    argv = [tshark, "-n", "-l", "-r", "-", "-T", "fields", "-E", "separator=/t",
            "-e", "frame.number", "-e", "frame.protocols"]
    for pref in PREFS:
        argv += ["-o", pref]
    return argv


SHB = section_header()
_BLOCK_ENDS: dict[int, bytes] = {}  # captured length -> what follows the frame's bytes


def _block_end(caplen: int) -> bytes:
    """What follows ``caplen`` captured bytes in an enhanced packet block: padding to 32
    bits and the closing length (what pcapng.packet_block writes)."""
    pad = -caplen % 4
    end = _BLOCK_ENDS[caplen] = b"\0" * pad + struct.pack("<I", 32 + caplen + pad)
    return end


def packet_blocks(ifids, times, wire_lens, bufs, starts, ends) -> list:
    """Enhanced packet blocks, one per frame ``bufs[i][starts[i]:ends[i]]``, as pieces to
    join: the same bytes as ``pcapng.packet_block(ifid, microseconds, frame, wire_len)``
    frame by frame, with the times in microseconds (one before 1970 as 0, one too late for
    64 bits as MAX_UNITS: tshark names the protocol from the bytes, never from the time).
    The headers are built by numpy for all frames at once; only the frames' bytes are
    sliced one by one (``ifids``: an int for all, or one per frame)."""
    n = len(starts)
    start = np.fromiter(starts, np.int64, n)
    caplen = np.fromiter(ends, np.int64, n) - start
    t = np.fromiter(times, np.float64, n)
    fits = (t > 0) & (t < _FAR)
    units = (np.where(fits, t, 0.0) * 1e6 + 0.5).astype(np.uint64)
    units[~fits & ~(t <= 0)] = MAX_UNITS  # too late (or not a number)
    head = np.empty((n, 7), "<u4")
    head[:, 0] = 6  # EPB
    head[:, 1] = 32 + caplen + (-caplen % 4)
    head[:, 2] = ifids
    head[:, 3] = units >> np.uint64(32)
    head[:, 4] = units & np.uint64(0xFFFFFFFF)
    head[:, 5] = caplen
    head[:, 6] = np.maximum(np.fromiter(wire_lens, np.int64, n), caplen)
    known = _BLOCK_ENDS
    tails = [known.get(c) or _block_end(c) for c in caplen.tolist()]
    pieces = [b""] * (3 * n)
    pieces[0::3] = head.view("V28").ravel().tolist()  # 28 bytes each
    pieces[1::3] = [buf[a:b] for buf, a, b in zip(bufs, starts, ends)]
    pieces[2::3] = tails
    return pieces


def lower(pid: int, idle: bool = False) -> None:
    """Counting comes first: tshark runs at nice 10, and (``idle``, a live capture, where a
    late count is a lost packet) only on CPU time nothing else wants (Linux's SCHED_IDLE;
    nice 10 alone still gave it most of a core beside a busy capture, and the capture
    dropped a third of 150,000 packets/s). A file waits for nobody: there SCHED_IDLE would
    only starve tshark on a busy machine, and its verdicts with it."""
    if idle:
        try:
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
            return
        except (OSError, AttributeError):
            pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, NICE)
    except (OSError, AttributeError):
        pass


def hurry(pid: int) -> None:
    """The counting is over and only tshark's last verdicts are waited for: it runs at
    the normal priority again (best effort: raising a priority takes root, or a
    ``RLIMIT_NICE`` that allows it; else it stays where :func:`lower` put it). On a
    machine busy with other work, at nice 10 it got a fraction of a core for that wait."""
    if pid <= 0:  # (0 would be this process)
        return
    try:
        if os.sched_getscheduler(pid) == os.SCHED_IDLE:
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        if os.getpriority(os.PRIO_PROCESS, pid) > 0:
            os.setpriority(os.PRIO_PROCESS, pid, 0)
    except (OSError, AttributeError):
        pass


class DissectorUnavailable(Exception):
    """tshark could not be started; ``str()`` is the note for the user."""


class Dissector:
    """One tshark process fed pcapng blocks on stdin, without threads: the caller's own
    calls move the bytes (:meth:`send`, :meth:`flush`, :meth:`verdicts`), both pipes
    non-blocking, so counting never waits for tshark and no second thread takes the
    interpreter's lock from it. :meth:`verdicts` gives blocks ``(first frame number,
    [app, ...])`` (:func:`parse_verdicts`), then ``(_DEAD, reason)`` once tshark's output
    has ended."""

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
        lower(self.proc.pid)
        self._in: int | None = self.proc.stdin.fileno()
        self._out: int | None = self.proc.stdout.fileno()
        for fd in (self._in, self._out):
            os.set_blocking(fd, False)
            try:  # room for a batch's frames, so most sends go out at once
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # the system's limit is lower: the default size works too
        # what the pipe has not taken yet: the blocks as sent (not copied into one buffer),
        # the first one perhaps in part
        self._pending: deque = deque([memoryview(SHB)])
        self._closing = False  # no more frames: close tshark's input once pending is out
        self._tail = b""  # a line not complete yet
        self.flush()

    @property
    def pid(self) -> int:
        """tshark's process id (its CPU share and scheduling policy are watched)."""
        return self.proc.pid

    def send(self, data: bytes) -> None:
        """Write ``data`` (kept, not copied, until the pipe has taken it all: bytes, never
        changed after)."""
        if data:
            self._pending.append(memoryview(data))
            self.flush()

    def close_input(self) -> None:
        """No more frames: tshark finishes what it has, then its output ends."""
        self._closing = True
        self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now."""
        fd = self._in
        if fd is None:
            return
        pending = self._pending
        while pending:
            first = pending[0]
            try:
                n = os.write(fd, first)
            except BlockingIOError:
                return
            except OSError:  # tshark is gone: the end of its output says why
                self._close_in()
                return
            if n < len(first):
                pending[0] = first[n:]
            else:
                pending.popleft()
        if self._closing:
            self._close_in()

    def _close_in(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self._in = None
        self._pending.clear()

    def verdicts(self) -> list:
        """What tshark answered since the last call."""
        self.flush()
        fd, found = self._out, []
        if fd is None:
            return found
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return found
            except OSError:
                self._end(found, "output unreadable")
                return found
            if not chunk:
                self._end(found, "ended")
                return found
            data = self._tail + chunk
            cut = data.rfind(b"\n") + 1
            data, self._tail = data[:cut], data[cut:]
            if data:
                found += parse_verdicts(data)

    def _end(self, found: list, reason: str) -> None:
        self._out = None
        self._close_in()
        status = self.proc.poll()
        if status is None:
            try:
                status = self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                status = None
        if status:
            reason = self.error_text() or f"exit status {status}"
        found.append((_DEAD, reason))

    def wait(self, timeout: float) -> None:
        """Until tshark has written something, can take more, or ``timeout`` seconds."""
        if self._out is None:
            return
        writing = [self._in] if self._in is not None and self._pending else []
        try:
            select.select([self._out], writing, [], timeout)
        except (OSError, ValueError):
            pass

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
        self._close_in()
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self._out = None
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
        # the conversation of each frame not answered yet, in the order sent: frame numbers
        # sent - len(frames) + 1 ... sent (tshark numbers the frames it reads from 1)
        self.frames: deque = deque()
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
                 restart_frames: int = RESTART_FRAMES, budget: int = 0,
                 clock=time.monotonic) -> None:
        """``budget``: frames handed to tshark per second of ``clock`` at most (0: no
        bound); past it, conversations that start keep their port guess until the next
        second. A live capture sets one, so tshark's CPU stays bounded (it competes with
        the counting for the same cores) however many conversations start."""
        self.engine = engine
        self.budget = budget
        self.clock = clock
        self.idle = False  # tshark under SCHED_IDLE (go_live)
        self._second = -1  # the clock's second frames are being counted in
        self._second_sent = 0
        self.free_share = FreeShare()  # how much CPU the rest of the machine leaves
        self._tight = False  # the machine had too little CPU free last second
        self.packets = packets
        self.linktypes = linktypes or (lambda index: 1)  # engine interface index -> link type
        self.max_waiting = max_waiting
        self.restart_frames = restart_frames
        self.note = ""  # for the user: why there are only port guesses
        self.behind = False  # the counting is behind the capture: dissect nothing new
        self.factory = dissector_factory
        self.current: _Run | None = None  # takes new frames
        self.retiring: list[_Run] = []  # finishing what they were given
        self.started = 0  # tshark processes started
        if packets > 0:
            self._start()
        engine.set_dissection(packets if self.current is not None else 0)
        if self.current is not None:
            engine.count_waiting(self.waiting_count)

    def go_live(self, clock) -> None:
        """A live capture: tshark gets at most LIVE_BUDGET frames a second of ``clock``
        and only the CPU nothing else wants (SCHED_IDLE), now and after every restart."""
        self.budget, self.clock, self.idle = LIVE_BUDGET, clock, True
        self._lower(self.current)

    def _lower(self, run) -> None:
        if self.idle and run is not None:
            lower(run.dissector.pid, idle=True)

    def _start(self) -> bool:
        try:
            self.current = _Run(self.factory())
            self._lower(self.current)
        except DissectorUnavailable as err:
            self.current = None
            self.note = f"{err}: application protocols are guessed from ports"
            return False
        self.started += 1
        return True

    @property
    def waiting(self) -> set:
        """The conversations with frames at a tshark, not answered yet."""
        runs = self.retiring if self.current is None else [*self.retiring, self.current]
        return {conv for run in runs for conv in run.frames}

    def waiting_count(self) -> int:
        """How many conversations wait for a verdict (for the engine's totals: counted
        when asked, not kept up to date frame by frame)."""
        return len(self.waiting)

    @property
    def active(self) -> bool:
        return self.current is not None

    @property
    def outstanding(self) -> int:
        """Frames handed over and not answered yet."""
        runs = self.retiring if self.current is None else [*self.retiring, self.current]
        return sum(len(run.frames) for run in runs)

    def feed(self) -> None:
        """Hand the packets the engine queued to tshark (or give their conversations up).
        All of them: a conversation tshark has named is no longer dissected
        (``engine.stop_dissecting``), so none of its packets are queued after the verdict,
        and a verdict on one that has its name already is not applied (:meth:`_poll_run`)."""
        engine = self.engine
        queued = engine.take_dissect_queue()
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
        if queued:
            convs, ifidxs, times, wire_lens, bufs, starts, ends = zip(*queued)
            blocks = []
            ifids = run.ifids
            for ifidx in dict.fromkeys(ifidxs):  # interfaces new to this tshark, in order
                if ifidx not in ifids:
                    ifids[ifidx] = len(ifids)
                    blocks.append(interface_block(self.linktypes(ifidx)))
            if len(ifids) == 1:
                ids = ifids[ifidxs[0]]
            else:
                ids = np.fromiter(map(ifids.__getitem__, ifidxs), np.uint32, len(ifidxs))
            blocks += packet_blocks(ids, times, wire_lens, bufs, starts, ends)
            run.dissector.send(b"".join(blocks))
            run.frames.extend(convs)
            run.sent += len(convs)
            if self.budget:
                self._new_second()
                self._second_sent += len(convs)
        outstanding = self.outstanding
        if outstanding >= self.max_waiting or self.behind or self._over_budget():
            # New conversations skip dissection until tshark has caught up (the engine
            # counts them in app_skipped); those of this batch were let through, so the
            # bound is max_waiting plus one batch's first packets.
            engine.set_dissection(-1)

    def poll(self) -> bool:
        """Apply the verdicts that came in; True when a label changed."""
        changed = False
        for run in [*self.retiring, self.current]:
            if run is not None and self._poll_run(run):
                changed = True
        engine = self.engine
        if (engine.dissect_packets < 0 and self.current is not None and not self.behind
                and self.outstanding < self.max_waiting // 2 and not self._over_budget()):
            engine.set_dissection(self.packets)  # caught up: dissect new conversations again
        return changed

    def _new_second(self) -> None:
        """At each new second of the clock: start counting frames again, and see whether
        the rest of the machine left tshark enough CPU in the last one."""
        second = int(self.clock())
        if second != self._second:
            self._second, self._second_sent = second, 0
            pids = [r.dissector.pid for r in [*self.retiring, self.current] if r is not None]
            self._tight = self.free_share.sample(pids) < FREE_FLOOR

    def _over_budget(self) -> bool:
        if not self.budget:
            return False
        self._new_second()
        return self._tight or self._second_sent >= self.budget

    def _poll_run(self, run: _Run) -> bool:
        engine, changed, frames = self.engine, False, run.frames
        pop = frames.popleft
        for first, apps in run.dissector.verdicts():
            if first is _DEAD:
                self._ended(run, apps)
                return True
            # frames before ``first`` that tshark passed over (none, as it writes a line per
            # frame) are not waited for any longer; then one app per frame
            behind = first - (run.sent - len(frames) + 1)
            if behind < 0:  # numbers already answered: not ours
                apps = apps[-behind:]
            for _ in range(min(behind, len(frames))):
                pop()
            apps = apps[:len(frames)]
            convs = [pop() for _ in apps]
            named = list(compress(convs, apps))  # the frames tshark named, in order
            if not named:
                continue
            # each conversation's first named frame says its application
            app_of = dict(zip(reversed(named), reversed(list(filter(None, apps)))))
            for conv in dict.fromkeys(named):
                if conv.app_src != "dissector":
                    engine.label(conv, app_of[conv], "dissector")
                    engine.stop_dissecting(conv)
                    changed = True
        return changed

    def _ended(self, run: _Run, reason: str) -> None:
        """A tshark's output ended: what it did not answer keeps its port guess."""
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
        self.engine.stop_dissection()

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """End of the capture: wait (at most ``timeout``) for the verdicts still due, with
        tshark at the normal priority again (:func:`hurry`). Once tshark has answered
        something, its next answers are let gather for DRAIN_GATHER before they are read:
        read line by line, as tshark writes them, this thread took a core of its own and,
        on a busy machine, tshark's (at nice 10) with it."""
        if self.current is None and not self.retiring:
            return
        self.feed()
        if self.current is not None:
            self.current.dissector.close_input()  # it answers what it has, then ends
        for run in [*self.retiring, self.current]:
            if run is not None and run.frames:
                hurry(getattr(run.dissector, "pid", 0))
        deadline = time.monotonic() + timeout
        while self.outstanding:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            runs = [*self.retiring, self.current]
            busy = next((r for r in runs if r is not None and r.frames), None)
            if busy is not None:
                busy.dissector.wait(min(0.02, left))
                time.sleep(min(DRAIN_GATHER, max(0.0, deadline - time.monotonic())))
            self.poll()
        self.poll()

    def close(self) -> None:
        runs = [*self.retiring, self.current]
        self.current, self.retiring = None, []
        for run in runs:
            if run is not None:
                run.dissector.close()
        self.engine.set_dissection(0)
