"""Everything the UI and the engine process say to each other, and nothing else.

Plain picklable dataclasses (they cross a pipe between processes, or a function call in
tests), the :class:`State` a capture goes through, and :func:`dispatch`, the one place a
request is matched to the engine's answer. The UI imports this module and no other of
the engine's; :mod:`tuimon.server.worker` and :mod:`tuimon.server.client` carry these
messages, :class:`tuimon.server.service.EngineService` answers them.

UI -> engine (requests)
    ``Query``                 one sorted, filtered, visible window: answered by a ``Page``
    ``CheckFilter``           is this filter text valid? answered by ``FilterChecked``
    ``Save``                  write the CSV files: ``Saved`` (``final``: stop a live
                              capture first, save once it has ended)
    ``Ping``                  ``Pong`` (the engine's pid and loaded top-level modules)
    ``Speed``, ``Hold``       playback: faster/slower, pause/resume: ``Progress``
    ``Packets``, ``Dissect``, ``WritePcap``
                              drill-down, answered later by ``PacketList``, ``Dissection``,
                              ``Written`` (they read files and run tshark)
    ``HistoryOf``             one interface's, host's or protocol's traffic over a span
                              (hour, day, month, year): ``HistoryChart``
    ``ResetCounters``         read and zero named counters at once: ``CountersReset``
    ``Stop``                  close the source and exit

engine -> UI (replies)
    ``Status`` on every change of state, ``Page`` (with the playback's ``Progress``),
    ``FilterChecked``, ``Saved``, ``Pong``, ``Progress``, ``HistoryChart``, and the
    drill-down replies.

The daemon (``tuimon serve``) answers the same requests on its control socket
(:mod:`tuimon.server.control`); a client attaching gets ``Served`` first, then ``Status``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

from tuimon.core.model import Totals
from tuimon.core.names import address_text


class EngineClient(Protocol):
    """How the UI reaches the engine (:mod:`tuimon.server.client`): a process of its own
    in the app, a service in the same process in tests."""

    label: str  # what the header calls the source

    def start(self, deliver: Callable[[object], None]) -> None:
        """Start (if not yet) and hand every reply to ``deliver`` from now on."""

    def send(self, request) -> None: ...

    def stop(self) -> None: ...


class State(str, Enum):
    """Where a capture is. A ``str`` enum: it pickles by value and compares with text."""

    STARTING = "starting"
    PLAYING = "playing"  # a file, at its recorded pace (or faster)
    CAPTURING = "capturing"  # live
    FINISHED = "finished"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


STARTING, PLAYING, CAPTURING, FINISHED, ERROR = (State.STARTING, State.PLAYING,
                                                 State.CAPTURING, State.FINISHED, State.ERROR)


@dataclass
class Status:
    state: State
    message: str = ""
    source: str = ""
    opened: bool = False  # the source was opened (False with ERROR: it never was)
    note: str = ""  # something to tell the user once (e.g. which interface was picked)
    kernel_counters: int = 0  # the kernel's named counters found (nfacct, nft): the Counters view shows


@dataclass
class Served:
    """What a daemon tells a client that attaches, before its Status: what it counts, so
    the app shows the same tabs and columns as the daemon's own would."""

    source: str  # what the header calls the source
    pid: int
    counters: tuple = ()  # the named counters' (name, expression) pairs
    conntrack: bool = False  # --source conntrack (the NAT column)
    live: bool = True
    csv: str | None = None  # where an attached app's save goes (None: a new folder in the
    #                         daemon's working directory)


@dataclass
class Save:
    folder: str | None = None  # None: a new tuimon-YYYYmmdd-HHMMSS/ in the current directory
    seq: int = 0
    final: bool = False  # the user quits: a live capture is stopped first, so the files
    #                      hold everything, dumpcap's drop counts included


@dataclass
class Saved:
    seq: int
    folder: str
    paths: list = field(default_factory=list)
    error: str | None = None


@dataclass
class Ping:
    seq: int = 0


@dataclass
class Pong:
    seq: int
    pid: int
    modules: list


@dataclass
class Speed:
    step: int = 1  # +1: the next faster speed, -1: the next slower one


@dataclass
class Hold:
    paused: bool = True  # pause (True) or resume (False) a playback


@dataclass
class Stop:
    pass


