"""The history of live sessions in network namespaces: recorded by default, a restart's
totals carrying over (against the kernel's own interface counters; and a restart in the
middle of steady traffic, against what each session counted), and ``kill -9`` while
recording leaving a database that opens with every commit but the last.

Traffic is UDP echoed between the namespaces by python sockets (tests/support/echo.py):
nothing else is on the link, so the kernel counts exactly the frames tuimon should. The
kill test commits every 2 s instead of every minute (``TUIMON_TEST_HISTORY_COMMIT``, a
test-only hook, docs/testing.md); rows stay per minute.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

from tests.support.echo import exchange, frames, rows
from tests.support.netns import wait_line
from tests.system.test_history_kill import running, writer_of
from tuimon.sinks.history_totals import starts, totals

pytestmark = pytest.mark.live


def kernel(netns, dev: str = "tma0") -> dict[str, int]:
    """The kernel's counters of ``dev`` in namespace a."""
    names = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes")
    r = netns.run(netns.a, "cat", *(f"/sys/class/net/{dev}/statistics/{n}" for n in names))
    assert r.returncode == 0, r.stderr
    return dict(zip(names, map(int, r.stdout.split())))


def sums(db: sqlite3.Connection, grain: str) -> tuple:
    return db.execute(f"SELECT SUM(packets), SUM(bytes), SUM(in_packets), SUM(in_bytes), "
                      f"SUM(out_packets), SUM(out_bytes) FROM interface_{grain} "
                      f"WHERE interface = 'tma0'").fetchone()


def assert_interface_totals(db: sqlite3.Connection, began: float, now: float,
                            expect: tuple) -> bool:
    """tma0's minutes, hours and days add up to ``expect``, and so do today's, the week's
    and the period's totals unless the test ran across midnight (UTC); whether they were
    checked."""
    for grain in ("minutes", "hours", "days"):
        assert sums(db, grain) == expect
    if began < starts(now)["today"]:
        return False
    t = totals(db, "interface", now)
    for period in ("today", "week", "period"):
        assert t[period]["tma0"] == expect
    return True


def stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "history" not in err


def test_a_restart_adds_to_the_totals_as_the_kernel_counted(netns, echo, tmp_path):
    """Two live sessions, recording by default into $XDG_DATA_HOME, with traffic in each:
    the database's totals for today, the week and the period are the kernel's."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    began = time.time()
    before = kernel(netns)
    for sizes, sport, more in (([100, 200, 300], 40000, ()),
                               ([1000, 50], 40001, ("--history-conversations",))):
        proc = netns.tuimon("tma0", "--no-ui", "--dissect-packets", "0", *more, env=env)
        wait_line(proc, "tuimon: capturing on")
        exchange(netns, 0, sizes, sport=sport)
        time.sleep(0.5)  # dumpcap hands the last echo over
        stop(proc)
    k = {n: v - before[n] for n, v in kernel(netns).items()}
    assert k["rx_packets"] == k["tx_packets"] == 5  # nothing else was on the link
    assert k["rx_bytes"] == k["tx_bytes"] == frames([100, 200, 300, 1000, 50])
    expect = (k["rx_packets"] + k["tx_packets"], k["rx_bytes"] + k["tx_bytes"],
              k["rx_packets"], k["rx_bytes"], k["tx_packets"], k["tx_bytes"])
    path = tmp_path / "tuimon" / "history.sqlite"
    db = sqlite3.connect(path)
    now = time.time()
    if assert_interface_totals(db, began, now, expect):
        hosts = totals(db, "host", now)["today"]
        b = hosts[netns.addr_b()]
        assert b[2:] == (k["rx_packets"], k["rx_bytes"], k["tx_packets"], k["tx_bytes"])
    # a row per conversation only when asked: the second session's one
    assert db.execute("SELECT port_a, port_b FROM conversations").fetchall() in \
        ([(40001, 7)], [(7, 40001)])


STREAM = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 41000))
s.setblocking(False)
print("sending", file=sys.stderr, flush=True)
while True:
    s.sendto(b"x" * 300, (sys.argv[2], 7))
    try:
        while True:
            s.recv(65535)
    except BlockingIOError:
        pass
    time.sleep(0.005)
"""


def test_a_restart_mid_traffic_carries_the_totals_over(netns, echo, tmp_path):
    """Traffic flows all along (about 400 frames a second, echoed); tuimon is stopped and
    started again in the middle of it. The database holds exactly what the two sessions
    counted (each session's interfaces.csv), today's, the week's and the period's totals
    included; the kernel counted more (the frames of the restart's gap)."""
    db_path = tmp_path / "history.sqlite"
    began = time.time()
    before = kernel(netns)
    sender = netns.python(netns.b, STREAM, netns.addr_b(), netns.addr_a())
    counted = []
    try:
        wait_line(sender, "sending")
        for i in range(2):
            out = tmp_path / f"session{i}"
            proc = netns.tuimon("tma0", "--no-ui", "--dissect-packets", "0", "--history",
                                str(db_path), "--csv", str(out))
            wait_line(proc, "tuimon: capturing on")
            time.sleep(2.0)
            stop(proc)
            row = next(r for r in rows(out, "interfaces.csv") if r["interface"] == "tma0")
            counted.append(tuple(int(row[k]) for k in ("packets", "bytes", "in_packets",
                                                         "in_bytes", "out_packets", "out_bytes")))
            assert counted[-1][0] > 400, counted  # the traffic flowed through the session
    finally:
        sender.kill()
        sender.communicate()
    expect = tuple(a + b for a, b in zip(*counted))
    assert_interface_totals(sqlite3.connect(db_path), began, time.time(), expect)
    k = kernel(netns)
    on_link = k["rx_packets"] + k["tx_packets"] - before["rx_packets"] - before["tx_packets"]
    assert on_link > expect[0]  # frames went by while no tuimon was counting


def test_kill_9_while_recording_live_keeps_every_commit_but_the_last(netns, echo, tmp_path):
    db_path = tmp_path / "history.sqlite"
    env = {**os.environ, "TUIMON_TEST_HISTORY_COMMIT": "2"}
    proc = netns.tuimon("tma0", "--no-ui", "--dissect-packets", "0", "--history",
                        str(db_path), env=env)
    wait_line(proc, "tuimon: capturing on")
    sent = []
    try:
        for i, sizes in enumerate(([100], [200, 300], [400])):
            exchange(netns, 0, sizes, sport=40000 + i)
            sent.append(frames(sizes) * 2)  # each datagram and its echo
            if i < 2:
                time.sleep(3.5)  # a commit (every 2 s of the live clock) passes
        writer = writer_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    deadline = time.monotonic() + 30  # the writer process commits what it was handed
    while writer is not None and running(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer is not None and not running(writer)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = sums(db, "minutes")[1]
    assert got in (sum(sent[:2]), sum(sent))  # the last burst's commit may be lost, no other
    assert sums(db, "hours") == sums(db, "minutes") == sums(db, "days")  # rollups committed
    hosts = db.execute("SELECT SUM(packets) FROM host_minutes").fetchone()[0]
    assert hosts == 2 * db.execute("SELECT SUM(packets) FROM interface_minutes").fetchone()[0]
    minutes = [m for (m,) in db.execute("SELECT minute FROM interface_minutes")]
    assert minutes and all(m % 60 == 0 for m in minutes)  # rows per minute all the same
