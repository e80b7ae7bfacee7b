"""Real captures damaged on purpose, at every layer: what is still valid is counted exactly as
Wireshark counts it, the rest is undecoded or reported as skipped, and nothing raises.

Where Wireshark gives up on a file and tuimon reads on, the test says so and checks tuimon
against tshark on the same file with the damaged blocks cut out.
"""

from __future__ import annotations

import csv
import shutil
import struct
import sys
from pathlib import Path

import pytest

from tests.support import corrupt as c
from tests.support import oracle
from tests.support.figures import assert_same, our_figures
from tuimon.capture.file import FileSource
from tuimon.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
SMTP = (DATA / "smtp.pcap").read_bytes()  # Ethernet, IPv4, TCP; 95 records
V6 = (DATA / "http_ipv6.pcap").read_bytes()  # Ethernet, IPv6, TCP; 193 records

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

# name -> damaged bytes. Every one is compared with tshark's dissection of the same file.
LAYERS = {
    # IPv4 header length under 20 bytes: Wireshark's "bogus IP header length", no addresses.
    "ipv4-ihl-0": lambda: c.ihl_short(SMTP, 0),
    "ipv4-ihl-16": lambda: c.ihl_short(SMTP, 4),
    "ipv4-version-7": lambda: c.ip_version(SMTP, 7),
    # An IPv4 ethertype with an IPv6 version: Wireshark dissects the IPv6 header it finds.
    "ipv4-version-6": lambda: c.ip_version(SMTP, 6),
    "ipv4-total-length-past-the-frame": lambda: c.ip_total_length(SMTP, 60000),
    "ipv4-total-length-under-the-header": lambda: c.ip_total_length(SMTP, 10),
    "ipv4-total-length-0": lambda: c.ip_total_length(SMTP, 0),
    "ethertype-unknown": lambda: c.ethertype(SMTP, 0x1234),
    "ethertype-ipv6-on-ipv4": lambda: c.ethertype(SMTP, 0x86DD),
    "ethertype-vlan-on-ipv4": lambda: c.ethertype(SMTP, 0x8100),
    "ethertype-mpls-on-ipv4": lambda: c.ethertype(SMTP, 0x8847),
    "ethertype-pppoe-on-ipv4": lambda: c.ethertype(SMTP, 0x8864),
    "ipv6-extension-chain-past-the-packet": lambda: c.v6_chain_past_end(V6),
    "snapped-in-tcp-header": lambda: c.snap_records(SMTP, 40),
    "snapped-in-ipv4-header": lambda: c.snap_records(SMTP, 20),
    "snapped-in-ethernet-header": lambda: c.snap_records(SMTP, 10),
    "snapped-in-ipv6-header": lambda: c.snap_records(V6, 30),
    "snapped-after-ipv6-header": lambda: c.snap_records(V6, 60),
    # Captured length above the file's snapshot length: Wireshark reads the record whole.
    "captured-longer-than-snapshot-length": lambda: c.header_field(SMTP, 16, 50),
    # Captured length above the wire length: the bytes are the wire length, as in Wireshark
    # (which notes "frame length is less than captured length"), the frame decoded whole.
    "captured-longer-than-wire-length": lambda: c.wire_shorter(SMTP, 20),
    "wire-length-0": lambda: c.wire_shorter(SMTP, 0),
    "link-type-wireshark-cannot-dissect": lambda: c.header_field(SMTP, 20, 147),  # USER0
}


@needs_tshark
@pytest.mark.parametrize("name", LAYERS)
def test_damaged_layer_matches_tshark(name, tmp_path):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(LAYERS[name]())
    assert path.read_bytes() != SMTP and path.read_bytes() != V6
    assert_same(path, tmp_path / "out")


