"""Decoding a run of pcapng enhanced packet blocks a batch at a time, with numpy.

The reader walks the blocks (a length each: in C when the compiled walk of
:mod:`tuimon.capture.cwalk` is there, else in Python) and hands the run's positions to
:meth:`Builder.add_run`, which reads every block's fixed fields, checks them as the
reader's per-block path does, and for Ethernet frames carrying IPv4 without options
(``ether_fast``'s case) gathers the link, IP and transport fields it needs with one fancy
index: those become *fast* rows of a :class:`~tuimon.capture.columns.PacketColumns`.
The frames it does not cover (other link types and ethertypes, IPv4 options, short
frames, an interface whose direction comes from the link header) are decoded by the
reader's own decoder, one tuple each, as *slow* rows. :meth:`Builder.add_record` adds a
record the reader made itself (any other block) in its place.

What it computes equals the per-block path exactly: the same checks, the timestamp by the
same floating-point operations, the direction by the same MAC comparison. A test feeds
every capture of tests/data through both and compares each record.
"""

from __future__ import annotations

import numpy as np

from tuimon.capture.columns import COLUMNS, PacketColumns
from tuimon.capture.decode import IN, IPV4, IPV6, OUT

# A frame's length as Wireshark shows it at most (frame.len is a signed 32-bit field).
MAX_FRAME_LEN = 0x7FFFFFFF

_MIN_FAST = 34  # frame bytes of the shortest fast row: Ethernet and an IPv4 header
_VLANS = np.array([0x8100, 0x88A8, 0x9100, 0x9200])  # tags the decoder steps over
# what the decoder walks through after an IPv6 header (extension headers, AH, fragment)
_V6_EXT = np.array([0, 43, 60, 135, 139, 140, 253, 254, 51, 44])
_ETYPES = np.array([12, 13, 16, 17, 20, 21])  # the ethertype, after no, one, two tags
_IP4_AT = np.array([0, 2, 3, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18, 19])
_IP6_AT = np.arange(40)
_PORTS_AT = np.array([0, 1, 2, 3, 12, 13])  # ports; TCP data offset (NS) and flags


def _be(cols: np.ndarray) -> np.ndarray:
    """Big-endian unsigned integer from gathered byte columns (most significant first)."""
    v = cols[:, 0].astype(np.uint64)
    for k in range(1, cols.shape[1]):
        v = (v << np.uint64(8)) | cols[:, k]
    return v


