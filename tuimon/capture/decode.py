"""Fast packet decoder: link layer to the outermost IP header and its transport ports.

A decoder takes ``(buf, off, end)`` -- the frame is ``buf[off:end]``, no copy -- and
returns a tuple ``(kind, proto, src, dst, sport, dport, flags)``:

* ``kind``: ``IPV4``, ``IPV6``, ``NONIP`` (a valid frame that carries no IP: ARP, LLDP...)
  or ``UNDECODED`` (truncated, unknown link type, garbage).
* ``proto``: the IP protocol number of the outermost IP header (after IPv6 extension
  headers); for ``NONIP`` frames the ethertype (or -1 when there is none).
* ``src``/``dst``: addresses as ints; IPv6 ones carry the ``V6`` bit so they never equal
  an IPv4 address.
* ``sport``/``dport``: TCP/UDP ports, ``None`` when the packet has none (other protocols,
  IP fragments other than the first, transport header cut off).
* ``flags``: TCP flags (9 bits, NS included), else 0.

Every branch is bounds-checked: no frame makes a decoder raise.

Direction (``IN``/``OUT``, ``UNKNOWN`` = 0) is not part of the decoded tuple: the reader
finds it from the link header (:func:`sll_way`, :func:`sll2_way`, :func:`mac_way`) or the
pcapng packet block's ``epb_flags`` and puts it in the packet record.
"""

import struct

UNDECODED = 0
NONIP = 1
IPV4 = 4
IPV6 = 6

V6 = 1 << 128  # marks an IPv6 address int

TCP = 6
UDP = 17

UNDECODED_RECORD = (UNDECODED, -1, None, None, None, None, 0)

# Direction of a frame on its interface, as a packet record carries it.
UNKNOWN = 0
IN = 1
OUT = 2

_IP4 = struct.Struct("!BBHHHBBHII").unpack_from
_IP6 = struct.Struct("!IHBBQQQQ").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
_U16 = struct.Struct("!H").unpack_from

# IPv6 extension headers we skip to reach the transport header.
_V6_EXT = frozenset((0, 43, 60, 135, 139, 140, 253, 254))
_VLAN = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
# Arista's timestamp header: version -> timestamp size (64-bit or 48-bit, TAI or UTC).
_ARISTA_STAMP = {0x0010: 8, 0x0110: 8, 0x0020: 6, 0x0120: 6}


def _transport(buf, t, end, kind, proto, src, dst):
    if proto == TCP:
        if end - t >= 14:
            sport, dport = _PORTS(buf, t)
            return (kind, proto, src, dst, sport, dport, ((buf[t + 12] & 1) << 8) | buf[t + 13])
    elif proto != UDP:
        return (kind, proto, src, dst, None, None, 0)
    if end - t >= 4:
        sport, dport = _PORTS(buf, t)
        return (kind, proto, src, dst, sport, dport, 0)
    return (kind, proto, src, dst, None, None, 0)


def ipv4(buf, off, end):
    if end - off < 20:
        return UNDECODED_RECORD
    vhl, _, total, _, frag, _, proto, _, src, dst = _IP4(buf, off)
    if vhl >> 4 != 4:
        return ipv6(buf, off, end) if vhl >> 4 == 6 else UNDECODED_RECORD
    ihl = (vhl & 15) << 2
    if ihl < 20 or (total and total < ihl):
        return UNDECODED_RECORD
    if total and off + total < end:
        end = off + total  # drop link-layer padding
    if frag & 0x1FFF:  # not the first fragment: no transport header here
        return (IPV4, proto, src, dst, None, None, 0)
    return _transport(buf, off + ihl, end, IPV4, proto, src, dst)


def ipv6(buf, off, end):
    if end - off < 40:
        return UNDECODED_RECORD
    vfl, plen, nh, _, sh, sl, dh, dl = _IP6(buf, off)
    if vfl >> 28 != 6:
        return UNDECODED_RECORD
    src = V6 | (sh << 64) | sl
    dst = V6 | (dh << 64) | dl
    if plen and off + 40 + plen < end:
        end = off + 40 + plen
    t = off + 40
    while True:
        if nh in _V6_EXT:
            if end - t < 2:
                return (IPV6, nh, src, dst, None, None, 0)
            nxt, hlen = buf[t], (buf[t + 1] + 1) << 3
        elif nh == 51:  # AH counts in 4-byte units
            if end - t < 2:
                return (IPV6, nh, src, dst, None, None, 0)
            nxt, hlen = buf[t], (buf[t + 1] + 2) << 2
        elif nh == 44:  # fragment header
            if end - t < 8:
                return (IPV6, nh, src, dst, None, None, 0)
            nxt = buf[t]
            if _U16(buf, t + 2)[0] & 0xFFF8:
                return (IPV6, nxt, src, dst, None, None, 0)
            hlen = 8
        else:
            return _transport(buf, t, end, IPV6, nh, src, dst)
        nh = nxt
        t += hlen


