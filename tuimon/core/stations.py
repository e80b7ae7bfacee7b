"""LAN stations (IPTraf's "LAN station monitor"): per MAC address, the frames it sent and
received, the VLAN ids they carried and the IP addresses it sent from.

Counted a batch at a time on the packet path: a batch's fast rows (numpy columns) have
their 12 MAC bytes and up to two VLAN tags gathered at once, summed per address with
``np.bincount``, and their (address, source IP address) pairs deduplicated with a sort,
so only pairs not seen before reach Python; slow rows (record tuples) are read one by
one, as the engine counts them anyway. Only frames of Ethernet interfaces count, and only
their own (outer) header: Ethernet carried inside a tunnel (VXLAN, GRE's transparent bridging) is
not a station of the link. That is ``tshark -z endpoints,eth`` with those tunnels'
dissectors off: a frame counts as sent by its source address and received by its
destination address (both, when they are equal), broadcast and multicast destinations
included; frames shorter than an Ethernet header count for nobody.

Pure: no files (the vendor names come with the rows, from
:class:`tuimon.core.vendors.Vendors`).
"""

from __future__ import annotations

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import IPV4, IPV6, NONIP, V6
from tuimon.core.model import StationRow
from tuimon.core.names import address_text

ADDRESS_CAP = 256  # IP addresses kept per station (a router's MAC has every remote one)
ADDRESS_SHOWN = 16  # of them listed in its row, the lowest; then "+N more"
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
_NONE = (1 << 64) - 1  # no MAC address (48 bits): a row of another link type
_MIX = np.uint64(0x9E3779B97F4A7C15)  # a MAC times this, its top bits: its hash table slot
_IS_TAG = np.zeros(1 << 16, bool)  # ethertype -> it is a VLAN tag's
_IS_TAG[list(_VLAN_TYPES)] = True
_TAGS = np.arange(14, 20)  # a tagged frame's: first tag, the next ethertype, second tag


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
    __slots__ = ("tx_p", "tx_b", "rx_p", "rx_b", "vlans", "addrs", "more")

    def __init__(self) -> None:
        self.tx_p = self.tx_b = self.rx_p = self.rx_b = 0
        self.vlans: set[int] | None = None
        self.addrs: set[int] | None = None
        self.more = False  # addresses seen beyond ADDRESS_CAP

    def add_address(self, addr: int) -> None:
        addrs = self.addrs
        if addrs is None:
            self.addrs = {addr}
        elif addr not in addrs:
            if len(addrs) < ADDRESS_CAP:
                addrs.add(addr)
            else:
                self.more = True


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
        # the Protocols view's VLAN rows: tagged frames [packets, bytes], and per VLAN id
        # the frames carrying it (a double-tagged frame under both ids)
        self.tagged = [0, 0]
        self.vlan_frames: dict[int, list[int]] = {}
        # the fast path's registry: the MACs seen, sorted (then _NONE), their stations in
        # the same order (then None), whose address sets are full, and the (index << 32 |
        # IPv4 address) pairs already added
        self._known = np.zeros(0, np.uint64)
        self._slot = np.zeros(0, np.int64)  # see _ids
        self._shift = np.uint64(64)
        self._order: list = []
        self._full = np.zeros(0, bool)
        self._seen = np.zeros(0, np.uint64)
        # the fast path's frames and bytes (rows), sent (2 * index in _order) and received
        # (2 * index + 1), not yet added to the stations (_flush)
        self._sums = np.zeros((2, 0), np.int64)

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
            fast = np.flatnonzero(records.cols["fast"])
            if len(fast):
                self._columns(records, ether, fast)
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
            self.tagged[0] += 1
            self.tagged[1] += wlen
            frames = self.vlan_frames
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
        # _NONE's rows send from no station: "full", so the senders skip them
        self._full = np.array([st is None or st.more for st in self._order])
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

    def _columns(self, batch: PacketColumns, ether: list[bool], rows: np.ndarray) -> None:
        """The fast rows (``rows``, in batch order) of Ethernet interfaces, a batch at a
        time: the MAC addresses are found among those seen before by binary search and
        summed with ``np.bincount`` into numpy sums per station (added to the stations
        when rows are asked for, or the stations' indices change); VLAN ids, and the IP
        addresses each MAC sent from, deduplicated in numpy, so only what is new reaches
        Python."""
        cols = batch.cols
        n = len(rows)
        buf = batch.buf
        starts = cols["start"][rows]
        # destination, source, ethertype and two more bytes (fast rows hold 34 at least),
        # read as two big-endian 64-bit words: a view of the batch's bytes as a word at
        # every byte offset, so a row's word is one gather (not eight)
        be = np.ndarray((len(buf) - 7,), ">u8", buf, 0, (1,))
        w0, w1 = be[starts].astype(np.uint64), be[starts + 8].astype(np.uint64)
        macs = np.concatenate((((w0 & 0xFFFF) << 32) | (w1 >> 32), w0 >> 16))  # src, dst
        mixed = not (len(ether) == 1 or all(ether))
        if mixed:
            on = np.zeros(max(len(ether), int(cols["iface"].max()) + 1), bool)
            on[:len(ether)] = ether
            off = np.flatnonzero(~on[cols["iface"][rows]])
            macs[off] = _NONE
            macs[off + n] = _NONE
        ids = self._ids(macs)
        src_id = ids[:n]
        wlen = cols["wlen"][rows]
        # sent (2 * index) and received (2 * index + 1): packets and bytes, in numpy
        code = ids << 1
        code[n:] += 1
        m2 = self._sums.shape[1]
        self._sums[0] += np.bincount(code, minlength=m2)
        self._sums[1] += np.bincount(code, weights=np.concatenate((wlen, wlen)),
                                     minlength=m2).astype(np.int64)
        # VLAN tags (fast rows have at most two): each station's ids
        is_tag = _IS_TAG[((w1 >> 16) & 0xFFFF).view(np.int64)]  # the ethertype after the MACs
        if is_tag.any():
            order = self._order
            dst_id = ids[n:]
            tagged = np.flatnonzero(is_tag & (macs[:n] != _NONE) if mixed else is_tag)
            tags = np.frombuffer(buf, np.uint8)[starts[tagged][:, None] + _TAGS].astype(np.int64)
            e1 = tags[:, 2] << 8 | tags[:, 3]
            two = (e1 == 0x8100) | (e1 == 0x88A8) | (e1 == 0x9100) | (e1 == 0x9200)
            vids = np.concatenate(((tags[:, 0] << 8 | tags[:, 1]) & 0xFFF,
                                   ((tags[:, 4] << 8 | tags[:, 5]) & 0xFFF)[two]))
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
        self._senders(cols, rows, src_id)

    def _count_tags(self, wlen: np.ndarray, first: np.ndarray, second: np.ndarray,
                    two: np.ndarray) -> None:
        """Tagged frames (lengths ``wlen``), their first tag's ids and the second tag's of
        those with two: the frames and bytes of each VLAN id (a frame once per id)."""
        self.tagged[0] += len(wlen)
        self.tagged[1] += int(wlen.sum())
        other = second != first[two]
        ids = np.concatenate((first, second[other]))
        w = np.concatenate((wlen, wlen[two][other]))
        p = np.bincount(ids, minlength=4096)
        b = np.bincount(ids, weights=w, minlength=4096)
        frames = self.vlan_frames
        for vid in np.flatnonzero(p).tolist():
            e = frames.get(vid)
            if e is None:
                frames[vid] = [int(p[vid]), int(b[vid])]
            else:
                e[0] += int(p[vid])
                e[1] += int(b[vid])

    def _senders(self, cols: dict, rows: np.ndarray, src_id: np.ndarray) -> None:
        """The IP address each station sent from, of a batch's fast rows: IPv4 (station,
        source address) pairs deduplicated by one sort, those already known dropped
        by a binary search in the sorted pairs seen (the new ones inserted in place, no
        sort of them); IPv6 (station, address) triples by a sort of their own.
        Nothing here is sized by the number of conversations, only by the batch's rows and
        the pairs seen."""
        order = self._order
        full = self._full[src_id]  # stations with a full set (or none): nothing to add
        kind = cols["kind"][rows]
        pairs = (src_id.astype(np.uint64) << np.uint64(32)) | cols["src"][rows]
        pairs[full | (kind != IPV4)] = _NONE
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
        six = np.flatnonzero((kind == IPV6) & ~full)
        if len(six):  # IPv6 senders: (station, high 64 bits, low 64 bits), in Python once each
            on = rows[six]
            who, hi, lo = src_id[six], cols["src_hi"][on], cols["src"][on]
            s = np.lexsort((lo, hi, who))
            who, hi, lo = who[s], hi[s], lo[s]
            first = np.ones(len(s), bool)
            first[1:] = (who[1:] != who[:-1]) | (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
            for i, h, low in zip(who[first].tolist(), hi[first].tolist(), lo[first].tolist()):
                order[i].add_address(V6 | h << 64 | low)
                added.add(i)
        full = [i for i in added if order[i].more]
        if full:
            self._full[full] = True

    def rows(self, vendor=None) -> list[StationRow]:
        """Every station's row; ``vendor``: MAC int -> manufacturer name ("" unknown)."""
        self._flush()
        out = []
        for mac, s in self.table.items():
            addrs = addresses_text(s)
            out.append(StationRow(
                mac_text(mac), vendor(mac) if vendor is not None else "",
                s.tx_p + s.rx_p, s.tx_b + s.rx_b, s.tx_p, s.tx_b, s.rx_p, s.rx_b,
                " ".join(map(str, sorted(s.vlans))) if s.vlans else "", addrs))
        return out