def interfaces_csv(folder: Path) -> list[dict]:
    with open(folder / "interfaces.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ipv4_header_length_under_20_is_undecoded_and_still_counted(tmp_path):
    path = tmp_path / "ihl.pcap"
    path.write_bytes(c.ihl_short(SMTP, 4))
    assert main(["-r", str(path), "--no-ui", "--csv", str(tmp_path / "o")]) == 0
    [row] = interfaces_csv(tmp_path / "o")
    assert (row["packets"], row["undecoded_packets"]) == ("95", "32")  # every third frame
    assert int(row["bytes"]) == sum(orig for _, _, orig in c.records(SMTP))


def test_unknown_link_type_counts_every_frame_as_undecoded(tmp_path):
    """Wireshark refuses a pcap of a link type it does not know ("network type 9999 unknown
    or unsupported"); tuimon counts its frames, all undecoded, so the totals still hold."""
    path = tmp_path / "linktype-9999.pcap"
    path.write_bytes(c.header_field(SMTP, 20, 9999))
    assert main(["-r", str(path), "--no-ui", "--csv", str(tmp_path / "o")]) == 0
    [row] = interfaces_csv(tmp_path / "o")
    assert row["link"] == "linktype-9999"
    assert (row["packets"], row["undecoded_packets"], row["ipv4_packets"]) == ("95", "95", "0")
    assert int(row["bytes"]) == sum(orig for _, _, orig in c.records(SMTP))
    assert (tmp_path / "o" / "hosts.csv").read_text().count("\n") == 1  # the header only


# -- pcapng blocks Wireshark stops at and tuimon skips ----------------------------------------

def blocks(data: bytes) -> list[tuple[int, int, int]]:
    out, pos = [], 0
    while pos + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((pos, btype, blen))
        pos += blen
    return out


MINING = (DATA / "mining.pcapng").read_bytes()  # one interface, 673 packet blocks
EPBS = [pos for pos, btype, _ in blocks(MINING) if btype == 6]


def without(data: bytes, positions: set[int]) -> bytes:
    return b"".join(data[pos:pos + blen] for pos, _, blen in blocks(data) if pos not in positions)


@needs_tshark
@pytest.mark.parametrize("kind", ["captured length past its block", "undeclared interface"])
def test_pcapng_bad_packet_blocks_are_skipped_and_the_rest_read(kind, tmp_path):
    """A packet block whose captured length runs past the block, or which names an interface
    the section never declared: Wireshark stops reading the file there ("appears to be
    damaged or corrupt"). The block's own length still frames the file, so tuimon skips that
    block, says so, and reads on: its figures are tshark's on the file without those blocks."""
    data = bytearray(MINING)
    if kind == "captured length past its block":
        damaged = {EPBS[100]}
        struct.pack_into("<I", data, EPBS[100] + 20, 60000)
        reason = "packet block shorter than its captured length"
    else:
        damaged = set(EPBS[::5])
        for pos in damaged:
            struct.pack_into("<I", data, pos + 8, 5)
        reason = "packet for an undeclared interface"
    path = tmp_path / "damaged.pcapng"
    path.write_bytes(bytes(data))
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(without(bytes(data), damaged))

    source = FileSource(str(path))
    assert sum(len(b) for b in source.batches()) == len(EPBS) - len(damaged)
    assert source.skip_reasons() == {reason: len(damaged)}
    ours = our_figures(path, tmp_path / "out", "--flow-timeout", "0", "--max-flows", "0")
    theirs = oracle.figures(str(cut))  # tshark never expires a conversation
    assert ours == theirs
    assert len(oracle.tshark_lines(str(path))) < len(EPBS) - len(damaged)  # Wireshark stopped


@needs_tshark
def test_pcapng_interface_snapshot_length_below_the_packets(tmp_path):
    """Packet blocks longer than their interface's snapshot length are read whole, as
    Wireshark reads them."""
    data = bytearray(MINING)
    [idb] = [pos for pos, btype, _ in blocks(MINING) if btype == 1]
    struct.pack_into("<I", data, idb + 12, 40)
    path = tmp_path / "snap40.pcapng"
    path.write_bytes(bytes(data))
    assert_same(path, tmp_path / "out")


@needs_tshark
def test_pcapng_wire_length_below_captured_length(tmp_path):
    data = bytearray(MINING)
    for pos in EPBS[::3]:
        struct.pack_into("<I", data, pos + 24, 10)
    path = tmp_path / "wire.pcapng"
    path.write_bytes(bytes(data))
    assert_same(path, tmp_path / "out")


@needs_tshark
def test_pcapng_unknown_link_type(tmp_path):
    data = bytearray(MINING)
    [idb] = [pos for pos, btype, _ in blocks(MINING) if btype == 1]
    struct.pack_into("<H", data, idb + 8, 9999)
    path = tmp_path / "link.pcapng"
    path.write_bytes(bytes(data))
    assert_same(path, tmp_path / "out")
    [row] = interfaces_csv(tmp_path / "out")
    assert row["undecoded_packets"] == row["packets"] == str(len(EPBS))


def test_damage_is_reported_in_every_output(tmp_path):
    """The same damaged file: the summary, interfaces.csv and the CLI exit status agree."""
    data = bytearray(MINING)
    struct.pack_into("<I", data, EPBS[10] + 20, 60000)
    path = tmp_path / "d.pcapng"
    path.write_bytes(bytes(data))
    import subprocess

    r = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(path), "--no-ui"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == ""
    assert "1 records skipped" in r.stdout.splitlines()[0]
    assert "packet block shorter than its captured length: 1" in r.stdout.splitlines()[1]


def test_pcapng_blocks_too_short_for_their_type_are_skipped(tmp_path):
    """A packet block and an interface block whose (consistent) length leaves no room for
    their fixed fields: found by the fuzz test, once a struct.error. Skipped, said, the rest
    read."""
    short_epb = struct.pack("<III", 6, 12, 12)
    short_idb = struct.pack("<III", 1, 12, 12)
    data = MINING[:EPBS[50]] + short_epb + short_idb + MINING[EPBS[50]:]
    path = tmp_path / "short.pcapng"
    path.write_bytes(data)
    source = FileSource(str(path))
    assert sum(len(b) for b in source.batches()) == len(EPBS)
    assert source.skip_reasons() == {"pcapng block too short for its type": 2}
    assert len(source.interfaces) == 1


def test_pcapng_section_header_too_short_stops_reading(tmp_path):
    data = MINING + struct.pack("<III", 0x0A0D0D0A, 12, 12) + MINING
    path = tmp_path / "short-shb.pcapng"
    path.write_bytes(data)
    source = FileSource(str(path))
    assert sum(len(b) for b in source.batches()) == len(EPBS)
    assert source.skip_reasons() == {"bad pcapng section header": 1}


async def test_app_header_shows_records_skipped(tmp_path):
    from tests.support.cut import cut_mid_record
    from tests.support.app import make_app, settle, visible_column

    app = make_app(str(cut_mid_record(tmp_path)), view="interfaces")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        header = str(app.header.render())
        assert "Total 94 pkts" in header and "Skipped 1" in header
        assert visible_column(app, "skipped_records") == [1]  # the interfaces table's column
    intact = make_app(str(DATA / "dns.pcap"))
    async with intact.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert "Skipped" not in str(intact.header.render())  # shown only when there are some