def ethertype(buf, off, end, etype):
    """Decode what follows an ethertype, through VLAN tags, MPLS and PPPoE."""
    while True:
        if etype == 0x0800:
            return ipv4(buf, off, end)
        if etype == 0x86DD:
            return ipv6(buf, off, end)
        if etype in _VLAN:
            if end - off < 4:
                return UNDECODED_RECORD
            etype = _U16(buf, off + 2)[0]
            off += 4
        elif etype == 0x8847 or etype == 0x8848:  # MPLS label stack
            while True:
                if end - off < 4:
                    return UNDECODED_RECORD
                bottom = buf[off + 2] & 1
                off += 4
                if bottom:
                    break
            if end - off < 1:
                return UNDECODED_RECORD
            version = buf[off] >> 4
            if version == 4:
                return ipv4(buf, off, end)
            if version == 6:
                return ipv6(buf, off, end)
            return (NONIP, etype, None, None, None, None, 0)
        elif etype == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol
            if end - off < 8:
                return UNDECODED_RECORD
            return ppp_protocol(buf, off + 8, end, _U16(buf, off + 6)[0])
        elif etype == 0x8903:  # Cisco FabricPath: FTag and TTL, then the whole inner frame
            if end - off < 16:
                return UNDECODED_RECORD
            etype = _U16(buf, off + 14)[0]
            if etype < 0x0600 or etype == 0x8903:  # 802.3 inside; nested FabricPath
                return (NONIP, -1, None, None, None, None, 0)
            off += 16
        elif etype == 0xD28B:  # Arista: subtype, version, a timestamp, the frame's ethertype
            if end - off < 4 or _U16(buf, off)[0] != 1:
                return (NONIP, etype, None, None, None, None, 0)
            size = _ARISTA_STAMP.get(_U16(buf, off + 2)[0])
            if size is None:
                return (NONIP, etype, None, None, None, None, 0)
            off += 4 + size
            if end - off < 2:
                return UNDECODED_RECORD
            etype = _U16(buf, off)[0]
            off += 2
        else:
            return (NONIP, etype, None, None, None, None, 0)


def ppp_protocol(buf, off, end, proto):
    if proto == 0x0021:
        return ipv4(buf, off, end)
    if proto == 0x0057:
        return ipv6(buf, off, end)
    return (NONIP, -1, None, None, None, None, 0)


# The common case read at once: Ethernet, IPv4 without options (TCP, UDP, ICMP...). From the
# ethertype (frame offset 12) to the TCP flags (offset 47): ethertype, version/IHL, total
# length, fragment field, protocol, addresses, ports, TCP data offset byte, TCP flags.
ETHER_IPV4 = struct.Struct("!HBxHxxHxBxxIIHH8xBB").unpack_from
ETHER_IPV4_LEN = 48  # frame bytes it needs


def ether_fast(buf, off, end):
    """:func:`ether`, with the common case read by one unpack (the reader inlines this)."""
    if end - off >= 48:
        etype, vhl, total, frag, proto, src, dst, sport, dport, doff, fl = ETHER_IPV4(buf, off + 12)
        if etype == 0x0800 and vhl == 0x45:
            if frag & 0x1FFF:  # a later fragment: no ports
                if total == 0 or total >= 20:
                    return (IPV4, proto, src, dst, None, None, 0)
            elif proto == 6:
                if total == 0 or total >= 34:
                    return (IPV4, 6, src, dst, sport, dport, (doff & 1) << 8 | fl)
            elif proto == 17:
                if total == 0 or total >= 24:
                    return (IPV4, 17, src, dst, sport, dport, 0)
            elif total == 0 or total >= 20:  # ICMP and the rest: no ports
                return (IPV4, proto, src, dst, None, None, 0)
    return ether(buf, off, end)


def ether(buf, off, end):
    if end - off < 14:
        return UNDECODED_RECORD
    etype = _U16(buf, off + 12)[0]
    if etype < 0x0600:  # 802.3 length field: LLC (SNAP may carry IP), STP...
        return llc(buf, off + 14, end)
    return ethertype(buf, off + 14, end, etype)


