"""The Stations, Sizes and Ports accounts (tuimon/core/stations.py, sizes.py, ports.py,
vendors.py): the batch-at-a-time path against the record-at-a-time one, the rules at
their edges, and the tab bar's layouts (tuimon/ui/tabs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tuimon.capture.columns import PacketColumns
from tuimon.capture.decode import ether
from tuimon.capture.file import FileSource
from tuimon.core.engine import Engine
from tuimon.core.sizes import EDGES, Sizes
from tuimon.core.stations import ADDRESS_CAP, ADDRESS_SHOWN, mac_text
from tuimon.core.vendors import Vendors
from tuimon.server.filter import FilterContext, compile_filter, parse
from tuimon.ui.tabs import VIEW_KEYS, fit, layouts

DATA = Path(__file__).resolve().parents[1] / "data"


def _engines(path) -> tuple[Engine, Engine, int]:
    """The capture counted twice: batches of columns, and the same records as lists."""
    source = FileSource(str(path))
    batches = list(source.batches())
    by_columns, by_records = Engine(rates=False), Engine(rates=False)
    for e in (by_columns, by_records):
        for iface in source.interfaces:
            e.set_interface(iface.index, iface.name, iface.link)
    columns = 0
    for batch in batches:
        by_columns.ingest(batch)
        if isinstance(batch, PacketColumns):
            columns += int(batch.cols["fast"].sum())
        by_records.ingest(list(batch))
    return by_columns, by_records, columns


def _same(path) -> int:
    a, b, fast = _engines(path)
    a.fold()
    b.fold()
    assert sorted(a.station_rows()) == sorted(b.station_rows())
    assert a.size_rows() == b.size_rows()
    assert sorted(a.port_rows()) == sorted(b.port_rows())
    return fast


@pytest.mark.parametrize("name", ["1kxun.pcap", "snmp.pcap", "hsrp2_ipv6.pcapng", "vxlan.pcap",
                                  "4in4tunnel.pcap", "http_ipv6.pcap", "log4j-webapp-exploit.pcap"])
def test_columns_count_as_records_do(name):
    fast = _same(DATA / name)
    if name in ("1kxun.pcap", "hsrp2_ipv6.pcapng", "vxlan.pcap", "http_ipv6.pcap"):
        assert fast, "no fast rows: the numpy path was not exercised"


def _frame(dst: int, src: int, payload: bytes, etype: int = 0x0800, vlans=()) -> bytes:
    return dst.to_bytes(6, "big") + src.to_bytes(6, "big") + pb.eth(payload, etype, vlans)[12:]


def test_mixed_links_vlans_ipv6_and_many_addresses(tmp_path):
    """Ethernet beside a Linux cooked capture (no stations), tags (802.1Q, 802.1ad, both),
    IPv6, a station sending from more addresses than it keeps; both paths agree."""
    router, host, bcast = 0x02AA00000001, 0x02AA00000002, 0xFFFFFFFFFFFF
    packets = []
    for i in range(ADDRESS_CAP + 40):
        src = f"10.{i >> 8}.{i & 255}.1"
        packets.append((0, 1_700_000_000_000_000 + i,
                        _frame(host, router, pb.ipv4(src, "192.0.2.9", 17, pb.udp(5000 + i % 7, 53, b"q" * 20)))))
        packets.append((1, 1_700_000_000_000_000 + i, pb.sll(pb.ipv4(src, "192.0.2.9", 17, pb.udp(1, 2)))))
    packets += [
        (0, 1_700_000_001_000_000, _frame(router, host, pb.ipv4("192.0.2.9", "10.0.0.1", 6, pb.tcp(53, 5000)),
                                           vlans=((0x8100, 10),))),
        (0, 1_700_000_001_000_001, _frame(bcast, host, pb.ipv4("192.0.2.9", "10.0.0.1", 17, pb.udp(9, 9)),
                                           vlans=((0x88A8, 100), (0x8100, 20)))),
        (0, 1_700_000_001_000_002, _frame(router, host, pb.ipv6("2001:db8::9", "2001:db8::1", 17,
                                                                pb.udp(9, 10)), 0x86DD)),
        (0, 1_700_000_001_000_003, _frame(bcast, host, b"\0" * 28, 0x0806)),
        (0, 1_700_000_001_000_004, _frame(host, router, b"")[:13]),  # shorter than a header
    ]
    path = tmp_path / "mixed.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 113, "name": "any"}], packets)
    assert _same(path)
    e = _engines(path)[0]
    rows = {r.mac: r for r in e.station_rows()}
    assert set(rows) == {mac_text(router), mac_text(host), mac_text(bcast)}
    r, h, b = rows[mac_text(router)], rows[mac_text(host)], rows[mac_text(bcast)]
    n = ADDRESS_CAP + 40
    assert (r.tx_packets, r.rx_packets, h.tx_packets, h.rx_packets) == (n, 2, 4, n)
    assert (b.tx_packets, b.rx_packets, b.addresses) == (0, 2, "")
    assert h.vlans == "10 20 100" and r.vlans == "10" and b.vlans == "20 100"
    assert h.addresses == "192.0.2.9 2001:db8::9"
    assert r.addresses.endswith(f" +{ADDRESS_CAP - ADDRESS_SHOWN} or more")
    assert len(r.addresses.split()) == ADDRESS_SHOWN + 3
    assert [s.interface for s in e.size_rows()] == ["eth0"] * 10 + ["any"] * 10


def _cut_engine(path, rows: int) -> Engine:
    """The capture counted with its batches cut into ``rows`` rows each (live batches are
    small), every view asked for only at the end."""
    source = FileSource(str(path))
    e = Engine(rates=False)
    for batch in source.batches():
        for iface in source.interfaces:
            e.set_interface(iface.index, iface.name, iface.link)
        for i in range(0, len(batch), rows):
            e.ingest(batch[i:i + rows])
    e.fold()
    return e


def test_a_station_keeps_its_lowest_addresses_whatever_their_order_or_batches(tmp_path):
    """More addresses than a station keeps, coming highest first, IPv6 among them, a VLAN
    tag on some frames: the same rows by records, by whole batches and by batches of
    one, three and many rows (the fast rows are counted many batches at once), and the
    addresses shown are the lowest of all it sent from."""
    router, host = 0x02AA00000001, 0x02AA00000002
    n = ADDRESS_CAP + 70
    packets = []
    for i in reversed(range(n)):
        src = f"10.{i >> 8}.{i & 255}.1"
        vlans = ((0x8100, 7),) if i % 5 == 0 else ()
        packets.append((0, 1_700_000_000_000_000 + n - i, _frame(
            host, router, pb.ipv4(src, "192.0.2.9", 17, pb.udp(5000, 53, b"q" * (i % 50))),
            vlans=vlans)))
        if i % 40 == 0:
            packets.append((0, 1_700_000_000_000_000 + n - i, _frame(
                host, router, pb.ipv6(f"2001:db8::{i:x}", "2001:db8::1", 17, pb.udp(9, 10)),
                0x86DD)))
    path = tmp_path / "many.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}], packets)
    assert _same(path)
    whole = sorted(_engines(path)[0].station_rows())
    for rows in (1, 3, 50, 100_000):
        assert sorted(_cut_engine(path, rows).station_rows()) == whole, rows
    r = {s.mac: s for s in whole}[mac_text(router)]
    lowest = [f"10.0.{i}.1" for i in range(ADDRESS_SHOWN)]
    assert r.addresses.split()[:ADDRESS_SHOWN] == lowest
    assert r.addresses.endswith(f" +{ADDRESS_CAP - ADDRESS_SHOWN} or more")
    assert r.tx_packets == n + len(range(0, n, 40)) and r.vlans == "7"
    e = _cut_engine(path, 7)
    vlan = {p.protocol: p.packets for p in e.protocol_rows() if p.protocol.startswith("vlan")}
    assert vlan == {"vlan": len(range(0, n, 5)), "vlan 7": len(range(0, n, 5))}


def test_size_buckets_at_their_edges():
    sizes = Sizes()
    lengths = [0, 19, 20, 39, 40, 5119, 5120, 70000]
    sizes.ingest([(0, 0.0, n, None, 0, b"", 0, 0) for n in lengths])
    sizes.ingest([(1, 0.0, 64, None, 0, b"", 0, 0)])
    rows = sizes.rows(["a", "b"])
    a = {(r.min_length, r.max_length): (r.packets, r.bytes) for r in rows if r.interface == "a"}
    assert a[(0, 19)] == (2, 19) and a[(20, 39)] == (2, 59) and a[(40, 79)] == (1, 40)
    assert a[(2560, 5119)] == (1, 5119) and a[(5120, None)] == (2, 75120)
    assert [r.min_length for r in rows if r.interface == "a"] == list(EDGES)
    assert [(r.packets, r.share) for r in rows if r.interface == "b" and r.packets] == [(1, 100.0)]


def test_ports_count_a_frame_once_under_equal_ports():
    e = Engine(rates=False)
    e.set_interface(0, "eth0", "ether")
    records = []
    for frame in (pb.eth(pb.ipv4("192.0.2.1", "192.0.2.2", 17, pb.udp(53, 53, b"x"))),
                  pb.eth(pb.ipv4("192.0.2.1", "192.0.2.2", 6, pb.tcp(40000, 443))),
                  pb.eth(pb.ipv4("192.0.2.2", "192.0.2.1", 6, pb.tcp(443, 40000))),
                  pb.eth(pb.ipv4("192.0.2.1", "192.0.2.2", 17, b"later fragment", frag=8))):
        records.append((0, 1.0, len(frame), ether(frame, 0, len(frame)), 0, frame, 0, len(frame)))
    e.ingest(records)
    e.fold()
    ports = {(r.protocol, r.port): (r.packets, r.service) for r in e.port_rows()}
    assert ports == {("udp", 53): (1, "domain"), ("tcp", 443): (2, "https"),
                     ("tcp", 40000): (2, "")}


def test_vendors_longest_prefix_and_a_missing_file():
    v = Vendors(["# comment\n", "00:1B:C5\tIEEERegi\tIEEE Registration Authority\n",
                 "00:1B:C5:00:00:00/36\tConvergi\tConverging Systems Inc.\n",
                 "9C-B6-D0\tRivetNet\n", "junk line\n"])
    assert v(0x001BC5000123) == "Converging Systems Inc."
    assert v(0x001BC5ABCDEF) == "IEEE Registration Authority"
    assert v(0x9CB6D0000001) == "RivetNet"
    assert v(0x123456789ABC) == ""
    from tuimon.server.manuf import load_vendors
    assert load_vendors("/nonexistent/manuf")(0x9CB6D0000001) == ""


def test_view_filters():
    e = Engine(rates=False)
    ctx = FilterContext(e)
    from tuimon.core.model import PortRow, StationRow
    dns, web = PortRow("udp", 53, "domain", 1, 90), PortRow("tcp", 443, "https", 2, 200)
    pick = lambda text, view, rows: [r for r in rows if compile_filter(parse(text), view, ctx)(r)]
    assert pick("port 53", "ports", [dns, web]) == [dns]
    assert pick("proto tcp", "ports", [dns, web]) == [web]
    assert pick("proto https", "ports", [dns, web]) == [web]
    st = StationRow("02:00:00:00:00:01", "Acme", 1, 60, 1, 60, 0, 0, "10", "192.0.2.1 2001:db8::1 +3 more")
    other = st._replace(mac="02:00:00:00:00:02", addresses="198.51.100.1")
    assert pick("host 2001:db8::1", "stations", [st, other]) == [st]
    assert pick("net 198.51.100.0/24", "stations", [st, other]) == [other]
    assert pick("acme", "stations", [st, other]) == [st, other]
    assert compile_filter(parse("host 192.0.2.1"), "sizes", ctx) is None  # no meaning there


def test_every_tab_fits_80_columns():
    views = tuple(VIEW_KEYS)  # all ten, Pairs and Processes included
    labels = fit(views, 80)
    assert [v for v, _ in labels] == list(views)
    assert sum(len(label) + 1 for _, label in labels) - 1 <= 80
    assert all(label.strip().startswith(VIEW_KEYS[v]) for v, label in labels)
    assert len(set(VIEW_KEYS.values())) == len(VIEW_KEYS)
    assert fit(views, 200) == layouts(views)[0]  # full titles when there is room
    assert fit(views, 10) == layouts(views)[-1]  # the narrowest, cropped
