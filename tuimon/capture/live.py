"""Live capture: one dumpcap per interface writing pcapng to a pipe, decoded as it arrives.

dumpcap does the privileged part (opening the interface, the BPF filter, the kernel ring
buffer); everything it writes is parsed by our own :class:`CaptureReader`, one reader per
interface, so a vanished interface ends only its own capture. All pipes are read with
``select`` in the calling thread. dumpcap's error text is mapped to typed errors, checked
with ``dumpcap -d`` (compile the filter, capture nothing) before anything starts.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Iterator

import psutil

from tuimon.capture.dumpcap import (START_TIMEOUT, check_capture, dumpcap_args, dumpcap_error,
                                    ended_reason, find_dumpcap, spawn)
from tuimon.capture.kernel import mac_address
from tuimon.capture.reader import CaptureReader, Interface
from tuimon.capture.sockstats import SocketDrops, open_drops
from tuimon.capture.source import SHED_BYTES, Source
from tuimon.capture.ring import Ring, remove_folder, ring_folder
from tuimon.errors import CaptureFailed, UnknownInterface
from tuimon.text import printable

POLL = 0.25  # batches() yields at least this often, traffic or not
# dumpcap reads the kernel's capture buffer with a 250 ms timeout: what the kernel captured
# reaches dumpcap within that. stop() lets that much pass before it asks dumpcap to stop, so
# every packet captured before the stop is still delivered.
FLUSH = 0.3
CHUNK = 1 << 20
# dumpcap's pipe: Linux's default 64 KiB holds a few milliseconds at gateway rates, and a
# full pipe stalls dumpcap, whose kernel ring then drops. A larger one absorbs a pause of
# the counting (a fold, a query); root may go past /proc/sys/fs/pipe-max-size.
PIPE_SIZE = 16 << 20
F_SETPIPE_SZ = 1031
# A read waits until GATHER seconds have passed since the last one, unless GATHER_BYTES
# are already queued (or a request wakes it): batches of a few hundred packets cost the
# counting about 15 % more per packet than batches of a few thousand (numpy's fixed cost
# per call, the grouping's sorts), and the pipe above holds hundreds of milliseconds.
GATHER = 0.01
GATHER_BYTES = 1 << 20


def gather_wait(last_read: float, now: float, queued: int) -> float:
    """How long a read that could start ``now`` waits first, with ``queued`` bytes in the
    fullest pipe and the last read at ``last_read``: 0 when enough is queued or the gather
    time has passed."""
    if queued >= GATHER_BYTES:
        return 0.0
    return max(0.0, last_read + GATHER - now)


def enlarge_pipe(fd: int, size: int | None = None) -> int:
    """Make the pipe ``fd`` hold ``size`` bytes (default PIPE_SIZE), or as much as this
    user may; the size set."""
    size = PIPE_SIZE if size is None else size
    try:
        limit = int(open("/proc/sys/fs/pipe-max-size").read())
    except (OSError, ValueError):
        limit = 1 << 20
    for want in (size, min(size, limit)):
        try:
            return fcntl.fcntl(fd, F_SETPIPE_SZ, want)
        except OSError:
            continue
    return 0
STOP_TIMEOUT = 5.0  # for dumpcap to write its statistics and exit once asked
STOP_DRAIN = 30.0  # stop(): how long a backlog in dumpcap's pipe may put the stop off
LINK_CHECK = 1.0  # how often the interfaces' state (up, down) is looked at

def link_state(iface: str) -> str:
    """``up``, ``down`` (administratively: ``ip link set down``) or ``no link`` (up, but no
    carrier: cable out, peer gone). Interfaces this host does not list (``any``, dumpcap's
    interface numbers, USB monitors) count as up."""
    try:
        stats = psutil.net_if_stats().get(iface)
    except (OSError, RuntimeError):
        return "up"
    if stats is None:
        return "up"
    if not stats.isup:
        return "no link" if "up" in stats.flags.split(",") else "down"
    return "up"


class _Capture:
    """One dumpcap process, its pipe and its reader."""

    def __init__(self, dumpcap: str, iface: str, index: int, capture_filter: str | None,
                 ring: Ring | None = None, own_mac: bytes | None = None,
                 snaplen: int = 0) -> None:
        self.iface = iface
        self.index = index
        self.ring = ring  # recent traffic on disk, for drill-down
        self.reader = CaptureReader(iface, first_index=index, own_mac=own_mac,
                                    columns=True)
        self.stderr = tempfile.TemporaryFile()
        try:
            self.proc = spawn(dumpcap_args(dumpcap, iface, capture_filter, snaplen=snaplen),
                              iface,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=self.stderr, start_new_session=True)
        except BaseException:
            self.stderr.close()
            raise
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        enlarge_pipe(self.fd)
        self.open = True  # the pipe has not reached its end
        self.bytes_read = 0
        self.sock_drops: SocketDrops | None = None  # its socket's drops, while it runs
        self.polled_drops: int | None = None  # read from it so far (None: cannot be)
        self.stopped = False  # we asked dumpcap to stop

    def queued(self) -> int:
        """Bytes dumpcap has written that we have not read yet."""
        try:
            return struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def read(self, out: list) -> bool:
        """Read what is in the pipe; its records, a batch (a list or columns), join ``out``
        (a list of batches). False at the end of the pipe."""
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            self.open = False
            return False
        self.bytes_read += len(data)
        reader = self.reader
        reader.feed(data)
        records = reader.records()
        if records:
            out.append(records)
        if self.ring is not None:  # cut where the reader found the blocks end
            tail = reader.unparsed() if not reader.done else 0
            self.ring.write_blocks(data, min(tail, len(data)), self.queued() > SHED_BYTES)
        return True

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.stopped = True
            self.proc.send_signal(signal.SIGTERM)

    def drain(self, out: list, deadline: float) -> None:
        """Read until dumpcap closes the pipe; kill it if it takes past ``deadline``."""
        while self.open:
            left = deadline - time.monotonic()
            if left <= 0 and self.proc.poll() is None:
                self.proc.kill()
                deadline = time.monotonic() + STOP_TIMEOUT
            select.select([self.fd], [], [], max(left, 0.05))
            self.read(out)

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read(65536).decode("utf-8", "replace")

    def poll_drops(self) -> None:
        """Read the drops of the capture socket so far (see :meth:`LiveSource.drops_of`)."""
        if self.sock_drops is not None:
            self.polled_drops = self.sock_drops.poll()

    def reap(self) -> str:
        """Wait for dumpcap to exit; return why the capture ended."""
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.sock_drops is not None:
            self.poll_drops()
            self.sock_drops.close()
            self.sock_drops = None
        if self.reader.format is not None:
            self.reader.finish()
        return "stopped" if self.stopped else ended_reason(self.stderr_text(), self.proc.returncode)

    def close(self) -> None:
        self.proc.stdout.close()
        self.stderr.close()
        if self.ring is not None:
            self.ring.close()


class LiveSource(Source):
    """Packets from network interfaces, as they arrive; same surface as ``FileSource``."""

    kind = "live"

    def __init__(self, interfaces: list[str], capture_filter: str | None = None,
                 dumpcap: str = "dumpcap", ring_size: int = 64 << 20,
                 macs=mac_address, snaplen: int = 0) -> None:
        """``ring_size``: bytes of recent traffic kept on disk for drill-down, shared by the
        interfaces (0: none). ``macs(name)``: an interface's own Ethernet address (it tells
        the direction of Ethernet frames), None when it has none. ``snaplen``: bytes kept
        of each packet (0: dumpcap's maximum); counts use the wire length either way."""
        names = list(dict.fromkeys(interfaces))
        if not names:
            raise UnknownInterface("no interface to capture on (see tuimon --list-interfaces)")
        self.capture_filter = capture_filter
        self.name = ", ".join(printable(n) for n in names)
        self.ended: dict[int, str] = {}  # interface index -> why its capture ended
        # interface index -> "down" while the interface is administratively or link down
        # (dumpcap keeps running and sees nothing); checked once a second.
        self.down: dict[int, str] = {}
        self._next_link_check = 0.0
        self._pending: list = []
        self._lock = threading.Lock()
        self._closed = False
        self._stop_at: float | None = None  # stop(): when to ask every dumpcap to stop
        self._stop_by = 0.0  # ... at the latest, however far behind the counting is
        self._captures: list[_Capture] = []
        self._wake: list[int] = []  # wake_on(): descriptors that end a wait early
        self.ring_size = max(0, int(ring_size))
        self.ring_folder: str | None = None
        exe = find_dumpcap(dumpcap, self.name)
        check_capture(exe, names, capture_filter)
        try:
            if self.ring_size:
                self.ring_folder = ring_folder()
            for index, iface in enumerate(names):
                ring = (Ring(self.ring_folder, f"if{index}", self.ring_size // len(names))
                        if self.ring_folder else None)
                self._captures.append(_Capture(exe, iface, index, capture_filter, ring,
                                               macs(iface), snaplen))
            self._await_start(capture_filter)
            for c in self._captures:  # drops while capturing, where we may read them
                c.sock_drops = open_drops(c.proc.pid)
                if c.sock_drops is not None:
                    c.polled_drops = 0
        except BaseException:
            self.close()
            raise

    def _await_start(self, capture_filter: str | None) -> None:
        """Wait until every dumpcap has written its interface block: then it is capturing."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            waiting = [c for c in self._captures if not c.reader.interfaces]
            if not waiting:
                return
            for c in waiting:
                if not c.open:
                    c.reap()
                    text = c.stderr_text()
                    raise dumpcap_error(text, c.iface, capture_filter) or CaptureFailed(
                        f"dumpcap stopped before capturing on {printable(c.iface)}: "
                        f"{ended_reason(text, c.proc.returncode)}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise CaptureFailed(f"dumpcap did not start capturing on "
                                    f"{printable(waiting[0].iface)} within {START_TIMEOUT:g} s")
            select.select([c.fd for c in waiting], [], [], min(left, POLL))
            for c in waiting:
                c.read(self._pending)

    def wake_on(self, fd: int) -> None:
        self._wake.append(fd)

    def rings(self) -> list[tuple[int, Ring]]:
        """(index of the capture's first interface, its ring) for each capture with a ring."""
        return [(c.index, c.ring) for c in self._captures if c.ring is not None]

    @property
    def devices(self) -> dict[int, str]:
        """Engine interface index -> the interface name dumpcap captures on."""
        return {c.index: c.iface for c in self._captures}

    @property
    def interfaces(self) -> list[Interface]:
        return [iface for c in self._captures for iface in c.reader.interfaces]

    def batches(self) -> Iterator[list]:
        """Lists of packet records as they arrive, an empty list at least every ``POLL``
        seconds; ends when every capture has ended (or on :meth:`close`)."""
        try:
            if self._pending:
                batches, self._pending = self._pending, []
                yield from batches
            last_read = 0.0
            while True:
                live = {c.fd: c for c in self._captures if c.open}
                if not live or self._closed:
                    break
                wait = POLL
                if self._stop_at is not None:
                    now = time.monotonic()
                    wait = self._stop_at - now
                    if wait <= 0 and now < self._stop_by and \
                            any(c.queued() for c in self._captures if c.open):
                        # behind: what dumpcap holds (its pipe, the kernel's buffer behind
                        # it) comes first; dumpcap is asked to stop once the pipe is empty
                        self._stop_at = now + FLUSH
                        wait = POLL
                    elif wait <= 0:
                        self._terminate()
                        wait = POLL
                try:
                    ready, _, _ = select.select([*live, *self._wake], [], [], min(wait, POLL))
                except (OSError, ValueError):  # closed by another thread
                    if self._closed:
                        break
                    raise
                self._check_links()
                if self._stop_at is None and any(fd in live for fd in ready):
                    now = time.monotonic()
                    left = gather_wait(last_read, now,
                                       max(live[fd].queued() for fd in ready if fd in live))
                    if left > 0:  # gather a larger batch; a request still wakes the wait
                        try:
                            select.select(self._wake, [], [], left)
                            ready, _, _ = select.select([*live, *self._wake], [], [], 0)
                        except (OSError, ValueError):
                            if self._closed:
                                break
                            raise
                    last_read = time.monotonic()
                batches: list = []  # one per capture that had packets
                with self._lock:
                    if self._closed:
                        break
                    for fd in ready:
                        capture = live.get(fd)
                        if capture is None:
                            continue  # a wake-up
                        if not capture.read(batches):
                            self.ended[capture.index] = capture.reap()
                if batches:
                    yield from batches
                else:
                    yield []
        finally:
            self.close()

    def _check_links(self) -> None:
        """Note which interfaces are down (``ip link set IFACE down``, cable pulled): their
        dumpcap keeps running and sees nothing, so without this nobody would know."""
        now = time.monotonic()
        if now < self._next_link_check:
            return
        self._next_link_check = now + LINK_CHECK
        for c in self._captures:
            if c.open:
                c.poll_drops()
        self.down = {c.index: state for c in self._captures
                     if c.open and (state := link_state(c.iface)) != "up"}

    def drops_of(self, iface: Interface) -> int | None:
        """The capture's drops on ``iface`` so far: those read from dumpcap's socket while
        it ran (:mod:`tuimon.capture.sockstats`; the kernel forgets what is read) plus
        those dumpcap reported when it stopped. Without the socket (not root), only the
        latter, at the end."""
        for c in self._captures:
            if iface in c.reader.interfaces:
                if c.polled_drops is None:
                    return iface.drops
                return c.polled_drops + (iface.drops or 0)
        return iface.drops

    def captured(self) -> dict[int, int]:
        """Frames each capture (by its first interface's index) has handed over so far:
        with the kernel's counters, they tell a stalled dumpcap (server/stall.py)."""
        return {c.index: c.reader.frames for c in self._captures if c.open}

    def behind(self) -> tuple[int, int]:
        """(bytes, packets) dumpcap has written to the pipes and we have not read yet; the
        packets estimated from the mean length of what was read."""
        queued = sum(c.queued() for c in self._captures if c.open)
        read = sum(c.bytes_read for c in self._captures)
        count = sum(c.reader.frames for c in self._captures) if read else 0
        return queued, (queued * count // read) if read else 0

    def stop(self) -> None:
        """Stop capturing: ``batches()`` yields what was captured until now, then ends. Every
        dumpcap is asked to stop ``FLUSH`` seconds later, once it has what the kernel holds."""
        self.stopping = True
        if self._stop_at is None:
            self._stop_at = time.monotonic() + FLUSH
            self._stop_by = self._stop_at + STOP_DRAIN

    def _terminate(self) -> None:
        for c in self._captures:
            if not c.stopped:
                c.terminate()

    def skip_reasons(self, index: int | None = None) -> dict[str, int]:
        """Records skipped as damaged, by reason: summed over every capture (``index`` None),
        or of the capture of interface ``index``."""
        reasons: dict[str, int] = {}
        for c in self._captures:
            if index is None or index == c.index:
                for reason, count in c.reader.skipped.items():
                    reasons[reason] = reasons.get(reason, 0) + count
        return reasons

    def skipped(self) -> int:
        return sum(self.skip_reasons().values())

    def close(self) -> None:
        """Stop every dumpcap, reap it, and parse what it wrote last (drop counts)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for c in self._captures:
                if c.open:
                    c.drain([], deadline)
                    self.ended[c.index] = c.reap()
                c.close()
            remove_folder(self.ring_folder)

