"""Application protocol per conversation: Wireshark's verdict on a conversation's first
packets (tshark fed as they are counted), the port's guess where Wireshark has none, and
what happens when tshark is missing, dies or falls behind."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pcapbuild as pb
from tests.support.netns import wait_line
from tuimon.capture.file import FileSource
from tuimon.cli import main
from tuimon.server.labeler import AppLabeler, Dissector, app_from_protocols
from tuimon.core.engine import Engine
from tuimon.core.names import Names, port_app
from tuimon.server.query import QueryRunner
from tuimon.server.protocol import Query
from tuimon.server.session import Session

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
TUIMON = Path(sys.executable).parent / "tuimon"

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

# Where our verdict differs from Wireshark's on the whole file, and why. Key: (capture,
# the conversation's lower port); value: (our app_protocol, Wireshark's verdict).
KNOWN_DIFFERENCES: dict = {
    # FTP passive data connections: Wireshark knows them as ftp-data only from the control
    # connection's "227 Entering Passive Mode" reply, its 35th and 55th packets here, far
    # past the first 10 that tuimon hands to tshark. No port names 24523 or 25685, so ours
    # stay unlabelled. (Any protocol set up by another conversation -- SIP/SDP to RTP,
    # RTSP to RTP -- is named only when the set-up is within that conversation's first N.)
    ("ftp.pcap", 24523): ("", "ftp-data"),
    ("ftp.pcap", 25685): ("", "ftp-data"),
}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def conversations(out: Path) -> dict:
    return {(r["protocol"], r["address_a"], int(r["port_a"]), r["address_b"], int(r["port_b"])): r
            for r in read_csv(out / "conversations.csv")
            if r["protocol"] in ("tcp", "udp") and r["port_a"] != ""}


def test_the_layer_above_tcp_or_udp_is_the_application():
    assert app_from_protocols("eth:ethertype:ip:tcp:tls") == "tls"
    assert app_from_protocols("sll:ethertype:ipv6:udp:quic\n") == "quic"
    assert app_from_protocols("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http") == "vxlan"
    assert app_from_protocols("eth:ethertype:ip:tcp:http:data-text-lines") == "http"
    assert app_from_protocols("eth:ethertype:ip:tcp") is None
    assert app_from_protocols("eth:ethertype:ip:tcp:data") is None
    assert app_from_protocols("eth:ethertype:ip:udp:_ws.malformed") is None
    assert app_from_protocols("eth:ethertype:arp") is None


def test_tsharks_output_is_read_by_the_same_rule():
    """The dissector parses tshark's output in chunks of lines, looking each protocol path
    up once: it must say what app_from_protocols says, line by line."""
    from tuimon.server.labeler import parse_verdicts

    lines = ["eth:ethertype:ip:tcp", "eth:ethertype:ip:tcp:tls", "sll:ethertype:ipv6:udp:quic:tls",
             "eth:ethertype:ip:udp:_ws.malformed", "eth:ethertype:arp", "eth:ethertype:ip:tcp:data",
             "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp:http", "eth:ethertype:ip:tcpx:foo",
             "", "eth:udplite:x:udp:dns", "eth:ethertype:ip:tcp:http:data-text-lines",
             "raw:ip:udp:wg", "eth:ethertype:ip:tcp:tls"]
    want = [app_from_protocols(line) for line in lines]
    assert want.count(None) == 6
    data = "".join(f"{i + 7}\t{line}\n" for i, line in enumerate(lines)).encode()
    assert parse_verdicts(data) == [(7, want)]  # frames 7, 8, ... in order: one block
    assert parse_verdicts(data) == [(7, want)]  # and again, from what it has looked up
    # numbers with a gap (tshark never does it): each line on its own, by its number
    gappy = b"3\teth:ethertype:ip:tcp:tls\n5\teth:ethertype:ip:tcp\n6\teth:ethertype:ip:udp:dns\n"
    assert parse_verdicts(gappy) == [(3, ["tls"]), (5, [None]), (6, ["dns"])]
    assert parse_verdicts(b"") == [] and parse_verdicts(b"junk\n4\teth:ip:udp:dns\n") == [(4, ["dns"])]


def test_port_guesses_use_wireshark_names():
    assert port_app("https", 6) == "tls" and port_app("https", 17) == "quic"
    assert port_app("domain", 17) == "dns" and port_app("ssh", 6) == "ssh"
    assert port_app("some-service", 6) == "some-service" and port_app(None, 6) is None


@needs_tshark
@pytest.mark.parametrize("name", CAPTURES)
def test_application_protocol_is_wiresharks_verdict(name, tmp_path):
    """Every TCP/UDP conversation: Wireshark's verdict on its first 10 packets (tshark over
    the whole file), else the port's guess, marked as such."""
    capture = DATA / name
    # every conversation of the file, none expired
    assert main(["-r", str(capture), "--no-ui", "--csv", str(tmp_path), "--flow-timeout", "0",
                 "--max-flows", "0"]) == 0
    ours = conversations(tmp_path)
    theirs = oracle.app_verdicts(str(capture), first=10)
    assert set(ours) == set(theirs)
    names = Names()
    used = set()
    for key, row in ours.items():
        verdict = theirs[key]
        known = KNOWN_DIFFERENCES.get((name, min(key[2], key[4])))
        if known is not None and (row["app_protocol"], verdict) == known:
            used.add((name, min(key[2], key[4])))
            continue
        if verdict is not None:
            assert (row["app_protocol"], row["app_source"]) == (verdict, "dissector"), (name, key)
        else:
            guess = port_app(names.service(6 if key[0] == "tcp" else 17, key[2], key[4]),
                             6 if key[0] == "tcp" else 17)
            assert (row["app_protocol"], row["app_source"]) == \
                   ((guess, "port") if guess else ("", "")), (name, key)
    # every listed difference still happens (else it is no longer a difference: drop it)
    assert used == {k for k in KNOWN_DIFFERENCES if k[0] == name}


