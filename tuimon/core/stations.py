"""LAN stations (IPTraf's "LAN station monitor"): per MAC address, the frames it sent and
received, the VLAN ids they carried and the IP addresses it sent from.

Counted a batch at a time on the packet path: a batch's fast rows (numpy columns) have
their 12 MAC bytes and up to two VLAN tags gathered at once, summed per address with
``np.unique``/``np.bincount``; slow rows (record tuples) are read one by one, as the
engine counts them anyway. Only frames of Ethernet interfaces count, and only their own
(outer) header: Ethernet carried inside a tunnel (VXLAN, GRE's transparent bridging) is
not a station of the link. That is ``tshark -z endpoints,eth`` with those tunnels'
dissectors off: a frame counts as sent by its source address and received by its
destination address (both, when they are equal), broadcast and multicast destinations
included; frames shorter than an Ethernet header count for nobody.

Pure: no files (the vendor names come with the rows, from
:class:`tuimon.core.vendors.Vendors`).
"""

from __future__ import annotations

import numpy as np

from tuimon.capture.columns import PacketColumns, addresses
from tuimon.capture.decode import IPV4, IPV6, NONIP
from tuimon.capture.vector import _be, _gather
from tuimon.core.model import StationRow
from tuimon.core.names import address_text

ADDRESS_CAP = 256  # IP addresses kept per station (a router's MAC has every remote one)
ADDRESS_SHOWN = 16  # of them listed in its row, the lowest; then "+N more"
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100, 0x9200)
_VLANS = np.array(_VLAN_TYPES)
_HEAD = np.arange(20)  # destination, source, then two (ethertype, tag) pairs


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

    def _get(self, mac: int) -> Station:
        s = self.table.get(mac)
        if s is None:
            s = self.table[mac] = Station()
        return s

    def ingest(self, records, ether: list[bool]) -> None:
        if not any(ether):
            return
        if isinstance(records, PacketColumns):
            self._columns(records, ether)
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
        while end - off >= 6 and (buf[off] << 8 | buf[off + 1]) in _VLAN_TYPES:
            vid = (buf[off + 2] << 8 | buf[off + 3]) & 0xFFF
            for st in (s, d):
                if st.vlans is None:
                    st.vlans = {vid}
                else:
                    st.vlans.add(vid)
            off += 4
        if dec[0] > NONIP and dec[2] is not None:
            s.add_address(dec[2])

    def _columns(self, batch: PacketColumns, ether: list[bool]) -> None:
        """The fast rows of Ethernet interfaces, a batch at a time."""
        cols = batch.cols
        fast = cols["fast"]
        if len(ether) == 1 or all(ether):
            rows = np.flatnonzero(fast)
        else:
            on = np.zeros(max(len(ether), int(cols["iface"].max()) + 1), bool)
            on[:len(ether)] = ether
            rows = np.flatnonzero(fast & on[cols["iface"]])
        if not len(rows):
            return
        u8 = np.frombuffer(batch.buf, np.uint8)
        head = _gather(u8, cols["start"][rows], _HEAD)
        dst, src = _be(head[:, 0:6]), _be(head[:, 6:12])
        wlen = cols["wlen"][rows]
        self._sums(src, wlen, True)
        self._sums(dst, wlen, False)
        # VLAN tags (fast rows have at most two): each station's ids
        e0 = head[:, 12].astype(np.int64) << 8 | head[:, 13]
        t0 = np.isin(e0, _VLANS)
        if t0.any():
            e1 = head[:, 16].astype(np.int64) << 8 | head[:, 17]
            t1 = t0 & np.isin(e1, _VLANS)
            v0 = (head[:, 14].astype(np.int64) << 8 | head[:, 15]) & 0xFFF
            v1 = (head[:, 18].astype(np.int64) << 8 | head[:, 19]) & 0xFFF
            for tagged, vid in ((t0, v0), (t1, v1)):
                for mac_col in (src, dst):
                    pairs = np.unique((mac_col[tagged] << np.uint64(12)) | vid[tagged].astype(np.uint64))
                    for pair in pairs.tolist():
                        st = self._get(pair >> 12)
                        if st.vlans is None:
                            st.vlans = {pair & 0xFFF}
                        else:
                            st.vlans.add(pair & 0xFFF)
        # the IP addresses each station sent from (IPv4 in numpy, IPv6 the few there are)
        kind = cols["kind"][rows]
        v4 = kind == IPV4
        if v4.any():
            macs, inv = np.unique(src[v4], return_inverse=True)
            pairs = np.unique((inv.astype(np.uint64) << np.uint64(32)) | cols["src"][rows][v4])
            macs = macs.tolist()
            for pair in pairs.tolist():
                self._get(macs[pair >> 32]).add_address(pair & 0xFFFFFFFF)
        v6 = np.flatnonzero(kind == IPV6)
        if len(v6):
            srcs, _ = addresses(cols, rows[v6])
            for mac, addr in set(zip(src[v6].tolist(), srcs)):
                self._get(mac).add_address(addr)

    def _sums(self, macs: np.ndarray, wlen: np.ndarray, sent: bool) -> None:
        uniq, inv = np.unique(macs, return_inverse=True)
        packets = np.bincount(inv).tolist()
        nbytes = np.bincount(inv, weights=wlen).tolist()
        get = self._get
        for mac, p, b in zip(uniq.tolist(), packets, nbytes):
            s = get(mac)
            if sent:
                s.tx_p += p
                s.tx_b += int(b)
            else:
                s.rx_p += p
                s.rx_b += int(b)

    def rows(self, vendor=None) -> list[StationRow]:
        """Every station's row; ``vendor``: MAC int -> manufacturer name ("" unknown)."""
        out = []
        for mac, s in self.table.items():
            addrs = addresses_text(s)
            out.append(StationRow(
                mac_text(mac), vendor(mac) if vendor is not None else "",
                s.tx_p + s.rx_p, s.tx_b + s.rx_b, s.tx_p, s.tx_b, s.rx_p, s.rx_b,
                " ".join(map(str, sorted(s.vlans))) if s.vlans else "", addrs))
        return out
