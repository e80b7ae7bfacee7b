"""The labeller's own work in the counting thread, with stand-ins for tshark and the
engine: the packet blocks built for a batch at once (byte for byte what
pcapng.packet_block writes frame by frame), what the pipe does not take at once, tshark's
lines read and applied a block at a time, and the bounded last wait."""

from __future__ import annotations

from tuimon.capture.pcapng import MAX_UNITS, packet_block
from tuimon.server.labeler import packet_blocks


def one_by_one(ifid, ts, wlen, buf, start, end) -> bytes:
    """The labeller's former frame-by-frame encoding."""
    units = int(ts * 1e6 + 0.5) if 0 < ts < 1.8e13 else 0 if ts <= 0 else MAX_UNITS
    return packet_block(ifid, units, buf[start:end], wlen)


def test_blocks_are_pcapngs_packet_blocks_frame_by_frame():
    big = bytes(range(256)) * 20
    other = b"\xaa" * 100
    frames = [  # (ifid, time, wire length, buffer, start, end)
        (0, 1_700_000_000.123456, 60, big, 0, 60),
        (0, 1_700_000_000.5, 1514, big, 60, 121),  # cut short: the wire length kept
        (1, 1_700_000_001.0, 10, big, 200, 262),  # a wire length below the captured one
        (0, 0.0, 3, big, 300, 303),  # padding 1, time 0
        (1, -5.5, 2, other, 10, 12),  # before 1970: 0
        (0, 3e13, 4, big, 500, 504),  # too late for 64 bits of microseconds
        (0, float("nan"), 5, other, 0, 5),
        (0, 1.8e13 - 1, 7, big, 1000, 1007),  # the last second that still fits
        (1, 4294.967296, 0, big, 2000, 2000),  # no bytes; 2**32 microseconds
        (0, 1.0000007, 9, big, 7, 16),  # rounded to the nearest microsecond
    ]
    ifids, times, wlens, bufs, starts, ends = zip(*frames)
    want = b"".join(one_by_one(*f) for f in frames)
    assert b"".join(packet_blocks(list(ifids), times, wlens, bufs, starts, ends)) == want
    # one interface for all: an int
    same = [(0, *f[1:]) for f in frames]
    _, times, wlens, bufs, starts, ends = zip(*same)
    assert b"".join(packet_blocks(0, times, wlens, bufs, starts, ends)) == \
        b"".join(one_by_one(*f) for f in same)


def test_header_ends_with_zero_bytes_are_kept():
    """A header whose last bytes are zeros (a wire length of 256) is kept whole: 28 bytes
    per header, never cut at its trailing zeros."""
    buf = bytes(300)
    blocks = packet_blocks(0, [1.0], [256], [buf], [0], [256])
    assert len(blocks[0]) == 28
    assert b"".join(blocks) == packet_block(0, 1_000_000, buf[:256], 256)


# -- verdicts applied (AppLabeler._poll_run), with stand-ins for the engine and tshark -----

class FakeConv:
    def __init__(self, name, app_src="port"):
        self.name, self.app_src, self.app, self.dis_left = name, app_src, None, 10


class FakeEngine:
    def __init__(self):
        self.queue, self.dissect_packets, self.labelled = [], 0, []

    def set_dissection(self, packets):
        self.dissect_packets = packets

    def count_waiting(self, count):
        pass

    def take_dissect_queue(self):
        queued, self.queue = self.queue, []
        return queued

    def label(self, conv, app, source):
        self.labelled.append((conv.name, app))
        conv.app, conv.app_src = app, source

    def stop_dissecting(self, conv):
        conv.dis_left = 0


class FakeTshark:
    pid = 0

    def __init__(self):
        self.sent, self.answers = [], []

    def send(self, data):
        self.sent.append(data)

    def verdicts(self):
        answers, self.answers = self.answers, []
        return answers

    def close_input(self):
        pass

    def wait(self, timeout):
        pass

    def close(self):
        pass


def test_each_conversation_takes_the_first_application_tshark_names():
    """Frames are answered in the order sent: a conversation's application is that of
    its first frame tshark names (frames naming nothing are passed over), later frames'
    names are not applied, nor any to a conversation tshark has named already."""
    from tuimon.server.labeler import AppLabeler

    engine, tshark = FakeEngine(), FakeTshark()
    labeler = AppLabeler(engine, dissector_factory=lambda: tshark)
    a, b, c, d = FakeConv("a"), FakeConv("b"), FakeConv("c"), FakeConv("d", "dissector")
    frames = [a, b, a, c, a, b, d, c]
    engine.queue = [(conv, 0, 1.0, 60, bytes(60), 0, 60) for conv in frames]
    labeler.feed()
    assert labeler.outstanding == 8 and len(tshark.sent) == 1
    # frames 1..8: a: none, tls, http; b: none, none; c: dns, quic; d: ssh
    tshark.answers = [(1, [None, None, "tls"]), (4, ["dns", "http", None, "ssh", "quic"])]
    assert labeler.poll()
    assert engine.labelled == [("a", "tls"), ("c", "dns")]  # in the order named
    assert (a.app, a.app_src, a.dis_left) == ("tls", "dissector", 0)
    assert (b.app, b.app_src, b.dis_left) == (None, "port", 10)
    assert (d.app, d.app_src) == (None, "dissector")  # named before: left as it was
    assert labeler.outstanding == 0 and not labeler.waiting


