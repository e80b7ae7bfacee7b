"""Drill-down, engine side: a conversation's packets read again (Wireshark as the oracle),
tshark's summaries, pyshark's tree and the bytes, pcapng written for Wireshark, the ring."""

from __future__ import annotations

from tuimon.config import Config
import os
import re
import struct
import subprocess

import pytest

from tests.support.oracle import tcp_udp_frame, tshark_lines
from tuimon.capture.frames import A_TO_B, B_TO_A, file_frames, ring_frames
from tuimon.capture.ring import Ring
from tuimon.server.drill import Driller, Where, pcap_file_name
from tuimon.server.protocol import LIST_LIMIT, Dissect, PacketList, Packets, WritePcap
from tuimon.core.names import address_text, parse_address
from tuimon.server.query import row_key
from tuimon.server.service import EngineService
from tests.support.drill import tshark_conversation_frames

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
CAPTURES = sorted(f for f in os.listdir(DATA) if f.endswith((".pcap", ".pcapng")))


def args_for(path, **extra):
    base = dict(read=path, speed=0.0,  # speed 0: to the end at once
                flow_timeout=0)  # Wireshark never expires a conversation (test_expiry.py)
    base.update(extra)
    return Config(**base)


def counted(path, **extra) -> EngineService:
    svc = EngineService(args_for(path, **extra), wallclock=lambda: 1700000000.0)
    svc.run_all()
    return svc


def sample(svc: EngineService, n: int = 12) -> list:
    """The n/2 largest TCP/UDP conversations and n/2 of the smallest."""
    convs = [c for c in svc.engine.conversations if c.proto in (6, 17)]
    convs.sort(key=lambda c: (-(c.ab_p + c.ba_p), c.first))
    return convs[: n // 2] + convs[max(n // 2, len(convs) - n // 2):]


def text_key(conv) -> tuple:
    return ({6: "tcp", 17: "udp"}[conv.proto], address_text(conv.a), conv.pa,
            address_text(conv.b), conv.pb)


@pytest.mark.parametrize("name", CAPTURES)
def test_conversation_frames_match_tshark(name):
    """On every capture: the frames we read again for a conversation are the ones Wireshark
    puts in it, in order, with the same direction and length."""
    path = os.path.join(DATA, name)
    svc = counted(path, dissect_packets=0)  # frames, not application protocols: no tshark
    oracle = tshark_conversation_frames(path)
    driller = Driller()
    for conv in sample(svc):
        key = row_key("conversations", conv)
        frames = list(driller.frames(key, Where(path=path), []))
        got = [(f.number, f.direction, f.wire_len) for f in frames]
        assert got == oracle[text_key(conv)], (name, text_key(conv))
        assert len(got) == conv.ab_p + conv.ba_p


def http_conversation(svc):
    return max((c for c in svc.engine.conversations if c.proto == 6),
               key=lambda c: c.ab_p + c.ba_p)


def test_packet_list_rows_and_summaries():
    path = os.path.join(DATA, "1kxun.pcap")
    svc = counted(path)
    conv = http_conversation(svc)
    key = row_key("conversations", conv)
    reply = svc.handle(Packets(key, seq=7))
    assert isinstance(reply, PacketList) and reply.seq == 7 and reply.error is None
    assert reply.found == len(reply.rows) == conv.ab_p + conv.ba_p and not reply.cut
    oracle = tshark_conversation_frames(path)[text_key(conv)]
    assert [(r.number, B_TO_A if r.reverse else A_TO_B, r.length) for r in reply.rows] == oracle
    assert [r.ts for r in reply.rows] == sorted(r.ts for r in reply.rows)
    assert all(r.info for r in reply.rows)
    assert all(r.flags and set(r.flags) <= set("FSRPAUECN") for r in reply.rows)
    # The summary of the conversation's first packet is Wireshark's for that frame.
    first = reply.rows[0].number
    info = subprocess.run(["tshark", "-n", "-r", path, "-Y", f"frame.number == {first}",
                           "-T", "fields", "-e", "_ws.col.Info"], capture_output=True,
                          text=True).stdout.strip()
    assert reply.rows[0].info == info
    svc.close()


def tshark_hex(path: str, number: int) -> bytes:
    out = subprocess.run(["tshark", "-n", "-r", path, "-Y", f"frame.number == {number}", "-x"],
                         capture_output=True, text=True).stdout
    data = b""
    for line in out.split("\n\n")[0].splitlines():
        m = re.match(r"^[0-9a-f]{4,}  ((?:[0-9a-f]{2} ){1,16})", line + " ")
        if m:
            data += bytes.fromhex(m.group(1).replace(" ", ""))
    return data


def top_lines(path: str, number: int) -> list[str]:
    out = subprocess.run(["tshark", "-n", "-r", path, "-Y", f"frame.number == {number}", "-V"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and not line[0].isspace()]


def test_dissection_tree_and_bytes_match_tshark():
    path = os.path.join(DATA, "1kxun.pcap")
    svc = counted(path)
    conv = http_conversation(svc)
    key = row_key("conversations", conv)
    rows = svc.handle(Packets(key)).rows
    index = 3  # a packet in the middle of the conversation
    reply = svc.handle(Dissect(key, index, seq=9))
    assert reply.error is None and reply.seq == 9 and reply.index == index
    assert reply.data == tshark_hex(path, rows[index].number)
    assert len(reply.data) == rows[index].captured
    tops = [text for depth, text, _, _ in reply.tree if depth == 0]
    expected = top_lines(path, rows[index].number)
    # Same layers, same one-line headers, the frame numbered as the list numbers it (the
    # dissected file holds the conversation alone: there it is frame index + 1).
    assert rows[index].number != index + 1
    assert tops[0].startswith(f"Frame {rows[index].number}: ") and expected[0].startswith(
        f"Frame {rows[index].number}: ")
    assert tops[1:] == expected[1:]
    assert (1, f"Frame Number: {rows[index].number}") in [n[:2] for n in reply.tree]
    assert any(depth > 0 and "Sequence Number" in text for depth, text, _, _ in reply.tree)
    # Nodes name the bytes they stand for.
    ip = next(node for node in reply.tree if node[1].startswith("Internet Protocol Version 4"))
    assert ip[2:] == (14, 20)
    # A packet not in the last list is refused, not guessed.
    assert svc.handle(Dissect(key, len(rows))).error
    assert svc.handle(Dissect((6, 1, 2, 3, 4), 0)).error
    svc.close()


def read_back(path: str) -> list[list[str]]:
    out = subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.len",
                          "-e", "frame.time_epoch", "-e", "frame.cap_len"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.parametrize("name", ["1kxun.pcap", "quic-v2.pcapng", "http_ipv6.pcap",
                                  "dlt_ppp.pcap", "dns_fragmented.pcap"])
def test_write_pcapng_read_back_by_tshark(name, tmp_path):
    path = os.path.join(DATA, name)
    svc = counted(path)
    conv = max(svc.engine.conversations, key=lambda c: c.ab_p + c.ba_p)
    key = row_key("conversations", conv)
    written = svc.handle(WritePcap(key, str(tmp_path / "out"), seq=3))
    assert written.error is None and written.seq == 3
    assert os.path.dirname(written.path) == str(tmp_path / "out")
    proto = svc.engine.names.ip_protocol(conv.proto)
    assert os.path.basename(written.path) == pcap_file_name(key, proto, 1700000000.0)
    assert os.path.basename(written.path).startswith(f"tuimon-conv-{proto}-")
    back = read_back(written.path)
    assert len(back) == written.packets == conv.ab_p + conv.ba_p
    original = {int(n): row for n, row in enumerate(read_back(path), 1)}
    frames = list(Driller().frames(key, Where(path=path), []))
    assert [row[0] for row in back] == [original[f.number][0] for f in frames]  # lengths
    assert [row[2] for row in back] == [original[f.number][2] for f in frames]
    assert [row[1][:17] for row in back] == [original[f.number][1][:17] for f in frames]  # µs
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".")]  # no temp left
    svc.close()


