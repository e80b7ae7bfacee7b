"""WAN and legacy link decoders: Frame Relay, ATM (RFC 1483 LLC), ARCNET.

Same contract as :mod:`tuimon.capture.decode`. Each follows what Wireshark dissects to IP
on the same link type; Cisco HDLC, the router's other framing, lives in decode.py beside
PPP, which may carry it.
"""

import struct

from tuimon.capture.decode import (
    NONIP,
    UNDECODED_RECORD,
    ethertype,
    ipv4,
    ipv6,
    llc,
)

_U16 = struct.Struct("!H").unpack_from
_NO_IP = (NONIP, -1, None, None, None, None, 0)


def frame_relay(buf, off, end):
    """Frame Relay (link type 107): a Q.922 address (2 to 4 bytes, to the one with its EA bit),
    then RFC 2427's UI control and NLPID (IP, IPv6, SNAP), or Cisco's ethertype."""
    p, last = off, off + 4
    while True:
        if p >= end or p >= last:
            return UNDECODED_RECORD
        p += 1
        if buf[p - 1] & 1:
            break
    if end - p < 2:
        return UNDECODED_RECORD
    if buf[p] != 0x03:  # Cisco encapsulation: an ethertype right after the address
        return ethertype(buf, p + 2, end, _U16(buf, p)[0])
    p += 1
    if buf[p] == 0x00:  # padding before the NLPID
        p += 1
        if p >= end:
            return UNDECODED_RECORD
    nlpid = buf[p]
    if nlpid == 0xCC:
        return ipv4(buf, p + 1, end)
    if nlpid == 0x8E:
        return ipv6(buf, p + 1, end)
    if nlpid == 0x80:  # SNAP: organisation code and ethertype
        if end - p < 6:
            return UNDECODED_RECORD
        if buf[p + 1] == 0 and buf[p + 2] == 0 and buf[p + 3] in (0, 0xF8):
            return ethertype(buf, p + 6, end, _U16(buf, p + 4)[0])
    return _NO_IP


def atm_rfc1483(buf, off, end):
    """ATM RFC 1483 (link type 11): LLC-multiplexed frames."""
    return llc(buf, off, end)


# ARCNET protocol ids with no split flag and sequence number (RFC 1051 IP and ARP,
# diagnostics, BACnet).
_ARC_SHORT = frozenset((0xF0, 0xF1, 0x80, 0xCD))


def _arcnet(buf, off, end, linux):
    p = off + (4 if linux else 2)  # source, destination (Linux: and a 2-byte offset)
    if end - p < 1:
        return UNDECODED_RECORD
    proto = buf[p]
    p += 1
    if proto not in _ARC_SHORT:  # RFC 1201: split flag (an exception packet has 4 more), sequence
        if end - p < 1:
            return UNDECODED_RECORD
        if not linux and buf[p] == 0xFF:
            p += 4
        p += 3
    if proto == 0xD4 or proto == 0xF0:
        return ipv4(buf, p, end)
    if proto == 0xC4:
        return ipv6(buf, p, end)
    return _NO_IP


def arcnet(buf, off, end):
    """ARCNET, BSD style (link type 7)."""
    return _arcnet(buf, off, end, False)


def arcnet_linux(buf, off, end):
    """ARCNET, Linux style (link type 129)."""
    return _arcnet(buf, off, end, True)
