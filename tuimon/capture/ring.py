"""The live capture's ring of recent traffic on disk, for drill-down.

dumpcap's pcapng bytes are teed, as they arrive, into a ring of files in a temporary folder:
when the current file reaches its share of the ring, a new one is started with the
section header and interface blocks again (so every file is a capture of its own), and
the oldest file is deleted. Files are only ever cut between whole blocks. Writing is
unbuffered (``os.write``), so a reader sees every block written so far; the last block of
the newest file may be incomplete, which our reader reports and skips.

The cost per packet is one 8-byte header read to find the block boundaries. A ring that
cannot be written (disk full) stops teeing and remembers why; the capture goes on.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading

from tuimon.scratch import scratch_folder

_SHB = b"\x0a\x0d\x0d\x0a"
FILES = 8  # files in a ring
MIN_FILE = 64 * 1024


def ring_folder() -> str:
    """A new private folder for the rings of one capture (removed by :func:`remove_folder`;
    one a killed tuimon left is removed by the next, :mod:`tuimon.scratch`)."""
    return scratch_folder("ring")


def remove_folder(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


class Ring:
    """A ring of pcapng files of at most about ``size`` bytes in all."""

    def __init__(self, folder: str, name: str, size: int, files: int = FILES) -> None:
        self.folder = folder
        self.name = name
        self.max_files = max(2, files)
        self.file_size = max(MIN_FILE, size // self.max_files)
        self.dropped = 0  # files deleted to make room
        self.error: str | None = None
        self.bytes_written = 0
        self.shed_bytes = 0  # left out while the counting was behind (write_blocks)
        self._files: list[str] = []
        self._lock = threading.Lock()
        self._headers: list[bytes] = []  # SHB and IDBs of the current section
        self._tail = b""  # the start of a block not complete yet
        self._endian = "<"
        self._fd: int | None = None
        self._size = 0  # bytes in the current file
        self._data = 0  # of them, after the headers
        self._serial = 0

    # -- reading side ----------------------------------------------------------------------

    def files(self) -> list[str]:
        """The ring's files, oldest first (a file may be deleted after this returns)."""
        with self._lock:
            return list(self._files)

    # -- writing side ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Tee the next bytes of the pcapng stream."""
        if self.error is not None or not data:
            return
        try:
            self._write(data)
        except OSError as err:
            self.error = f"the ring could not be written: {err.strerror or err}"
            self._close_fd()

    def write_blocks(self, data: bytes, tail: int, shed: bool = False) -> None:
        """Tee the next bytes of the stream, whose block boundaries the caller knows: the
        last ``tail`` bytes of the stream so far are the start of a block still incomplete
        (the capture's reader has just parsed the rest). Files are then cut between two
        reads, with no walk over the blocks here; until the section's headers are kept
        (the first read), the blocks are walked as :meth:`write` does. ``shed``: the
        counting is behind, so whole blocks are not written (the ring sheds its own work,
        never the count's); what was left out is said by :meth:`note`."""
        if self.error is not None or not data:
            return
        if not self._headers:  # the section's headers first
            self.write(data)
            return
        held = self._tail  # the start of the block the last read cut
        whole = len(held) + len(data) - tail  # bytes of whole blocks in held + data
        if whole <= len(held):  # nothing completed yet
            self._tail = held + data
            return
        if whole > self.file_size // 2:  # a small ring: cut inside the read, walking it
            self.write(data)
            return
        cut = whole - len(held)  # of data
        try:
            if shed:
                self.shed_bytes += whole
            else:
                if self._fd is None or (self._data and self._size + whole > self.file_size):
                    self._rotate()
                if held:
                    self._flush(held, 0, len(held))
                self._flush(data, 0, cut)
            self._tail = bytes(data[cut:]) if cut < len(data) else b""
        except OSError as err:
            self.error = f"the ring could not be written: {err.strerror or err}"
            self._close_fd()

    def note(self) -> str:
        """What the ring left out, for drill-down ("" when nothing)."""
        if not self.shed_bytes:
            return ""
        return (f"the ring skipped {self.shed_bytes / 1e6:.1f} MB of packets while the "
                f"counting was behind the capture")

    def _write(self, data: bytes) -> None:
        buf = self._tail + data if self._tail else data
        n, pos, run = len(buf), 0, 0  # run: start of whole blocks not yet written
        unpack = struct.unpack_from
        while n - pos >= 12:
            if buf[pos:pos + 4] == _SHB:
                bom = buf[pos + 8:pos + 12]
                self._endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = unpack(self._endian + "II", buf, pos)
            if blen < 12 or blen % 4:
                raise OSError(0, "the capture stream is damaged")
            if n - pos < blen:
                break
            if btype == 0x0A0D0D0A or btype == 1:  # a section or interface starts: keep it
                if btype == 0x0A0D0D0A:
                    self._headers = []
                self._headers.append(bytes(buf[pos:pos + blen]))
                if self._fd is None:  # the first file will start with the headers
                    run = pos + blen
            elif self._fd is None or ((self._data or pos > run) and
                                      self._size + (pos - run) + blen > self.file_size):
                self._flush(buf, run, pos)
                run = pos
                self._rotate()
            pos += blen
        self._flush(buf, run, pos)
        self._tail = bytes(buf[pos:])

    def _flush(self, buf: bytes, start: int, end: int) -> None:
        if end <= start:
            return
        if self._fd is None:
            self._rotate()
        view = memoryview(buf)[start:end]
        while view:
            done = os.write(self._fd, view)
            view = view[done:]
        self._size += end - start
        self._data += end - start
        self.bytes_written += end - start

    def _rotate(self) -> None:
        """Start a new file with the current headers; delete the oldest past the ring's size."""
        self._close_fd()
        self._serial += 1
        path = os.path.join(self.folder, f"{self.name}-{self._serial:06d}.pcapng")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        head = b"".join(self._headers)
        if head:
            os.write(fd, head)
        self._fd, self._size, self._data = fd, len(head), 0
        with self._lock:
            self._files.append(path)
            old = self._files[:-self.max_files]
            del self._files[:-self.max_files]
        for path in old:
            try:
                os.unlink(path)
            except OSError:
                pass
            self.dropped += 1

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def close(self) -> None:
        self._close_fd()
