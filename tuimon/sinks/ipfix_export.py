"""The IPFIX exporter (``--ipfix HOST:PORT``): every conversation, sent over UDP to a
collector as two uniflow records (:mod:`tuimon.sinks.ipfix` encodes them).

Never per packet. A record is made when:

* a conversation **leaves the table** (the engine's ``on_leave``, chained after whoever
  listened before): idle timeout (flowEndReason 1), TCP closed by RST or FIN both ways or a
  conntrack flow destroyed (3), ``--max-flows`` (5);
* a conversation is **active** for ``--ipfix-active`` seconds of capture time since it
  began or since its last record (2): :meth:`IpfixExporter.tick`, called after each batch
  and once a second, looks at a wheel of due seconds (each conversation is looked at once
  an ``active`` period); the conversations new since the last walk join the wheel in a
  walk of the table once every ``active`` seconds. :meth:`IpfixExporter.ingest` cuts a
  batch where a second with something due starts, so a record holds what was counted
  before that second even when a file's batch spans minutes;
* the session **ends** (:meth:`IpfixExporter.finish`): every conversation still in the
  table (4, forced end).

Records carry deltas: what the conversation counted since its previous record, so a
collector that adds a conversation's records up (``nfdump -a``) gets its totals. A record
with no new packet is not sent. Its flowStart is the conversation's first packet for its
first record, else the previous record's flowEnd; flowEnd is its last packet so far. Both
directions carry the conversation's times (tuimon keeps no per-direction times). The
observation domain is the interface index of the conversation's first packet, plus 1 (0
is RFC 7011's "no particular domain"); each has its own sequence numbers and templates,
sent in a domain's first message and again after ``TEMPLATE_SECONDS`` of wall clock or
``TEMPLATE_MESSAGES`` messages.

Sending never stops the counting: a failed send is counted in :attr:`IpfixExporter.failed`
and its reason kept in :attr:`IpfixExporter.error`.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable

import numpy as np

from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import V6
from tuimon.errors import TuimonError
from tuimon.sinks.ipfix import (
    ACTIVE_TIMEOUT,
    END_OF_FLOW,
    FORCED_END,
    IDLE_TIMEOUT,
    LACK_OF_RESOURCES,
    MAX_MESSAGE,
    FlowRecord,
    pack,
)

TEMPLATE_SECONDS = 20.0  # templates again after this long (wall clock), RFC 7011 8.4
TEMPLATE_MESSAGES = 100  # ... or after this many messages of a domain
FLUSH_RECORDS = 512  # records waiting for the next tick before they are sent at once
_MASK = (1 << 128) - 1
_MOST_PER_MESSAGE = MAX_MESSAGE // 48  # at least as many records as a message holds


class IpfixFailed(TuimonError):
    """The collector's address cannot be used."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6ADDR]:PORT`` for an IPv6 address) -> (host, port); an
    :class:`IpfixFailed` with the reason otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port:
        raise IpfixFailed(f"--ipfix: {text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise IpfixFailed(f"--ipfix: write an IPv6 address in brackets: [{host}]:{port}")
    try:
        number = int(port)
    except ValueError:
        raise IpfixFailed(f"--ipfix: the port must be a number, not {port!r}") from None
    if not 0 < number < 65536:
        raise IpfixFailed(f"--ipfix: the port must be 1 to 65535, not {number}")
    return host, number


def resolve(text: str) -> tuple:
    """The socket family and address of ``HOST:PORT``."""
    host, port = parse_address(text)
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except (OSError, UnicodeError) as err:
        raise IpfixFailed(f"--ipfix: cannot resolve {host}: {err}") from None
    return family, address


def _address(addr: int) -> bytes:
    return ((addr ^ V6) & _MASK).to_bytes(16, "big") if addr >= V6 else addr.to_bytes(4, "big")


def _first_at(batch, t: float) -> int:
    """The index of ``batch``'s first record at or after capture time ``t``."""
    if isinstance(batch, PacketColumns):
        hits = np.flatnonzero(batch.cols["ts"] >= t)
        return int(hits[0]) if len(hits) else len(batch)
    for i, record in enumerate(batch):
        if record[1] >= t:
            return i
    return len(batch)


def _ms(t: float) -> int:
    """Milliseconds, truncated: the record's second is the capture time's second."""
    return int(t * 1000)


class _Domain:
    """One observation domain's sequence number and template schedule."""

    __slots__ = ("sequence", "messages", "templates_at")

    def __init__(self) -> None:
        self.sequence = 0  # data records sent so far
        self.messages = 0  # messages since the templates were last sent
        self.templates_at: float | None = None  # when they were (wall clock)


class IpfixExporter:
    def __init__(self, engine, address: str, active: float = 60.0, conntrack: bool = False,
                 sock: socket.socket | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time,
                 limit: int = MAX_MESSAGE) -> None:
        """``address``: the collector's ``HOST:PORT``; ``active``: the active timeout in
        seconds of capture time (0: none, a record only when a conversation leaves);
        ``conntrack``: conversations leave when the kernel destroys their flow."""
        family, self.address = resolve(address)
        self.engine = engine
        self.active = active
        self._step = max(1, math.ceil(active))  # seconds between two active records
        self.conntrack = conntrack
        self.clock, self.wallclock, self.limit = clock, wallclock, limit
        try:
            self.sock = sock or socket.socket(family, socket.SOCK_DGRAM)
        except OSError as err:
            raise IpfixFailed(f"--ipfix: cannot open a UDP socket: {err}") from None
        self._domains: dict[int, _Domain] = {}
        self._pending: dict[int, list[FlowRecord]] = {}  # domain -> records to send
        self._waiting = 0
        # conversation -> (ab packets, ab bytes, ba packets, ba bytes, end of its last
        # record, the second its next one is due) once it had an active-timeout record
        self._sent: dict = {}
        self._wheel: dict[int, list] = {}  # capture second -> conversations due then
        self._second: int | None = None  # the last capture second looked at
        self._walk_at: float | None = None  # capture time of the next walk of the table
        self.records = 0  # data records sent
        self.messages = 0
        self.failed = 0  # messages that could not be sent
        self.error = ""
        self.closed = False

    @classmethod
    def attach(cls, engine, address: str, **kwargs) -> IpfixExporter:
        """An exporter that hears of every conversation leaving ``engine``'s table (after
        whoever listened before, e.g. the FlowLog)."""
        exporter = cls(engine, address, **kwargs)
        before = engine.on_leave

        def on_leave(conversations: list) -> None:
            if before is not None:
                before(conversations)
            exporter.left(conversations)

        engine.on_leave = on_leave
        return exporter

    # -- records ---------------------------------------------------------------------------

    def _records(self, c, reason: int, end: bool, due: int = 0) -> None:
        """Queue ``c``'s records (its deltas since its last one); ``end``: its last, else
        the next is ``due`` then."""
        sent = self._sent.pop(c, None) if end else self._sent.get(c)
        ab_p, ab_b, ba_p, ba_b = c.ab_p, c.ab_b, c.ba_p, c.ba_b
        if sent is None:
            d_ab_p, d_ab_b, d_ba_p, d_ba_b, start = ab_p, ab_b, ba_p, ba_b, c.first
        else:
            d_ab_p, d_ab_b, d_ba_p, d_ba_b = (ab_p - sent[0], ab_b - sent[1],
                                              ba_p - sent[2], ba_b - sent[3])
            start = sent[4]
        if not end:
            self._sent[c] = (ab_p, ab_b, ba_p, ba_b, c.last, due)
        if d_ab_p <= 0 and d_ba_p <= 0:
            return
        proto, a, pa, b, pb = c.endpoints()
        a, b = _address(a), _address(b)
        pa, pb = pa or 0, pb or 0
        tcp = proto == 6
        t0, t1 = _ms(start), _ms(c.last)
        out = self._pending.setdefault(c.iface + 1, [])
        if d_ab_p > 0:
            out.append(FlowRecord(a, b, pa, pb, proto, c.flags_ab if tcp else 0,
                                  d_ab_b, d_ab_p, t0, t1, reason))
            self._waiting += 1
        if d_ba_p > 0:
            out.append(FlowRecord(b, a, pb, pa, proto, c.flags_ba if tcp else 0,
                                  d_ba_b, d_ba_p, t0, t1, reason))
            self._waiting += 1

    def _reason(self, c) -> int:
        """Why ``c`` left the table."""
        if self.conntrack or c.closed:
            return END_OF_FLOW
        timeouts, now = self.engine.timeouts, self.engine.now
        if timeouts is not None and now is not None:
            idle = timeouts[0] if c.proto == 6 else timeouts[1]
            if now - c.last >= idle - 1:
                return IDLE_TIMEOUT
        return LACK_OF_RESOURCES

    def left(self, conversations: list) -> None:
        """The engine's ``on_leave``: these conversations left its table."""
        if self.closed:
            return
        for c in conversations:
            self._records(c, self._reason(c), True)
        if self._waiting >= FLUSH_RECORDS:
            self.flush()

    # -- the active timeout ------------------------------------------------------------------

    def ingest(self, batch, count: Callable) -> None:
        """Count ``batch`` with ``count(part)``, cut where an active timeout falls due in
        it, so a record holds what was counted before its second (a batch of a file read
        as fast as possible can span minutes). Cheap when nothing is due in it."""
        if self._second is None and not self.closed:
            self.tick(batch[0][1])  # the first walk: the wheel starts before any packet
        while batch and self.active > 0 and not self.closed:
            due = self._next_due()
            if due is None or batch[-1][1] < due:
                break
            i = _first_at(batch, due)
            if i:
                count(batch[:i])
                batch = batch[i:]
            # nothing was counted between ``due`` and this record: its second is as good
            # (a gap of days in a file is one step, not one per second)
            self.tick(batch[0][1])
        if batch:
            count(batch)
        self.tick(self.engine.now)

    def _next_due(self) -> int | None:
        """The next second something is due at: a wheel slot or the next walk."""
        due = self._walk_at
        if self._wheel:
            first = min(self._wheel)
            due = first if due is None else min(due, first)
        if due is not None and self._second is not None and due <= self._second:
            due = self._second + 1
        return due

    def tick(self, now: float | None) -> None:
        """The capture clock is at ``now`` (after a batch, once a second): the active
        timeouts due by now, and what waits is sent. Cheap when no second has passed."""
        if now is None or self.closed:
            return
        second = int(now)
        if self._second is not None and second <= self._second:
            if self._waiting >= FLUSH_RECORDS:
                self.flush()
            return
        if self.active > 0:
            if self._walk_at is None or second >= self._walk_at:
                self._walk(second)
            self._due(second)
        self._second = second
        if self._waiting:
            self.flush()

    def _walk(self, second: int) -> None:
        """The conversations new since the last walk join the wheel at their first
        packet + ``active``; the next walk is ``active`` seconds on, before any of those
        that start meanwhile is due. A conversation already overdue is due now."""
        since = self._walk_at - self._step if self._walk_at is not None else None
        wheel, sent, active = self._wheel, self._sent, self.active
        for c in self.engine.conversations:
            if c in sent or (since is not None and c.first < since):
                continue  # on the wheel already (or sent and rescheduled)
            due = max(math.ceil(c.first + active), second)
            slot = wheel.get(due)
            if slot is None:
                wheel[due] = [c]
            else:
                slot.append(c)
        self._walk_at = second + self._step

    def _due(self, second: int) -> None:
        """Active-timeout records for the conversations due up to ``second``."""
        wheel = self._wheel
        if not wheel:
            return
        last = self._second if self._second is not None else second - 1
        if second - last > len(wheel):
            seconds = sorted(s for s in wheel if s <= second)
        else:
            seconds = range(last + 1, second + 1)
        step, engine, sent = self._step, self.engine, self._sent
        for s in seconds:
            due = wheel.pop(s, None)
            if not due:
                continue
            for c in due:
                if engine.conversation(c.endpoints()) is not c:
                    continue  # it left (its last record went then)
                state = sent.get(c)
                if state is not None and state[5] != s:
                    continue  # on the wheel twice: done already
                nxt = second + step  # once per tick, however far the clock jumped
                self._records(c, ACTIVE_TIMEOUT, False, nxt)
                slot = wheel.get(nxt)
                if slot is None:
                    wheel[nxt] = [c]
                else:
                    slot.append(c)

    # -- sending -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Send every record waiting, a domain at a time."""
        pending, self._pending, self._waiting = self._pending, {}, 0
        for domain, records in sorted(pending.items()):
            if records:
                self._send(domain, records)

    def _send(self, domain: int, records: list[FlowRecord]) -> None:
        """Pack and send ``records`` of ``domain``: IPv4 ones first (as :func:`pack` puts
        them), the templates first and again every ``TEMPLATE_MESSAGES`` messages."""
        state = self._domains.get(domain)
        if state is None:
            state = self._domains[domain] = _Domain()
        records = sorted(records, key=lambda r: r.template)  # stable: pack's order
        pos = 0
        while pos < len(records):
            mono = self.clock()
            templates = (state.templates_at is None or state.messages >= TEMPLATE_MESSAGES
                         or mono - state.templates_at >= TEMPLATE_SECONDS)
            if templates:
                state.templates_at, state.messages = mono, 0
            room = TEMPLATE_MESSAGES - state.messages  # messages before the next templates
            chunk = records[pos:pos + room * _MOST_PER_MESSAGE]
            for message in pack(chunk, domain, state.sequence, int(self.wallclock()),
                                templates, self.limit)[:room]:
                state.messages += 1
                state.sequence = (state.sequence + message.records) & 0xFFFFFFFF
                pos += message.records
                self.messages += 1
                self.records += message.records
                try:
                    self.sock.sendto(message.data, self.address)
                except OSError as err:
                    self.failed += 1
                    self.error = f"IPFIX export to {self.address[0]}:{self.address[1]}: {err}"

    def finish(self) -> None:
        """The session ends: every conversation still in the table goes (forced end), what
        waits is sent, the socket is closed."""
        if self.closed:
            return
        engine = self.engine
        engine.fold()
        for c in list(engine.conversations):
            self._records(c, FORCED_END, True)
        self.flush()
        self.closed = True
        self._wheel.clear()
        self._sent.clear()
        try:
            self.sock.close()
        except OSError:
            pass
