"""Config: every option of a tuimon run, typed, frozen, with its default.

:mod:`tuimon.cli` builds one from the command line; everything else receives it (the engine
process gets a pickled copy). Tests build one directly: ``Config(read="x.pcap",
dissect_packets=0)``. Nothing reads options any other way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# What dumpcap keeps of each packet on a live capture (``--snaplen``). Every count uses the
# length the wire carried (the record header's original length), so a short snapshot keeps
# every figure exact; the application dissection (a conversation's first packets) and
# drill-down need payload. 256 bytes hold every header and the start of the payload the
# dissector names protocols from (bench/snaplen.py: 2,599 of 2,600 conversations of
# tests/data keep their application protocol), and cut what capture bandwidth goes on:
# full-size and offloaded (GSO/GRO) frames. Measured in docs/speed.md.
SNAPLEN = 256


@dataclass(frozen=True)
class Config:
    interfaces: tuple[str, ...] = ()  # live: interfaces to capture on (empty: the default one)
    read: str | None = None  # -r FILE ('-' standard input)
    capture_filter: str | None = None  # -f EXPR, a BPF filter (live, or playback via tcpdump)
    speed: float | None = None  # playback pace; None: 1 in the app, as fast as possible headless
    max_gap: float = 5.0  # playback skips quiet gaps longer than this (seconds)
    no_ui: bool = False
    csv: str | None = None  # folder for the CSV files
    duration: float | None = None  # stop a live capture after this many seconds
    interval: float = 1.0  # table refresh in the app (seconds)
    ring_mb: float = 64.0  # live capture in the app: recent traffic kept for drill-down
    snaplen: int = SNAPLEN  # live: bytes dumpcap keeps of each packet (0: all of it)
    flow_timeout: float | None = None  # idle seconds before a conversation leaves (0: never)
    max_flows: int = 1_000_000  # most conversations kept (0: no bound)
    max_hosts: int = 200_000  # most hosts kept; the least recent fold into "(other hosts)"
    dissect_packets: int = 10  # first packets of a TCP/UDP conversation tshark names (0: none)
    list_interfaces: bool = False
    history: str | None = None  # --history PATH: the history database (docs/history.md)
    no_history: bool = False  # --no-history: record nothing (overrides --history)
    history_conversations: bool = False  # --history-conversations: a row per conversation too
    billing_day: int = 1  # --billing-day N: the accounting period starts on day N (1-28)
    # --history-keep GRAIN=AGE: (grain, seconds or None for ever) over the defaults
    history_keep: tuple[tuple[str, int | None], ...] = ()
    # --counter NAME=EXPR and --counters FILE: (name, expression) pairs, checked by cli.py
    counters: tuple[tuple[str, str], ...] = ()
    # --quota NAME=SIZE/PERIOD: (counter name, bytes, "day" | "week" | "month")
    quotas: tuple[tuple[str, int, str], ...] = ()
    source: str = "capture"  # --source: "capture" (packets) or "conntrack" (kernel flows)
    enable_acct: bool = False  # --enable-acct: turn net.netfilter.nf_conntrack_acct on
    # --metrics [ADDR:]PORT: serve Prometheus metrics (docs/fleet.md); checked by cli.py
    metrics: str | None = None
    metrics_top_hosts: int = 0  # --metrics-top-hosts N: the N busiest hosts get a series each
    metrics_linger: float = 0.0  # --metrics-linger SECS: headless, serve the end that long
    ipfix: str | None = None  # --ipfix HOST:PORT: export conversations to an IPFIX collector
    ipfix_active: float = 60.0  # --ipfix-active SECS: a long conversation's record interval
    # --alert EXPR (repeatable): the expressions, checked by cli.py (server/alertspec.py)
    alerts: tuple[str, ...] = ()
    resolve: bool = False  # --resolve: reverse DNS names (the app's n starts on; hosts.csv)
    # Subcommands (docs/fleet.md): None is the usual ``tuimon [IFACE ...] | -r FILE``;
    # "serve" the daemon, "attach" the app on a daemon's socket, "web" the app in a
    # browser, "ctl" a one-shot request to a daemon.
    subcommand: str | None = None
    control: str | None = None  # serve: --control PATH; attach/web/ctl: the SOCKET named
    control_group: str | None = None  # serve --control-group NAME: the socket's group
    web_bind: tuple[str, int] = ("127.0.0.1", 8080)  # web --web-bind ADDR:PORT
    web_public_url: str | None = None  # web --web-public-url URL (behind a proxy)
    ctl_reset: tuple[str, ...] = ()  # ctl counters --reset NAME (repeatable)
    ctl_reset_all: bool = False  # ctl counters --reset-all

    @property
    def serve(self) -> bool:
        """``tuimon serve``: the daemon. Not ``no_ui``: like the app it plays a file at its
        recorded pace and keeps a drill-down ring, for the apps attached to it."""
        return self.subcommand == "serve"

    @property
    def conntrack(self) -> bool:
        """The kernel's connection tracking is the source (flows, not packets)."""
        return self.source == "conntrack"

    @property
    def live(self) -> bool:
        return self.read is None

    @property
    def play_speed(self) -> float:
        """The pace a playback starts at: ``--speed``, else 1 in the app, 0 (as fast as
        possible) headless."""
        if self.speed is not None:
            return self.speed
        return 0.0 if self.no_ui else 1.0

    @property
    def ring_bytes(self) -> int:
        """The drill-down ring of a live capture; headless keeps none (nothing drills)."""
        return 0 if self.no_ui else int(max(0.0, self.ring_mb) * (1 << 20))

    def label(self) -> str:
        """What the header calls the source before it is opened."""
        import os

        if self.read is not None:
            return "stdin" if self.read == "-" else os.path.basename(self.read)
        if self.conntrack:
            return "conntrack"
        label = ", ".join(self.interfaces or ("default interface",))
        if self.capture_filter:
            label += f" ({self.capture_filter})"
        return label

    def but(self, **changes) -> "Config":
        """A copy with ``changes``."""
        return replace(self, **changes)
