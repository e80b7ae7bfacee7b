"""The columns of the views (the four, the named counters', stations, sizes, ports, the
host pairs', the processes'): title, width, alignment and how a row's cell reads.

Column names are the engine's sort keys (``tuimon.server.query.COLUMNS``).
Cells are plain strings; text that came from packets or files goes through
``tuimon.text.printable`` so it can never be an escape sequence or markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from tuimon.text import printable
from tuimon.ui import format as fmt
from tuimon.ui.quota import cell as quota_cell


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    width: int  # minimum width
    right: bool = True  # numbers right-aligned
    cell: Callable = lambda row, human: ""
    max_width: int = 0  # text columns: grow with the content up to this
    named: bool = False  # cell(row, human, names): shows names (n) where it has them


def _size(attr):
    get = attrgetter(attr)
    return lambda row, human: fmt.size(get(row), human)


def _count(attr):
    get = attrgetter(attr)
    return lambda row, human: fmt.count(get(row), human)


def _rate(attr):
    get = attrgetter(attr)
    return lambda row, human: fmt.bitrate(get(row), human)


def _time(attr):
    get = attrgetter(attr)
    return lambda row, human: fmt.clock_time(get(row))


def _text(attr):
    get = attrgetter(attr)
    return lambda row, human: printable(str(get(row) or ""), 64)


def _speed(mbps: int | None, human: bool) -> str:
    """Link speed in Mb/s: ``1 Gb/s``, ``100 Mb/s``; raw: Mb/s as a number."""
    if mbps is None:
        return ""
    if not human:
        return str(mbps)
    return f"{mbps / 1000:g} Gb/s" if mbps >= 1000 else f"{mbps} Mb/s"


def _tree_name(row, human) -> str:
    """A protocol row's name, indented by its depth in the hierarchy (as tshark -z io,phs)."""
    return "  " * row.depth + printable(row.protocol, 40)


def _address(row, human, names=None) -> str:
    """A host's name when names are on and it has one (n), else its address."""
    return printable((names or {}).get(row.address) or row.address, 64)


def _endpoint(which: str):
    """Conversations' A or B: name:port when names are on and it has one, else address:port."""
    get_address, get_port = attrgetter(f"address_{which}"), attrgetter(f"port_{which}")

    def cell(row, human, names=None) -> str:
        address = get_address(row)
        return printable(fmt.endpoint((names or {}).get(address) or address, get_port(row)))

    return cell


def _app(row, human) -> str:
    """The application protocol; a guess from the port ends in '?'."""
    if not row.app_protocol:
        return ""
    return printable(row.app_protocol, 32) + ("?" if row.app_source == "port" else "")


_BLOCKS = " ▏▎▍▌▋▊▉█"
BAR_WIDTH = 20


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """``share`` percent as a bar of ``width`` cells at most, in eighths of a cell."""
    eighths = round(max(0.0, min(share, 100.0)) * width * 8 / 100)
    full, part = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[part] if part else "")


def _share(row, human) -> str:
    """A packet-size bucket's share of its interface's frames, and IPTraf's bar (full
    length: the interface's largest bucket)."""
    return f"{row.share:5.1f}% {share_bar(100.0 * row.share / row.peak if row.peak else 0.0)}"


def _length(row, human) -> str:
    """``0-19``, ... ``5120+``: a bucket's frame lengths."""
    if row.max_length is None:
        return f"{row.min_length}+"
    return f"{row.min_length}-{row.max_length}"


_RATES = [Column("rate_2s", "2s", 10, cell=_rate("rate_2s")),
          Column("rate_10s", "10s", 10, cell=_rate("rate_10s")),
          Column("rate_40s", "40s", 10, cell=_rate("rate_40s"))]
# The highest 2 s rate seen (blank where no rates are kept: the other-hosts row)
_PEAK = Column("peak_rate", "Peak", 10,
               cell=lambda r, h: "" if r.peak_rate is None else fmt.bitrate(r.peak_rate, h))
_TRAFFIC = [Column("bytes", "Bytes", 8, cell=_size("bytes")),
            Column("packets", "Packets", 7, cell=_count("packets"))]

