"""Crafted captures (issue 19) through the reader, the time formatting, the CSV writer and
the labeller's pcapng writer: far timestamps, records claiming gigabytes, forged wire
lengths, pcap format 2.0. What tshark says of the same files: tests/oracle/test_crafted.py;
the CLI on them, signals included: tests/system/test_crafted.py."""

from __future__ import annotations

import struct
import time
import tracemalloc

import pytest

from tests.support import crafted as c
from tuimon import timefmt
from tuimon.capture.file import FileSource
from tuimon.capture.reader import (FRAME_LEN_CAPPED, MAX_FRAME_LEN, TOO_LONG, CaptureReader,
                                   max_record)


def read_all(path, chunk: int = 1 << 20) -> tuple[list, FileSource]:
    source = FileSource(str(path), chunk=chunk)
    return [r for batch in source.batches() for r in batch], source


# -- time formatting ------------------------------------------------------------------

@pytest.mark.parametrize("sec", [0, 1, -1, 86399, 951782400, 1_700_000_000, 4102444800,
                                 -30610224000, 253402300799])
def test_iso_second_is_gmtime_where_gmtime_works(sec):
    assert timefmt.iso_second(sec) == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


@pytest.mark.parametrize("sec,text", [
    (253402300800, "+10000-01-01T00:00:00"),  # the first second past year 9999
    (-62135596801, "0000-12-31T23:59:59"),  # the last of year 0 (1 BC)
    (-62167219201, "-0001-12-31T23:59:59"),
    ((1 << 63) - 1, "+292277026596-12-04T15:30:07"),  # the largest 64-bit second
    (-(1 << 63), "-292277022657-01-27T08:29:52"),
])
def test_iso_second_past_any_clock(sec, text):
    assert timefmt.iso_second(sec) == text


@pytest.mark.parametrize("ts", [9.3e18, -9.3e18, 1.8e19, 2e13, 1e300, -1e300,
                                float("inf"), float("nan")])
def test_far_times_never_raise(ts):
    for text in (timefmt.iso_utc(ts), timefmt.clock(ts), timefmt.clock_micro(ts),
                 timefmt.stamp(ts)):
        assert isinstance(text, str)
    if ts == ts and abs(ts) != float("inf"):
        assert len(timefmt.clock(ts)) == 8 and timefmt.clock(ts).count(":") == 2


def test_the_ui_formats_far_times():
    from tuimon.ui import format as fmt
    from tuimon.ui.packets import clock

    for ts in (9.3e18, -9.3e18, 1.8e19):
        assert len(fmt.clock_time(ts)) == 8
        assert len(clock(ts)) == 15


# -- far timestamps through the reader, the CSV writer and the labeller's writer ------

@pytest.mark.parametrize("name", c.FAR_TIMES)
def test_far_timestamps_are_read_as_they_are(tmp_path, name):
    records, source = read_all(c.far_time_pcapng(tmp_path, name))
    assert len(records) == 2 and not source.skipped()
    exact = c.far_time_seconds(name)
    assert records[0][1] == pytest.approx(exact, rel=1e-15, abs=1)


@pytest.mark.parametrize("name", c.FAR_TIMES)
def test_far_timestamps_through_the_exporters_and_the_labeller(tmp_path, name):
    from tuimon.core.engine import Engine
    from tuimon.server.labeler import SHB, AppLabeler
    from tuimon.sinks.csv import export_engine

    records, _ = read_all(c.far_time_pcapng(tmp_path, name))
    sent = []

    class Dissector:  # tshark's stand-in: keeps what it is given
        def send(self, data):
            sent.append(data)

        def verdicts(self):
            return []

        def close_input(self):
            pass

        def close(self):
            pass

        def wait(self, timeout):
            pass

    engine = Engine()
    labeler = AppLabeler(engine, dissector_factory=Dissector)
    engine.ingest(records)
    labeler.feed()
    sent_bytes = b"".join(sent)
    reader = CaptureReader("sent")  # what tshark would be given reads back (the UDP frame;
    reader.feed(SHB + sent_bytes)  # a SYN is not sent), the time held to what it can say
    back = reader.records()
    assert [r[3][1] for r in back] == [17] and not reader.skipped
    assert back[0][1] == (0.0 if c.far_time_seconds(name) < 0 else
                          pytest.approx(((1 << 64) - 1) / 1e6))
    out = tmp_path / "csv"
    out.mkdir()
    export_engine(engine, str(out), parallel=False)
    text = (out / "conversations.csv").read_text()
    year = timefmt.iso_second(c.far_time_seconds(name))[:-15]  # the date's year
    assert text.count(f",{year}-") == 4, text  # first and last seen of both conversations
    assert year in (out / "hosts.csv").read_text()
    assert year in (out / "interfaces.csv").read_text()


