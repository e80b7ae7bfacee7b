"""pcap and pcapng reading: byte orders, resolutions, several interfaces, streaming, damage."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from tests.support import pcapbuild as pb
from tuimon.capture.file import FileSource
from tuimon.capture.reader import CaptureReader
from tuimon.errors import BadCaptureFile

DATA = Path(__file__).resolve().parents[1] / "data"
FRAME = pb.eth(pb.ipv4("10.1.1.1", "10.1.1.2", 17, pb.udp(1, 2, b"abc")))


def read_all(path) -> tuple[list, FileSource]:
    source = FileSource(str(path))
    records = [r for batch in source.batches() for r in batch]
    return records, source


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path, endian, nano):
    path = tmp_path / "t.pcap"
    pb.write_pcap(path, [(1_700_000_000.123456, FRAME), (1_700_000_001.5, FRAME, 1500)],
                  endian=endian, nano=nano)
    records, _ = read_all(path)
    assert [(r[0], r[2]) for r in records] == [(0, len(FRAME)), (0, 1500)]
    assert records[0][1] == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert records[0][3][4:6] == (1, 2)


def test_pcapng_interfaces_with_own_link_types_and_resolutions(tmp_path):
    path = tmp_path / "t.pcapng"
    interfaces = [{"linktype": 1, "name": "eth0"}, {"linktype": 101, "tsresol": 9, "name": "tun0"},
                  {"linktype": 1, "tsresol": 0x80 | 10, "tsoffset": 100}]
    raw = FRAME[14:]
    pb.write_pcapng(path, interfaces, [(0, 2_000_000, FRAME), (1, 3_000_000_000, raw),
                                       (2, 1024 * 5, FRAME)], endian=">")
    records, source = read_all(path)
    assert [i.name for i in source.interfaces] == ["eth0", "tun0", "t.pcapng#2"]
    assert [i.link for i in source.interfaces] == ["ether", "rawip", "ether"]
    assert [(r[0], r[1]) for r in records] == [(0, 2.0), (1, 3.0), (2, 105.0)]
    assert all(r[3][4:6] == (1, 2) for r in records)


def test_streaming_byte_by_byte_gives_the_same_records():
    data = (DATA / "dns.pcap").read_bytes()
    whole = CaptureReader("x")
    whole.feed(data)
    expected = whole.records()
    trickle = CaptureReader("x")
    got = []
    for i in range(len(data)):
        trickle.feed(data[i:i + 1])
        got += trickle.records()
    trickle.finish()
    assert len(got) == len(expected) == 5
    assert [r[:5] for r in got] == [r[:5] for r in expected]
    # each record points at its own frame's bytes, wherever the chunk boundaries fell
    assert [r[5][r[6]:r[7]] for r in got] == [r[5][r[6]:r[7]] for r in expected]


@pytest.mark.parametrize("name", ["1kxun.pcap", "bets.pcapng", "quic-v2.pcapng", "badpackets.pcap"])
def test_any_chunk_size_gives_the_same_records(name, tmp_path):
    """The record a chunk boundary cuts is parsed from a small buffer of its own, then the
    chunk goes on where it ends: records, their frames and what was skipped do not depend
    on where the boundaries fall (including a big-endian pcapng with two sections)."""
    data = (DATA / name).read_bytes()
    whole = CaptureReader("x")
    whole.feed(data)
    expected = whole.records()
    whole.finish()
    assert len(expected) > 10
    for chunk in (13, 64, 100, 997, 4096, 65536):
        reader = CaptureReader("x")
        got = []
        for i in range(0, len(data), chunk):
            reader.feed(data[i:i + chunk])
            got += reader.records()
        reader.finish()
        assert [r[:5] for r in got] == [r[:5] for r in expected], chunk
        assert [r[5][r[6]:r[7]] for r in got] == [r[5][r[6]:r[7]] for r in expected], chunk
        assert reader.skipped == whole.skipped
    # fed twice before parsing: the same too
    path = tmp_path / "two.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}], [(0, 1, FRAME)] * 5, endian=">")
    two = path.read_bytes() + path.read_bytes()  # a second section, its own byte order
    reader = CaptureReader("x")
    got = []
    for i in range(0, len(two), 50):
        reader.feed(two[i:i + 50])
        if i % 100:
            got += reader.records()
    got += reader.records()
    reader.finish()
    assert len(got) == 10 and not reader.skipped
    assert all(r[5][r[6]:r[7]] == FRAME for r in got)


def test_truncated_final_record_is_reported_and_the_rest_counted(tmp_path):
    path = tmp_path / "cut.pcap"
    pb.write_pcap(path, [FRAME] * 3)
    path.write_bytes(path.read_bytes()[:-10])
    records, source = read_all(path)
    assert len(records) == 2
    assert source.reader.skipped == {"truncated final record": 1}


def test_record_longer_than_any_snapshot_stops_reading(tmp_path):
    path = tmp_path / "bad.pcap"
    pb.write_pcap(path, [FRAME, FRAME])
    data = bytearray(path.read_bytes())
    second = 24 + 16 + len(FRAME)
    struct.pack_into("<I", data, second + 8, 10_000_000)
    path.write_bytes(bytes(data))
    records, source = read_all(path)
    assert len(records) == 1
    assert sum(source.reader.skipped.values()) == 1


def test_bad_pcapng_block_length_stops_reading(tmp_path):
    path = tmp_path / "bad.pcapng"
    pb.write_pcapng(path, [{"linktype": 1}], [(0, 1, FRAME), (0, 2, FRAME)])
    data = bytearray(path.read_bytes())
    last_block = len(data) - (12 + 20 + len(FRAME) + (-len(FRAME)) % 4)
    struct.pack_into("<I", data, last_block + 4, 13)  # not a multiple of 4
    path.write_bytes(bytes(data))
    records, source = read_all(path)
    assert len(records) == 1
    assert "bad pcapng block length (file damaged)" in source.reader.skipped


def test_gzip_and_stdin(tmp_path, monkeypatch):
    raw = (DATA / "dns.pcap").read_bytes()
    gz = tmp_path / "dns.pcap.gz"
    gz.write_bytes(gzip.compress(raw))
    assert len(read_all(gz)[0]) == 5

    class Stdin:
        buffer = open(DATA / "dns.pcap", "rb")

    monkeypatch.setattr("sys.stdin", Stdin)
    records, source = read_all("-")
    assert len(records) == 5 and source.name == "stdin"
    Stdin.buffer.close()


@pytest.mark.parametrize("content,message", [(b"", "empty file"), (b"hello world, not a capture", "not a pcap"),
                                             (b"\xd4\xc3", "not a pcap")])
def test_not_a_capture(tmp_path, content, message):
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(BadCaptureFile, match=message):
        read_all(path)


def test_missing_and_directory(tmp_path):
    with pytest.raises(BadCaptureFile, match="no such file"):
        FileSource(str(tmp_path / "nope.pcap"))
    with pytest.raises(BadCaptureFile, match="is a directory"):
        FileSource(str(tmp_path))


def test_interface_names_are_neutralised(tmp_path):
    path = tmp_path / "evil.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0\x1b[31mred\x07"}], [(0, 1, FRAME)])
    _, source = read_all(path)
    assert source.interfaces[0].name == "eth0\\x1b[31mred\\x07"