def llc(buf, off, end):
    """802.2 LLC: a SNAP header with an ethertype (organisation code 0, or 0x0000F8 for
    bridge tunnels) leads on to it; other saps carry no IP."""
    if (end - off >= 8 and buf[off] == 0xAA and buf[off + 1] == 0xAA and buf[off + 2] == 0x03
            and buf[off + 3] == 0 and buf[off + 4] == 0 and buf[off + 5] in (0, 0xF8)):
        return ethertype(buf, off + 8, end, _U16(buf, off + 6)[0])
    return (NONIP, -1, None, None, None, None, 0)


def linux_sll(buf, off, end):
    if end - off < 16:
        return UNDECODED_RECORD
    return _sll_payload(buf, off + 16, end, _U16(buf, off + 2)[0], _U16(buf, off + 14)[0])


def linux_sll2(buf, off, end):
    if end - off < 20:
        return UNDECODED_RECORD
    return _sll_payload(buf, off + 20, end, _U16(buf, off + 8)[0], _U16(buf, off)[0])


def _sll_payload(buf, off, end, arphrd, proto):
    if arphrd == 824 or proto < 0x0600:  # netlink; 802.2/802.3 frames, CAN...
        return (NONIP, -1, None, None, None, None, 0)
    return ethertype(buf, off, end, proto)


def sll_way(buf, off, end):
    """Linux cooked capture v1: packet type (2 bytes) 4 is outgoing; host, broadcast,
    multicast and other-host frames came in."""
    if end - off < 2:
        return UNKNOWN
    return OUT if buf[off + 1] == 4 and buf[off] == 0 else IN


def sll2_way(buf, off, end):
    """Linux cooked capture v2: the packet type is the byte at offset 10."""
    if end - off < 11:
        return UNKNOWN
    return OUT if buf[off + 10] == 4 else IN


def mac_way(mac: bytes):
    """Ethernet on a live interface whose own address is ``mac``: a frame from that address
    went out, every other frame came in (what iftop and IPTraf do)."""

    def way(buf, off, end):
        if end - off < 12:
            return UNKNOWN
        return OUT if buf[off + 6 : off + 12] == mac else IN

    return way


LINK_WAYS = {113: sll_way, 276: sll2_way}


def raw_ip(buf, off, end):
    if end - off < 1:
        return UNDECODED_RECORD
    version = buf[off] >> 4
    if version == 4:
        return ipv4(buf, off, end)
    if version == 6:
        return ipv6(buf, off, end)
    return UNDECODED_RECORD


def null_loopback(buf, off, end):
    """BSD loopback: a 4-byte address family in the byte order of the capturing host."""
    if end - off < 4:
        return UNDECODED_RECORD
    family = int.from_bytes(buf[off : off + 4], "little")
    if family > 0xFFFF:
        family = int.from_bytes(buf[off : off + 4], "big")
    if family == 2:
        return ipv4(buf, off + 4, end)
    if family in (10, 23, 24, 28, 30):
        return ipv6(buf, off + 4, end)
    return (NONIP, -1, None, None, None, None, 0)


def loop(buf, off, end):
    """OpenBSD loopback: the address family in network byte order."""
    if end - off < 4:
        return UNDECODED_RECORD
    family = int.from_bytes(buf[off : off + 4], "big")
    if family == 2:
        return ipv4(buf, off + 4, end)
    if family in (10, 23, 24, 28, 30):
        return ipv6(buf, off + 4, end)
    return (NONIP, -1, None, None, None, None, 0)


def chdlc(buf, off, end):
    """Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control, then an ethertype."""
    if end - off < 4:
        return UNDECODED_RECORD
    return ethertype(buf, off + 4, end, _U16(buf, off + 2)[0])


def ppp(buf, off, end):
    if end - off < 2:
        return UNDECODED_RECORD
    if buf[off] == 0x0F or buf[off] == 0x8F:  # Cisco HDLC framing, as Wireshark reads it
        return chdlc(buf, off, end)
    if buf[off] == 0xFF and buf[off + 1] == 0x03:  # HDLC address and control
        off += 2
    if end - off < 1:
        return UNDECODED_RECORD
    if buf[off] & 1:  # protocol field compressed to one byte
        return ppp_protocol(buf, off + 1, end, buf[off])
    if end - off < 2:
        return UNDECODED_RECORD
    return ppp_protocol(buf, off + 2, end, _U16(buf, off)[0])
