"""Playback source: a pcap/pcapng file (gzip too), or standard input with ``-``; with a
capture filter, what libpcap selects from it (see :mod:`tuimon.capture.filtered`).

A stop is honoured within a second whatever the reading waits for: a batch (empty if need
be) is handed back after every chunk, so a record spread over many chunks does not hold
the consumer; and a pipe (standard input, a FIFO) is read by a thread of its own, so a
pipe that gives nothing does not either.
"""

from __future__ import annotations

import gzip
import os
import queue
import select
import stat
import sys
import threading
from collections.abc import Iterator

from tuimon.capture.filtered import FilteredStream
from tuimon.capture.source import Source
from tuimon.capture.reader import CAPTURE_MAGICS, CaptureReader, Interface, is_capture_magic
from tuimon.errors import BadCaptureFile

CHUNK = 1 << 22  # 4 MiB: a batch of some 7,000 packets of an average capture
WAIT = 0.25  # seconds a pipe may give nothing before an empty batch is handed back


def open_capture(path: str, stdin=None):
    """Open a capture for reading, with a clear error for every way it can fail. ``-`` is
    standard input (or the binary file ``stdin`` stands in for it)."""
    if path == "-":
        stdin = stdin if stdin is not None else sys.stdin.buffer
        try:
            is_tty = os.isatty(stdin.fileno())
        except (OSError, AttributeError, ValueError):
            is_tty = False
        if is_tty:
            raise BadCaptureFile("standard input is a terminal, not a capture: pipe one in "
                                 "(cat trace.pcap | tuimon -r -)")
        if not hasattr(stdin, "peek"):
            return stdin  # nothing to look at without consuming: the reader decides
        return _checked("stdin", stdin)
    if os.path.isdir(path):
        raise BadCaptureFile(f"{path}: is a directory, not a capture file")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise BadCaptureFile(f"{path}: no such file") from None
    except PermissionError:
        raise BadCaptureFile(f"{path}: permission denied (not readable by this user)") from None
    except OSError as err:
        raise BadCaptureFile(f"{path}: cannot open: {err.strerror or err}") from None
    raw = f
    try:
        return _checked(path, f)
    except BaseException:
        f.close()
        raw.close()
        raise


def _checked(path: str, f):
    """Refuse what is not a capture before anything starts (the app, too, exits with the
    one-line error then); the reader checks the same again on the stream. Peek, never
    seek: the path may be a pipe (a FIFO, ``<(zcat ...)``, /dev/stdin)."""
    try:
        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        regular = False
    try:
        if f.peek(2)[:2] == b"\x1f\x8b":
            f = gzip.GzipFile(fileobj=f)
        head = f.peek(4)[:4]
    except (OSError, EOFError) as err:  # an I/O error, a damaged gzip stream
        reason = (err.strerror if isinstance(err, OSError) else None) or err
        raise BadCaptureFile(f"{path}: cannot read: {reason}") from None
    if not head:
        raise BadCaptureFile(f"{path}: empty file, not a pcap or pcapng capture")
    short = len(head) < 4 and not regular  # a pipe may have given less so far
    if not is_capture_magic(head) and not (short and any(m.startswith(head)
                                                         for m in CAPTURE_MAGICS)):
        raise BadCaptureFile(f"{path}: not a pcap or pcapng capture file")
    return f


def read_chunk(f, size: int) -> tuple[bytes, Exception | None]:
    """Up to ``size`` bytes, and the error that stopped the reading, if any. A gzip stream
    is read in small steps so that what was decompressed before damage is not lost."""
    if not isinstance(f, gzip.GzipFile):
        try:
            return f.read(size), None
        except OSError as err:
            return b"", err
    return _gather(f, size, None, (OSError, EOFError))  # gzip.BadGzipFile is an OSError


def _is_regular(f) -> bool:
    """Whether ``f`` (or the file under its gzip stream) is a regular file, which a read
    never waits on for long."""
    raw = getattr(f, "fileobj", None) or f
    try:
        return stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    except (OSError, AttributeError, ValueError):
        return False


def read_some(f, size: int) -> tuple[bytes, Exception | None]:
    """From a pipe: up to ``size`` bytes, as soon as the pipe has nothing more waiting (a
    quiet pipe does not hold back what came), and the error that stopped the reading."""
    raw = getattr(f, "fileobj", None) or f
    try:
        fd = raw.fileno()
    except (OSError, AttributeError, ValueError):
        fd = None
    return _gather(f, size, fd, (OSError, EOFError, ValueError))


def _gather(f, size: int, fd: int | None, errors: tuple) -> tuple[bytes, Exception | None]:
    """Up to ``size`` bytes in as many reads as it takes (a gzip stream or a pipe hands out
    less than asked), stopping early when ``fd`` has nothing more waiting; the bytes and
    the error (one of ``errors``) that stopped the reading, if any."""
    read = getattr(f, "read1", None) or f.read  # an unbuffered file's read is one call
    parts, have = [], 0
    try:
        while have < size:
            part = read(size - have)
            if not part:
                break
            parts.append(part)
            have += len(part)
            if fd is not None and not select.select([fd], [], [], 0)[0]:
                break
    except errors as err:
        return b"".join(parts), err
    return b"".join(parts), None


