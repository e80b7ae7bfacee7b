"""Flow records of the kernel's connection tracking, counted into the engine's tables.

The conntrack source (:mod:`tuimon.capture.conntrack`) hands over no packets: it hands
over what the kernel counted for each flow, as :class:`FlowRecord` tuples -- every flow of
a periodic dump of the table, each flow that left it (its final counts, from the destroy
event), and a marker at the end of each dump. :class:`FlowAccounts` turns the kernel's
absolute figures into what they added since the last look and adds that to one
:class:`~tuimon.core.conversation.Conversation` per flow (A = the original tuple's source,
so A to B is the kernel's ``orig`` direction, B to A its ``reply``), marked dirty so that
:meth:`Engine.fold` derives hosts, protocols and rates as it does for packets; the same
figures go to one pseudo-interface, ``conntrack``.

What counts:

* **Flows that were in the table before tuimon started** (the first dump, ``INITIAL``)
  count only what they add afterwards: their figures then are the baseline. A flow that
  adds nothing makes no conversation.
* **A flow that leaves the table** (``DESTROYED``) adds its last packets and leaves the
  engine's table with its final counts (the sinks hear of it as of any conversation that
  leaves). A flow missing from ``MISSING_DUMPS`` dumps in a row without a destroy event
  (the kernel drops events when the listener is behind) leaves with the counts last seen.
* **Counts are the kernel's**: IP packets and their IP lengths (no link-layer header).

For NATed flows (a reply tuple that is not the original one reversed) the reply tuple is
kept per conversation: :meth:`FlowAccounts.nat_of`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from tuimon.capture.decode import IPV4, IPV6, V6
from tuimon.capture.flowrecord import DESTROYED, DUMP_END, INITIAL, FlowRecord, is_natted
from tuimon.core.conversation import _GONE, Conversation, canonical_key
from tuimon.core.names import address_text

MISSING_DUMPS = 3  # dumps in a row a flow may be missing from before it is taken as gone

IFACE = 0  # the pseudo-interface every flow counts on


def _endpoint(addr: int, port: int | None) -> str:
    text = address_text(addr)
    if port is None:
        return text
    return f"[{text}]:{port}" if addr >= V6 else f"{text}:{port}"


class _Flow:
    __slots__ = ("conv", "op", "ob", "rp", "rb", "missing")

    def __init__(self, op: int, ob: int, rp: int, rb: int) -> None:
        self.conv: Conversation | None = None
        self.op, self.ob, self.rp, self.rb = op, ob, rp, rb  # the figures counted up to
        self.missing = 0  # dumps in a row it was not in


class FlowAccounts:
    """The engine's side of the conntrack source: the flows known, what each has been
    counted up to, and the NAT tuples. Handed the engine whose tables it counts into."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self._flows: dict[tuple, _Flow] = {}
        self._seen: set[tuple] = set()  # flows in the dump being read
        self._nat: dict[tuple, tuple] = {}  # conversation key -> reply tuple

    def nat_of(self, conv: Conversation) -> tuple | None:
        """The reply tuple ``(proto, src, sport, dst, dport)`` of a NATed flow's
        conversation, else None."""
        return self._nat.get(conv.key)

    def nat_text(self, conv: Conversation) -> str:
        """:meth:`nat_of` as text, ``"B' > A'"`` (the answers' source and destination);
        "" when not NATed."""
        nat = self._nat.get(conv.key)
        if nat is None:
            return ""
        _, src, sport, dst, dport = nat
        return f"{_endpoint(src, sport)} > {_endpoint(dst, dport)}"

    def ingest(self, records: Iterable[FlowRecord]) -> None:
        engine = self.engine
        flows, left = self._flows, []
        newest = -math.inf
        for r in records:
            if r.ts > newest:
                newest = r.ts
            kind = r.kind
            if kind == DUMP_END:
                self._dump_done(left)
                continue
            fk = (r.ident, r.proto, r.src, r.sport, r.dst, r.dport)
            f = flows.get(fk)
            if f is None:
                if kind == INITIAL:  # there before we were: only what it adds from now
                    flows[fk] = _Flow(r.orig_packets, r.orig_bytes, r.reply_packets,
                                      r.reply_bytes)
                    self._seen.add(fk)
                    continue
                f = _Flow(0, 0, 0, 0)
                if kind != DESTROYED:
                    flows[fk] = f
            if kind == DESTROYED:
                flows.pop(fk, None)
            else:
                self._seen.add(fk)
                f.missing = 0
            self._count(f, r)
            if kind == DESTROYED and f.conv is not None:
                left.append(f.conv)
        if newest > -math.inf:
            engine.advance(newest)
        if left:
            self._leave(left)

    def _count(self, f: _Flow, r: FlowRecord) -> None:
        """Add what flow ``f`` counted since it was last seen (never less than nothing:
        figures that went back mean the kernel's counters were zeroed -- start again)."""
        dop, dob = r.orig_packets - f.op, r.orig_bytes - f.ob
        drp, drb = r.reply_packets - f.rp, r.reply_bytes - f.rb
        if dop < 0 or dob < 0 or drp < 0 or drb < 0:
            dop, dob, drp, drb = r.orig_packets, r.orig_bytes, r.reply_packets, r.reply_bytes
        f.op, f.ob, f.rp, f.rb = r.orig_packets, r.orig_bytes, r.reply_packets, r.reply_bytes
        if not (dop or drp):
            return
        engine = self.engine
        conv = f.conv
        if conv is None or conv.gen == _GONE:  # new, or it left the engine's table
            conv = f.conv = self._conversation(r)
        if conv.a == r.src and conv.pa == r.sport:
            conv.ab_p += dop
            conv.ab_b += dob
            conv.ba_p += drp
            conv.ba_b += drb
        else:  # the same conversation, opened the other way by an earlier flow
            conv.ab_p += drp
            conv.ab_b += drb
            conv.ba_p += dop
            conv.ba_b += dob
        if r.ts > conv.last:
            conv.last = r.ts
        key = conv.key
        if key[3] is not None and (key[0] == 6 or key[0] == 17):  # the Ports view's
            engine.ports.add(key[0], key[3], key[4], dop + drp, dob + drb)
        engine.touch_conversation(conv)
        engine.count_interface(IFACE, dop + drp, dob + drb, IPV6 if r.src >= V6 else IPV4,
                               r.ts)

    def _conversation(self, r: FlowRecord) -> Conversation:
        key = canonical_key(r.proto, r.src, r.sport, r.dst, r.dport)
        fwd = key[1] == r.src and key[3] == r.sport
        conv = self.engine.conversation_for(key, fwd, r.ts)
        if is_natted(r):
            self._nat[conv.key] = (r.proto, r.r_src, r.r_sport, r.r_dst, r.r_dport)
        return conv

    def _dump_done(self, left: list) -> None:
        """A dump is complete: flows missing from too many dumps in a row are gone."""
        seen = self._seen
        for fk, f in list(self._flows.items()):
            if fk in seen:
                continue
            f.missing += 1
            if f.missing >= MISSING_DUMPS:
                del self._flows[fk]
                if f.conv is not None:
                    left.append(f.conv)
        seen.clear()

    def _leave(self, convs: list) -> None:
        """The flows of ``convs`` left the kernel's table: fold their last counts, then
        they leave the engine's (unless another flow still counts into one of them)."""
        live = {id(f.conv) for f in self._flows.values() if f.conv is not None}
        gone = [c for c in convs if id(c) not in live]
        if gone:
            self.engine.fold()
            self.engine.remove_conversations(gone)
            for c in gone:
                if c.gen == _GONE:
                    self._nat.pop(c.key, None)
