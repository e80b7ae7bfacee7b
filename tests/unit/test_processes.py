"""Processes (core/processes.py, server/process_poll.py, capture/sockets.py) with a fake
socket table: attribution per fold by (protocol, local address, local port), sent and
received from the local side, loopback to both ends, wildcard sockets, the unattributed
row, a socket gone after its conversation was attributed, playback, the poller's thread."""

from __future__ import annotations

import threading

import pytest

from tuimon.capture.sockets import Socket, address_int
from tuimon.core.engine import Engine
from tuimon.core.names import parse_address
from tuimon.core.processes import UNATTRIBUTED_NAME, ProcessTable
from tuimon.server.process_poll import ProcessPoller
from tuimon.server.protocol import COLUMNS, Query
from tuimon.server.query import QueryRunner

record = None
HERE = "10.0.0.1"


@pytest.fixture(autouse=True)
def _builders(kit):
    global record
    record = kit.record


def engine_with(sockets, live: bool = True, local=(HERE,)) -> tuple[Engine, ProcessTable]:
    engine = Engine()
    engine.set_interface(0, "eth0", "ether")
    table = ProcessTable(live=live)
    table.set_sockets(sockets, frozenset(parse_address(a) for a in local))
    engine.track_processes(table)
    return engine, table


def rows_by_name(engine) -> dict:
    return {r.name: r for r in engine.process_rows()}


def test_a_local_socket_s_conversation_counts_for_its_process_sent_and_received():
    curl = Socket(6, parse_address(HERE), 40000, 4242, "curl")
    dig = Socket(17, None, 5353, 77, "dig")  # bound to every address
    engine, _ = engine_with([curl, dig])
    engine.ingest([
        record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.0),  # curl sends 100
        record("192.0.2.9", HERE, 443, 40000, size=1500, ts=10.1),  # and receives 1500
        record("192.0.2.53", HERE, 53, 5353, proto=17, size=90, ts=10.2),  # dig receives
        record("192.0.2.7", "192.0.2.8", 1000, 80, size=60, ts=10.3),  # forwarded: nobody's
        record(HERE, "192.0.2.9", None, None, proto=1, size=84, ts=10.4),  # ICMP: no socket
    ])
    engine.fold()
    rows = rows_by_name(engine)
    assert set(rows) == {"curl", "dig", UNATTRIBUTED_NAME}
    c = rows["curl"]
    assert (c.pid, c.packets_sent, c.bytes_sent, c.packets_received, c.bytes_received) == \
        (4242, 1, 100, 1, 1500)
    assert c.conversations == 1 and c.bytes == 1600
    assert c.rate_sent_2s == 50.0 and c.rate_received_2s == 750.0
    d = rows["dig"]
    assert (d.bytes_sent, d.bytes_received) == (0, 90)
    u = rows[UNATTRIBUTED_NAME]
    assert u.pid is None and u.bytes_sent is None and u.bytes == 144 and u.conversations == 2
    # every byte of the conversations is somewhere (no loopback here: nothing twice)
    assert sum(r.bytes for r in rows.values()) == sum(c.bytes for c in engine.conversations)


def test_loopback_counts_for_both_ends():
    lo = parse_address("127.0.0.1")
    engine, _ = engine_with([Socket(6, lo, 5000, 1, "client"), Socket(6, lo, 8080, 2, "server")],
                            local=("127.0.0.1",))
    engine.ingest([record("127.0.0.1", "127.0.0.1", 5000, 8080, size=300, ts=1.0),
                   record("127.0.0.1", "127.0.0.1", 8080, 5000, size=700, ts=1.1)])
    engine.fold()
    rows = rows_by_name(engine)
    assert (rows["client"].bytes_sent, rows["client"].bytes_received) == (300, 700)
    assert (rows["server"].bytes_sent, rows["server"].bytes_received) == (700, 300)
    assert UNATTRIBUTED_NAME not in rows