# -- a stand-in for tshark: reads the pcapng stream, answers as it is told ------------------

FAKE = textwrap.dedent("""
    import struct, sys, time
    mode = sys.argv[1]
    data, frames, answered = sys.stdin.buffer, 0, 0
    if mode.startswith("tee:"):
        with open(mode[4:], "wb") as out:
            out.write(data.read())
        sys.exit(0)
    # "gap:PATH": keeps what it reads in PATH, answers each frame N at once with app pN,
    # and writes no line for frame 3
    gap = open(mode[4:], "wb") if mode.startswith("gap:") else None
    def answer(upto):
        global answered
        while answered < upto:
            answered += 1
            if gap is None:
                sys.stdout.write(f"{answered}\\teth:ethertype:ip:tcp:fakeproto\\n")
            elif answered != 3:
                sys.stdout.write(f"{answered}\\teth:ethertype:ip:tcp:p{answered}\\n")
        sys.stdout.flush()
    while True:
        head = data.read(8)
        if len(head) < 8:
            break
        btype, length = struct.unpack("<II", head)
        body = data.read(length - 8)
        if gap is not None:
            gap.write(head + body)
            gap.flush()
        if btype == 6:
            frames += 1
            if mode == "die" and frames == 3:
                sys.stderr.write("boom: fake tshark gave up\\n")
                sys.exit(3)
            if mode == "prompt" or gap is not None:
                answer(frames)
    answer(frames)  # "eof": answers everything once its input ends
""")


def fake_labeler(tmp_path, mode: str, max_waiting: int = 4096):
    script = tmp_path / "fake_tshark.py"
    script.write_text(FAKE)

    def factory(engine, packets, linktypes):
        return AppLabeler(engine, packets, linktypes, max_waiting=max_waiting,
                          dissector_factory=lambda: Dissector([sys.executable, str(script), mode]))
    return factory


def count(path: Path, chunk: int = 1 << 20, **kw) -> Session:
    """Count a file (no expiry: every conversation stays to be looked at)."""
    source = FileSource(str(path), chunk=chunk)
    session = Session(source, Engine(flow_timeout=0, max_flows=0), **kw)
    for batch in source.batches():
        session.ingest(batch)
    return session