# -- records claiming more than Wireshark reads --------------------------------------

def test_the_record_bomb_stops_at_once(tmp_path):
    """Snapshot length 0xFFFFFFFF, a record claiming 4 GB: damage, as Wireshark says
    ("bigger than maximum of 262144"), nothing gathered, whatever follows."""
    records, source = read_all(c.record_bomb(tmp_path / "bomb.pcap.gz"), chunk=65536)
    assert records == [] and source.reader.skipped == {TOO_LONG: 1}
    assert source.reader.unparsed() == 0


def test_wiresharks_maximum_per_link_type():
    assert max_record(1) == 262144 and max_record(113) == 262144
    assert max_record(231) == max_record(249) == 128 << 20 and max_record(279) == 8 << 20


def test_a_long_record_is_read_in_linear_time_and_bounded_memory():
    """An 8 MiB EBHSCR record (Wireshark's maximum for that link type) fed 1 KiB at a
    time: joining the chunks one by one would copy 32 GB; gathered, they are joined once."""
    length = max_record(279)
    data = c.pcap_header(0xFFFFFFFF, 279) + struct.pack("<IIII", 1, 0, length, length) + \
        bytes(length) + struct.pack("<IIII", 2, 0, 4, 4) + b"abcd"
    reader = CaptureReader("long")
    records = []
    tracemalloc.start()
    start = time.perf_counter()
    for i in range(0, len(data), 1024):
        reader.feed(data[i:i + 1024])
        records += reader.records()
        assert reader.unparsed() <= length + 16 + 1024
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reader.finish()
    assert [(r[2], r[7] - r[6]) for r in records] == [(length, length), (4, 4)]
    assert not reader.skipped
    assert peak < 2.5 * length + (1 << 20)  # the chunks and their join, once
    assert elapsed < 2.0


def test_a_long_record_gives_the_consumer_a_batch_after_every_chunk(tmp_path):
    """While a record is gathered, empty batches come back: a stop is not held up."""
    path = c.long_records_gz(tmp_path / "long.pcap.gz", records=2, length=8 << 20)
    source = FileSource(str(path), chunk=1 << 20)
    batches = list(source.batches())
    assert sum(len(b) for b in batches) == 2 and len(batches) >= 16


def test_a_record_over_the_link_types_maximum_in_pcapng_stops_reading(tmp_path):
    big = c.UDP + bytes(max_record(1) + 1 - len(c.UDP))
    path = tmp_path / "big.pcapng"
    c.pb.write_pcapng(path, [{"linktype": 1}], [(0, 1, c.UDP), (0, 2, big), (0, 3, c.UDP)])
    records, source = read_all(path)
    assert len(records) == 1 and source.reader.skipped == {TOO_LONG: 1}


# -- forged lengths ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [c.forged_lengths_pcap, c.forged_lengths_pcapng])
def test_forged_wire_lengths_are_capped_as_wireshark_does(tmp_path, make):
    records, source = read_all(make(tmp_path / "forged"))
    assert [r[2] for r in records] == [MAX_FRAME_LEN, MAX_FRAME_LEN, MAX_FRAME_LEN, len(c.UDP)]
    assert source.reader.skipped == {FRAME_LEN_CAPPED: 2}  # 0x7FFFFFFF itself is legal


# -- pcap before format 2.3 ---------------------------------------------------------------

@pytest.mark.parametrize("version", [(2, 0), (2, 1), (2, 2), (2, 3), (543, 0)])
def test_old_pcap_lengths_are_swapped_back(tmp_path, version):
    records, source = read_all(c.swapped_lengths_pcap(tmp_path / "old.pcap", version))
    assert [(r[2], r[7] - r[6]) for r in records] == [(142, len(c.TCP))] * 3
    assert not source.skipped()


def test_pcap_2_3_in_todays_order_is_not_swapped(tmp_path):
    path = tmp_path / "v23.pcap"
    c.pb.write_pcap(path, [(1.0, c.TCP, 142)])
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 6, 3)  # minor version 3
    path.write_bytes(bytes(data))
    records, _ = read_all(path)
    assert [(r[2], r[7] - r[6]) for r in records] == [(142, len(c.TCP))]