def test_an_owner_stays_after_its_socket_is_gone_and_a_late_socket_takes_over():
    sock = Socket(17, parse_address(HERE), 6000, 9, "sender")
    engine, table = engine_with([])  # the first poll has not seen the socket yet
    engine.ingest([record(HERE, "192.0.2.1", 6000, 9999, proto=17, size=100, ts=1.0)])
    engine.fold()
    assert rows_by_name(engine)[UNATTRIBUTED_NAME].bytes == 100
    table.set_sockets([sock], frozenset())  # the next poll sees it
    engine.ingest([record(HERE, "192.0.2.1", 6000, 9999, proto=17, size=200, ts=2.0)])
    engine.fold()
    table.set_sockets([], frozenset())  # closed: its last datagram still counts for it
    engine.ingest([record(HERE, "192.0.2.1", 6000, 9999, proto=17, size=400, ts=3.0)])
    engine.fold()
    rows = rows_by_name(engine)
    assert rows["sender"].bytes_sent == 600 and rows[UNATTRIBUTED_NAME].bytes == 100


def test_what_nobody_owns_adds_up_per_fold_as_per_conversation():
    """Forwarded conversations (a socket on their port, at another address), one owned
    beside them: the unattributed row is their sums (A to B as sent), each conversation
    counted in its first fold only, its rates those of every byte; then a socket appears
    on one of their ports and takes what comes after."""
    other = Socket(6, parse_address("10.0.0.99"), 80, 5, "httpd")  # port 80, not theirs
    curl = Socket(6, parse_address(HERE), 40000, 4242, "curl")
    engine, table = engine_with([other, curl])
    engine.ingest([
        record("192.0.2.7", "192.0.2.8", 1000, 80, size=60, ts=10.0),
        record("192.0.2.8", "192.0.2.7", 80, 1000, size=1500, ts=10.1),
        record("192.0.2.9", "192.0.2.8", 2000, 80, size=70, ts=10.2),
        record("192.0.2.9", "192.0.2.8", 3000, 53, proto=17, size=80, ts=10.3),
        record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.4),
    ])
    engine.fold()
    u = rows_by_name(engine)[UNATTRIBUTED_NAME]
    assert (u.packets, u.bytes, u.conversations) == (4, 1710, 3)
    assert (u.first_seen, u.last_seen) == (10.0, 10.3) and u.rate_2s == 1710 / 2
    assert rows_by_name(engine)["curl"].bytes == 100
    engine.ingest([record("192.0.2.7", "192.0.2.8", 1000, 80, size=40, ts=11.0),
                   record("192.0.2.9", "192.0.2.8", 3000, 53, proto=17, size=90, ts=11.5)])
    engine.fold()
    u = rows_by_name(engine)[UNATTRIBUTED_NAME]
    assert (u.packets, u.bytes, u.conversations, u.last_seen) == (6, 1840, 3, 11.5)
    assert u.rate_2s == (1710 + 130) / 2 and u.rate_10s == 1840 / 10
    table.set_sockets([other, curl, Socket(17, None, 3000, 7, "dns")],
                      frozenset({parse_address("192.0.2.9")}))
    engine.ingest([record("192.0.2.9", "192.0.2.8", 3000, 53, proto=17, size=50, ts=12.0)])
    engine.fold()
    rows = rows_by_name(engine)
    assert rows[UNATTRIBUTED_NAME].bytes == 1840
    assert (rows["dns"].bytes_sent, rows["dns"].conversations) == (50, 1)


def test_playback_is_all_unattributed_and_says_why():
    engine, _ = engine_with([Socket(6, parse_address(HERE), 40000, 1, "curl")], live=False)
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.0)])
    engine.fold()
    (row,) = engine.process_rows()
    assert row.name.startswith(UNATTRIBUTED_NAME) and "live" in row.name and row.bytes == 100


def test_the_view_sorts_by_every_column_and_filters_by_name():
    engine, _ = engine_with([Socket(6, parse_address(HERE), 40000, 4242, "curl")])
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.0),
                   record("192.0.2.7", "192.0.2.8", 1000, 80, size=60, ts=10.3)])
    engine.fold()
    runner = QueryRunner(engine)
    for column in COLUMNS["processes"]:
        for descending in (True, False):
            page = runner.run(Query(view="processes", sort=column, descending=descending))
            assert page.total == 2, column
    page = runner.run(Query(view="processes", filter="curl"))
    assert [r.pid for r in page.rows] == [4242] and page.keys == [(4242, "curl")]
    assert [r.name for r in runner.run(Query(view="processes", filter="4242")).rows] == ["curl"]


