"""The decoder on frames built byte by byte: every link type and encapsulation the issue names."""

import ipaddress

import pytest

from tests.support import pcapbuild as pb
from tuimon.capture import decode as d
from tuimon.capture.linktypes import decoder_for

A, B = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
UDP_A_B = pb.ipv4(A, B, 17, pb.udp(1234, 53, b"x" * 10))


def run(decoder, frame: bytes):
    return decoder(frame, 0, len(frame))


def v4(text):
    return int(ipaddress.IPv4Address(text))


def v6(text):
    return int(ipaddress.IPv6Address(text)) | d.V6


def test_ethernet_udp():
    assert run(d.ether, pb.eth(UDP_A_B)) == (d.IPV4, 17, v4(A), v4(B), 1234, 53, 0)


def test_tcp_flags_include_ns_bit():
    frame = bytearray(pb.eth(pb.ipv4(A, B, 6, pb.tcp(40000, 443, flags=0x12))))
    assert run(d.ether, bytes(frame))[6] == 0x12
    frame[14 + 20 + 12] |= 1  # NS
    assert run(d.ether, bytes(frame))[6] == 0x112


@pytest.mark.parametrize("vlans", [((0x8100, 10),), ((0x88A8, 100), (0x8100, 10)),
                                   ((0x9100, 5), (0x8100, 6))])
def test_vlan_and_qinq(vlans):
    assert run(d.ether, pb.eth(UDP_A_B, vlans=vlans))[:5] == (d.IPV4, 17, v4(A), v4(B), 1234)


def test_mpls_label_stack_to_ipv4_and_ipv6():
    assert run(d.ether, pb.eth(pb.mpls(UDP_A_B, (1, 2, 3)), 0x8847))[0] == d.IPV4
    six = pb.ipv6(A6, B6, 17, pb.udp(5, 6))
    assert run(d.ether, pb.eth(pb.mpls(six), 0x8847))[:4] == (d.IPV6, 17, v6(A6), v6(B6))


def test_pppoe_session():
    assert run(d.ether, pb.eth(pb.pppoe(UDP_A_B), 0x8864))[:3] == (d.IPV4, 17, v4(A))
    six = pb.ipv6(A6, B6, 6, pb.tcp(1, 2))
    assert run(d.ether, pb.eth(pb.pppoe(six, 0x0057), 0x8864))[:2] == (d.IPV6, 6)


def test_linux_cooked_v1_and_v2():
    assert run(d.linux_sll, pb.sll(UDP_A_B))[4:6] == (1234, 53)
    assert run(d.linux_sll2, pb.sll2(UDP_A_B))[4:6] == (1234, 53)
    assert run(d.linux_sll, pb.sll(b"\0" * 28, proto=0x0806))[0] == d.NONIP


def test_raw_null_loop_ppp():
    assert run(d.raw_ip, UDP_A_B)[0] == d.IPV4
    assert run(d.null_loopback, pb.null(UDP_A_B, 2, "<"))[0] == d.IPV4
    assert run(d.null_loopback, pb.null(UDP_A_B, 2, ">"))[0] == d.IPV4
    assert run(d.null_loopback, pb.null(pb.ipv6(A6, B6, 58, b"\x80\0\0\0"), 30, "<"))[0] == d.IPV6
    assert run(d.loop, pb.null(UDP_A_B, 2, ">"))[0] == d.IPV4
    assert run(d.ppp, b"\xff\x03\x00\x21" + UDP_A_B)[0] == d.IPV4
    assert run(d.ppp, b"\x00\x57" + pb.ipv6(A6, B6, 17, pb.udp(1, 2)))[0] == d.IPV6


def test_ipv6_extension_headers_are_skipped_to_the_transport():
    payload = pb.v6_ext(60) + pb.v6_ext(43) + pb.v6_ext(6) + pb.tcp(80, 8080)
    assert run(d.ipv6, pb.ipv6(A6, B6, 0, payload))[1:] == (6, v6(A6), v6(B6), 80, 8080, 2)


def test_ipv6_fragments():
    first = pb.ipv6(A6, B6, 44, pb.v6_frag(17, 0, True) + pb.udp(7, 9, b"a" * 16))
    later = pb.ipv6(A6, B6, 44, pb.v6_frag(17, 24, False) + b"b" * 16)
    assert run(d.ipv6, first)[1:6] == (17, v6(A6), v6(B6), 7, 9)
    assert run(d.ipv6, later)[1:6] == (17, v6(A6), v6(B6), None, None)


def test_ipv4_fragments_other_than_the_first_carry_no_ports():
    first = pb.ipv4(A, B, 17, pb.udp(7, 9, b"a" * 16), mf=True)
    later = pb.ipv4(A, B, 17, b"b" * 16, frag=24)
    assert run(d.ipv4, first)[4:6] == (7, 9)
    assert run(d.ipv4, later)[:6] == (d.IPV4, 17, v4(A), v4(B), None, None)


def test_ipv6_extension_chain_past_the_packet_end():
    header = pb.ipv6(A6, B6, 0, pb.v6_ext(60))
    assert run(d.ipv6, header)[:2] == (d.IPV6, 60)
    assert run(d.ipv6, header)[4] is None