def tcp_udp(engine) -> list:
    return [c for c in engine.conversations if c.proto in (6, 17) and c.pa is not None]


QUERY = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")


def flood(path: Path, conversations: int = 3000) -> Path:
    """A DNS flood: every query from its own port, each answered (2 packets apiece), and
    a port scan's SYNs and RSTs, which are never handed to tshark."""
    frames = []
    for i in range(conversations):
        port = 1024 + i
        frames.append(pb.eth(pb.ipv4("10.1.0.1", "10.0.0.53", 17, pb.udp(port, 53, QUERY))))
        frames.append(pb.eth(pb.ipv4("10.0.0.53", "10.1.0.1", 17, pb.udp(53, port, QUERY))))
        frames.append(pb.eth(pb.ipv4("10.1.0.1", "10.0.0.80", 6, pb.tcp(port, 80, 0x02))))
        frames.append(pb.eth(pb.ipv4("10.0.0.80", "10.1.0.1", 6, pb.tcp(80, port, 0x14))))
    pb.write_pcap(path, [(1_700_000_000 + i * 0.001, f) for i, f in enumerate(frames)])
    return path


def test_a_flood_of_new_conversations_is_bounded_and_never_waited_for(tmp_path):
    """The stand-in answers nothing until its input ends: counting goes on regardless, no
    more than ``max_waiting`` frames (plus one batch) wait for it, the conversations that
    started meanwhile keep their port guess, and SYN/RST-only ones cost tshark nothing."""
    capture = flood(tmp_path / "flood.pcap")
    chunk = 4096  # batches of about 40 packets
    session = count(capture, chunk=chunk, labeler_factory=fake_labeler(tmp_path, "eof",
                                                                       max_waiting=20))
    engine = session.engine
    try:
        plain = count(capture, dissect_packets=0).engine
        assert engine.totals()[:9] == plain.totals()[:9]  # everything counted, unchanged
        convs = tcp_udp(engine)
        dns = [c for c in convs if c.proto == 17]
        assert len(dns) == 3000 and len(convs) == 6000
        totals = QueryRunner(engine).run(Query(view="conversations")).totals
        frames = session.labeler.outstanding
        assert 20 <= frames <= 20 + chunk // 70  # max_waiting, plus one batch at most
        assert frames == 2 * totals.app_waiting  # a query and its answer each
        waiting = set(session.labeler.waiting)
        skipped = {c for c in convs if c.dis_left < 0}  # started while tshark was behind
        assert totals.app_skipped == len(skipped) > 2000
        assert set(dns) == waiting | {c for c in skipped if c.proto == 17}
        assert waiting <= set(dns)  # the SYN/RST conversations sent nothing
        assert not any(c.app_src == "dissector" for c in convs)  # nothing answered yet
        assert all((c.app, c.app_src) == ("dns", "port") for c in dns)  # the guess meanwhile
        session.finish_labels(timeout=30)
        named = {c for c in convs if c.app_src == "dissector"}
        assert named == waiting and all(c.app == "fakeproto" for c in named)
        assert engine.totals().app_waiting == 0
    finally:
        session.close()


def test_verdicts_arrive_while_counting_and_move_the_counts(tmp_path):
    session = count(DATA / "smtp.pcap", labeler_factory=fake_labeler(tmp_path, "prompt"))
    try:
        session.finish_labels(timeout=30)
        engine = session.engine
        engine.fold()
        (conv,) = tcp_udp(engine)
        assert (conv.app, conv.app_src) == ("fakeproto", "dissector")
        apps = [r for r in engine.protocol_rows() if r.layer == "application"]
        assert [(r.protocol, r.packets, r.path) for r in apps] == \
               [("fakeproto", 95, "ether/ipv4/tcp/fakeproto")]
        assert {h.addr: h.apps for h in engine.hosts.values()}.popitem()[1] == {"fakeproto": 23157}
    finally:
        session.close()


