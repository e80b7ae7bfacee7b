"""Plain data handed out by the engine: rows of its tables and the totals.

Rows are NamedTuples of text, ints and floats: picklable (they cross the process
boundary to the UI), easy to write to CSV, and free of anything Textual.
Times are seconds since the epoch (UTC); rates are bytes per second over iftop's
2 s, 10 s and 40 s windows.
"""

from __future__ import annotations

from typing import NamedTuple


class InterfaceRow(NamedTuple):
    interface: str
    packets: int
    bytes: int
    link: str
    ipv4_packets: int
    ipv6_packets: int
    non_ip_packets: int
    undecoded_packets: int
    first_seen: float | None
    last_seen: float | None
    drops: int | None
    skipped_records: int
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    skipped_reasons: str = ""  # "reason: count; ...", most frequent first
    # Direction, where the link tells it (None: it does not).
    in_packets: int | None = None
    in_bytes: int | None = None
    out_packets: int | None = None
    out_bytes: int | None = None
    # The kernel's own counters during the capture (live interfaces; None: not known).
    kernel_in_packets: int | None = None
    kernel_in_bytes: int | None = None
    kernel_out_packets: int | None = None
    kernel_out_bytes: int | None = None
    kernel_errors_in: int | None = None
    kernel_errors_out: int | None = None
    kernel_drops_in: int | None = None
    kernel_drops_out: int | None = None
    link_speed: int | None = None  # Mb/s
    utilisation: float | None = None  # percent of the link speed, busier direction, 2 s
    missed_packets: int | None = None  # kernel packets - captured packets (unfiltered only)
    peak_rate: float | None = None  # the highest 2 s rate seen (bytes/s); None: no rates kept

    @property
    def kernel_errors(self) -> int | None:
        if self.kernel_errors_in is None:
            return None
        return self.kernel_errors_in + self.kernel_errors_out

    @property
    def kernel_drops(self) -> int | None:
        if self.kernel_drops_in is None:
            return None
        return self.kernel_drops_in + self.kernel_drops_out


class HostRow(NamedTuple):
    address: str
    packets: int
    bytes: int
    tx_packets: int
    tx_bytes: int
    rx_packets: int
    rx_bytes: int
    first_seen: float
    last_seen: float
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    app_protocols: str = ""  # the host's application protocols, most bytes first
    peak_rate: float | None = None  # the highest 2 s rate seen (bytes/s); None: no rates kept
    name: str = ""  # its reverse-DNS name, filled in by the server's resolver ("" : none)


class ProtocolRow(NamedTuple):
    protocol: str
    packets: int
    bytes: int
    layer: str  # link, network, transport, application
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    path: str = ""  # place in the hierarchy: "ether/ipv4/tcp/tls"
    depth: int = 0  # 0 for the top rows
    share: float = 0.0  # percent of all bytes


class ConversationRow(NamedTuple):
    protocol: str
    address_a: str
    port_a: int | None
    address_b: str
    port_b: int | None
    packets_a_to_b: int
    bytes_a_to_b: int
    packets_b_to_a: int
    bytes_b_to_a: int
    first_seen: float
    last_seen: float
    tcp_flags: str
    service: str
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    app_protocol: str = ""  # Wireshark's name: "tls", "dns" ...
    app_source: str = ""  # "dissector" (tshark said so), "port" (a guess), "" (nothing)
    nat: str = ""  # conntrack source, a NATed flow: its reply tuple, "B' > A'" (flows.py)

    @property
    def packets(self) -> int:
        return self.packets_a_to_b + self.packets_b_to_a

    @property
    def bytes(self) -> int:
        return self.bytes_a_to_b + self.bytes_b_to_a


class StationRow(NamedTuple):
    """A MAC address of an Ethernet link (tuimon.core.stations); tx: the frames it sent."""
    mac: str  # lower case, colons: "00:1c:42:8e:70:31"
    vendor: str  # Wireshark's manufacturer name, "" when not known
    packets: int
    bytes: int
    tx_packets: int
    tx_bytes: int
    rx_packets: int
    rx_bytes: int
    vlans: str  # the VLAN ids of its frames, ascending: "10 20"
    addresses: str  # the IP addresses it sent from: "192.0.2.1 2001:db8::1 +3 more"


class SizeRow(NamedTuple):
    """One frame-length bucket of one interface (tuimon.core.sizes)."""
    interface: str
    min_length: int
    max_length: int | None  # None: the last bucket, no bound
    packets: int
    bytes: int
    share: float = 0.0  # percent of the interface's frames
    peak: float = 0.0  # the interface's largest share (its bars' full length)


class PortRow(NamedTuple):
    """A TCP or UDP port (tuimon.core.ports): frames with it as source or destination."""
    protocol: str  # tcp, udp
    port: int
    service: str  # /etc/services, "" when it names none
    packets: int
    bytes: int


class Totals(NamedTuple):
    packets: int
    bytes: int
    first_seen: float | None
    last_seen: float | None
    undecoded: int
    skipped_records: int
    drops: int
    hosts: int
    conversations: int
    rate_2s: float = 0.0
    rate_10s: float = 0.0
    rate_40s: float = 0.0
    packet_rate_2s: float = 0.0
    drops_reported: bool = False  # some capture said how many it dropped (else drops is 0)
    missed: int | None = None  # kernel packets - captured packets, live and unfiltered only
    expired: int = 0  # conversations that left the table (idle timeout or --max-flows)
    app_waiting: int = 0  # conversations waiting for the dissector's verdict
    app_skipped: int = 0  # conversations never dissected (tshark was behind): port guess only
    hosts_folded: int = 0  # hosts folded into the "(other hosts)" row (--max-hosts)
    expired_listed: int = 0  # of the expired, those still listed (Conversations view)


class Snapshot(NamedTuple):
    now: float | None
    totals: Totals
    interfaces: list[InterfaceRow]
    hosts: list[HostRow]
    protocols: list[ProtocolRow]
    conversations: list[ConversationRow]
    counters: list = []  # CounterRow (tuimon.core.counters), in the order configured
    stations: list = []  # StationRow
    sizes: list = []  # SizeRow
    ports: list = []  # PortRow
    pairs: list = []  # PairRow (tuimon.core.pairs) by addresses, when the engine keeps them
    processes: list = []  # ProcessRow (tuimon.core.processes), when the engine keeps them
