"""LAN stations (IPTraf's "LAN station monitor"): per MAC address, the frames it sent and
received, the VLAN ids they carried and the IP addresses it sent from.

Counted on the packet path with numpy: of a batch's fast rows (numpy columns), only the
bytes that hold the MAC addresses and VLAN tags are read (three 64-bit words a row) and
kept with references to its columns; many batches' rows are then counted at once (at
8,192 rows, or when rows are asked for): the MACs found through a hash table, summed with
``np.bincount``, their (address, source IP address) pairs deduplicated with a sort, so only
pairs not seen before reach Python. Slow rows (record tuples) are read one by one, as the
engine counts them anyway. A station keeps its lowest :data:`ADDRESS_CAP` IP addresses,
whatever their order. Only frames of Ethernet interfaces count, and only their own
(outer) header: Ethernet carried inside a tunnel (VXLAN, GRE's transparent bridging) is not
a station of the link. That is ``tshark -z endpoints,eth`` with those tunnels' dissectors
off: a frame counts as sent by its source address and received by its
destination address (both, when they are equal), broadcast and multicast destinations
included; frames shorter than an Ethernet header count for nobody.

Pure: no files (the vendor names come with the rows, from
:class:`tuimon.core.vendors.Vendors`).
"""

from __future__ import annotations

import heapq

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IPV4, IPV6, NONIP, V6
from tuimon.core.model import StationRow
from tuimon.core.names import address_text

ADDRESS_CAP = 256  # IP addresses kept per station, the lowest (a router's MAC has every remote one)
ADDRESS_SHOWN = 16  # of them listed in its row, the lowest; then "+N more"
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
_NONE = (1 << 64) - 1  # no MAC address (48 bits): a row of another link type
_MIX = np.uint64(0x9E3779B97F4A7C15)  # a MAC times this, its top bits: its hash table slot
_IS_TAG = np.zeros(1 << 16, bool)  # ethertype -> it is a VLAN tag's
_IS_TAG[list(_VLAN_TYPES)] = True
# Fast rows kept before they are counted together (their batches' columns stay referenced
# meanwhile): enough that a batch's share of the numpy calls is small, few enough that
# the arrays stay in the processor's cache (65,536 was slower than a batch at a time)
_PENDING_ROWS = 1 << 13
_PENDING_BATCHES = 1024