def test_a_new_tshark_takes_over_after_so_many_frames(tmp_path):
    """Its memory grows with every frame, so after ``restart_frames`` the one in use
    finishes what it has and a new one takes the next frames: no verdict is lost."""
    script = tmp_path / "fake_tshark.py"
    script.write_text(FAKE)

    def factory(engine, packets, linktypes):
        return AppLabeler(engine, packets, linktypes, restart_frames=50,
                          dissector_factory=lambda: Dissector([sys.executable, str(script), "eof"]))

    session = count(DATA / "1kxun.pcap", chunk=16384, labeler_factory=factory)
    try:
        session.finish_labels(timeout=30)
        labeler, convs = session.labeler, tcp_udp(session.engine)
        assert labeler.started > 5 and labeler.outstanding == 0 and not labeler.waiting
        assert all((c.app, c.app_src) == ("fakeproto", "dissector") for c in convs)
        assert session.engine.app_skipped == 0 and labeler.note == ""
    finally:
        session.close()


def test_a_frame_tshark_gives_no_line_for_is_not_waited_for(tmp_path):
    """Verdicts are matched to frames by tshark's frame numbers: a frame it passed over
    leaves no conversation waiting, and every later frame's verdict goes to its own
    conversation (the stand-in names frame N's application pN and says nothing of frame 3)."""
    fed = tmp_path / "fed.pcapng"
    session = count(DATA / "1kxun.pcap", labeler_factory=fake_labeler(tmp_path, f"gap:{fed}"))
    try:
        session.finish_labels(timeout=30)
        labeler, convs = session.labeler, tcp_udp(session.engine)
        assert labeler.outstanding == 0 and not labeler.waiting
        # frame number -> conversation, from what the stand-in was given
        frames = [r for batch in FileSource(str(fed)).batches() for r in batch]
        assert len(frames) > 100
        first: dict = {}
        for number, r in enumerate(frames, 1):
            _, proto, src, dst, sport, dport, _ = r[3]
            key = (proto, *sorted([(src, sport), (dst, dport)]))
            if number != 3:
                first.setdefault(key, number)
        for c in convs:
            key = (c.proto, *sorted([(c.key[1], c.key[3]), (c.key[2], c.key[4])]))
            if key in first:
                assert (c.app, c.app_src) == (f"p{first[key]}", "dissector"), key
            else:  # its only frame sent was frame 3: the port's guess stays
                assert c.app_src != "dissector"
    finally:
        session.close()


def test_relabelling_moves_what_was_counted(small_engine):
    e = small_engine
    web = next(c for c in e.conversations if c.pb == 443)
    before = {r.path: r.bytes for r in e.protocol_rows()}
    assert before["ether/ipv4/tcp/tls"] == 10500
    rate = {r.path: r.rate_40s for r in e.protocol_rows()}["ether/ipv4/tcp/tls"]
    assert rate > 0
    e.label(web, "http", "dissector")
    after = {r.path: r.bytes for r in e.protocol_rows()}
    # its recent seconds move too: the rates
    assert {r.path: r.rate_40s for r in e.protocol_rows()}["ether/ipv4/tcp/http"] == rate
    assert "ether/ipv4/tcp/tls" not in after and after["ether/ipv4/tcp/http"] == 10500
    assert after["ether/ipv6/tcp/http"] == before["ether/ipv6/tcp/http"]  # another branch
    hosts = {r.address: r.app_protocols for r in e.host_rows()}
    assert hosts["93.184.216.34"] == "http" and hosts["10.0.0.1"] == "http dns"
    (row,) = [r for r in e.conversation_rows() if r.port_b == 443]
    assert (row.app_protocol, row.app_source, row.service) == ("http", "dissector", "https")


def test_tshark_dying_leaves_port_guesses_and_a_note(tmp_path):
    session = count(DATA / "1kxun.pcap", labeler_factory=fake_labeler(tmp_path, "die"))
    try:
        session.finish_labels(timeout=30)
        assert "boom: fake tshark gave up" in session.labeler.note
        assert not session.labeler.active and session.engine.dissect_packets == 0
        convs = tcp_udp(session.engine)
        assert convs and all(c.app_src in ("port", "") for c in convs)
        assert any(c.app == "http" for c in convs)  # port 80's guess
    finally:
        session.close()