def _gather(u8: np.ndarray, at: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """The bytes at ``at + rel`` for each row (clamped to the buffer: a row reads only
    what its checks allow, the rest is never used)."""
    idx = at[:, None] + rel
    np.minimum(idx, len(u8) - 1, out=idx)
    return u8[idx]


def _fast_rows(u8: np.ndarray, cols: dict, cand: np.ndarray, st: np.ndarray,
               cap: np.ndarray, compiled=None) -> None:
    """Mark and fill the fast rows among Ethernet frames ``cand`` (starting at ``st``,
    ``cap`` bytes captured): up to two VLAN tags, then IPv4 (any header length; later
    fragments without ports) or IPv6 without extension headers, whatever the transport
    (ports for TCP and UDP). Exactly the decoders' cases (decode.ether, ethertype, ipv4,
    ipv6, _transport); every other frame stays a slow row."""
    if compiled is not None:  # the same in C (walk.c), where the compiled stage is there
        compiled.fast_rows(u8, cols, cand, st, cap, IPV4, IPV6)
        return
    e = _gather(u8, st, _ETYPES).astype(np.int64)
    e0, e1, e2 = e[:, 0] << 8 | e[:, 1], e[:, 2] << 8 | e[:, 3], e[:, 4] << 8 | e[:, 5]
    v0, v1 = np.isin(e0, _VLANS), np.isin(e1, _VLANS)
    tags = np.where(v0, np.where(v1, 2, 1), 0)
    et = np.where(tags == 0, e0, np.where(tags == 1, e1, e2))
    plain = ~(v0 & v1 & np.isin(e2, _VLANS))  # a third tag: the decoder's
    l3 = 14 + 4 * tags
    room = cap - l3  # bytes from the IP header to the end of the capture
    r4 = np.flatnonzero(plain & (et == 0x0800) & (room >= 20))
    if len(r4):
        _ipv4_rows(u8, cols, cand[r4], st[r4] + l3[r4], room[r4])
    r6 = np.flatnonzero(plain & (et == 0x86DD) & (room >= 40))
    if len(r6):
        _ipv6_rows(u8, cols, cand[r6], st[r6] + l3[r6], room[r6])


def _transport(u8, cols, rows, t, avail, proto, no_ports) -> np.ndarray:
    """Ports and TCP flags of rows whose transport header starts at ``t`` with ``avail``
    bytes of it (as decode._transport); which rows are fast (a TCP or UDP header the
    decoder would read otherwise is left to it)."""
    tcp = ~no_ports & (proto == 6)
    udp = ~no_ports & (proto == 17)
    ported = (tcp & (avail >= 14)) | (udp & (avail >= 4))
    good = ported | ~(tcp | udp)
    p = _gather(u8, t, _PORTS_AT).astype(np.int64)
    fast = rows[good]
    ported = ported[good]
    p = p[good]
    cols["fast"][fast] = True
    cols["ported"][fast] = ported
    cols["proto"][fast] = proto[good]
    cols["sport"][fast] = np.where(ported, p[:, 0] << 8 | p[:, 1], 0)
    cols["dport"][fast] = np.where(ported, p[:, 2] << 8 | p[:, 3], 0)
    cols["flags"][fast] = np.where(ported & tcp[good], (p[:, 4] & 1) << 8 | p[:, 5], 0)
    return good


def _ipv4_rows(u8, cols, rows, at, room) -> None:
    h = _gather(u8, at, _IP4_AT)
    vhl = h[:, 0].astype(np.int64)
    ihl = (vhl & 15) << 2
    total = h[:, 1].astype(np.int64) << 8 | h[:, 2]
    frag = h[:, 3].astype(np.int64) << 8 | h[:, 4]
    proto = h[:, 5].astype(np.int64)
    ok = (vhl >> 4 == 4) & (ihl >= 20) & ((total == 0) | (total >= ihl))
    rows, at, room, h, ihl, total, frag, proto = (
        x[ok] for x in (rows, at, room, h, ihl, total, frag, proto))
    end = np.where((total > 0) & (total < room), total, room)  # link-layer padding cut
    later = (frag & 0x1FFF) != 0  # a later fragment: no transport header
    good = _transport(u8, cols, rows, at + ihl, end - ihl, proto, later)
    fast = rows[good]
    cols["kind"][fast] = IPV4
    cols["src"][fast] = _be(h[good][:, 6:10])
    cols["dst"][fast] = _be(h[good][:, 10:14])


def _ipv6_rows(u8, cols, rows, at, room) -> None:
    h = _gather(u8, at, _IP6_AT)
    ok = (h[:, 0] >> 4) == 6
    nh = h[:, 6].astype(np.int64)
    ok &= ~np.isin(nh, _V6_EXT)
    rows, at, room, h, nh = (x[ok] for x in (rows, at, room, h, nh))
    plen = h[:, 4].astype(np.int64) << 8 | h[:, 5]
    end = np.where((plen > 0) & (40 + plen < room), 40 + plen, room)
    good = _transport(u8, cols, rows, at + 40, end - 40, nh, np.zeros(len(rows), bool))
    fast = rows[good]
    h = h[good]
    cols["kind"][fast] = IPV6
    cols["src_hi"][fast] = _be(h[:, 8:16])
    cols["src"][fast] = _be(h[:, 16:24])
    cols["dst_hi"][fast] = _be(h[:, 24:32])
    cols["dst"][fast] = _be(h[:, 32:40])


class Builder:
    """Collects one call of ``CaptureReader.records()`` into a batch."""

    def __init__(self, compiled=None) -> None:
        """``compiled``: the compiled stage (:class:`tuimon.capture.cwalk.Walker`) that
        decodes the fast rows in C, or None: numpy does."""
        self.compiled = compiled
        self.buf = None  # the buffer of the first run: a batch's fast rows share one
        self.n = 0  # rows so far
        self._segments: list[tuple[int, dict]] = []  # (first row, columns)
        self.slow_rows: list[int] = []  # rows of runs the columns do not cover
        self.slow_recs: list = []
        self._own_rows: list[int] = []  # rows the reader made itself
        self._own_recs: list = []
        self._arrays: tuple | None = None  # (table, its arrays)

    def add_record(self, record: tuple) -> None:
        """A record the reader made itself, in its place."""
        self._own_rows.append(self.n)
        self._own_recs.append(record)
        self.n += 1

    def _claim(self, buf) -> bool:
        """Whether runs of ``buf`` may join the batch (its fast rows share one buffer)."""
        if self.buf is None:
            self.buf = buf
        return buf is self.buf

    def add_run(self, buf, offs, endian: str, table: list[tuple]) -> int:
        """Add the enhanced packet blocks at ``offs`` (a list, or an int64 array: used as
        it is) in ``buf`` (each complete, of a sound length); ``table`` is the reader's
        ``_epb_table()``. Returns how many were added: fewer than given when one fails a
        check the reader's per-block path makes (that block, and the rest, are the
        reader's to parse), none when ``buf`` is not the buffer of the batch's earlier
        runs."""
        nsec = len(table)
        if nsec == 0 or not self._claim(buf):
            return 0
        o = np.asarray(offs, dtype=np.int64)  # the compiled walk's array as it is
        phase = int(o[0]) & 3  # the blocks of one buffer are 4-aligned among themselves
        words = np.frombuffer(buf, dtype=endian + "u4", offset=phase,
                              count=(len(buf) - phase) >> 2)
        q = (o - phase) >> 2
        blen = words[q + 1].astype(np.int64)
        ifid = words[q + 2].astype(np.int64)
        stamp = (words[q + 3].astype(np.uint64) << np.uint64(32)) | words[q + 4]
        caplen = words[q + 5].astype(np.int64)
        orig = words[q + 6].astype(np.int64)
        ifc = np.minimum(ifid, nsec - 1)
        arrays = self._table_arrays(table)
        _, scale, offset, max_len = arrays[:4]
        ok = (ifid < nsec) & (caplen <= blen - 32) & (orig <= MAX_FRAME_LEN) \
            & (28 + ((caplen + 3) & ~3) >= blen - 4) & (caplen <= max_len[ifc])
        k = len(offs) if ok.all() else int(np.argmin(ok))
        if k == 0:
            return 0
        if k < len(offs):
            o, ifc, stamp, caplen, orig = o[:k], ifc[:k], stamp[:k], caplen[:k], orig[:k]
        ts = stamp.astype(np.float64) * scale[ifc] + offset[ifc]
        self._add(buf, ifc, ts, o + 28, caplen, orig, table, arrays)
        return k

    def add_pcap_run(self, buf, offs, endian: str, table: list[tuple]) -> int:
        """Add the pcap records at ``offs`` in ``buf`` (each complete, its captured length
        within the link type's maximum, lengths not swapped); ``table`` is the reader's
        one-interface table. Returns how many were added (as :meth:`add_run`)."""
        if not self._claim(buf):
            return 0
        o = np.asarray(offs, dtype=np.int64)
        u8 = np.frombuffer(buf, dtype=np.uint8)
        head = u8[o[:, None] + np.arange(16)].copy().view(endian + "u4")  # 4 fields a row
        orig = head[:, 3].astype(np.int64)
        ok = orig <= MAX_FRAME_LEN
        k = len(offs) if ok.all() else int(np.argmin(ok))
        if k == 0:
            return 0
        if k < len(offs):
            o, head, orig = o[:k], head[:k], orig[:k]
        arrays = self._table_arrays(table)
        ifc = np.zeros(k, dtype=np.int64)
        # as the per-record path: sec + frac * scale
        ts = head[:, 0].astype(np.float64) + head[:, 1].astype(np.float64) * arrays[1][0]
        self._add(buf, ifc, ts, o + 16, head[:, 2].astype(np.int64), orig, table, arrays)
        return k

    def _add(self, buf, ifc: np.ndarray, ts: np.ndarray, start: np.ndarray,
             caplen: np.ndarray, orig: np.ndarray, table: list, arrays: tuple) -> None:
        """The frames ``buf[start:start + caplen]`` of interfaces ``ifc`` (table rows):
        fast rows where the columns cover them, slow rows by the decoders elsewhere."""
        k = len(ifc)
        index, _, _, _, mode, fast_link, macs = arrays
        end = start + caplen
        way = np.zeros(k, dtype=np.int64)
        m = mode[ifc]
        u8 = np.frombuffer(buf, dtype=np.uint8)
        by_mac = np.flatnonzero((m == 1) & (caplen >= 12))
        if len(by_mac):
            src_mac = u8[start[by_mac, None] + np.arange(6, 12)]
            own = macs[ifc[by_mac]]
            way[by_mac] = np.where((src_mac == own).all(axis=1), OUT, IN)
        cand = np.flatnonzero(fast_link[ifc] & (m != 2) & (caplen >= _MIN_FAST))
        cols = {name: np.zeros(k, dtype=dtype) for name, dtype in COLUMNS.items()}
        cols["iface"] = index[ifc]
        cols["ts"] = ts
        cols["wlen"] = orig
        cols["way"] = way
        cols["start"] = start
        cols["end"] = end
        if len(cand):
            _fast_rows(u8, cols, cand, start[cand], caplen[cand], self.compiled)
        slow = np.flatnonzero(~cols["fast"])
        if len(slow):
            self._slow_rows_of(slow, cols, ifc, table, m)
        self._segments.append((self.n, cols))
        self.n += k

    def _slow_rows_of(self, slow: np.ndarray, cols: dict, ifc: np.ndarray, table: list,
                      mode: np.ndarray) -> None:
        """The rows of a run the columns do not cover: records by the reader's decoder."""
        buf, base = self.buf, self.n
        rows = slow.tolist()
        for r, gi, ts, wlen, way, start, end, i in zip(
                rows, cols["iface"][slow].tolist(), cols["ts"][slow].tolist(),
                cols["wlen"][slow].tolist(), cols["way"][slow].tolist(),
                cols["start"][slow].tolist(), cols["end"][slow].tolist(), ifc[slow].tolist()):
            decode, fn = table[i][4], table[i][5]
            if mode[r] == 2:
                way = fn(buf, start, end)
                cols["way"][r] = way
            self.slow_rows.append(base + r)
            self.slow_recs.append((gi, ts, wlen, decode(buf, start, end), way, buf, start, end))

    def _table_arrays(self, table: list[tuple]):
        """The interface table as arrays indexed by section-local id: global index,
        timestamp scale and offset, longest record, direction mode (0 none, 1 own MAC,
        2 the link header's function), whether the link is our Ethernet decoder, and the
        own MAC (6 bytes, zeros when none)."""
        if self._arrays is not None and self._arrays[0] is table:
            return self._arrays[1]
        index = np.array([t[0] for t in table], dtype=np.int64)
        scale = np.array([t[1] for t in table], dtype=np.float64)
        offset = np.array([t[2] for t in table], dtype=np.int64)
        max_len = np.array([t[3] for t in table], dtype=np.int64)
        mode = np.array([1 if t[6] is not None else 2 if t[5] is not None else 0
                         for t in table], dtype=np.int64)
        fast_link = np.array([t[7] for t in table], dtype=bool)
        macs = np.array([list(t[6]) if t[6] is not None else [0] * 6 for t in table],
                        dtype=np.uint8).reshape(len(table), 6)
        arrays = (index, scale, offset, max_len, mode, fast_link, macs)
        self._arrays = (table, arrays)
        return arrays

    def finish(self):
        """The batch: a :class:`PacketColumns`, or the plain list of records when no row
        is fast."""
        segments = self._segments
        rows, recs = self.slow_rows + self._own_rows, self.slow_recs + self._own_recs
        order = sorted(range(len(rows)), key=rows.__getitem__)
        recs = [recs[i] for i in order]
        if not any(c["fast"].any() for _, c in segments):
            return recs
        n = self.n
        if len(segments) == 1 and not self._own_rows:
            cols = segments[0][1]
        else:
            cols = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
            for first, seg in segments:
                k = len(seg["ts"])
                for name, arr in seg.items():
                    cols[name][first:first + k] = arr
            if self._own_rows:  # what the columns keep of the reader's own records
                at = np.array(self._own_rows, dtype=np.int64)
                own = self._own_recs
                cols["iface"][at] = [rec[0] for rec in own]
                cols["ts"][at] = [rec[1] for rec in own]
                cols["wlen"][at] = [rec[2] for rec in own]
                cols["way"][at] = [rec[4] for rec in own]
        return PacketColumns(self.buf, cols, np.array([rows[i] for i in order], dtype=np.int64),
                             recs, self.compiled)
