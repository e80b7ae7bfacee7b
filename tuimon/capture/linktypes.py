"""Link types: the pcap/pcapng link type number -> its name and its decoder.

Also the decoders of the headers that wrap a frame of another link type or a packet: PPI
(an 802.11 or Ethernet frame), Apple's PKTAP (what ``tcpdump -i pktap`` writes on macOS)
and Linux's NFLOG (netfilter's log to user space). Link types missing here are counted, with
all their frames undecoded (docs/usage.md lists which).
"""

import struct

from tuimon.capture.decode import (
    NONIP,
    UNDECODED_RECORD,
    chdlc,
    ether_fast,
    ethertype,
    ipv4,
    ipv6,
    linux_sll,
    linux_sll2,
    loop,
    null_loopback,
    ppp,
    raw_ip,
)
from tuimon.capture.wan import arcnet, arcnet_linux, atm_rfc1483, frame_relay
from tuimon.capture.wlan import avs, prism, radiotap, wlan

_LE16 = struct.Struct("<H").unpack_from
_BE16 = struct.Struct(">H").unpack_from
_PPI = struct.Struct("<HI").unpack_from
_PKTAP = struct.Struct("<III").unpack_from
_NO_IP = (NONIP, -1, None, None, None, None, 0)


def undecodable(buf, off, end):
    return UNDECODED_RECORD


def _wrapped(buf, off, end, dlt):
    """Peel PPI and PKTAP headers (nested too, in a loop: no recursion), then decode the frame
    of the link type the last one names."""
    while True:
        if dlt == 192:  # PPI: version, flags, header length, link type (little-endian)
            if end - off < 8:
                return UNDECODED_RECORD
            hlen, dlt = _PPI(buf, off + 2)
            if hlen < 8:
                return UNDECODED_RECORD
        elif dlt == 149 or dlt == 258:  # PKTAP: header length, record type, link type
            if end - off < 12:
                return UNDECODED_RECORD
            hlen, rectype, dlt = _PKTAP(buf, off)
            if hlen < 108:
                return UNDECODED_RECORD
            if rectype != 1:  # not a packet
                return _NO_IP if end - off >= hlen else UNDECODED_RECORD
        else:
            return LINKTYPES.get(dlt, _UNKNOWN)[1](buf, off, end)
        if end - off < hlen:
            return UNDECODED_RECORD
        off += hlen


def ppi(buf, off, end):
    """PPI (link type 192): its fields are skipped; an 802.11 or Ethernet frame follows."""
    return _wrapped(buf, off, end, 192)


def pktap(buf, off, end):
    """PKTAP (link types 258, and 149 as macOS writes it): only packet records carry a frame."""
    return _wrapped(buf, off, end, 258)


def nflog(buf, off, end):
    """NFLOG (link type 239): address family, version, resource id, then TLVs whose length
    and type are in the capturing host's byte order (told from the first length). The
    payload is read by the packet header's hardware protocol (an ethertype), else by the
    family, as Wireshark reads it."""
    if end - off < 4:
        return UNDECODED_RECORD
    family = buf[off]
    p = off + 4
    u16 = _LE16
    if end - p >= 4:
        le, be = _LE16(buf, p)[0], _BE16(buf, p)[0]
        le_ok, be_ok = 4 <= le <= end - p, 4 <= be <= end - p
        if be_ok and (not le_ok or be < le):
            u16 = _BE16
    hw_protocol, start, stop = 0, -1, -1
    while end - p >= 4:
        tlv_len, tlv_type = u16(buf, p)[0], u16(buf, p + 2)[0] & 0x7FFF
        if tlv_len < 4:
            return _NO_IP
        if tlv_type == 1 and tlv_len == 8 and end - p >= 6:  # packet header
            hw_protocol = _BE16(buf, p + 4)[0]
        elif tlv_type == 9:  # payload
            start, stop = p + 4, min(end, p + tlv_len)
        p += (tlv_len + 3) & ~3
    if start < 0:
        return _NO_IP
    if hw_protocol:
        return ethertype(buf, start, stop, hw_protocol)
    if family == 2:
        return ipv4(buf, start, stop)
    if family == 10:
        return ipv6(buf, start, stop)
    return _NO_IP


LINKTYPES = {
    0: ("null", null_loopback),
    1: ("ether", ether_fast),
    7: ("arcnet", arcnet),
    9: ("ppp", ppp),
    11: ("atm", atm_rfc1483),
    12: ("rawip", raw_ip),
    14: ("rawip", raw_ip),
    50: ("ppp", ppp),
    101: ("rawip", raw_ip),
    104: ("chdlc", chdlc),
    105: ("wlan", wlan),
    107: ("fr", frame_relay),
    108: ("loop", loop),
    113: ("linux-sll", linux_sll),
    119: ("prism", prism),
    127: ("radiotap", radiotap),
    129: ("arcnet", arcnet_linux),
    149: ("pktap", pktap),
    163: ("avs", avs),
    192: ("ppi", ppi),
    228: ("ipv4", raw_ip),
    229: ("ipv6", raw_ip),
    239: ("nflog", nflog),
    258: ("pktap", pktap),
    276: ("linux-sll2", linux_sll2),
}

_UNKNOWN = ("unknown", undecodable)


def decoder_for(linktype: int):
    """The decoder function for a pcap/pcapng link type (unknown ones decode nothing)."""
    return LINKTYPES.get(linktype, _UNKNOWN)[1]


def linktype_name(linktype: int) -> str:
    return LINKTYPES.get(linktype, (f"linktype-{linktype}",))[0]
