"""Streaming pcap and pcapng reader, fed with bytes as they arrive (file chunks or a pipe).

``CaptureReader.feed(data)`` buffers bytes; ``CaptureReader.records()`` parses every complete
record in the buffer, decodes it in place (no copy of the frame) and returns a list of
packet records ``(iface, ts, wire_len, decoded, way, buf, start, end)`` -- see
:mod:`tuimon.capture.decode`.
``way`` is the frame's direction: ``IN``, ``OUT`` or 0 (unknown). It comes from the pcapng
packet block's ``epb_flags`` when it has them, else from the link header (Linux cooked
capture's packet type), else -- Ethernet on a live interface, given its own MAC address --
from the frame's source address. The frame's captured bytes are ``buf[start:end]``: a
reference into the chunk it was parsed from, not a copy (only the few frames handed to the
application-protocol dissector are ever sliced).
Only the unparsed tail of the buffer is kept, so a file of any size streams through.

Damage is counted, never raised: records that cannot be parsed are reported in
``skipped`` (reason -> count) and reading stops where the file stops making sense.
Only a stream that is not a capture at all raises :class:`BadCaptureFile`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tuimon.capture import cwalk
from tuimon.capture.decode import (
    ETHER_IPV4,
    IN,
    IPV4,
    LINK_WAYS,
    OUT,
    UNKNOWN,
    ether,
    ether_fast,
    mac_way,
)
from tuimon.capture.linktypes import decoder_for, linktype_name
from tuimon.capture.vector import MAX_FRAME_LEN, Builder
from tuimon.errors import BadCaptureFile
from tuimon.text import printable

# The longest record Wireshark reads, whatever the snapshot length says
# (wtap_max_snaplen_for_encap: WTAP_MAX_PACKET_SIZE_STANDARD, and the few link types with
# their own maximum). A longer one means the file is damaged: reading stops there, as in
# Wireshark. This also bounds what one record can make the reader hold.
MAX_RECORD = 262144
_MAX_RECORD_OF = {231: 128 * 1024 * 1024,  # D-Bus
                  249: 128 * 1024 * 1024,  # USBPcap
                  279: 8 * 1024 * 1024}  # EBHSCR
MAX_BLOCK = 16 * 1024 * 1024
# A frame's length as Wireshark shows it at most is MAX_FRAME_LEN (in vector.py, which
# checks it too): a record that claims more (up to 0xFFFFFFFF) is counted with this length.
FRAME_LEN_CAPPED = "frame length above 2147483647 (counted as 2147483647, as Wireshark)"
TOO_LONG = "record longer than the link type's maximum (file damaged)"
# The smallest total length of each pcapng block type: its fixed fields, header and trailer.
_MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 5: 24, 6: 32}

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_SHB = b"\x0a\x0d\x0d\x0a"
# An enhanced packet block's header and fixed fields: type, length, interface id,
# timestamp (high, low), captured and original lengths.
_EPB = {e: struct.Struct(e + "IIIIIII").unpack_from for e in "<>"}
_HEAD = {e: struct.Struct(e + "II").unpack_from for e in "<>"}  # a block's type and length
_INCL = {e: struct.Struct(e + "I").unpack_from for e in "<>"}  # a pcap record's captured length
_MIN_RUN = 16  # packet blocks in a row worth decoding as columns
# Bytes left in the buffer below which the Python walk is the faster (a few records: the
# compiled walk's call costs about as much as walking 20 of them in Python).
_CWALK_FROM = 2048


CAPTURE_MAGICS = (_SHB, *_PCAP_MAGIC)


def is_capture_magic(head: bytes) -> bool:
    """Whether the first four bytes of a file are those of a pcap or pcapng capture."""
    return head[:4] == _SHB or head[:4] in _PCAP_MAGIC


def max_record(linktype: int) -> int:
    """The longest record Wireshark reads for this link type."""
    return _MAX_RECORD_OF.get(linktype, MAX_RECORD)


@dataclass
class Interface:
    """One capture interface: a pcap file, or one pcapng interface description block."""

    index: int
    linktype: int
    name: str
    snaplen: int = 0
    scale: float = 1e-6  # seconds per timestamp unit
    offset: int = 0  # seconds added to every timestamp (pcapng if_tsoffset)
    description: str = ""
    drops: int | None = None  # packets dropped by the capture, when the file says
    decoder: object = field(default=None, repr=False)
    way: object = field(default=None, repr=False)  # (buf, off, end) -> direction, or None
    direction: str = ""  # where the direction comes from: "", "link header", "mac", "epb_flags"
    max_len: int = MAX_RECORD  # the longest record Wireshark reads for this link type

    def __post_init__(self) -> None:
        self.max_len = max_record(self.linktype)

    @property
    def link(self) -> str:
        return linktype_name(self.linktype)


def _scale_from_tsresol(value: int) -> float:
    if value & 0x80:
        return 2.0 ** -(value & 0x7F)
    return 10.0 ** -value


class CaptureReader:
    """Incremental pcap/pcapng parser and decoder."""

    def __init__(self, source_name: str = "capture", first_index: int = 0,
                 own_mac: bytes | None = None, columns: bool = False) -> None:
        """``first_index``: the engine-wide index of this stream's first interface (several
        live captures each have their own reader). ``own_mac``: the live interface's own
        Ethernet address, which tells an Ethernet frame's direction. ``columns``:
        ``records()`` returns a pcapng stream's runs of packet blocks as one
        :class:`~tuimon.capture.columns.PacketColumns` (the same records, decoded a batch
        at a time; see :mod:`tuimon.capture.vector`)."""
        self.columns = columns
        self.source_name = source_name
        self.first_index = first_index
        self.own_mac = own_mac
        self.interfaces: list[Interface] = []
        self.skipped: dict[str, int] = {}
        self.format: str | None = None  # "pcap" or "pcapng"
        self.frames = 0
        self.done = False  # no more records will be parsed (end of data or damage)
        self._buf = b""
        self._pos = 0
        # After a chunk boundary: the record cut by it is parsed from a small buffer of its
        # own (the rest of the previous chunk and the start of this one), then the chunk
        # itself from ``_next_pos``, so a chunk is never copied to join it to the last one.
        self._next: bytes | None = None
        self._next_pos = 0
        # A record longer than the chunk that brought its start: the chunks are gathered
        # here, and joined once when the record is whole (joining them one by one would
        # copy a long record again with every chunk).
        self._parts: list[bytes] | None = None
        self._have = 0  # bytes in _parts
        self._want = 0  # bytes _parts must reach
        self._endian = "<"
        # pcap before format 2.3 stores the captured and wire lengths the other way round:
        # 1 swap them back, 2 (format 2.3) swap where the captured one is the larger, as
        # Wireshark does; 0 as they are.
        self._swap = 0
        self._limit = MAX_RECORD  # pcap: the longest record of the file's link type
        self._section: list[int] = []  # pcapng: section-local interface id -> global index
        # The compiled record walk (cwalk.py) for the columns' runs, or None: the Python one.
        self._cwalk = cwalk.walker() if columns else None

    def _decoder(self, linktype: int):
        """The function that turns one frame of this link type into its record's last field
        (called once per interface; :class:`tuimon.capture.frames.FrameReader` wraps it)."""
        return decoder_for(linktype)

    # -- input -----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._parts is not None:  # the rest of a long record
            self._parts.append(data)
            self._have += len(data)
            if self._have >= self._want:
                self._buf, self._pos, self._parts = b"".join(self._parts), 0, None
            return
        if self._next is not None:  # fed twice without parsing: one buffer of it all
            self._buf = self._buf[self._pos :] + self._next[self._next_pos :]
            self._pos, self._next = 0, None
        left = len(self._buf) - self._pos
        need = self._cut_record(left) if left else None
        if need is not None and 0 < need <= len(data):
            self._buf = self._buf[self._pos :] + data[:need]
            self._pos, self._next, self._next_pos = 0, data, need
        elif need is not None and need > len(data):  # longer than this chunk: gathered
            self._parts = [self._buf[self._pos :], data]
            self._have, self._want = left + len(data), left + need
            self._buf, self._pos = b"", 0
        elif self._pos:
            self._buf = self._buf[self._pos :] + data
            self._pos = 0
        else:
            self._buf += data

    def _cut_record(self, left: int) -> int | None:
        """The bytes still missing from the record that starts at ``_pos`` (``left`` bytes
        of it are there), or None when the header does not tell yet, or tells of a record
        longer than any the reader takes (it is found damaged when parsed)."""
        if self.done or self.format is None:
            return None
        buf, pos = self._buf, self._pos
        if self.format == "pcap":
            if left < 16:
                return None
            incl, orig = struct.unpack_from(self._endian + "II", buf, pos + 8)
            if self._swap and (self._swap == 1 or incl > orig):
                incl = orig
            if incl > self._limit:
                return None
            return 16 + incl - left
        if left < 8 or buf[pos : pos + 4] == _SHB:  # a section header sets the byte order
            return None
        blen = struct.unpack_from(self._endian + "I", buf, pos + 4)[0]
        if blen > MAX_BLOCK:
            return None
        return blen - left

    def unparsed(self) -> int:
        """Bytes fed but not parsed yet: the start of a block still incomplete."""
        left = len(self._buf) - self._pos
        if self._next is not None:
            left += len(self._next) - self._next_pos
        return left + (self._have if self._parts is not None else 0)

    def finish(self) -> None:
        """No more bytes will come: report a truncated tail, or a stream that never was a capture."""
        left = self.unparsed()
        if self.format is None:
            if left == 0:
                raise BadCaptureFile(f"{self.source_name}: empty file, not a pcap or pcapng capture")
            raise BadCaptureFile(f"{self.source_name}: not a pcap or pcapng capture file")
        if left and not self.done:
            self._skip("truncated final record")
        self.done = True
        self._buf, self._pos, self._next, self._parts = b"", 0, None, None

    def _direction(self, iface: Interface) -> None:
        way = LINK_WAYS.get(iface.linktype)
        if way is not None:
            iface.way, iface.direction = way, "link header"
        elif iface.linktype == 1 and self.own_mac and len(self.own_mac) == 6:
            iface.way, iface.direction = mac_way(self.own_mac), "mac"

    def _forged_length(self) -> int:
        """A record claims a frame longer than Wireshark shows one: counted as that long."""
        self._skip(FRAME_LEN_CAPPED)
        return MAX_FRAME_LEN

    def _skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def _damaged(self, reason: str) -> None:
        """Stop parsing: from here on the stream cannot be trusted."""
        self._skip(reason)
        self.done = True
        self._buf, self._pos, self._next, self._parts = b"", 0, None, None

    # -- parsing -----------------------------------------------------------------

    def records(self) -> list:
        out: list = []
        if self.done or self._parts is not None:  # nothing new to parse
            return out
        if self.format is None and not self._detect():
            return out
        if self.columns:
            return self._columns()
        parse = self._parse_pcap if self.format == "pcap" else self._parse_pcapng
        parse(out)
        if self._next is not None and not self.done:
            if self._pos == len(self._buf):  # the cut record is parsed: on with the chunk
                self._buf, self._pos = self._next, self._next_pos
            else:  # it was not what its header said (damage): one buffer again
                self._buf, self._pos = self._buf[self._pos :] + self._next[self._next_pos :], 0
            self._next = None
            parse(out)
        self.frames += len(out)
        return out

    def _columns(self):
        """:meth:`records` as one batch of columns (see ``columns``)."""
        builder = Builder(self._cwalk)
        self._parse_columns(builder)
        if self._next is not None and not self.done:  # as in records()
            if self._pos == len(self._buf):
                self._buf, self._pos = self._next, self._next_pos
            else:
                self._buf, self._pos = self._buf[self._pos :] + self._next[self._next_pos :], 0
            self._next = None
            self._parse_columns(builder)
        self.frames += builder.n
        return builder.finish()

    def _parse_columns(self, builder: Builder) -> None:
        """Walk the buffer's records: runs of plain packet records (pcapng enhanced packet
        blocks without options, pcap records) go to ``builder`` as columns, every other
        block (and a run too short to be worth it) the per-record way, in its place."""
        pcap = self.format == "pcap"
        header = 16 if pcap else 12
        while not self.done:
            buf, pos = self._buf, self._pos
            n = len(buf)
            offs, end = self._walk(pcap, buf, pos, n)
            taken = 0
            if len(offs) >= _MIN_RUN:
                if pcap:
                    taken = builder.add_pcap_run(buf, offs, self._endian, self._pcap_table())
                else:
                    taken = builder.add_run(buf, offs, self._endian, self._epb_table())
                self._pos = pos = int(offs[taken]) if taken < len(offs) else end
            if n - pos < header:
                return
            out: list = []
            (self._parse_pcap if pcap else self._parse_pcapng)(
                out, len(offs) + 1 if taken == 0 else 1)
            for record in out:
                builder.add_record(record)
            if self._pos == pos:  # an incomplete record: wait for more bytes
                return

    def _walk(self, pcap: bool, buf, pos: int, n: int):
        """The run of plain packet records from ``pos``: (offsets, where it ends), by the
        compiled walk when there is one (a numpy array), else by the Python walks below
        (a list), which are the reference: both stop at the same record."""
        walk = self._cwalk
        if walk is None or n - pos < _CWALK_FROM or (pcap and self._swap):
            return self._walk_pcap(buf, pos, n) if pcap else self._walk_pcapng(buf, pos, n)
        big = self._endian == ">"
        if pcap:
            return walk.pcap(buf, pos, n, big, self._limit)
        return walk.pcapng(buf, pos, n, big, MAX_BLOCK)

    def _walk_pcapng(self, buf, pos: int, n: int) -> tuple[list[int], int]:
        """The enhanced packet blocks from ``pos`` on, up to the first other block or an
        incomplete one: their offsets, and where the run ends."""
        head = _HEAD[self._endian]
        offs: list[int] = []
        add = offs.append
        while n - pos >= 12:
            btype, blen = head(buf, pos)
            if btype != 6 or blen < 32 or blen > MAX_BLOCK or blen & 3 or n - pos < blen:
                break
            add(pos)
            pos += blen
        return offs, pos

    def _walk_pcap(self, buf, pos: int, n: int) -> tuple[list[int], int]:
        """The pcap records from ``pos`` on, up to an incomplete one or one longer than the
        link type allows (none when the file's lengths need swapping)."""
        offs: list[int] = []
        if self._swap:
            return offs, pos
        incl_at = _INCL[self._endian]
        limit = self._limit
        add = offs.append
        while n - pos >= 16:
            (incl,) = incl_at(buf, pos + 8)
            if incl > limit or n - pos - 16 < incl:
                break
            add(pos)
            pos += 16 + incl
        return offs, pos

    def _pcap_table(self) -> list[tuple]:
        """A pcap file's one interface as :meth:`_epb_table` gives a section's."""
        iface = self.interfaces[0]
        return [(iface.index, iface.scale, 0, self._limit, iface.decoder, iface.way, None,
                 iface.decoder is ether_fast)]

    def _detect(self) -> bool:
        buf = self._buf
        if len(buf) < 4:
            return False
        magic = buf[:4]
        if magic == _SHB:
            self.format = "pcapng"
            return True
        if magic not in _PCAP_MAGIC:
            raise BadCaptureFile(f"{self.source_name}: not a pcap or pcapng capture file")
        if len(buf) < 24:
            return False
        endian, scale = _PCAP_MAGIC[magic]
        major, minor = struct.unpack_from(endian + "HH", buf, 4)
        snaplen, network = struct.unpack_from(endian + "II", buf, 16)
        linktype = network & 0x03FFFFFF
        self._endian = endian
        if major == 543 or (major == 2 and minor < 3):  # DG/UX's 543.0 too, as Wireshark
            self._swap = 1
        elif major == 2 and minor == 3:
            self._swap = 2
        self._limit = max_record(linktype)
        iface = Interface(self.first_index, linktype, printable(self.source_name), snaplen, scale,
                          decoder=self._decoder(linktype))
        self._direction(iface)
        self.interfaces.append(iface)
        self.format = "pcap"
        self._pos = 24
        return True

    def _parse_pcap(self, out: list, at_most: int = -1) -> None:
        """Parse records from ``_pos`` into ``out``: all there are, or ``at_most``."""
        buf, pos = self._buf, self._pos
        n = len(buf)
        unpack = struct.Struct(self._endian + "IIII").unpack_from
        iface = self.interfaces[0]
        decode, scale, index = iface.decoder, iface.scale, iface.index
        way = iface.way
        limit, swap, max_len = self._limit, self._swap, MAX_FRAME_LEN
        append = out.append
        # our own decoder (not a subclass's: drill-down) and no direction to find (files)
        fast = iface.decoder is ether_fast and way is None
        fast_unpack = ETHER_IPV4
        if fast:
            decode = ether  # what the inlined fast path leaves
        while n - pos >= 16:
            if at_most >= 0:
                if at_most == 0:
                    break
                at_most -= 1
            sec, frac, incl, orig = unpack(buf, pos)
            if swap and (swap == 1 or incl > orig):
                incl, orig = orig, incl
            if incl > limit:
                self._pos = pos
                self._damaged(TOO_LONG)
                return
            start = pos + 16
            end = start + incl
            if end > n:  # incomplete: parsed (and its length checked) once it is whole
                break
            if orig > max_len:
                orig = self._forged_length()
            if fast and incl >= 48:  # decode.ether_fast, inlined: the hot path
                etype, vhl, total, frag, proto, src, dst, sport, dport, doff, fl = \
                    fast_unpack(buf, start + 12)
                if etype == 0x0800 and vhl == 0x45:
                    if frag & 0x1FFF:  # a later fragment: no ports
                        if total == 0 or total >= 20:
                            append((index, sec + frac * scale, orig,
                                    (IPV4, proto, src, dst, None, None, 0), UNKNOWN,
                                    buf, start, end))
                            pos = end
                            continue
                    elif proto == 6:
                        if total == 0 or total >= 34:
                            append((index, sec + frac * scale, orig,
                                    (IPV4, 6, src, dst, sport, dport, (doff & 1) << 8 | fl), UNKNOWN,
                                    buf, start, end))
                            pos = end
                            continue
                    elif proto == 17:
                        if total == 0 or total >= 24:
                            append((index, sec + frac * scale, orig,
                                    (IPV4, 17, src, dst, sport, dport, 0), UNKNOWN,
                                    buf, start, end))
                            pos = end
                            continue
                    elif total == 0 or total >= 20:  # ICMP and the rest: no ports
                        append((index, sec + frac * scale, orig,
                                (IPV4, proto, src, dst, None, None, 0), UNKNOWN,
                                buf, start, end))
                        pos = end
                        continue
            if way is None:
                append((index, sec + frac * scale, orig, decode(buf, start, end), UNKNOWN,
                        buf, start, end))
            else:
                append((index, sec + frac * scale, orig, decode(buf, start, end),
                        way(buf, start, end), buf, start, end))
            pos = end
        self._pos = pos

    def _epb_table(self) -> list[tuple]:
        """Per section-local interface id, what the enhanced packet blocks' fast path needs:
        (global index, timestamp scale, offset, longest record, decoder, direction
        function, own MAC when the direction is by MAC, whether the decoder is ours for
        Ethernet so the IPv4 fast path may be inlined)."""
        table = []
        for gi in self._section:
            iface = self.interfaces[gi]
            mac = self.own_mac if iface.direction == "mac" else None
            table.append((iface.index, iface.scale, iface.offset, iface.max_len, iface.decoder,
                          iface.way, mac, iface.decoder is ether_fast))
        return table

    def _parse_pcapng(self, out: list, at_most: int = -1) -> None:
        """Parse blocks from ``_pos`` into ``out``: all there are, or ``at_most``."""
        buf, pos = self._buf, self._pos
        n = len(buf)
        append = out.append
        # The hot path, a live capture's stream of enhanced packet blocks with no options:
        # one unpack per block, the interface's fields from a table, and for Ethernet IPv4
        # the decoder inlined (as in _parse_pcap). Anything else goes the general way below.
        endian = self._endian
        epb = _EPB[endian]
        section, nsec = self._section, len(self._section)
        table = self._epb_table()
        fast_unpack = ETHER_IPV4
        general = False  # the last block went the general way: it may have changed the above
        while n - pos >= 12:
            if at_most >= 0:
                if at_most == 0:
                    break
                at_most -= 1
            if general:
                general = False
                if endian != self._endian or section is not self._section or \
                        nsec != len(self._section):
                    endian = self._endian
                    epb = _EPB[endian]
                    section, nsec = self._section, len(self._section)
                    table = self._epb_table()
            if n - pos >= 32:
                btype, blen, ifid, hi, lo, caplen, orig = epb(buf, pos)
                if btype == 6 and ifid < nsec and 32 <= blen <= MAX_BLOCK and not blen & 3 \
                        and n - pos >= blen and caplen <= blen - 32 and orig <= MAX_FRAME_LEN \
                        and pos + 28 + ((caplen + 3) & ~3) >= pos + blen - 4:
                    index, scale, offset, max_len, decode, way, mac, fast = table[ifid]
                    if caplen <= max_len:
                        start = pos + 28
                        end = start + caplen
                        if mac is not None:
                            direction = ((OUT if buf[start + 6 : start + 12] == mac else IN)
                                         if caplen >= 12 else UNKNOWN)
                        elif way is not None:
                            direction = way(buf, start, end)
                        else:
                            direction = UNKNOWN
                        ts = ((hi << 32) | lo) * scale + offset
                        pos += blen
                        if fast and caplen >= 48:  # decode.ether_fast, inlined
                            etype, vhl, total, frag, proto, src, dst, sport, dport, doff, fl = \
                                fast_unpack(buf, start + 12)
                            if etype == 0x0800 and vhl == 0x45:
                                if frag & 0x1FFF:  # a later fragment: no ports
                                    if total == 0 or total >= 20:
                                        append((index, ts, orig,
                                                (IPV4, proto, src, dst, None, None, 0),
                                                direction, buf, start, end))
                                        continue
                                elif proto == 6:
                                    if total == 0 or total >= 34:
                                        append((index, ts, orig,
                                                (IPV4, 6, src, dst, sport, dport,
                                                 (doff & 1) << 8 | fl),
                                                direction, buf, start, end))
                                        continue
                                elif proto == 17:
                                    if total == 0 or total >= 24:
                                        append((index, ts, orig,
                                                (IPV4, 17, src, dst, sport, dport, 0),
                                                direction, buf, start, end))
                                        continue
                                elif total == 0 or total >= 20:
                                    append((index, ts, orig,
                                            (IPV4, proto, src, dst, None, None, 0),
                                            direction, buf, start, end))
                                    continue
                        append((index, ts, orig, decode(buf, start, end), direction,
                                buf, start, end))
                        continue
            general = True
            if buf[pos : pos + 4] == _SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    self._endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    self._endian = ">"
                else:
                    self._damaged("bad pcapng section header")
                    return
            e = self._endian
            btype, blen = struct.unpack_from(e + "II", buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self._pos = pos
                self._damaged("bad pcapng block length (file damaged)")
                return
            if n - pos < blen:
                break
            if blen < _MIN_BLOCK.get(btype, 12):  # too short for its own fixed fields
                if btype == 0x0A0D0D0A:
                    self._pos = pos
                    self._damaged("bad pcapng section header")
                    return
                self._skip("pcapng block too short for its type")
                pos += blen
                continue
            if btype == 6:  # enhanced packet block
                ifid, hi, lo, caplen, orig = struct.unpack_from(e + "IIIII", buf, pos + 8)
                if caplen > blen - 32:
                    self._skip("packet block shorter than its captured length")
                elif ifid >= len(self._section):
                    self._skip("packet for an undeclared interface")
                else:
                    iface = self.interfaces[self._section[ifid]]
                    if caplen > iface.max_len:
                        self._pos = pos
                        self._damaged(TOO_LONG)
                        return
                    if orig > MAX_FRAME_LEN:
                        orig = self._forged_length()
                    start = pos + 28
                    end = start + caplen
                    way = UNKNOWN
                    opts = start + ((caplen + 3) & ~3)
                    if opts < pos + blen - 4:
                        way = self._epb_flags(buf, opts, pos + blen - 4)
                        if way:
                            iface.direction = "epb_flags"
                    if not way and iface.way is not None:
                        way = iface.way(buf, start, end)
                    append((iface.index, ((hi << 32) | lo) * iface.scale + iface.offset, orig,
                            iface.decoder(buf, start, end), way, buf, start, end))
            elif btype == 3:  # simple packet block: interface 0, no timestamp
                if not self._section:
                    self._skip("packet for an undeclared interface")
                else:
                    iface = self.interfaces[self._section[0]]
                    (orig,) = struct.unpack_from(e + "I", buf, pos + 8)
                    if orig > MAX_FRAME_LEN:
                        orig = self._forged_length()
                    caplen = min(orig, blen - 16, iface.snaplen or orig)
                    start = pos + 12
                    end = start + caplen
                    append((iface.index, 0.0, orig, iface.decoder(buf, start, end),
                            iface.way(buf, start, end) if iface.way else UNKNOWN, buf, start, end))
            elif btype == 2:  # obsolete packet block
                ifid, _drops, hi, lo, caplen, orig = struct.unpack_from(e + "HHIIII", buf, pos + 8)
                if caplen > blen - 32 or ifid >= len(self._section):
                    self._skip("bad obsolete packet block")
                else:
                    iface = self.interfaces[self._section[ifid]]
                    if caplen > iface.max_len:
                        self._pos = pos
                        self._damaged(TOO_LONG)
                        return
                    if orig > MAX_FRAME_LEN:
                        orig = self._forged_length()
                    start = pos + 28
                    end = start + caplen
                    append((iface.index, ((hi << 32) | lo) * iface.scale + iface.offset, orig,
                            iface.decoder(buf, start, end),
                            iface.way(buf, start, end) if iface.way else UNKNOWN, buf, start, end))
            elif btype == 1:
                self._interface_block(buf, pos, blen)
            elif btype == 5:
                self._statistics_block(buf, pos, blen)
            elif btype == 0x0A0D0D0A:
                self._section = []
            pos += blen
        self._pos = pos

    def _epb_flags(self, buf, start: int, end: int) -> int:
        """The direction in an enhanced packet block's options (``epb_flags`` bits 0-1:
        1 inbound, 2 outbound), or UNKNOWN."""
        for code, value in self._options(buf, start, end):
            if code == 2 and len(value) == 4:
                bits = struct.unpack(self._endian + "I", value)[0] & 3
                return IN if bits == 1 else OUT if bits == 2 else UNKNOWN
        return UNKNOWN

    def _options(self, buf, start: int, end: int):
        e = self._endian
        while end - start >= 4:
            code, length = struct.unpack_from(e + "HH", buf, start)
            if code == 0:
                return
            value = buf[start + 4 : start + 4 + length]
            if len(value) < length:
                return
            yield code, value
            start += 4 + ((length + 3) & ~3)

    def _interface_block(self, buf, pos: int, blen: int) -> None:
        e = self._endian
        linktype, _, snaplen = struct.unpack_from(e + "HHI", buf, pos + 8)
        index = self.first_index + len(self.interfaces)
        iface = Interface(index, linktype, "", snaplen, decoder=self._decoder(linktype))
        for code, value in self._options(buf, pos + 16, pos + blen - 4):
            if code == 2:
                iface.name = printable(value.decode("utf-8", "replace").rstrip("\0"))
            elif code == 3:
                iface.description = printable(value.decode("utf-8", "replace").rstrip("\0"))
            elif code == 9 and value:
                iface.scale = _scale_from_tsresol(value[0])
            elif code == 14 and len(value) == 8:
                (iface.offset,) = struct.unpack(e + "q", value)
        self._direction(iface)
        if not iface.name:
            base = printable(self.source_name)
            local = len(self.interfaces)
            iface.name = base if local == 0 else f"{base}#{local}"
        self._section.append(len(self.interfaces))
        self.interfaces.append(iface)

    def _statistics_block(self, buf, pos: int, blen: int) -> None:
        e = self._endian
        (ifid,) = struct.unpack_from(e + "I", buf, pos + 8)
        if ifid >= len(self._section):
            return
        iface = self.interfaces[self._section[ifid]]
        for code, value in self._options(buf, pos + 20, pos + blen - 4):
            if code == 5 and len(value) == 8:  # isb_ifdrop
                (iface.drops,) = struct.unpack(e + "Q", value)
