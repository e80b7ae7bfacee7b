"""Capture filters on playback: libpcap applies the BPF filter, through tcpdump.

``tcpdump -r - -w - -U -- EXPR`` reads the capture on its standard input (fed by a small
writer thread from the file, a gzip stream or our own standard input) and writes the
packets the filter selects, as pcap, on its standard output. :class:`FilteredStream` is
that output as a file-like object, read by our own :class:`CaptureReader` exactly as a file
is. Everything goes through pipes, never file names: tcpdump's AppArmor profile on
Debian and Ubuntu only lets it open ``*.pcap`` and ``*.cap`` files by name.

The filter is compiled first, before anything is counted: ``tcpdump -d`` on the capture's
own header (so against its link type). What libpcap cannot read past (a damaged record, a
pcapng interface of another link type) ends the stream; tcpdump's last words become
skip reasons, named as our reader names the same damage.

libpcap writes pcap: a pcapng's several interfaces come out as one, named after the file,
and interface statistics (drops) are not carried over.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
import threading

from tuimon.capture.reader import CaptureReader
from tuimon.errors import BadCaptureFile, BadCaptureFilter, CaptureToolMissing
from tuimon.text import printable

CHUNK = 1 << 20
CHECK_TIMEOUT = 30.0
F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe instead of 64 KiB, fewer wake-ups

MISSING = ("tcpdump not found: capture filters on playback need it "
           "(apt-get install tcpdump)")

# libpcap's words for damage -> our reader's words for the same damage.
_DAMAGE = [
    (re.compile(r"truncated (pcapng )?dump file"), "truncated final record"),
    (re.compile(r"invalid packet capture length|bigger than (the )?snaplen"),
     "record longer than the link type's maximum (file damaged)"),
    (re.compile(r"block .*length|block size|block total length"),
     "bad pcapng block length (file damaged)"),
    (re.compile(r"interface has a type \d+ different from the type of the first interface"),
     "pcapng interface of another link type: libpcap cannot filter past it"),
]


def find_tcpdump(tcpdump: str = "tcpdump") -> str:
    """The path of tcpdump (also looked for in /usr/sbin), or :class:`CaptureToolMissing`."""
    path = shutil.which(tcpdump) or shutil.which(tcpdump, path="/usr/sbin:/sbin")
    if path is None:
        raise CaptureToolMissing(MISSING)
    return path


def tcpdump_args(tcpdump: str, capture_filter: str | None, check: bool = False) -> list[str]:
    """Read a capture on stdin; write what the filter selects as pcap to stdout (nanosecond
    timestamps kept), or (``check``) only compile the filter against the capture's link type."""
    args = [tcpdump, "-r", "-"]
    args += ["-d"] if check else ["-w", "-", "-U", "--time-stamp-precision=nano"]
    return args + (["--", capture_filter] if capture_filter else [])


def tcpdump_error(stderr: str) -> str | None:
    """tcpdump's own error line without its prefixes (``tcpdump: pcap_loop: ...``)."""
    for line in stderr.splitlines():
        if line.startswith("tcpdump: "):
            text = line[len("tcpdump: "):].strip()
            if text.startswith("pcap_loop: "):
                text = text[len("pcap_loop: "):]
            return printable(text)
    return None


def damage_reason(message: str) -> str:
    """A skip reason for what libpcap said when it stopped reading."""
    for pattern, reason in _DAMAGE:
        if pattern.search(message):
            return reason
    return f"libpcap stopped reading: {message}"


def read_header(stream, name: str) -> bytes:
    """The capture's first bytes, up to its first interface: enough for libpcap to open it.
    A stream that is not a capture raises :class:`BadCaptureFile`, as it does unfiltered."""
    probe = CaptureReader(name)
    head = b""
    read = getattr(stream, "read1", stream.read)
    while not probe.interfaces and not probe.done:
        try:
            data = read(CHUNK)
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            if probe.format is None:
                raise BadCaptureFile(f"{name}: cannot read: {err}") from None
            break  # libpcap will say what it makes of what there is
        if not data:
            probe.finish()  # raises for an empty stream or one that is not a capture
            break
        head += data
        probe.feed(data)
        probe.records()
    return head