def test_addresses_as_the_capture_sees_them():
    assert address_int("0.0.0.0") is None and address_int("::") is None
    assert address_int("::ffff:10.0.0.1") == parse_address("10.0.0.1")  # dual-stack socket
    assert address_int("fe80::1%eth0") == parse_address("fe80::1")
    assert address_int("2001:db8::1") == parse_address("2001:db8::1")


def test_the_poller_polls_in_a_thread_and_keeps_the_last_table_when_a_poll_fails():
    table = ProcessTable()
    calls = []
    done = threading.Event()

    def read():
        calls.append(1)
        if len(calls) == 2:
            raise PermissionError("no /proc access")
        if len(calls) >= 3:
            done.set()
        return [Socket(6, 1, 2, 3, "x")]

    poller = ProcessPoller(table, read=read, local=frozenset, every=0.01)
    assert poller.poll() and table.polls == 1
    poller.start()
    try:
        assert done.wait(5.0)
    finally:
        poller.close()
    assert table.polls >= 2 and len(calls) >= 3
    assert threading.current_thread() is threading.main_thread()
    assert not any(t.name == "tuimon-processes" for t in threading.enumerate())


def test_the_socket_reader_finds_what_psutil_finds_and_walks_proc_only_for_new_sockets():
    import os
    import socket

    from tuimon.capture.sockets import SocketReader, read_sockets

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp6.bind(("::", 0))
    try:
        reader = SocketReader()
        mine = {s for s in reader.read() if s.pid == os.getpid()}
        assert reader.scans == 1
        ports = {listener.getsockname()[1], client.getsockname()[1], udp6.getsockname()[1]}
        assert {s.port for s in mine} >= ports
        assert {s for s in read_sockets() if s.pid == os.getpid()} == mine  # psutil agrees
        assert all(s.name for s in mine)
        reader.read()
        assert reader.scans == 1  # nothing new: no walk of the processes' descriptors
        extra = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        extra.bind(("127.0.0.1", 0))
        try:
            found = reader.read()
            assert reader.scans == 2
            assert (17, parse_address("127.0.0.1"), extra.getsockname()[1], os.getpid()) in \
                {s[:4] for s in found}
        finally:
            extra.close()
    finally:
        for s in (client, server, listener, udp6):
            s.close()


def test_a_socket_whose_owner_is_not_seen_is_unattributed():
    engine, _ = engine_with([Socket(6, parse_address(HERE), 40000, None, "")])
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.0)])
    engine.fold()
    assert [r.name for r in engine.process_rows()] == [UNATTRIBUTED_NAME]


def test_attributions_are_forgotten_when_their_conversations_leave():
    """Past ``_prune_at`` attributions, those of conversations no longer in the table are
    forgotten and the others kept: a conversation still there is not attributed (and its
    process's conversations counted) again; one that comes back after it left is a new
    conversation, attributed and counted anew."""
    curl = Socket(6, parse_address(HERE), 40000, 4242, "curl")
    engine, table = engine_with([curl])
    engine.timeouts = (5.0, 5.0, 5.0)
    table._prune_at = 1
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=10.0),
                   record(HERE, "192.0.2.8", 40000, 443, size=100, ts=10.0)])
    engine.fold()
    assert len(table._owners) == 2 and rows_by_name(engine)["curl"].conversations == 2
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=14.0)])  # one goes on
    engine.advance(16.5)  # the other (idle since 10.0) leaves at this fold
    engine.fold()
    engine.ingest([record(HERE, "192.0.2.9", 40000, 443, size=100, ts=17.0)])
    table._prune_at = 1  # (a prune sets it to 10,000 at least)
    engine.fold()  # past _prune_at: the one that left is forgotten
    assert len(table._owners) == 1 and len(engine.conversations) == 1
    assert rows_by_name(engine)["curl"].conversations == 2  # not counted again
    engine.ingest([record(HERE, "192.0.2.8", 40000, 443, size=100, ts=18.0)])  # it comes back
    engine.fold()
    curl_row = rows_by_name(engine)["curl"]
    assert curl_row.conversations == 3 and curl_row.bytes_sent == 500