class PassFd:
    """A file descriptor handed to the worker process ("spawn" keeps only the descriptors
    it is told of): the capture read from standard input while fd 0 serves the terminal."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        from multiprocessing import reduction

        return _rebuild_fd, (reduction.DupFd(self.fd),)


def _rebuild_fd(dup) -> PassFd:
    return PassFd(dup.detach())


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the tables ---------------------------------------------------------------------------

VIEWS = ("interfaces", "hosts", "protocols", "conversations")
COUNTERS_VIEW = "counters"  # the named counters (--counter): a view of its own, key 5,
#                             shown when there are counters
# IPTraf's LAN stations, packet sizes and TCP/UDP ports (keys 6, 7, 8)
STATIONS_VIEW, SIZES_VIEW, PORTS_VIEW = "stations", "sizes", "ports"
PAIRS_VIEW = "pairs"  # host pairs, iftop's main screen: key 9 (p: split by port)
PROCESSES_VIEW = "processes"  # local processes' traffic (psutil): key 0
ALL_VIEWS = (*VIEWS, COUNTERS_VIEW, STATIONS_VIEW, SIZES_VIEW, PORTS_VIEW, PAIRS_VIEW,
             PROCESSES_VIEW)
DEFAULT_SORT = "bytes"
# Views whose first order is another than bytes, largest first: (column, descending).
DEFAULT_SORTS = {SIZES_VIEW: ("min_length", False)}

# Sortable columns per view, in display order. Names are the row fields (conversations:
# ``a``/``b`` are the endpoints, ``bytes``/``packets`` both directions together).
COLUMNS: dict[str, tuple[str, ...]] = {
    "interfaces": ("interface", "link", "bytes", "packets", "rate_2s", "rate_10s", "rate_40s",
                   "peak_rate",
                   "in_bytes", "out_bytes", "utilisation", "link_speed", "missed_packets",
                   "drops", "in_packets", "out_packets", "ipv4_packets", "ipv6_packets",
                   "non_ip_packets", "undecoded_packets", "skipped_records",
                   "kernel_in_bytes", "kernel_out_bytes", "kernel_in_packets",
                   "kernel_out_packets", "kernel_errors", "kernel_drops"),
    "hosts": ("address", "bytes", "packets", "rate_2s", "rate_10s", "rate_40s", "peak_rate",
              "app_protocols",
              "tx_bytes", "rx_bytes", "tx_packets", "rx_packets", "first_seen", "last_seen"),
    "protocols": ("protocol", "layer", "bytes", "packets", "share", "rate_2s", "rate_10s",
                  "rate_40s"),
    "conversations": ("protocol", "a", "b", "app_protocol", "bytes", "packets", "rate_2s",
                      "rate_10s", "rate_40s", "service", "tcp_flags", "bytes_a_to_b", "bytes_b_to_a",
                      "packets_a_to_b", "packets_b_to_a", "first_seen", "last_seen", "nat"),
    "pairs": ("a", "b", "rate_a_to_b_2s", "rate_b_to_a_2s", "rate_a_to_b_10s",
              "rate_b_to_a_10s", "rate_a_to_b_40s", "rate_b_to_a_40s", "bytes_a_to_b",
              "bytes_b_to_a", "peak_a_to_b", "peak_b_to_a", "bytes", "packets", "rate_2s",
              "rate_10s", "rate_40s", "packets_a_to_b", "packets_b_to_a", "conversations",
              "protocol", "first_seen", "last_seen"),
    "processes": ("name", "pid", "rate_sent_2s", "rate_received_2s", "rate_sent_10s",
                  "rate_received_10s", "rate_sent_40s", "rate_received_40s", "bytes_sent",
                  "bytes_received", "bytes", "packets", "rate_2s", "rate_10s", "rate_40s",
                  "packets_sent", "packets_received", "conversations", "first_seen",
                  "last_seen"),
    "counters": ("name", "expression", "packets", "bytes", "rate_2s", "rate_10s", "rate_40s",
                 "since", "total_packets", "total_bytes", "resets", "quota_used"),
    "stations": ("mac", "vendor", "bytes", "packets", "tx_bytes", "rx_bytes", "tx_packets",
                 "rx_packets", "vlans", "addresses"),
    "sizes": ("interface", "min_length", "packets", "bytes", "share"),
    "ports": ("protocol", "port", "service", "bytes", "packets"),
}
TEXT_COLUMNS = frozenset({"interface", "link", "address", "protocol", "layer", "a", "b",
                          "service", "tcp_flags", "app_protocol", "app_protocols", "name",
                          "expression", "nat", "mac", "vendor", "vlans", "addresses"})


def default_descending(column: str) -> bool:
    """Numbers sort largest first, text A to Z."""
    return column not in TEXT_COLUMNS


@dataclass(frozen=True)
class Query:
    view: str = "hosts"
    sort: str = DEFAULT_SORT
    descending: bool = True
    filter: str = ""
    offset: int = 0  # first visible row
    limit: int = 50  # visible rows
    margin: int = 0  # extra rows sent before and after the window (smooth scrolling)
    cursor: int = 0  # index of the cursor row as the UI last knew it
    cursor_key: Hashable | None = None  # the row under the cursor, to follow; None: keep index
    freeze: bool = False  # keep the order rows had when freezing; new rows go last
    seq: int = 0  # echoed in the page
    # The UI's once-a-second refresh, not a key: while a live capture's counting is behind,
    # such queries are answered only every REFRESH_BEHIND seconds (the engine sheds its own
    # work, never packets); a key's query is always answered at once.
    refresh: bool = False
    # Names on (n): the page's addresses get their reverse-DNS names (Page.names), looked
    # up in the background (server/resolver.py); off: none is looked up.
    names: bool = False
    ports: bool = False  # the Pairs view: a row per protocol and ports (p), not per host pair


REFRESH_BEHIND = 3.0  # seconds between two answered refreshes while the counting is behind
LAG_SHOWN = 0.5  # the counting is "behind" once its newest packet is this old and more wait


@dataclass
class Lag:
    """A live capture's counting is behind: packets wait in dumpcap's pipe."""

    seconds: float  # from the newest packet counted to now
    packets: int  # waiting in the pipes (estimated from their bytes)
    kernel_bps: float | None = None  # the interfaces' rate by the kernel's counters,
    kernel_pps: float | None = None  # what the header shows while behind


@dataclass
class Page:
    seq: int
    view: str
    sort: str
    descending: bool
    filter: str
    error: str | None  # the filter did not parse (the page is unfiltered then)
    total: int  # rows passing the filter
    count: int  # rows in the view
    offset: int  # first visible row, after following the cursor
    start: int  # index of rows[0] (offset minus the margin)
    rows: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    cursor: int = 0
    cursor_key: Hashable | None = None
    totals: Totals | None = None
    frozen: bool = False
    quotas: list = field(default_factory=list)  # QuotaUse of each --quota, as it stands
    # Conversations: the indexes in ``rows`` of conversations that left the table (expired)
    expired: tuple = ()
    # Filled in by the worker:
    state: State = State.STARTING
    message: str = ""
    source: str = ""
    elapsed: float = 0.0
    progress: Progress | None = None  # a playback's; None when live
    note: str = ""  # e.g. tshark missing: application protocols by port only
    lag: Lag | None = None  # a live capture's counting is behind (None: it keeps up)
    # The Interfaces view's sparklines: interface name -> Trail, for the page's rows.
    trails: dict = field(default_factory=dict)
    # Query.names: address text -> name, for the page's addresses whose name is known.
    names: dict = field(default_factory=dict)
    # --alert: the last ALERTS_SENT alerts (server/alerts.py's Alert), how many were raised
    # in all (the app notifies those it has not seen) and how many rules are over now.
    alerts: list = field(default_factory=list)
    alerts_count: int = 0
    alerts_active: int = 0


ALERTS_SENT = 20


class Alert(NamedTuple):
    """One alert raised (server/alerts.py): a rule's crossing, or a new host. ``time`` on
    the capture clock; ``value`` and ``threshold`` in ``unit`` (``b/s`` for rates, ``%``
    for a share of the link speed, "" for new-host)."""

    time: float
    alert: str
    subject: str
    value: float | None
    threshold: float | None
    unit: str


SPARK_STEP = 4  # seconds of capture time per sparkline column
SPARK_POINTS = 120  # columns sent (8 minutes); the UI draws as many as fit, newest last


@dataclass
class Trail:
    """One interface's last SPARK_POINTS × SPARK_STEP seconds, bytes per second averaged
    over each SPARK_STEP, oldest first. ``direction``: in and out are known (else only
    ``total`` means anything)."""

    total: list
    in_rate: list
    out_rate: list
    direction: bool


@dataclass
class CheckFilter:
    text: str
    seq: int = 0


@dataclass
class FilterChecked:
    seq: int
    text: str
    error: str | None  # None: valid


@dataclass
class ResetCounters:
    """Read and zero the named counters ``names`` (None: every one) in one step."""

    names: tuple | None = None
    seq: int = 0


@dataclass
class CountersReset:
    """The counters as they were at the instant of the reset (CounterRow each): nothing
    counted before it is in the next figures, nothing after it in these."""

    seq: int
    rows: list = field(default_factory=list)
    error: str | None = None


# -- history --------------------------------------------------------------------------

HISTORY_KINDS = {"interfaces": "interface", "hosts": "host", "protocols": "protocol",
                 "conversations": "conversation"}
# span -> (its length in seconds, the seconds per point read from the database)
SPANS: dict[str, tuple[int, int]] = {
    "hour": (3600, 60),  # per second from memory where it has it (interfaces)
    "day": (86400, 60),
    "month": (30 * 86400, 3600),
    "year": (365 * 86400, 86400),
}


@dataclass
class HistoryOf:
    """The traffic of one interface (``key``: its name), host (its address), protocol
    (``(layer, protocol)``) or conversation (its row key, ``(proto, a, port a, b, port
    b)``) over the last ``span`` (a key of SPANS)."""

    kind: str  # interface, host, protocol or conversation
    key: Hashable
    span: str = "hour"
    seq: int = 0


@dataclass
class HistoryChart:
    """The answer to ``HistoryOf``: bytes per point from ``start`` (Unix seconds UTC), a
    point every ``step`` seconds, oldest first; ``out_bytes`` None when the figures have no
    direction (protocols, an interface whose direction is not known: ``in_bytes`` is then
    all of it). ``profile``: the 24 hours of the day (UTC) as ``(hour, days, bytes, in,
    out)``, each the average of the days that had traffic in it, over the last 30 days
    (empty without a database). ``source``: "memory" or "history"; ``note``: one line
    to show (no database, nothing recorded)."""

    seq: int
    kind: str
    key: Hashable
    span: str
    step: int = 60
    start: int = 0
    bytes: list = field(default_factory=list)
    in_bytes: list = field(default_factory=list)
    out_bytes: list | None = None
    profile: list = field(default_factory=list)
    source: str = "history"
    note: str = ""
    now: float = 0.0  # the clock the span ends at (a playback's: the capture's)
    # today, this week, this accounting period: (name, first second, bytes, in, out), read
    # from the database's days (they survive restarts); empty without one, or for protocols
    periods: list = field(default_factory=list)


# -- playback ---------------------------------------------------------------------------

@dataclass
class Progress:
    """How far a playback has got; the UI draws its progress bar from this."""

    packets: int = 0  # packet records handed to the engine
    first: float | None = None  # capture time of the first packet
    reached: float | None = None  # capture time the playback has reached
    position: int = 0  # bytes of the file consumed (compressed bytes of a .gz)
    size: int | None = None  # the file's size; None for standard input (no percentage)
    speed: float = 1.0  # multiple of the recorded pace; 0: as fast as possible
    paused: bool = False
    finished: bool = False
    gaps: int = 0  # gaps longer than max_gap skipped
    skipped: float = 0.0  # capture seconds skipped over them
    max_gap: float = 5.0

    @property
    def percent(self) -> float | None:
        if self.finished and self.size is not None:
            return 100.0
        if not self.size:
            return None
        return max(0.0, min(100.0, 100.0 * self.position / self.size))

    @property
    def offset(self) -> float:
        """Capture seconds from the first packet to where the playback is."""
        if self.first is None or self.reached is None:
            return 0.0
        return max(0.0, self.reached - self.first)


# -- drill-down -------------------------------------------------------------------------

LIST_LIMIT = 10_000


@dataclass
class Packets:
    key: tuple  # a conversation's row key: (proto, a, port a, b, port b)
    seq: int = 0


class PacketRow(NamedTuple):
    number: int  # frame number in the playback file; in the ring, the packet's place in the list
    ts: float
    reverse: bool  # B -> A
    length: int  # on the wire
    captured: int
    flags: str  # TCP flags, "" for other protocols
    info: str  # tshark's Info column


@dataclass
class PacketList:
    seq: int
    key: tuple
    rows: list = field(default_factory=list)
    found: int = 0  # packets of the conversation found (more than len(rows) when cut)
    cut: bool = False
    note: str = ""  # e.g. what the ring no longer holds
    error: str | None = None


@dataclass
class Dissect:
    key: tuple
    index: int  # into PacketList.rows
    seq: int = 0


@dataclass
class Dissection:
    seq: int
    key: tuple
    index: int
    tree: list = field(default_factory=list)  # (depth, text, pos, size)
    data: bytes = b""
    error: str | None = None


@dataclass
class WritePcap:
    key: tuple
    folder: str | None = None  # None: the current directory
    seq: int = 0


@dataclass
class Written:
    seq: int
    key: tuple
    path: str = ""
    packets: int = 0
    note: str = ""
    error: str | None = None


# Requests whose slow part (files, tshark, the history database) runs in the engine
# process's drill thread, so counting goes on meanwhile.
DRILL_REQUESTS = (Packets, Dissect, WritePcap, HistoryOf)


def conversation_name(key: tuple, proto_name: str) -> str:
    proto, a, pa, b, pb = key

    def end(addr, port) -> str:
        text = address_text(addr)
        if port is None:
            return text
        return f"[{text}]:{port}" if ":" in text else f"{text}:{port}"

    return f"{proto_name} {end(a, pa)} ⇄ {end(b, pb)}"