def check_filter(tcpdump: str, head: bytes, capture_filter: str, name: str) -> None:
    """Compile the filter against the capture's link type: :class:`BadCaptureFilter` when it
    does not compile, :class:`BadCaptureFile` when libpcap cannot open the capture at all."""

    def compile_(expr: str | None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(tcpdump_args(tcpdump, expr, check=True), input=head,
                                  capture_output=True, timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BadCaptureFile(f"{name}: tcpdump did not answer while compiling the "
                                 f"capture filter") from None

    proc = compile_(capture_filter)
    if proc.returncode == 0:
        return
    message = tcpdump_error(proc.stderr.decode("utf-8", "replace")) or \
        f"tcpdump exited with status {proc.returncode}"
    if compile_(None).returncode == 0:  # the capture is fine: the filter is not
        raise BadCaptureFilter(f"bad capture filter {printable(capture_filter)!r}: {message}")
    raise BadCaptureFile(f"{name}: libpcap cannot read it to apply a capture filter: {message}")


class FilteredStream:
    """What tcpdump selects from ``stream``, as a readable pcap stream.

    ``read(n)`` returns what the pipe holds (up to ``n`` bytes, at least one unless at the
    end); ``finish()`` waits for tcpdump and returns the skip reasons for what it could not
    read; ``bytes_in`` is how much of the input has been handed to tcpdump.
    """

    def __init__(self, stream, capture_filter: str, name: str,
                 tcpdump: str = "tcpdump", close_input: bool = True) -> None:
        exe = find_tcpdump(tcpdump)
        self.name = name
        self._input = stream
        self._close_input = close_input
        self._head = read_header(stream, name)
        check_filter(exe, self._head, capture_filter, name)
        self.bytes_in = 0
        self.read_error: str | None = None  # the input failed part way (a damaged gzip ...)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(tcpdump_args(exe, capture_filter), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, CHUNK)
            except OSError:
                pass
        self._writer = threading.Thread(target=self._feed, name="tuimon-tcpdump-feed",
                                        daemon=True)
        self._writer.start()

    def _feed(self) -> None:
        """Writer thread: the header already read, then the rest of the input, into tcpdump."""
        pipe = self.proc.stdin
        read = getattr(self._input, "read1", self._input.read)  # a pipe: what has come
        try:
            data = self._head
            self._head = b""
            while data:
                pipe.write(data)
                self.bytes_in += len(data)
                try:
                    data = read(CHUNK)
                except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                    self.read_error = printable(str(err) or type(err).__name__)
                    break
        except (BrokenPipeError, ValueError, OSError):
            pass  # tcpdump stopped reading (damage, or we closed it)
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def read(self, n: int = CHUNK) -> bytes:
        return self.proc.stdout.read1(n)

    def finish(self) -> dict[str, int]:
        """Wait for tcpdump to exit (its output has been read to the end); the skip reasons."""
        self._writer.join(timeout=CHECK_TIMEOUT)
        try:
            self.proc.wait(timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        reasons: dict[str, int] = {}
        if self.read_error is not None:
            reasons["file unreadable past this point"] = 1
        if self.proc.returncode:
            self._stderr.seek(0)
            text = self._stderr.read(65536).decode("utf-8", "replace")
            message = tcpdump_error(text) or f"tcpdump exited with status {self.proc.returncode}"
            reason = damage_reason(message)
            reasons[reason] = reasons.get(reason, 0) + 1
        return reasons

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()
        if self._close_input:
            try:
                self._input.close()
            except OSError:
                pass
        self._writer.join(timeout=0.5)  # a thread blocked reading stdin is a daemon