def _unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of a small integer array, by a sort and a comparison of neighbours
    (numpy 2's ``np.unique`` hashes every value first: eight times slower here)."""
    s = np.sort(values)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def mac_text(mac: int) -> str:
    """``0x001122334455`` -> ``00:11:22:33:44:55``."""
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


class Station:
    __slots__ = ("tx_p", "tx_b", "rx_p", "rx_b", "vlans", "addrs", "more", "heap")

    def __init__(self) -> None:
        self.tx_p = self.tx_b = self.rx_p = self.rx_b = 0
        self.vlans: set[int] | None = None
        self.addrs: set[int] | None = None
        self.more = False  # addresses seen beyond ADDRESS_CAP
        self.heap: list[int] | None = None  # once more: the kept addresses negated, a heap

    def add_address(self, addr: int) -> None:
        """Keep ``addr``: the station keeps its lowest :data:`ADDRESS_CAP` addresses, so
        which it keeps does not depend on the order they come in."""
        addrs = self.addrs
        if addrs is None:
            self.addrs = {addr}
        elif addr not in addrs:
            if len(addrs) < ADDRESS_CAP:
                addrs.add(addr)
                return
            self.more = True
            heap = self.heap
            if heap is None:
                heap = self.heap = [-a for a in addrs]
                heapq.heapify(heap)
            if addr < -heap[0]:  # the highest kept makes room
                addrs.remove(-heapq.heapreplace(heap, -addr))
                addrs.add(addr)


def _limits(st: Station | None) -> tuple[int, bool]:
    """What the fast path may still hand ``st``: IPv4 addresses below the first value,
    IPv6 addresses at all (the second); no station (another link's rows): nothing."""
    if st is None:
        return 0, False
    if not st.more:
        return 1 << 32, True
    top = -st.heap[0]  # the highest address kept
    return (top if top < 1 << 32 else 1 << 32), top >= V6


def addresses_text(s: Station) -> str:
    """The lowest :data:`ADDRESS_SHOWN` addresses, then how many more: ``+N more``
    (``+240 or more`` when the station's set is full)."""
    if not s.addrs:
        return ""
    kept = sorted(s.addrs)
    text = " ".join(address_text(a) for a in kept[:ADDRESS_SHOWN])
    rest = len(kept) - ADDRESS_SHOWN
    if s.more:
        return f"{text} +{rest} or more"
    return f"{text} +{rest} more" if rest > 0 else text


class Stations:
    """MAC address -> :class:`Station`. ``ingest`` takes the engine's batches and which
    interfaces are Ethernet."""

    def __init__(self) -> None:
        self.table: dict[int, Station] = {}
        # the Protocols view's VLAN rows (the tagged and vlan_frames properties)
        self._tagged = [0, 0]
        self._vlan_frames: dict[int, list[int]] = {}
        # batches of fast rows kept to be counted together (_count_pending): what each
        # needs of its columns, and how many rows they hold
        self._pending: list[tuple] = []
        self._pending_rows = 0
        # the fast path's registry: the MACs seen, sorted (then _NONE), their stations in
        # the same order (then None), the addresses each may still take (_limits), and
        # the (index << 32 | IPv4 address) pairs already handed to them
        self._known = np.zeros(0, np.uint64)
        self._slot = np.zeros(0, np.int64)  # see _ids
        self._shift = np.uint64(64)
        self._order: list = []
        self._limit4 = np.zeros(0, np.uint64)
        self._open6 = np.zeros(0, bool)
        self._seen = np.zeros(0, np.uint64)
        # the fast path's frames and bytes (rows), sent (2 * index in _order) and received
        # (2 * index + 1), not yet added to the stations (_flush)
        self._sums = np.zeros((2, 0), np.int64)

    @property
    def tagged(self) -> list[int]:
        """The tagged frames of Ethernet links: [packets, bytes]."""
        self._count_pending()
        return self._tagged

    @property
    def vlan_frames(self) -> dict[int, list[int]]:
        """VLAN id -> [packets, bytes] of the frames carrying it (a double-tagged frame
        under both ids)."""
        self._count_pending()
        return self._vlan_frames

    def _get(self, mac: int) -> Station:
        s = self.table.get(mac)
        if s is None:
            s = self.table[mac] = Station()
        return s

    def ingest(self, records, ether: list[bool]) -> None:
        """Count a batch: ``ether``, per interface index, whether it is an Ethernet link."""
        if not any(ether):
            return
        if isinstance(records, PacketColumns):
            self._keep(records, ether)
            records = records.slow_recs
        for rec in records:
            iface = rec[0]
            if iface < len(ether) and ether[iface]:
                self._record(rec)

    def _record(self, rec: tuple) -> None:
        _, _, wlen, dec, _, buf, start, end = rec
        if end - start < 14:
            return
        dst = int.from_bytes(buf[start:start + 6], "big")
        src = int.from_bytes(buf[start + 6:start + 12], "big")
        s = self._get(src)
        s.tx_p += 1
        s.tx_b += wlen
        d = self._get(dst)
        d.rx_p += 1
        d.rx_b += wlen
        off = start + 12
        ids = None
        while end - off >= 6 and (buf[off] << 8 | buf[off + 1]) in _VLAN_TYPES:
            vid = (buf[off + 2] << 8 | buf[off + 3]) & 0xFFF
            for st in (s, d):
                if st.vlans is None:
                    st.vlans = {vid}
                else:
                    st.vlans.add(vid)
            if ids is None:
                ids = {vid}
            else:
                ids.add(vid)
            off += 4
        if ids is not None:
            self._tagged[0] += 1
            self._tagged[1] += wlen
            frames = self._vlan_frames
            for vid in ids:
                e = frames.get(vid)
                if e is None:
                    frames[vid] = [1, wlen]
                else:
                    e[0] += 1
                    e[1] += wlen
        if dec[0] > NONIP and dec[2] is not None:
            s.add_address(dec[2])

    def _ids(self, values: np.ndarray) -> np.ndarray:
        """Each MAC's index in :attr:`_order` (new ones registered first): looked up in a
        small hash table of the MACs seen (one multiplication and two gathers a value),
        the few that share a slot by binary search in the sorted MACs."""
        known = self._known
        if len(known):
            at = self._slot[((values * _MIX) >> self._shift).view(np.int64)]
            hit = known[at] == values
            if hit.all():
                return at
            miss = np.flatnonzero(~hit)
            # known ends with _NONE, the highest value: every index is in it
            there = np.searchsorted(known, values[miss])
            if (known[there] == values[miss]).all():
                at[miss] = there
                return at
        new = _unique(values)
        new = new[new != _NONE].tolist()
        self._flush()  # the indices change: what was summed under them goes first
        for mac in new:
            self._get(mac)
        known = np.array(sorted(self.table), np.uint64)
        self._order = [self.table[mac] for mac in known.tolist()]
        self._order.append(None)  # _NONE: a row of another link type
        self._known = known = np.append(known, np.uint64(_NONE))
        # the hash table: 16 slots a MAC or more, each the index of a MAC that falls in it
        bits = max(10, (16 * len(known) - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._slot = np.zeros(1 << bits, np.int64)
        self._slot[((known * _MIX) >> self._shift).view(np.int64)] = np.arange(len(known))
        # what each station may still be handed (_limits); _NONE's rows: nothing
        limits = [_limits(st) for st in self._order]
        self._limit4 = np.array([lim for lim, _ in limits], np.uint64)
        self._open6 = np.array([six for _, six in limits], bool)
        self._seen = np.array(sorted(self._seen_mac_ip()), np.uint64)
        self._sums = np.zeros((2, 2 * len(self._order)), np.int64)
        return np.searchsorted(known, values)

    def _flush(self) -> None:
        """Add what the fast path summed (:attr:`_sums`, by index in :attr:`_order`) to the
        stations; the sums start again at zero."""
        sums = self._sums
        if not sums.any():
            return
        p, b = sums
        order = self._order
        for k in np.flatnonzero(p).tolist():
            st = order[k >> 1]
            if st is None:
                continue
            if k & 1:
                st.rx_p += int(p[k])
                st.rx_b += int(b[k])
            else:
                st.tx_p += int(p[k])
                st.tx_b += int(b[k])
        sums[:] = 0

    def _seen_mac_ip(self):
        """(index in _order) << 32 | IPv4 address, of every station's IPv4 addresses."""
        for i, st in enumerate(self._order):
            if st is not None and st.addrs:
                for a in st.addrs:
                    if a < 1 << 32:
                        yield i << 32 | a

    def _keep(self, batch: PacketColumns, ether: list[bool]) -> None:
        """Keep what the fast rows of Ethernet interfaces need to be counted (no sums
        yet: a batch costs a few numpy calls here, the counting is done for many batches
        at once by :meth:`_count_pending`): the bytes that hold the MAC addresses and VLAN
        tags, read as three big-endian 64-bit words a row, and references to the columns
        of lengths and source addresses."""
        cols = batch.cols
        take = cols["fast"]
        if not (len(ether) == 1 or all(ether)):
            on = np.zeros(max(len(ether), int(cols["iface"].max()) + 1), bool)
            on[:len(ether)] = ether
            take = take & on[cols["iface"]]
        every = take.all()
        if not every and not take.any():
            return
        buf = batch.buf
        starts = cols["start"]
        if not every:  # the others' starts may lie anywhere: read within the buffer
            starts = np.minimum(starts, len(buf) - 20)
        # a view of the batch's bytes as a word at every byte offset: a row's word is one
        # gather; fast rows hold 34 bytes at least
        be = np.ndarray((len(buf) - 7,), ">u8", buf, 0, (1,))
        self._pending.append((None if every else take,
                              be[starts],  # destination, then two bytes of the source
                              be[starts + 4],  # two bytes of the destination, the source
                              be[starts + 12],  # ethertype, tag, ethertype, tag
                              cols["wlen"], cols["kind"], cols["src"], cols["src_hi"]))
        self._pending_rows += len(starts)
        if self._pending_rows >= _PENDING_ROWS or len(self._pending) >= _PENDING_BATCHES:
            self._count_pending()

    def _count_pending(self) -> None:
        """Count the fast rows kept (:meth:`_keep`), all at once: the MAC addresses are
        found among those seen before (a hash table) and summed with ``np.bincount`` into
        numpy sums per station (added to the stations when rows are asked for, or the
        stations' indices change); VLAN ids, and the IP addresses each MAC sent from,
        deduplicated in numpy, so only what is new reaches Python."""
        pending = self._pending
        if not pending:
            return
        self._pending, self._pending_rows = [], 0
        if len(pending) == 1:
            take, w0, w4, w12, wlen, kind, src, src_hi = pending[0]
        else:
            take, w0, w4, w12, wlen, kind, src, src_hi = (
                np.concatenate(x) for x in zip(*((np.ones(len(p[1]), bool) if p[0] is None
                                                   else p[0], *p[1:]) for p in pending)))
            if take.all():
                take = None
        if take is not None:
            w0, w4, w12, wlen, kind, src, src_hi = (
                x[take] for x in (w0, w4, w12, wlen, kind, src, src_hi))
        n = len(w0)
        w0, w4, w12 = w0.astype(np.uint64), w4.astype(np.uint64), w12.astype(np.uint64)
        macs = np.concatenate((w4 & 0xFFFFFFFFFFFF, w0 >> 16))  # source, destination
        ids = self._ids(macs)
        src_id = ids[:n]
        # sent (2 * index) and received (2 * index + 1): packets and bytes, in numpy
        code = ids << 1
        code[n:] += 1
        m2 = self._sums.shape[1]
        self._sums[0] += np.bincount(code, minlength=m2)
        self._sums[1] += np.bincount(code, weights=np.concatenate((wlen, wlen)),
                                     minlength=m2).astype(np.int64)
        # VLAN tags (fast rows have at most two): each station's ids
        tagged = np.flatnonzero(_IS_TAG[(w12 >> 48).view(np.int64)])
        if len(tagged):
            order = self._order
            dst_id = ids[n:]
            tags = w12[tagged]
            two = _IS_TAG[((tags >> 16) & 0xFFFF).view(np.int64)]
            vids = np.concatenate((((tags >> 32) & 0xFFF).view(np.int64),
                                   (tags[two] & 0xFFF).view(np.int64)))
            self._count_tags(wlen[tagged], vids[:len(tagged)], vids[len(tagged):], two)
            at = np.concatenate((tagged, tagged[two]))
            pairs = np.concatenate((src_id[at], dst_id[at])) << 12 | np.concatenate((vids, vids))
            for pair in _unique(pairs).tolist():
                st = order[pair >> 12]
                if st is None:
                    continue
                if st.vlans is None:
                    st.vlans = {pair & 0xFFF}
                else:
                    st.vlans.add(pair & 0xFFF)
        self._senders(src_id, kind, src, src_hi)

    def _count_tags(self, wlen: np.ndarray, first: np.ndarray, second: np.ndarray,
                    two: np.ndarray) -> None:
        """Tagged frames (lengths ``wlen``), their first tag's ids and the second tag's of
        those with two: the frames and bytes of each VLAN id (a frame once per id)."""
        self._tagged[0] += len(wlen)
        self._tagged[1] += int(wlen.sum())
        other = second != first[two]
        ids = np.concatenate((first, second[other]))
        w = np.concatenate((wlen, wlen[two][other]))
        p = np.bincount(ids, minlength=4096)
        b = np.bincount(ids, weights=w, minlength=4096)
        frames = self._vlan_frames
        for vid in np.flatnonzero(p).tolist():
            e = frames.get(vid)
            if e is None:
                frames[vid] = [int(p[vid]), int(b[vid])]
            else:
                e[0] += int(p[vid])
                e[1] += int(b[vid])

    def _senders(self, src_id: np.ndarray, kind: np.ndarray, src: np.ndarray,
                 src_hi: np.ndarray) -> None:
        """The IP address each station sent from, of the fast rows counted: IPv4 (station,
        source address) pairs deduplicated by one sort, those already known dropped
        by a binary search in the sorted pairs seen (the new ones inserted in place, no
        sort of them); IPv6 (station, address) triples by a sort of their own.
        Nothing here is sized by the number of conversations, only by the rows and the
        pairs seen."""
        order = self._order
        pairs = (src_id.astype(np.uint64) << np.uint64(32)) | src
        # a full station takes only addresses below its highest; none, another link's rows
        pairs[(src >= self._limit4[src_id]) | (kind != IPV4)] = _NONE
        pairs = _unique(pairs)
        if pairs[-1] == _NONE:
            pairs = pairs[:-1]
        added = set()
        seen = self._seen
        if len(seen) and len(pairs):
            at = np.searchsorted(seen, pairs)
            new = seen[np.minimum(at, len(seen) - 1)] != pairs
            pairs, at = pairs[new], at[new]
        else:
            at = np.zeros(len(pairs), np.int64)
        if len(pairs):
            for pair in pairs.tolist():
                i = pair >> 32
                order[i].add_address(pair & 0xFFFFFFFF)
                added.add(i)
            self._seen = np.insert(seen, at, pairs)
        six = np.flatnonzero((kind == IPV6) & self._open6[src_id])
        if len(six):  # IPv6 senders: (station, high 64 bits, low 64 bits), in Python once each
            who, hi, lo = src_id[six], src_hi[six], src[six]
            s = np.lexsort((lo, hi, who))
            who, hi, lo = who[s], hi[s], lo[s]
            first = np.ones(len(s), bool)
            first[1:] = (who[1:] != who[:-1]) | (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
            for i, h, low in zip(who[first].tolist(), hi[first].tolist(), lo[first].tolist()):
                order[i].add_address(V6 | h << 64 | low)
                added.add(i)
        for i in added:
            if order[i].more:
                self._limit4[i], self._open6[i] = _limits(order[i])

    def rows(self, vendor=None) -> list[StationRow]:
        """Every station's row; ``vendor``: MAC int -> manufacturer name ("" unknown)."""
        self._count_pending()
        self._flush()
        out = []
        for mac, s in self.table.items():
            addrs = addresses_text(s)
            out.append(StationRow(
                mac_text(mac), vendor(mac) if vendor is not None else "",
                s.tx_p + s.rx_p, s.tx_b + s.rx_b, s.tx_p, s.tx_b, s.rx_p, s.rx_b,
                " ".join(map(str, sorted(s.vlans))) if s.vlans else "", addrs))
        return out