def test_tshark_missing_means_port_guesses_with_a_note(tmp_path):
    env = {"PATH": str(tmp_path), "LANG": "C.UTF-8"}  # no tshark on this PATH
    done = subprocess.run([str(TUIMON), "-r", str(DATA / "dns_doh.pcap"), "--no-ui", "--csv",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tshark not found" in done.stderr and "guessed from ports" in done.stderr
    assert "Traceback" not in done.stderr
    rows = list(conversations(tmp_path / "out").values())
    assert rows and {r["app_source"] for r in rows} <= {"port", ""}
    assert "tls" in {r["app_protocol"] for r in rows}  # 443/tcp


def test_dissect_packets_0_starts_no_tshark(tmp_path):
    session = count(DATA / "smtp.pcap", dissect_packets=0)
    assert not session.labeler.active and session.labeler.note == ""
    (conv,) = tcp_udp(session.engine)
    assert (conv.app, conv.app_src) == ("smtp", "port")
    assert main(["-r", str(DATA / "smtp.pcap"), "--no-ui", "--csv", str(tmp_path),
                 "--dissect-packets", "0"]) == 0
    (row,) = conversations(tmp_path).values()
    assert (row["app_protocol"], row["app_source"]) == ("smtp", "port")


@needs_tshark
def test_the_pcapng_handed_to_tshark_keeps_link_types_times_and_lengths(tmp_path):
    """What tshark is fed, kept by a stand-in, reads back in tshark as the original frames:
    two interfaces of different link types (one in nanoseconds), a frame cut short by the
    snapshot length (its wire length kept)."""
    a, b = "192.0.2.1", "198.51.100.7"
    query = bytes.fromhex("1234010000010000000000000377777703636f6d0000010001")
    dns = pb.ipv4(a, b, 17, pb.udp(5000, 53, query))
    reply = pb.ipv4(b, a, 17, pb.udp(53, 5000, query))
    path = tmp_path / "two.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"},
                           {"linktype": 101, "name": "tun0", "tsresol": 9}],
                    [(0, 1_500_000, pb.eth(dns)), (1, 2_250_000_001_000, reply),
                     (0, 3_000_000, pb.eth(dns)[:40], len(pb.eth(dns)))])
    fed = tmp_path / "fed.pcapng"
    session = count(path, labeler_factory=fake_labeler(tmp_path, "tee:" + str(fed)))
    session.finish_labels(timeout=30)
    session.close()
    fields = ["frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols"]
    cmd = ["tshark", "-n", "-r", "{}", "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    original, handed = (subprocess.run([c.replace("{}", str(p)) for c in cmd], capture_output=True,
                                       text=True, check=True).stdout.splitlines()
                        for p in (path, fed))
    assert len(original) == 3 and handed == original


def test_protocol_tree_order_follows_the_sort_within_parents(small_engine):
    runner = QueryRunner(small_engine)
    for sort, descending in (("bytes", True), ("packets", False), ("protocol", False)):
        rows = runner.run(Query(view="protocols", sort=sort, descending=descending, limit=50)).rows
        seen = set()
        for r in rows:  # every row after its parent
            parent = r.path.rpartition("/")[0]
            assert not parent or parent in seen, (sort, r.path)
            seen.add(r.path)
        assert rows[0].path == "ether" and [r.depth for r in rows[:2]] == [0, 1]
        by_parent: dict = {}
        for r in rows:
            by_parent.setdefault(r.path.rpartition("/")[0], []).append(getattr(r, sort))
        for values in by_parent.values():
            assert values == sorted(values, reverse=descending), sort