def test_write_failure_is_a_reply_not_a_crash(tmp_path):
    svc = counted(os.path.join(DATA, "ssh.pcap"))
    key = row_key("conversations", svc.engine.conversations[0])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    written = svc.handle(WritePcap(key, str(blocker)))
    assert written.error and "\n" not in written.error and str(blocker) in written.error


def test_capture_filter_and_stdin_and_unknown_conversation(tmp_path):
    path = os.path.join(DATA, "1kxun.pcap")
    svc = counted(path, capture_filter="tcp[tcpflags] & tcp-push != 0")
    conv = http_conversation(svc)
    reply = svc.handle(Packets(row_key("conversations", conv)))
    # The playback's capture filter applies again: only the PSH packets are listed.
    assert reply.found == conv.ab_p + conv.ba_p and all("P" in r.flags for r in reply.rows)
    from tuimon.capture.file import FileSource

    stdin = EngineService(args_for("-"), factory=lambda args: FileSource(path))
    stdin.run_all()
    assert "standard input" in stdin.handle(Packets((6, 1, 2, 3, 4))).error
    nothing = svc.handle(Packets((6, parse_address("10.9.9.9"), 1, parse_address("10.9.9.8"), 2)))
    assert nothing.error is None and nothing.found == 0 and nothing.rows == []


def test_list_is_bounded(monkeypatch):
    import tuimon.server.drill as drill

    monkeypatch.setattr(drill, "LIST_LIMIT", 10)
    svc = counted(os.path.join(DATA, "1kxun.pcap"))
    conv = http_conversation(svc)
    reply = svc.handle(Packets(row_key("conversations", conv)))
    assert len(reply.rows) == 10 and reply.found == conv.ab_p + conv.ba_p and reply.cut
    assert LIST_LIMIT == 10_000


# -- the ring --------------------------------------------------------------------------

