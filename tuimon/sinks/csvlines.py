"""conversations.csv's lines written by the compiled stage from the store's columns.

A headless save writes every conversation the engine has, a million lines at times; in
Python (:class:`tuimon.sinks.csv._ConversationLines`) that is about 2 µs a line. walk.c's
``tuimon_csv_conversations`` writes them from the columns
(:meth:`tuimon.core.store.ConversationColumns.arrays`) some twenty times faster, byte for
byte what the csv module writes of the same rows: every text of a line (protocol names,
TCP flags, services, applications, label sources, IPv6 addresses, the state column) is
written once by the csv module itself into a :class:`TextTable` that the C code copies
from; numbers, IPv4 addresses and times are written in C. A row it does not write (a time
before 1970 or past the year 9999, say) is handed back and goes through the Python path.
Without the compiled stage (no C compiler, ``TUIMON_NO_CWALK=1``) the Python path writes
everything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

import numpy as np

from tuimon.capture.cwalk import Walker
from tuimon.capture.decode import V6
from tuimon.core.conversation import tcp_flags_text
from tuimon.core.names import address_text
from tuimon.core.store import APP_SOURCES, ConversationColumns

BUFFER = 1 << 22  # bytes of lines formatted per write
# a line beside its texts: four counts (20 digits each), two ports, two times, two IPv4
# addresses and the commas
_LINE_NUMBERS = 4 * 20 + 2 * 5 + 2 * 27 + 2 * 15 + 16
_TEXTS_A_LINE = 8  # protocol, two IPv6 addresses, flags, service, app, source, the end


def as_cell(text: str) -> str:
    """``text`` as the csv module writes it in a cell of a row of several."""
    buf = io.StringIO()
    csv.writer(buf).writerow(("", text, ""))
    return buf.getvalue()[1:-3]


class TextTable:
    """The texts the C formatter copies into lines, each as the csv module writes it:
    the 256 IP protocol names (``proto_base`` + number), the 512 TCP flag sets
    (``flags_base`` + flags), the store's names (``names_base`` + id), the label sources
    (``src_base`` + index), the line's end (``tail``: the state column), and IPv6
    addresses as rows bring them (:meth:`six`). ``cell``: what a text column's value
    becomes before the csv module writes it (a formula's guard; None is empty)."""

    def __init__(self, ip_protocol: Callable[[int], str], names: list, state: str,
                 cell: Callable) -> None:
        self._entries: list[bytes] = []
        self._addresses: dict[int, int] = {}
        self.proto_base = self._add(as_cell(ip_protocol(p)) for p in range(256))
        self.flags_base = self._add(as_cell(tcp_flags_text(f)) for f in range(512))
        self.names_base = self._add(as_cell(cell(name)) for name in names)
        self.src_base = self._add(as_cell(cell(src)) for src in APP_SOURCES)
        self.tail = self._add(("," + as_cell(state) + "\r\n",))
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def _add(self, texts: Iterable[str]) -> int:
        base = len(self._entries)
        self._entries.extend(t.encode("utf-8") for t in texts)
        self._arrays = None
        return base

    def six(self, keys: np.ndarray) -> np.ndarray:
        """Per row of ``keys`` (five key words each), the entries of its lower and higher
        address when it is IPv6 (-1 for IPv4 rows), as one array of two a row."""
        out = np.full(2 * len(keys), -1, dtype=np.int64)
        rows = np.flatnonzero(keys[:, 0] >> np.uint64(41) & np.uint64(1))
        if len(rows):  # each distinct address once (a host is in many conversations)
            ends = np.empty((2 * len(rows), 2), np.uint64)  # (low, high 64 bits) each
            ends[0::2], ends[1::2] = keys[rows][:, [1, 3]], keys[rows][:, [2, 4]]
            distinct, inv = np.unique(ends, axis=0, return_inverse=True)
            ids = self._addresses
            at = []
            for low, high in distinct.tolist():
                addr = V6 | high << 64 | low
                i = ids.get(addr)
                if i is None:
                    i = ids[addr] = self._add((address_text(addr),))
                at.append(i)
            places = np.empty(2 * len(rows), np.int64)
            places[0::2], places[1::2] = 2 * rows, 2 * rows + 1
            out[places] = np.array(at, np.int64)[inv.reshape(-1)]
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(the texts' bytes, their offsets: entry i is texts[toff[i]:toff[i + 1]])."""
        if self._arrays is None:
            lengths = np.fromiter((len(e) for e in self._entries), dtype=np.int64,
                                  count=len(self._entries))
            toff = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=toff[1:])
            texts = np.frombuffer(b"".join(self._entries) or b"\0", dtype=np.uint8)
            self._arrays = (texts, toff)
        return self._arrays

    def longest_line(self) -> int:
        """Bytes a line takes at most."""
        return _TEXTS_A_LINE * max(len(e) for e in self._entries) + _LINE_NUMBERS


def write_lines(f, walk: Walker, table: TextTable, conversations: ConversationColumns,
                fallback: Callable[[int], None]) -> None:
    """Write the lines of ``conversations`` (in their order) to the open text file ``f``;
    ``fallback(i)`` writes the line of the i-th one the compiled stage does not write."""
    try:
        raw = f.buffer  # a file's bytes beneath its text
    except AttributeError:  # (a StringIO: the lines as text)
        raw = None
    out = np.empty(BUFFER, dtype=np.uint8)
    at = 0
    for cols in conversations.arrays():
        n = len(cols["fwd"])
        cols["service"] += table.names_base
        cols["app"] += table.names_base
        cols["app_src"] += table.src_base
        cols["six"] = table.six(cols["keys"])
        texts, toff = table.arrays()
        maxrow = table.longest_line()
        if len(out) < maxrow:
            out = np.empty(maxrow, dtype=np.uint8)
        r = 0
        while r < n:
            r, used, why = walk.csv_conversations(
                cols, r, texts, toff, (table.proto_base, table.flags_base, table.tail), out,
                maxrow)
            if used and raw is None:
                f.write(out[:used].tobytes().decode("utf-8"))
            elif used:
                f.flush()  # what the text layer holds goes first
                raw.write(out[:used])
            if why == 2:
                fallback(at + r)
                r += 1
        at += n
