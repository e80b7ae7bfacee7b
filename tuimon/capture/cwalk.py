"""The compiled stage of the reader (walk.c beside this file): built, cached and loaded with
ctypes.

The reader steps through a capture's pcap records or pcapng enhanced packet blocks a
length at a time before the builder decodes the run (:mod:`tuimon.capture.vector`); in
Python that walk is a struct unpack and a list append per packet. :func:`walker` gives
the same walk in C, writing the offsets into a numpy array, and the builder's *fast rows*
(Ethernet, VLAN tags, IPv4/IPv6, TCP/UDP ports and flags: ``vector._fast_rows``, some 40
numpy calls a run) in one pass over the frames, the grouping of a batch's fast rows by
conversation (``core/grouping``) with a hash table, and the functions of a persistent hash
index from conversation keys to slots (``Walker.index_find``, ``index_insert``,
``index_remove``), which :class:`tuimon.core.slotindex.SlotIndex` sizes and calls
(``core.slotindex.slot_index(walker)`` makes one; the capture layer imports no core).

walk.c is compiled with the system C compiler (``$CC``, else ``cc`` or ``gcc``) into the
user's cache, ``$XDG_CACHE_HOME/tuimon`` or ``~/.cache/tuimon``, as ``walk-KEY.so`` where
KEY hashes the source, the machine and the compiler: at first use, or beforehand by
``python -m tuimon.capture.cwalk`` (``make setup`` runs it). The library is written under
a temporary name and renamed into place, so processes building it at once never load a
half-written one. Another user's cache directory is refused (a loaded library runs as
whoever runs tuimon), and a library others could have written is built anew. Whatever
fails -- no compiler, a cache that cannot be written, a library that does not load or gives
a wrong answer on a small self-test (the walks and the index) -- the reader keeps its
Python walk, which stays the reference (and the core its DictIndex); :func:`status` says
which walk is in use and why (``python -m tuimon.capture.cwalk`` prints it).
``TUIMON_NO_CWALK=1`` forces the Python walk (checked each time a reader is made).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import threading
from pathlib import Path

try:  # the interpreter's own SHA-256: hashlib would load OpenSSL (3.5 MiB of memory)
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256  # (Python 3.12's name)
    except ImportError:
        from hashlib import sha256

import numpy as np

try:
    import ctypes
except ImportError:  # a Python built without it: the Python walk
    ctypes = None

ENV_OFF = "TUIMON_NO_CWALK"
SOURCE = Path(__file__).with_name("walk.c")
# Freestanding, without the C library: gcc alone builds it (libc6-dev is only recommended
# by Debian's gcc), and the library depends on nothing.
FLAGS = ["-O2", "-shared", "-fPIC", "-ffreestanding", "-nostdlib"]
_BUILD_TIMEOUT = 120  # seconds
# A build of another source, machine or compiler (walk-*.so: an older tuimon, another
# checkout) not loaded for this long is removed when one is built: they piled up, one per
# version of walk.c. (Loading reads the file: its access time, even under relatime,
# moves at least daily. Under noatime a library still in use is built again: a second.)
STALE_DAYS = 30

_lock = threading.Lock()
_loaded = False
_walker: Walker | None = None
_status = "compiled walk not tried yet"


def disabled() -> bool:
    """Whether ``TUIMON_NO_CWALK`` asks for the Python walk."""
    return os.environ.get(ENV_OFF, "") not in ("", "0")


def cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tuimon"


def compiler() -> str | None:
    """The C compiler to build with: ``$CC`` (its first word), else cc or gcc."""
    cc = os.environ.get("CC", "").split()
    for name in ([cc[0]] if cc else []) + ["cc", "gcc"]:
        path = shutil.which(name)
        if path:
            return path
    return None


def library_path(source: bytes, cc: str) -> Path:
    """Where the library of this source, machine and compiler is cached."""
    key = sha256(b"\0".join([
        source, sys.platform.encode(), platform.machine().encode(), cc.encode(),
        " ".join(FLAGS).encode()])).hexdigest()[:16]
    return cache_dir() / f"walk-{key}.so"


def status() -> str:
    """Which walk the reader uses, and why (loading the library if not done yet)."""
    if disabled():
        return f"Python record walk ({ENV_OFF} is set)"
    _load()
    return _status


def walker() -> Walker | None:
    """The compiled walk, or None: the reader then walks in Python."""
    if disabled():
        return None
    if not _loaded:
        _load()
    return _walker


def build() -> Path:
    """Compile walk.c into the cache (if not there yet) and return the library's path;
    raises OSError or RuntimeError with the reason when it cannot."""
    source = SOURCE.read_bytes()
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or $CC) found")
    path = library_path(source, cc)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _own(path.parent)
    if path.exists():
        st = path.stat()
        if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
            return path
        path.unlink()  # not this user's alone: built anew
    import subprocess  # (only to build it: a memory a run does without)
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        done = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True,
                              text=True, timeout=_BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(f"{Path(cc).name} failed: {said[0] if said else done.returncode}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)  # atomic: another process sees no library or a whole one
        _prune(path)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{Path(cc).name} took over {_BUILD_TIMEOUT} s") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _prune(kept: Path) -> None:
    """Remove the other builds not loaded for :data:`STALE_DAYS` (a running process keeps
    a library it has loaded, removed or not)."""
    import time

    limit = time.time() - STALE_DAYS * 86400
    for old in kept.parent.glob("walk-*.so"):
        try:
            if old != kept and old.stat().st_atime < limit:
                old.unlink()
        except OSError:
            pass  # gone already, or not ours to remove


def _own(folder: Path) -> None:
    """Refuse a cache directory of another user's: a library loaded from it runs as
    whoever runs tuimon (root too, with a user's HOME). One of this user's that others
    may write to (a umask of 002) is made this user's alone."""
    st = folder.stat()
    if st.st_uid != os.geteuid():
        raise RuntimeError(f"{folder} belongs to another user")
    if st.st_mode & 0o022:
        folder.chmod(st.st_mode & 0o755)


def _load() -> None:
    global _loaded, _walker, _status
    with _lock:
        if _loaded:
            return
        try:
            if ctypes is None:
                raise RuntimeError("this Python has no ctypes")
            path = build()
            walk = Walker(ctypes.CDLL(str(path)))
            walk.self_test()
            _walker, _status = walk, f"compiled record walk ({path})"
        except Exception as e:  # noqa: BLE001 -- any failure means the Python walk
            _walker = None
            _status = f"Python record walk (the compiled one is not available: {e})"
        _loaded = True


def _pointer(buf):
    """(address of ``buf``'s bytes, the object that keeps them alive)."""
    if type(buf) is bytes:
        return buf, buf  # ctypes passes a bytes object's own buffer, no copy
    arr = np.frombuffer(buf, dtype=np.uint8)
    return arr.ctypes.data, arr


# the columns of Walker.csv_conversations, in walk.c's order: name -> dtype
CSV_COLUMNS = {"keys": np.uint64, "fwd": np.bool_, "ab_p": np.int64, "ab_b": np.int64,
               "ba_p": np.int64, "ba_b": np.int64, "first": np.float64, "last": np.float64,
               "flags": np.int64, "service": np.int64, "app": np.int64, "app_src": np.int64,
               "six": np.int64}

_FAST_COLUMNS = ("fast", "ported", "kind", "proto", "src", "dst", "src_hi", "dst_hi", "sport",
                 "dport", "flags")


class Walker:
    """walk.c's functions: the two walks with numpy arrays of offsets, the fast rows, the
    grouping, and the key index's ``index_find``, ``index_insert`` and ``index_remove``
    (ctypes functions, for :class:`tuimon.core.slotindex.SlotIndex`: ``slot_index(walker)``
    there makes one; this layer does not import the core)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        args = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int,
                ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                ctypes.POINTER(ctypes.c_int64)]
        self._pcapng = lib.tuimon_walk_pcapng
        self._pcap = lib.tuimon_walk_pcap
        for fn in (self._pcapng, self._pcap):
            fn.argtypes = args
            fn.restype = ctypes.c_int64
        self._fast = lib.tuimon_fast_rows
        self._fast.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 3 + \
            [ctypes.c_void_p] * len(_FAST_COLUMNS)
        self._fast.restype = ctypes.c_int64
        self._group = lib.tuimon_group
        self._group.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64] + \
            [ctypes.c_void_p] * 13 + [ctypes.c_int64] + [ctypes.c_void_p] * 14
        self._group.restype = ctypes.c_int64
        # The index from conversation keys to slots (core/slotindex.SlotIndex calls them)
        p, i64 = ctypes.c_void_p, ctypes.c_int64
        self.index_find = lib.tuimon_index_find
        self.index_find.argtypes = [p, i64, p, p, i64, p]
        self.index_find.restype = i64
        self.index_insert = lib.tuimon_index_insert
        self.index_remove = lib.tuimon_index_remove
        for fn in (self.index_insert, self.index_remove):
            fn.argtypes = [p, i64, p, p, i64]
            fn.restype = None
        self._csv = lib.tuimon_csv_conversations
        self._csv.argtypes = [i64, i64] + [p] * 15 + [i64] * 3 + [p, i64, i64, p, p]
        self._csv.restype = i64

    def fast_rows(self, u8: np.ndarray, cols: dict, cand: np.ndarray, st: np.ndarray,
                  cap: np.ndarray, ipv4: int, ipv6: int) -> int:
        """vector._fast_rows in C: fill the fast rows' columns of ``cols`` (the batch's
        arrays, of COLUMNS' dtypes) among the Ethernet frames ``cand``."""
        args = [np.ascontiguousarray(a, dtype=np.int64) for a in (cand, st, cap)]
        out = [cols[name] for name in _FAST_COLUMNS]
        for a in out:
            if not a.flags.c_contiguous:
                raise ValueError("the batch's columns must be contiguous")
        return self._fast(u8.ctypes.data, *(a.ctypes.data for a in args), len(args[0]),
                          ipv4, ipv6, *(a.ctypes.data for a in out))

    def group(self, cols: dict, fast: np.ndarray, ipv6: int) -> dict:
        """core/grouping.conversations' grouping in C: the fast rows ``fast`` (ascending)
        of the batch's ``cols`` by conversation, groups in the order of their first row.
        Returns arrays: ``keys`` (a row of six words per group: key word, lower and higher
        address, their high 64 bits, first row), ``fwd``, ``first``, ``last``, ``lo_p``,
        ``lo_b``, ``hi_p``, ``hi_b``, ``lo_f``, ``hi_f``, and ``rows``/``at`` (each group's
        rows, in batch order: rows[at[g]:at[g + 1]])."""
        m = len(fast)
        rows_in = np.ascontiguousarray(fast, dtype=np.int64)
        size = 16
        while size < 2 * m:
            size <<= 1
        table = np.full(size, -1, dtype=np.int64)
        i64 = lambda: np.empty(m, dtype=np.int64)  # noqa: E731
        out = {"gid": i64(), "keys": np.empty((m, 6), dtype=np.uint64),
               "fwd": np.empty(m, dtype=np.bool_), "first": np.empty(m, dtype=np.float64),
               "last": np.empty(m, dtype=np.float64), "lo_p": i64(), "lo_b": i64(),
               "hi_p": i64(), "hi_b": i64(), "lo_f": i64(), "hi_f": i64(),
               "at": np.empty(m + 1, dtype=np.int64), "rows": i64()}
        cursor = i64()
        inputs = [cols[name] for name in ("kind", "proto", "ported", "src", "dst", "src_hi",
                                          "dst_hi", "sport", "dport", "wlen", "flags", "ts")]
        for a in inputs:
            if not a.flags.c_contiguous:
                raise ValueError("the batch's columns must be contiguous")
        ng = self._group(rows_in.ctypes.data, m, ipv6, *(a.ctypes.data for a in inputs),
                         table.ctypes.data, size - 1,
                         *(out[k].ctypes.data for k in ("gid", "keys", "fwd", "first", "last",
                                                        "lo_p", "lo_b", "hi_p", "hi_b",
                                                        "lo_f", "hi_f", "at", "rows")),
                         cursor.ctypes.data)
        del out["gid"]
        for k in ("keys", "fwd", "first", "last", "lo_p", "lo_b", "hi_p", "hi_b", "lo_f",
                  "hi_f"):
            out[k] = out[k][:ng]
        out["at"] = out["at"][:ng + 1]
        return out

    def csv_conversations(self, cols: dict, r0: int, texts: np.ndarray, toff: np.ndarray,
                          bases: tuple[int, int, int], out: np.ndarray, maxrow: int
                          ) -> tuple[int, int, int]:
        """conversations.csv's lines of rows ``r0`` on of ``cols`` (arrays of the store's
        columns, CSV_COLUMNS, contiguous, of their dtypes) into ``out``: (the row it stopped
        at, bytes written, why: 0 all done, 1 ``out`` is full, 2 that row is not one it
        writes). ``texts``/``toff``: the text table; ``bases``: the protocol names', the
        TCP flags' and the line end's entries (see walk.c)."""
        arrays = [cols[name] for name in CSV_COLUMNS]
        for a, (name, dtype) in zip(arrays, CSV_COLUMNS.items()):
            if not a.flags.c_contiguous or a.dtype != dtype:
                raise ValueError(f"column {name} must be contiguous {np.dtype(dtype)}")
        n = len(arrays[1])
        if arrays[0].shape != (n, 5) or arrays[-1].shape != (2 * n,):
            raise ValueError("keys must be (n, 5) and six (2 n,)")
        used, why = ctypes.c_int64(0), ctypes.c_int64(0)
        r = self._csv(r0, n, *(a.ctypes.data for a in arrays), texts.ctypes.data,
                      toff.ctypes.data, *bases, out.ctypes.data, len(out), maxrow,
                      ctypes.byref(used), ctypes.byref(why))
        return r, used.value, why.value

    def _walk(self, fn, head: int, least: int, buf, pos: int, n: int, big: bool, bound: int):
        if n - pos < head:
            return np.empty(0, dtype=np.int64), pos
        cap = (n - pos) // least + 1  # every record takes at least ``least`` bytes
        offs = np.empty(cap, dtype=np.int64)
        at = ctypes.addressof(ctypes.c_char.from_buffer(offs))  # offs.ctypes.data, faster
        end = ctypes.c_int64(pos)
        ptr, _keep = _pointer(buf)
        k = fn(ptr, n, pos, 1 if big else 0, bound, at, cap, ctypes.byref(end))
        return offs[:k], end.value

    def pcapng(self, buf, pos: int, n: int, big: bool, max_block: int):
        """The enhanced packet blocks from ``pos``: (offsets, where the run ends), as
        ``CaptureReader._walk_pcapng``."""
        return self._walk(self._pcapng, 12, 32, buf, pos, n, big, max_block)

    def pcap(self, buf, pos: int, n: int, big: bool, limit: int):
        """The pcap records from ``pos``: (offsets, where the run ends), as
        ``CaptureReader._walk_pcap`` (lengths not swapped)."""
        return self._walk(self._pcap, 16, 16, buf, pos, n, big, limit)

    def _index_test(self) -> bool:
        """The key index on eight keys that all hash to entry 14 of a table of 16: their
        run wraps around the table's end. Each is found; then they are taken out in a
        mixed order (backward shifts across the wrap) with the rest still found."""
        keys = np.zeros((8, 5), dtype=np.uint64)
        keys[:, 0] = [4, 19, 39, 51, 63, 79, 95, 97]  # home 14 at a mask of 15
        table = np.full(16, -1, dtype=np.int64)
        t, k, out = table.ctypes.data, keys.ctypes.data, np.empty(8, dtype=np.int64)
        slots = np.arange(8, dtype=np.int64)
        self.index_insert(t, 15, k, slots.ctypes.data, 8)
        if table.tolist() != [2, 3, 4, 5, 6, 7] + [-1] * 8 + [0, 1]:
            return False
        left = list(range(8))
        for s in (1, 6, 0, 3, 7, 2, 5, 4):
            one = np.array([s], dtype=np.int64)  # kept alive through the call
            self.index_remove(t, 15, k, one.ctypes.data, 1)
            left.remove(s)
            found = self.index_find(t, 15, k, k, 8, out.ctypes.data)
            if found != len(left) or out.tolist() != [i if i in left else -1
                                                      for i in range(8)]:
                return False
        return bool((table == -1).all())

    def self_test(self) -> None:
        """Raise RuntimeError unless the library walks two small buffers right and its key
        index finds, enters and takes out keys right."""
        rec = (b"\0" * 8 + (4).to_bytes(4, "little") * 2 + b"abcd")  # 20 bytes
        offs, end = self.pcap(rec * 2 + rec[:10], 0, 50, False, 100)
        ok = offs.tolist() == [0, 20] and end == 40
        epb = (6).to_bytes(4, "big") + (32).to_bytes(4, "big") + b"\0" * 24
        idb = (1).to_bytes(4, "big") + (20).to_bytes(4, "big") + b"\0" * 12
        offs, end = self.pcapng(b"xx" + epb * 3 + idb, 2, 118, True, 1 << 24)
        ok = ok and offs.tolist() == [2, 34, 66] and end == 98
        ok = ok and self._index_test()
        if not ok:
            raise RuntimeError("the library failed its self-test")


def main(argv: list[str]) -> int:
    """Build the library if needed and say which walk the reader uses; ``--quiet`` (``make
    setup``): only when it is the Python one."""
    said = status()
    if "--quiet" not in argv or _walker is None:
        print(f"tuimon: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