def blocks(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((btype, data[pos:pos + blen]))
        pos += blen
    return out


def test_ring_keeps_the_recent_traffic_in_whole_files(tmp_path):
    """Teed in odd chunks, the ring's files are each a capture tshark reads; together
    they hold the most recent packets, in order, and the oldest files are gone."""
    source = os.path.join(DATA, "quic-v2.pcapng")
    with open(tmp_path / "big.pcapng", "wb") as f:  # a bigger pcapng: the file 40 times
        data = open(source, "rb").read()
        parts = blocks(data)
        f.write(b"".join(b for t, b in parts if t in (0x0A0D0D0A, 1)))
        packets = [b for t, b in parts if t == 6]
        for _ in range(40):
            f.write(b"".join(packets))
    stream = open(tmp_path / "big.pcapng", "rb").read()
    ring = Ring(str(tmp_path), "if0", 4 * 65536, files=4)
    pos, step = 0, 1
    while pos < len(stream):
        ring.write(stream[pos:pos + step])
        pos += step
        step = step * 3 % 70001 + 1
    files = ring.files()
    assert ring.dropped > 0 and len(files) == 4 and ring.error is None
    assert sorted(os.listdir(tmp_path)) == sorted(["big.pcapng", *map(os.path.basename, files)])
    kept = []
    for path in files:
        assert os.path.getsize(path) <= 65536 + 2000
        rows = read_back(path)
        assert rows, path
        kept += rows
    everything = read_back(str(tmp_path / "big.pcapng"))
    assert kept == everything[len(everything) - len(kept):]
    # Our reader over the ring: the frames of one conversation, oldest first.
    svc = counted(source)
    conv = max(svc.engine.conversations, key=lambda c: c.ab_p + c.ba_p)
    key = row_key("conversations", conv)
    frames = list(ring_frames(files, key))
    whole = list(file_frames(str(tmp_path / "big.pcapng"), key))
    assert frames and len(frames) < len(whole)
    assert [(f.ts, f.data) for f in frames] == [(f.ts, f.data) for f in whole[-len(frames):]]
    # A file deleted meanwhile is skipped.
    os.unlink(files[0])
    assert len(list(ring_frames(files, key))) < len(frames)
    ring.close()


def test_ring_note_says_what_is_gone():
    class FakeRing:
        dropped, error = 2, None

        def note(self):
            return ""  # nothing shed while behind

    from tuimon.capture.frames import Scan

    scan = Scan()
    scan.first_ts = 1000.0
    where = Where(rings=[(0, FakeRing())], first_seen=990.0)
    note = Driller.ring_note(where, [(FakeRing(), scan)], found=3)
    assert note.startswith("packets before ") and "gone from the ring" in note
    assert "gone" in Driller.ring_note(where, [(FakeRing(), scan)], found=0)
    where.first_seen = 1001.0
    assert Driller.ring_note(where, [(FakeRing(), scan)], found=3) == ""


def test_oracle_helper_sees_both_directions():
    convs = tshark_conversation_frames(os.path.join(DATA, "ssh.pcap"))
    assert any({d for _, d, _ in frames} == {A_TO_B, B_TO_A} for frames in convs.values())


def test_drill_down_through_the_engine_process(tmp_path):
    """The real worker: drill requests go to its drill thread; queries are answered too, and
    the drill folder is gone once the worker stops."""
    import glob
    import tempfile

    from tests.support.worker import Collector
    from tuimon.server.protocol import Query
    from tuimon.server.protocol import FINISHED, Status
    from tuimon.server.client import ProcessClient as ProcessBackend

    path = os.path.join(DATA, "1kxun.pcap")
    backend = ProcessBackend(args_for(path))
    try:
        backend.launch()
        pid = backend.process.pid  # its folders are tuimon-drill-PID-* (tuimon/scratch.py)
        got = Collector()
        backend.start(got)
        got.wait_for(lambda r: isinstance(r, Status) and r.state == FINISHED)
        backend.send(Query(view="conversations", limit=1, seq=1))
        page = got.wait_for(lambda r: getattr(r, "seq", None) == 1 and hasattr(r, "rows"))
        key = page.keys[0]
        backend.send(Packets(key, seq=2))
        backend.send(Query(view="conversations", limit=1, seq=3))
        seen = []

        def both(r) -> bool:  # the list, and the query sent after it (not held up by it)
            seen.append(r)
            return any(isinstance(x, PacketList) for x in seen) and any(
                getattr(x, "seq", None) == 3 and hasattr(x, "rows") for x in seen)

        got.wait_for(both)
        reply = next(x for x in seen if isinstance(x, PacketList))
        assert reply.seq == 2 and reply.found == page.rows[0].packets == len(reply.rows)
        backend.send(Dissect(key, 0, seq=4))
        tree = got.wait_for(lambda r: r.__class__.__name__ == "Dissection")
        assert tree.error is None and tree.tree[0][1].startswith(
            f"Frame {reply.rows[0].number}: ")  # as the list numbers it (not "Frame 1")
        backend.send(WritePcap(key, str(tmp_path), seq=5))
        written = got.wait_for(lambda r: r.__class__.__name__ == "Written")
        assert written.error is None and len(read_back(written.path)) == reply.found
    finally:
        backend.stop()
    # the engine's drill folders are gone with it (only its own: other tests' engines,
    # in other workers, make theirs meanwhile)
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"tuimon-drill-{pid}-*")) == []
