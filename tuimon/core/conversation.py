"""The per-conversation record the engine counts into, and the hosts it names.

A :class:`Conversation` is both directions of a conversation as an object, filed under its
canonical key (:func:`canonical_key`: the lower address first; the engine keeps them as
columns, :mod:`tuimon.core.store`); :class:`Host` is what
the engine folds the conversations' counts into (kept as columns too,
:mod:`tuimon.core.hosts`). TCP flag bits and their text live here
too.
"""

from __future__ import annotations

TCP_FLAG_NAMES = "FSRPAUECN"  # FIN SYN RST PSH ACK URG ECE CWR NS, bit 0 first
_FIN, _RST = 1, 4

_GONE = -2  # Conversation.gen of one that left the table


def _flag_text(flags: int) -> str:
    return "".join(name for bit, name in enumerate(TCP_FLAG_NAMES) if flags >> bit & 1)


_FLAG_TEXT = [_flag_text(f) for f in range(512)]


def tcp_flags_text(flags: int) -> str:
    return _FLAG_TEXT[flags] if 0 <= flags < 512 else _flag_text(flags)


class Host:
    """A host's figures. The engine keeps its hosts as columns (:mod:`tuimon.core.hosts`)
    and hands out a :class:`~tuimon.core.hosts.StoredHost` (a subclass whose fields are the
    columns) to whoever asks; once that host folds into ``(other hosts)``, its handle
    becomes a plain ``Host`` holding the final values (``_t``: a handle's table)."""

    __slots__ = ("addr", "packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b", "first", "last", "hist",
                 "apps", "peak", "hid", "_t", "__weakref__")

    def __init__(self, addr: int, first: float, hid: int = -1) -> None:
        self.addr = addr
        self._t = None
        self.hid = hid  # the engine's id of it (the conversations' columns refer to it)
        self.packets = self.bytes = self.tx_p = self.tx_b = self.rx_p = self.rx_b = 0
        self.first = self.last = first
        self.hist = None  # packed rate history (tuimon.core.rates)
        self.apps: dict | None = None  # application protocol -> bytes, once there is one
        self.peak = 0.0  # the highest 2 s rate seen at a fold (bytes/s; 0 without rates)


class Conversation:
    """Both directions of one (protocol, A, port A, B, port B); A sent the first packet.

    The engine keeps its conversations as columns (:mod:`tuimon.core.store`) and hands
    out a :class:`~tuimon.core.store.StoredConversation` (a subclass whose fields are the
    columns) to whoever asks for one; once its conversation is freed from the store, that
    handle becomes a plain ``Conversation`` holding the final values (``gen`` is then
    ``_GONE``). ``key`` is the canonical key it is filed under (lower address first) and
    ``fwd`` says whether A is that key's first endpoint. ``ab_*``/``ba_*`` count A to B
    and B to A as packets arrive, ``m_*`` are what the last :meth:`Engine.fold` saw of
    them. ``flags_ab``/``flags_ba``: TCP flags seen per direction. ``app`` is the
    application protocol: the port's guess (``app_src`` "port") until the dissector names
    it ("dissector"); ``dis_left`` how many more of its packets go to the dissector (-1:
    never dissected, the dissector was behind). ``iface``: the index of the interface its
    first packet came in on (the IPFIX export's observation domain). ``_s``/``_i``: a
    handle's store and slot.

    The fields are the engine's to write; the sinks and queries read a conversation through
    :attr:`bytes`, :attr:`packets`, :meth:`folded_bytes`, :meth:`oldest_first`, the
    endpoints (:meth:`endpoints`, :attr:`a`, :attr:`pa`, ...), ``first`` and ``last``.
    Writers and views of a million of them read the store's columns instead
    (:class:`~tuimon.core.store.ConversationColumns`, :meth:`Engine.order_by`).
    """

    __slots__ = ("key", "fwd", "ab_p", "ab_b", "ba_p", "ba_b", "m_ab_p", "m_ab_b", "m_ba_p",
                 "m_ba_b", "first", "last", "flags_ab", "flags_ba", "gen", "service", "hist",
                 "app", "app_src", "dis_left", "iface", "_s", "_i", "__weakref__")

    @property
    def proto(self) -> int:
        return self.key[0]

    @property
    def a(self) -> int:
        return self.key[1] if self.fwd else self.key[2]

    @property
    def b(self) -> int:
        return self.key[2] if self.fwd else self.key[1]

    @property
    def pa(self):
        return self.key[3] if self.fwd else self.key[4]

    @property
    def pb(self):
        return self.key[4] if self.fwd else self.key[3]

    def endpoints(self) -> tuple:
        """(proto, a, pa, b, pb) at once."""
        proto, lo, hi, plo, phi = self.key
        return (proto, lo, plo, hi, phi) if self.fwd else (proto, hi, phi, lo, plo)

    # -- the read API of the sinks and queries (the fields above are the engine's) -----

    @property
    def bytes(self) -> int:
        """Bytes both ways, as counted so far."""
        return self.ab_b + self.ba_b

    @property
    def packets(self) -> int:
        """Packets both ways, as counted so far."""
        return self.ab_p + self.ba_p

    def folded_bytes(self) -> int:
        """Bytes both ways as the last fold saw them (what its rate history holds)."""
        return self.m_ab_b + self.m_ba_b

    def oldest_first(self) -> tuple:
        """A sort key: first packet time, then the canonical key (no port: 0), so
        conversations that started together come in the same order every time."""
        proto, lo, hi, plo, phi = self.key
        return (self.first, proto, lo, hi, plo or 0, phi or 0)

    @property
    def flags(self) -> int:
        return self.flags_ab | self.flags_ba

    @property
    def closed(self) -> bool:
        """TCP: reset, or finished in both directions."""
        return self.key[0] == 6 and bool((self.flags_ab | self.flags_ba) & _RST or
                                         self.flags_ab & self.flags_ba & _FIN)



def canonical_key(proto: int, a: int, pa, b: int, pb) -> tuple:
    """The key both directions of a conversation share: the lower address (then port) first."""
    if a < b or (a == b and (pa is None or pa <= pb)):
        return (proto, a, b, pa, pb)
    return (proto, b, a, pb, pa)
