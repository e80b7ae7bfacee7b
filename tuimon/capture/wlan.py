"""802.11 decoders: data frames to the IP they carry, behind radiotap, Prism or AVS headers.

Same contract as :mod:`tuimon.capture.decode`: ``(buf, off, end)`` in, the decoded tuple
out, never an exception. What Wireshark dissects to IP is decoded the same way: data frames
(QoS or not, three or four addresses, an HT control field, the first subframe of an A-MSDU,
radiotap's data padding) carrying LLC/SNAP. Management and control frames, null data and
protected (encrypted) frames carry no IP that can be read: non-IP.
"""

import struct

from tuimon.capture.decode import NONIP, UNDECODED_RECORD, llc

_U32LE = struct.Struct("<I").unpack_from
_U32BE = struct.Struct(">I").unpack_from
_NO_IP = (NONIP, -1, None, None, None, None, 0)


def _wlan(buf, off, end, datapad):
    if end - off < 2:
        return UNDECODED_RECORD
    fc0, fc1 = buf[off], buf[off + 1]
    if fc0 & 0x0C != 0x08 or fc0 & 0x40 or fc1 & 0x40:  # not data; null data; protected
        return _NO_IP
    hlen = 30 if fc1 & 3 == 3 else 24
    amsdu = False
    if fc0 & 0x80:  # QoS data: a QoS control field, and an HT control field with the order bit
        if end - off < hlen + 2:
            return UNDECODED_RECORD
        amsdu = buf[off + hlen] & 0x80
        hlen += 6 if fc1 & 0x80 else 2
    if datapad:
        hlen = (hlen + 3) & ~3
    off += hlen
    if amsdu:  # the first subframe: destination, source, length, then its LLC header
        off += 14
    if end - off < 0:
        return UNDECODED_RECORD
    return llc(buf, off, end)


def wlan(buf, off, end):
    """An 802.11 frame with no FCS (link type 105)."""
    return _wlan(buf, off, end, False)


def radiotap(buf, off, end):
    """Radiotap (link type 127), little-endian: its flags say whether the frame ends in an
    FCS and whether the 802.11 header is padded to 32 bits."""
    if end - off < 8 or buf[off] != 0:
        return UNDECODED_RECORD
    hlen = buf[off + 2] | buf[off + 3] << 8
    if hlen < 8 or end - off < hlen:
        return UNDECODED_RECORD
    first = word = _U32LE(buf, off + 4)[0]
    p = off + 8
    while word & 0x80000000:  # more presence words; the fields come after them all
        if p + 4 > off + hlen:
            return UNDECODED_RECORD
        word = _U32LE(buf, p)[0]
        p += 4
    flags = 0
    if first & 2:  # the flags field, after the 8-byte TSFT (aligned to 8) when it is there
        if first & 1:
            p = off + ((p - off + 7) & ~7) + 8
        if p < off + hlen:
            flags = buf[p]
    return _wlan(buf, off + hlen, end - 4 if flags & 0x10 else end, flags & 0x20)


def avs(buf, off, end):
    """AVS capture header (link type 163): version, then its length (big-endian)."""
    if end - off < 8:
        return UNDECODED_RECORD
    hlen = _U32BE(buf, off + 4)[0]
    if hlen < 8 or end - off < hlen:
        return UNDECODED_RECORD
    return _wlan(buf, off + hlen, end, False)


def prism(buf, off, end):
    """Prism monitor-mode header (link type 119): a message code and length in the host's
    byte order; an AVS header is found here too, as Wireshark finds it."""
    if end - off < 8:
        return UNDECODED_RECORD
    if _U32BE(buf, off)[0] & 0xFFFFFFF0 == 0x80211000:
        return avs(buf, off, end)
    hlen = _U32LE(buf, off + 4)[0]
    if hlen > 0xFFFF:
        hlen = _U32BE(buf, off + 4)[0]
    if hlen < 8 or end - off < hlen:
        return UNDECODED_RECORD
    return _wlan(buf, off + hlen, end, False)