VIEW_COLUMNS: dict[str, list[Column]] = {
    "interfaces": [
        Column("interface", "Interface", 10, False, _text("interface"), 32),
        Column("link", "Link", 6, False, _text("link"), 16),
        *_TRAFFIC, *_RATES, _PEAK,
        # Direction, where the link tells it; then how busy the link is, what was lost.
        Column("in_bytes", "In", 8, cell=_size("in_bytes")),
        Column("out_bytes", "Out", 8, cell=_size("out_bytes")),
        Column("utilisation", "Util", 6,
               cell=lambda r, h: "" if r.utilisation is None else f"{r.utilisation:.1f}%"),
        Column("link_speed", "Speed", 8, cell=lambda r, h: _speed(r.link_speed, h)),
        Column("missed_packets", "Missed", 6, cell=_count("missed_packets")),
        Column("drops", "Drops", 5, cell=lambda r, h: "n/a" if r.drops is None else fmt.count(r.drops, h)),
        Column("in_packets", "In pkts", 7, cell=_count("in_packets")),
        Column("out_packets", "Out pkts", 8, cell=_count("out_packets")),
        Column("ipv4_packets", "IPv4", 6, cell=_count("ipv4_packets")),
        Column("ipv6_packets", "IPv6", 6, cell=_count("ipv6_packets")),
        Column("non_ip_packets", "Non-IP", 6, cell=_count("non_ip_packets")),
        Column("undecoded_packets", "Undecoded", 9, cell=_count("undecoded_packets")),
        Column("skipped_records", "Skipped", 7, cell=_count("skipped_records")),
        # The kernel's own counters during the capture (live interfaces only).
        Column("kernel_in_bytes", "Kern in", 8, cell=_size("kernel_in_bytes")),
        Column("kernel_out_bytes", "Kern out", 8, cell=_size("kernel_out_bytes")),
        Column("kernel_in_packets", "Kern in pkts", 12, cell=_count("kernel_in_packets")),
        Column("kernel_out_packets", "Kern out pkts", 13, cell=_count("kernel_out_packets")),
        Column("kernel_errors", "Errors", 6, cell=_count("kernel_errors")),
        Column("kernel_drops", "Kern drops", 10, cell=_count("kernel_drops")),
    ],
    "hosts": [
        Column("address", "Address", 15, False, _address, 39, named=True),
        *_TRAFFIC, *_RATES, _PEAK,
        Column("app_protocols", "Apps", 5, False, _text("app_protocols"), 24),
        Column("tx_bytes", "Sent", 8, cell=_size("tx_bytes")),
        Column("rx_bytes", "Received", 8, cell=_size("rx_bytes")),
        Column("tx_packets", "Sent pkts", 9, cell=_count("tx_packets")),
        Column("rx_packets", "Recv pkts", 9, cell=_count("rx_packets")),
        Column("first_seen", "First", 8, cell=_time("first_seen")),
        Column("last_seen", "Last", 8, cell=_time("last_seen")),
    ],
    "protocols": [
        Column("protocol", "Protocol", 10, False, _tree_name, 32),
        Column("layer", "Layer", 11, False, _text("layer"), 12),
        *_TRAFFIC,
        Column("share", "Share", 6, cell=lambda r, h: f"{r.share:.1f}%"),
        *_RATES,
    ],
    "conversations": [
        Column("protocol", "Proto", 5, False, _text("protocol"), 10),
        Column("a", "A", 17, False, _endpoint("a"), 47, named=True),
        Column("b", "B", 17, False, _endpoint("b"), 47, named=True),
        Column("app_protocol", "App", 4, False, _app, 16),
        *_TRAFFIC, *_RATES,
        Column("service", "Service", 7, False, _text("service"), 16),
        Column("tcp_flags", "Flags", 5, False, _text("tcp_flags"), 9),
        Column("bytes_a_to_b", "A→B", 8, cell=_size("bytes_a_to_b")),
        Column("bytes_b_to_a", "B→A", 8, cell=_size("bytes_b_to_a")),
        Column("packets_a_to_b", "A→B pkts", 8, cell=_count("packets_a_to_b")),
        Column("packets_b_to_a", "B→A pkts", 8, cell=_count("packets_b_to_a")),
        Column("first_seen", "First", 8, cell=_time("first_seen")),
        Column("last_seen", "Last", 8, cell=_time("last_seen")),
        # --source conntrack: a NATed flow's reply tuple (B' > A'), the kernel's
        Column("nat", "NAT reply", 9, False, _text("nat"), 47),
    ],
    # iftop's main screen: A and B, then the rates each way (→ A to B, ← B to A)
    "pairs": [
        Column("a", "A", 15, False,
               lambda r, h: printable(fmt.endpoint(r.address_a, r.port_a)), 47),
        Column("b", "B", 15, False,
               lambda r, h: printable(fmt.endpoint(r.address_b, r.port_b)), 47),
        Column("rate_a_to_b_2s", "→2s", 9, cell=_rate("rate_a_to_b_2s")),
        Column("rate_b_to_a_2s", "←2s", 9, cell=_rate("rate_b_to_a_2s")),
        Column("rate_a_to_b_10s", "→10s", 9, cell=_rate("rate_a_to_b_10s")),
        Column("rate_b_to_a_10s", "←10s", 9, cell=_rate("rate_b_to_a_10s")),
        Column("rate_a_to_b_40s", "→40s", 9, cell=_rate("rate_a_to_b_40s")),
        Column("rate_b_to_a_40s", "←40s", 9, cell=_rate("rate_b_to_a_40s")),
        Column("bytes_a_to_b", "Sent", 8, cell=_size("bytes_a_to_b")),
        Column("bytes_b_to_a", "Recv", 8, cell=_size("bytes_b_to_a")),
        Column("peak_a_to_b", "Peak→", 9, cell=_rate("peak_a_to_b")),
        Column("peak_b_to_a", "Peak←", 9, cell=_rate("peak_b_to_a")),
        *_TRAFFIC, *_RATES,
        Column("packets_a_to_b", "A→B pkts", 8, cell=_count("packets_a_to_b")),
        Column("packets_b_to_a", "B→A pkts", 8, cell=_count("packets_b_to_a")),
        Column("conversations", "Convs", 5, cell=_count("conversations")),
        Column("protocol", "Proto", 5, False, _text("protocol"), 10),
        Column("first_seen", "First", 8, cell=_time("first_seen")),
        Column("last_seen", "Last", 8, cell=_time("last_seen")),
    ],
    # nethogs / bandwhich: per local process, sent and received apart
    "processes": [
        Column("name", "Process", 12, False, _text("name"), 48),
        Column("pid", "PID", 7, cell=lambda r, h: "" if r.pid is None else str(r.pid)),
        Column("rate_sent_2s", "Sent 2s", 10, cell=_rate("rate_sent_2s")),
        Column("rate_received_2s", "Recv 2s", 10, cell=_rate("rate_received_2s")),
        Column("rate_sent_10s", "Sent 10s", 10, cell=_rate("rate_sent_10s")),
        Column("rate_received_10s", "Recv 10s", 10, cell=_rate("rate_received_10s")),
        Column("rate_sent_40s", "Sent 40s", 10, cell=_rate("rate_sent_40s")),
        Column("rate_received_40s", "Recv 40s", 10, cell=_rate("rate_received_40s")),
        Column("bytes_sent", "Sent", 8, cell=_size("bytes_sent")),
        Column("bytes_received", "Received", 8, cell=_size("bytes_received")),
        *_TRAFFIC, *_RATES,
        Column("packets_sent", "Sent pkts", 9, cell=_count("packets_sent")),
        Column("packets_received", "Recv pkts", 9, cell=_count("packets_received")),
        Column("conversations", "Convs", 5, cell=_count("conversations")),
        Column("first_seen", "First", 8, cell=_time("first_seen")),
        Column("last_seen", "Last", 8, cell=_time("last_seen")),
    ],
    "counters": [
        Column("name", "Counter", 7, False, _text("name"), 24),
        Column("expression", "Expression", 10, False, _text("expression"), 40),
        *_TRAFFIC, *_RATES,
        Column("since", "Since", 8, cell=_time("since")),
        Column("total_bytes", "Total", 8, cell=_size("total_bytes")),
        Column("total_packets", "Total pkts", 10, cell=_count("total_packets")),
        Column("resets", "Resets", 6, cell=_count("resets")),
        Column("quota_used", "Quota", 5, False, quota_cell, 34),
    ],
    "stations": [
        Column("mac", "MAC", 17, False, _text("mac"), 17),
        Column("vendor", "Vendor", 6, False, _text("vendor"), 24),
        *_TRAFFIC,
        Column("tx_bytes", "Sent", 8, cell=_size("tx_bytes")),
        Column("rx_bytes", "Received", 8, cell=_size("rx_bytes")),
        Column("tx_packets", "Sent pkts", 9, cell=_count("tx_packets")),
        Column("rx_packets", "Recv pkts", 9, cell=_count("rx_packets")),
        Column("vlans", "VLANs", 5, False, _text("vlans"), 16),
        Column("addresses", "Addresses", 9, False, _text("addresses"), 64),
    ],
    "sizes": [
        Column("interface", "Interface", 10, False, _text("interface"), 32),
        Column("min_length", "Length", 9, cell=_length),
        Column("packets", "Packets", 7, cell=_count("packets")),
        Column("bytes", "Bytes", 8, cell=_size("bytes")),
        Column("share", "Share of packets", 7 + BAR_WIDTH, False, _share),
    ],
    "ports": [
        Column("protocol", "Proto", 5, False, _text("protocol"), 5),
        Column("port", "Port", 5, cell=lambda r, h: str(r.port)),
        Column("service", "Service", 7, False, _text("service"), 20),
        *_TRAFFIC,
    ],
}

# Shown only when the app is told to (``MonitorApp(extra_columns=...)``): the NAT reply
# tuple exists only with --source conntrack.
# The quota's use exists only with --quota.
OPTIONAL_COLUMNS = frozenset({"nat", "quota_used"})

VIEW_TITLES = {"interfaces": "Interfaces", "hosts": "Hosts", "protocols": "Protocols",
               "conversations": "Conversations", "counters": "Counters", "stations": "Stations",
               "sizes": "Sizes", "ports": "Ports", "pairs": "Pairs", "processes": "Processes"}


def column_titled(view: str, name: str) -> str:
    for column in VIEW_COLUMNS[view]:
        if column.name == name:
            return column.title
    return name