async def test_header_shows_unlabelled_conversations_and_why_there_are_only_guesses(monkeypatch):
    from tests.support.app import args_for, make_app, settle
    from tuimon.server.service import EngineService

    monkeypatch.setenv("PATH", "/nonexistent")  # no tshark to be found
    svc = EngineService(args_for(str(DATA / "smtp.pcap")), clock=lambda: 50.0,
                        wallclock=lambda: 1700000000.0)
    svc.run_all()
    assert svc.engine.conversations[0].app_src == "port"
    svc.engine.app_waiting, svc.engine.app_skipped = 3, 1200  # what a flood leaves (see above)
    app = make_app(service=svc, view="conversations")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        header = str(app.header.render())
        assert "Apps 3 unlabelled, 1200 by port only" in header
        assert "tshark not found" in header and "guessed from ports" in header
        assert "smtp?" in app.table.render_line(1).text  # the guess, marked


# -- live: a capture in network namespaces -------------------------------------------------

ECHO_53 = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", file=sys.stderr, flush=True)
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""

ASK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 40053))
s.settimeout(5)
query = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
for _ in range(3):
    s.sendto(query, (sys.argv[2], int(sys.argv[3])))
    assert s.recv(65535) == query
"""


@pytest.mark.live
@pytest.mark.parametrize("port", [53, 5300])
def test_live_capture_gets_the_dissectors_verdict(netns, tmp_path, port):
    """DNS is Wireshark's ``dns`` on its own port and on 5300 too, a port nothing names
    (Wireshark's DNS heuristics know the message): the dissector, not the port."""
    server = netns.python(netns.a, ECHO_53, str(port))
    try:
        wait_line(server, "ready")
        proc = netns.tuimon("tma0", "--no-ui", "--duration", "2", "--csv", str(tmp_path))
        wait_line(proc, "tuimon: capturing on")
        r = netns.run(netns.b, sys.executable, "-c", ASK, netns.addr_b(), netns.addr_a(), str(port))
        assert r.returncode == 0, r.stderr
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err, err
    finally:
        server.kill()
        server.communicate()
    [row] = [r for r in conversations(tmp_path).values() if r["port_a"] == "40053"]
    assert (row["packets_a_to_b"], row["packets_b_to_a"]) == ("3", "3")
    assert (row["app_protocol"], row["app_source"]) == ("dns", "dissector")
    assert row["service"] == ("domain" if port == 53 else "")


def test_live_budget_and_a_lagging_count_shed_new_conversations_to_port_guesses(tmp_path):
    """Live, tshark gets at most ``budget`` frames a second, and nothing new while the
    counting is behind the capture: conversations that start then keep their port guess
    (app_skipped), every packet is still counted, and dissection resumes afterwards."""
    capture = flood(tmp_path / "flood.pcap", conversations=300)
    now = [1000.0]
    source = FileSource(str(capture), chunk=4096)
    session = Session(source, Engine(flow_timeout=0, max_flows=0),
                      labeler_factory=fake_labeler(tmp_path, "eof"))
    labeler, engine = session.labeler, session.engine
    labeler.budget, labeler.clock = 40, lambda: now[0]
    free = [1.0]  # the share of the CPU the rest of the machine leaves (stands in for /proc)
    labeler.free_share = type("Share", (), {"sample": lambda self, pids: free[0]})()
    try:
        for batch in source.batches():  # all within one second of the clock
            session.ingest(batch)
        assert engine.totals().packets == 1200  # 300 DNS pairs and 300 SYN/RST pairs
        assert 40 <= labeler.current.sent <= 40 + 4096 // 70  # the budget, plus one batch
        assert engine.app_skipped > 200 and engine.dissect_packets < 0
        labeler.poll()
        assert engine.dissect_packets < 0  # still the same second
        now[0] = 1001.0
        labeler.poll()
        assert engine.dissect_packets == 10  # a new second: new conversations again
        labeler.behind = True  # the capture's pipe is filling: shed
        labeler.feed()
        assert engine.dissect_packets < 0
        labeler.poll()
        assert engine.dissect_packets < 0  # not while behind
        labeler.behind = False
        labeler.poll()
        assert engine.dissect_packets == 10
        free[0] = 0.1  # a machine with no CPU to spare: nothing new in the next second
        now[0] = 1002.0
        labeler.feed()
        assert engine.dissect_packets < 0
        free[0], now[0] = 0.9, 1003.0
        labeler.poll()
        assert engine.dissect_packets == 10
    finally:
        session.close()