def test_the_last_wait_is_bounded_and_reads_the_answers_in_gathered_steps():
    """At the end of a file the labeller waits at most ``timeout`` for tshark, and while
    it waits it looks for answers at most every DRAIN_GATHER seconds (not as each line
    comes, which took a core); what tshark did not answer keeps its port guess."""
    import time

    from tuimon.server.labeler import DRAIN_GATHER, AppLabeler

    engine, tshark = FakeEngine(), FakeTshark()
    looks = []
    tshark.verdicts = lambda: looks.append(1) or []  # always "readable", never an answer
    labeler = AppLabeler(engine, dissector_factory=lambda: tshark)
    conv = FakeConv("a")
    engine.queue = [(conv, 0, 1.0, 60, bytes(60), 0, 60)]
    start = time.monotonic()
    labeler.drain(timeout=0.2)
    took = time.monotonic() - start
    assert 0.2 <= took < 1.0
    assert len(looks) <= 0.2 / DRAIN_GATHER + 2
    assert labeler.outstanding == 1 and (conv.app, conv.app_src) == (None, "port")


def test_lines_that_are_not_one_block_of_tsharks_fields_are_read_one_by_one():
    """tshark's lines are split all at once only when every line is a number, a tab and
    the protocols, numbered one after the other; anything else line by line, as before."""
    from tuimon.server.labeler import parse_verdicts

    assert parse_verdicts(b"\tx\n5\teth:ip:udp:dns\n") == [(5, ["dns"])]  # no number
    assert parse_verdicts(b"5\ta\tb\n6\n") == [(5, [None])]  # two tabs, then none
    assert parse_verdicts(b"5\t6\n6\n") == [(5, [None])]  # frame 6's line has no tab
    assert parse_verdicts(b"5\teth:ip:tcp:tls\nx6\teth:ip:udp:dns\n") == [(5, ["tls"])]
    assert parse_verdicts(b"3\teth:ip:tcp:tls") == [(3, ["tls"])]  # the last newline
    assert parse_verdicts(b"\n") == [] and parse_verdicts(b"") == []
    assert parse_verdicts(b"1\teth:ip:tcp\n2\teth:ip:udp:quic\n") == [(1, [None, "quic"])]


def test_at_the_end_tshark_runs_at_the_normal_priority_again():
    """Lowered for the counting (nice 10, or SCHED_IDLE live), tshark gets the normal
    priority back for the last wait, where the system allows it (root here)."""
    import os
    import subprocess
    import sys

    import pytest

    from tuimon.server.labeler import AppLabeler, hurry, lower

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lower(child.pid, idle=True)
        lower(child.pid)
        before = (os.sched_getscheduler(child.pid), os.getpriority(os.PRIO_PROCESS, child.pid))
        assert before == (os.SCHED_IDLE, 10)
        hurry(0)  # never this process
        engine, tshark = FakeEngine(), FakeTshark()
        tshark.pid = child.pid
        labeler = AppLabeler(engine, dissector_factory=lambda: tshark)
        labeler.drain(timeout=0.05)  # nothing waited for: tshark is left as it is
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 10
        engine.queue = [(FakeConv("a"), 0, 1.0, 60, bytes(60), 0, 60)]
        labeler.drain(timeout=0.05)
        if os.geteuid() != 0:
            pytest.skip("raising a priority takes root")
        assert os.sched_getscheduler(child.pid) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 0
    finally:
        child.kill()
        child.wait()


def test_what_the_pipe_does_not_take_at_once_goes_later_whole_and_in_order(tmp_path):
    """Blocks larger than the pipe, sent while tshark reads slowly: written in parts as
    the pipe takes them (never waiting), every byte once and in order."""
    import os
    import sys
    import time

    from tuimon.server.labeler import SHB, Dissector

    out = tmp_path / "got"
    reader = ("import sys, time\n"
              "time.sleep(0.3)\n"  # the pipe fills meanwhile
              f"open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())\n")
    dissector = Dissector([sys.executable, "-c", reader])
    try:
        sent = [os.urandom(1 << 20) + bytes([i]) * 1000 for i in range(3)]
        start = time.monotonic()
        for data in sent:
            dissector.send(data)
        assert time.monotonic() - start < 0.25  # never waited for the reader
        dissector.close_input()
        ended = []
        while not ended and time.monotonic() - start < 30:
            dissector.wait(0.05)
            ended = dissector.verdicts()
        assert ended and ended[-1][1] == "ended"
        assert out.read_bytes() == SHB + b"".join(sent)
    finally:
        dissector.close()