@pytest.mark.parametrize("frame", [
    b"", b"\x00" * 5, pb.eth(b"\x45\x00"), pb.eth(pb.ipv4(A, B, 17, b"")[:19]),
    pb.eth(b"\x44" + pb.ipv4(A, B, 17, b"")[1:]),  # IHL 4: shorter than 20 bytes
    pb.eth(b"\x75" + UDP_A_B[1:]),  # version 7
    pb.eth(UDP_A_B, vlans=((0x8100, 1),))[:15], pb.eth(pb.mpls(b"", (1,)), 0x8847)[:16],
])
def test_garbage_and_truncation_are_undecoded_never_an_exception(frame):
    assert run(d.ether, frame)[0] == d.UNDECODED


def test_non_ip_frames_name_their_ethertype():
    assert run(d.ether, pb.eth(b"\0" * 28, 0x0806))[:2] == (d.NONIP, 0x0806)
    assert run(d.ether, pb.eth(b"\0" * 40, 0x0030))[:2] == (d.NONIP, -1)  # 802.3 length


def test_truncated_transport_keeps_addresses_without_ports():
    rec = run(d.ether, pb.eth(pb.ipv4(A, B, 6, pb.tcp(1, 2))[:22]))
    assert rec == (d.IPV4, 6, v4(A), v4(B), None, None, 0)


def test_ethernet_padding_is_not_read_as_transport():
    # An IPv4 packet whose payload is 2 bytes, padded by Ethernet to 60 bytes.
    frame = pb.eth(pb.ipv4(A, B, 17, b"\x00\x35")) + b"\x99" * 20
    assert run(d.ether, frame)[4] is None


def test_unknown_link_type_decodes_nothing():
    assert decoder_for(9999)(b"\0" * 40, 0, 40) == d.UNDECODED_RECORD


def test_the_fast_ethernet_path_decodes_exactly_as_the_full_decoder():
    """The reader's inlined Ethernet/IPv4/TCP-UDP path and decode.ether_fast give what
    decode.ether gives, for every frame of every Ethernet capture in tests/data, and for
    frames cut at every length."""
    import struct as _struct
    from pathlib import Path

    from tuimon.capture import decode as d
    from tuimon.capture.reader import CaptureReader

    checked = 0
    for path in sorted((Path(__file__).resolve().parents[1] / "data").glob("*.pcap")):
        data = path.read_bytes()
        if data[:4] != b"\xd4\xc3\xb2\xa1" or _struct.unpack_from("<I", data, 20)[0] != 1:
            continue
        reader = CaptureReader(path.name)
        reader.feed(data)
        records = reader.records()
        pos, frames = 24, []
        while pos + 16 <= len(data):
            incl = _struct.unpack_from("<I", data, pos + 8)[0]
            frames.append(data[pos + 16:pos + 16 + incl])
            pos += 16 + incl
        for rec, frame in zip(records, frames):
            assert rec[3] == d.ether(frame, 0, len(frame)), path.name
            assert d.ether_fast(frame, 0, len(frame)) == d.ether(frame, 0, len(frame))
            checked += 1
        for frame in frames[:50]:
            for cut in range(len(frame) + 1):
                assert d.ether_fast(frame, 0, cut) == d.ether(frame, 0, cut)
            for offset in (14, 16, 17, 20, 21, 23, 46):  # vhl, total length, fragment, proto, TCP offset
                for value in (0, 1, 5, 6, 17, 19, 20, 23, 24, 33, 34, 40, 0x20, 0x45, 0x46, 0xFF):
                    bent = bytearray(frame)
                    if offset < len(bent):
                        bent[offset] = value
                    bent = bytes(bent)
                    assert d.ether_fast(bent, 0, len(bent)) == d.ether(bent, 0, len(bent))
    assert checked > 10_000


def test_address_text_is_what_ipaddress_writes():
    """IPv4 text comes from inet_ntoa (faster): the same as ipaddress, at the edges too."""
    import ipaddress
    import random

    from tuimon.core.names import address_text, parse_address

    rng = random.Random(7)
    for a in [0, 1, 255, 256, 0x0A000001, 0xFFFFFFFF] + [rng.getrandbits(32) for _ in range(20000)]:
        text = address_text(a)
        assert text == str(ipaddress.IPv4Address(a)) and parse_address(text) == a
    six = parse_address("2001:db8::1")
    assert address_text(six) == "2001:db8::1" and address_text(parse_address("::ffff:10.0.0.1")) \
        == str(ipaddress.IPv6Address("::ffff:10.0.0.1"))
    # IPv6 from inet_ntop (faster) but where it writes an embedded IPv4 address dotted:
    # runs of zero groups of every length and place, IPv4-mapped and -compatible ones
    groups = [0, 0, 0, 1, 0xFFFF, 0xFFFE, 0x20, 0xDB8]
    for _ in range(50000):
        a = int.from_bytes(b"".join(rng.choice(groups).to_bytes(2, "big") for _ in range(8)),
                           "big")
        if rng.random() < 0.1:
            a &= (1 << 48) - 1 if rng.random() < 0.5 else (0xFFFF << 32) | 0xFFFFFFFF
        text = address_text(a | d.V6)
        assert text == str(ipaddress.IPv6Address(a)) and parse_address(text) == a | d.V6