class FileSource(Source):
    """Reads a capture as fast as the consumer takes the batches (pacing is the player's job)."""

    kind = "file"

    def __init__(self, path: str, chunk: int = CHUNK, capture_filter: str | None = None,
                 tcpdump: str = "tcpdump", stdin=None,
                 reader: CaptureReader | None = None) -> None:
        """``reader``: parse with this reader instead of a new :class:`CaptureReader`
        (drill-down passes one that keeps the frames of one conversation)."""
        self.path = path
        self.name = "stdin" if path == "-" else os.path.basename(path)
        self.capture_filter = capture_filter or None
        self._stdin = stdin if stdin is not None else sys.stdin.buffer
        self._file = open_capture(path, self._stdin)
        # The file itself (under a gzip stream): its position is how far the playback got.
        self._raw = self._file.fileobj if isinstance(self._file, gzip.GzipFile) else self._file
        if path == "-":
            self._raw = None
        self._chunk = chunk
        self.reader = reader if reader is not None else CaptureReader(self.name, columns=True)
        self.bytes_read = 0  # of the file (before the filter)
        try:
            self.size = os.fstat(self._file.fileno()).st_size if path != "-" else None
        except (OSError, AttributeError, ValueError):
            self.size = None
        self.finished = False
        self._regular = _is_regular(self._file)
        self._pipe_reader: threading.Thread | None = None
        self._closed = threading.Event()
        self._filtered: FilteredStream | None = None
        if self.capture_filter:
            try:
                self._filtered = FilteredStream(self._file, self.capture_filter, self.name,
                                                tcpdump=tcpdump,
                                                close_input=self._file is not self._stdin)
            except BaseException:
                self.close()
                raise

    def position(self) -> int:
        """Bytes of the file read so far (of the compressed file for .gz; of the stream
        for standard input)."""
        if self._raw is not None:
            try:
                return self._raw.tell()
            except (OSError, ValueError):
                pass
        return self.bytes_read

    @property
    def interfaces(self) -> list[Interface]:
        return self.reader.interfaces

    def batches(self) -> Iterator[list]:
        """Lists of packet records until the end of the file."""
        if self._filtered is not None:
            yield from self._filtered_batches()
            return
        reader = self.reader
        try:
            for item in self._chunks():
                if item is None:  # a pipe that gives nothing: the consumer may stop
                    if self.stopping:
                        break
                    yield []
                    continue
                data, error = item
                if data:
                    self.bytes_read += len(data)
                    reader.feed(data)
                    yield reader.records()  # empty while a long record is gathered
                if error is not None:
                    if reader.format is None:
                        raise BadCaptureFile(f"{self.path}: cannot read: {error}") from None
                    reader.finish()
                    reader.skipped["file unreadable past this point"] = 1
                    break
                if not data or reader.done or self.stopping:
                    break
            reader.finish()
        finally:
            self.finished = True
            self.close()

    def _chunks(self) -> Iterator[tuple[bytes, Exception | None] | None]:
        """What :func:`read_chunk` gives, until the end or an error; from a pipe, through
        a thread, with None after every WAIT seconds of nothing."""
        if self._regular:
            while True:
                item = read_chunk(self._file, self._chunk)
                yield item
                if item[1] is not None or not item[0]:
                    return
        chunks: queue.Queue = queue.Queue(maxsize=4)
        self._pipe_reader = threading.Thread(target=self._read_pipe, args=(chunks,),
                                             name="tuimon-pipe", daemon=True)
        self._pipe_reader.start()
        while True:
            try:
                item = chunks.get(timeout=WAIT)
            except queue.Empty:
                yield None
                continue
            yield item
            if item[1] is not None or not item[0]:
                return

    def _read_pipe(self, chunks: queue.Queue) -> None:
        """The pipe reader thread: chunks into ``chunks`` until the end, an error or close."""
        while not self._closed.is_set():
            try:
                item = read_some(self._file, self._chunk)
            except Exception as err:  # noqa: BLE001 - ends the reading, never hangs it
                item = (b"", err)
            while not self._closed.is_set():
                try:
                    chunks.put(item, timeout=WAIT)
                    break
                except queue.Full:
                    continue
            if item[1] is not None or not item[0]:
                return

    def _filtered_batches(self) -> Iterator[list]:
        """The same, from what tcpdump selects; what it could not read becomes skip reasons."""
        reader, stream = self.reader, self._filtered
        try:
            while True:
                data = stream.read(self._chunk)
                self.bytes_read = stream.bytes_in
                if not data:
                    break
                reader.feed(data)
                records = reader.records()
                if records:
                    yield records
                if reader.done or self.stopping:
                    break
            reasons = stream.finish()
            self.bytes_read = stream.bytes_in
            if reader.format is None:  # tcpdump gave up before its header: tell why
                raise BadCaptureFile(f"{self.path}: cannot apply the capture filter: "
                                     f"{', '.join(reasons) or 'tcpdump wrote nothing'}")
            reader.finish()
            for reason, count in reasons.items():
                reader.skipped[reason] = reader.skipped.get(reason, 0) + count
        finally:
            self.finished = True
            self.close()

    def skip_reasons(self, index: int | None = None) -> dict[str, int]:
        """Records skipped as damaged, by reason: the whole file's (``index`` None), or those
        reported on interface ``index`` (the file's: its first interface)."""
        if index not in (None, self.reader.first_index):
            return {}
        return dict(self.reader.skipped)

    def skipped(self) -> int:
        return sum(self.reader.skipped.values())

    def close(self) -> None:
        self._closed.set()
        if self._filtered is not None:
            self._filtered.close()
        if self._pipe_reader is not None and self._pipe_reader.is_alive():
            return  # still waiting in a read: the file goes when the process does
        if self._file is not self._stdin:
            self._file.close()
