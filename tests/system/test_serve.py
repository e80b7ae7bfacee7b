"""``tuimon serve`` as a daemon: the app attached and detached, ``tuimon ctl counters
--reset``, SIGTERM and the CSV files it flushed.

Live: the daemon counts ``tma0`` in namespace a (a veth pair the ``netns`` fixture creates),
namespace b sends UDP datagrams of known sizes to an echo server in a. The app is the real
MonitorApp through Pilot and :class:`~tuimon.server.attach_client.SocketClient`, in a small
driver script outside the namespaces (a Unix socket is a path, not an address: it is
reached from any network namespace) that prints what the app shows as JSON lines.
Playback (no root): the ctl reset against a daemon playing ``tests/data/1kxun.pcap``,
against the figures of the headless run of the same file.

Every process started here runs the worktree's tuimon (PYTHONPATH) and is killed at the
end whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuimon.sinks.csv import FILES as CSV_FILES

from tests.support.echo import exchange, frames, rows
from tests.support.netns import wait_line

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "tests" / "data" / "1kxun.pcap"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

DRIVER = r"""
import asyncio, json, sys, threading
from tuimon.ui.app import MonitorApp
from tuimon.server.attach_client import SocketClient

commands = []
threading.Thread(target=lambda: [commands.append(line.strip()) for line in sys.stdin],
                 daemon=True).start()


async def main():
    client = SocketClient(sys.argv[1])
    client.launch()
    app = MonitorApp(client, interval=0.2, view="interfaces",
                     counters=bool(client.served.counters))
    async with app.run_test(size=(200, 30)) as pilot:
        while True:
            await pilot.pause(0.2)
            if commands:
                command = commands.pop(0)
                if command == "quit":
                    break
                await pilot.press(command)
                continue
            page = app.last_page
            print(json.dumps({
                "state": str(app.header.state), "view": page.view if page else None,
                "rows": [r._asdict() for r in page.rows] if page else [],
                "notes": [n.message for n in app._notifications]}, default=str), flush=True)
        await pilot.press("q")
        for _ in range(50):
            if not app.is_running:
                break
            await asyncio.sleep(0.1)
    client.stop()
    print(json.dumps({"exit": app.return_code}), flush=True)


asyncio.run(main())
"""


class Attached:
    """The app attached to the daemon, driven by the script above."""

    def __init__(self, sock: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER, sock], cwd=ROOT, env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.last: dict = {}

    def press(self, key: str) -> None:
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()

    def wait(self, what: str, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.last = json.loads(line)
            if predicate(self.last):
                return self.last
        self.proc.kill()
        _, err = self.proc.communicate()
        raise AssertionError(f"the app never showed {what}; last: {self.last}; "
                             f"stderr: {err[-2000:]}")

    def quit(self) -> dict:
        self.press("quit")
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0 and "Traceback" not in err, err
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuimon", "ctl", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=30)


def ctl_rows(out: str) -> dict:
    """name -> (packets, bytes) from ``tuimon ctl counters``."""
    lines = out.strip().splitlines()
    assert lines[0].startswith("name\tpackets\tbytes\tsince"), out
    return {f[0]: (int(f[1]), int(f[2])) for f in (line.split("\t") for line in lines[1:])}


def stop(daemon: subprocess.Popen) -> tuple[str, str]:
    daemon.send_signal(signal.SIGTERM)
    out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err, err
    return out, err


def iface_counted(row: dict, n: int, total: int) -> bool:
    return (row["packets"], row["bytes"], row["in_packets"], row["in_bytes"],
            row["out_packets"], row["out_bytes"]) == (2 * n, 2 * total, n, total, n, total)


@pytest.mark.live
def test_attach_detach_reset_and_sigterm(netns, echo, tmp_path):
    sock, out = str(tmp_path / "tma0.sock"), tmp_path / "out"
    daemon = netns.popen(netns.a, sys.executable, "-m", "tuimon", "serve", "tma0",
                         "--control", sock, "--csv", str(out), "--counter", "echo=port 7",
                         "--dissect-packets", "0", "--no-history", cwd=str(ROOT), env=ENV)
    app = None
    try:
        wait_line(daemon, "tuimon: serving tma0 on")
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660

        first = [10, 20, 30]
        exchange(netns, 0, first)
        app = Attached(sock)
        shown = app.wait("tma0 counted exactly", lambda s: any(
            r["interface"] == "tma0" and iface_counted(r, 3, frames(first))
            and (r["kernel_in_packets"], r["kernel_in_bytes"]) == (3, frames(first))
            for r in s["rows"]))
        assert shown["state"] == "capturing"
        app.press("4")  # the conversation, both ways
        conv = app.wait("the echo conversation", lambda s: s["view"] == "conversations"
                        and len(s["rows"]) == 1)["rows"][0]
        assert (conv["port_a"], conv["port_b"], conv["packets_a_to_b"], conv["bytes_a_to_b"],
                conv["packets_b_to_a"], conv["bytes_b_to_a"]) == \
            (40000, 7, 3, frames(first), 3, frames(first))  # A: who spoke first
        assert app.quit()["exit"] == 0
        app = None
        assert daemon.poll() is None, "q in the attached app stopped the daemon"

        second = [40, 50]  # counted with nobody attached
        exchange(netns, 0, second, sport=40001)
        every = first + second
        expected = (2 * len(every), 2 * frames(every))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the datagrams may wait in dumpcap's pipe
            now = ctl("counters", sock)
            assert now.returncode == 0, now.stderr
            if ctl_rows(now.stdout)["echo"] == expected:
                break
            time.sleep(0.2)
        reset = ctl("counters", "--reset", "echo", sock)
        assert reset.returncode == 0, reset.stderr
        assert "(at the reset)" in reset.stdout
        assert ctl_rows(reset.stdout)["echo"] == expected
        assert ctl_rows(ctl("counters", sock).stdout)["echo"] == (0, 0)

        third = [60]
        exchange(netns, 0, third)
        time.sleep(1.0)
        _, err = stop(daemon)
        assert f"saved {len(CSV_FILES)} CSV files" in err and not os.path.exists(sock)
    finally:
        if app is not None:
            app.kill()
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()

    all_sizes = first + second + third
    [iface] = rows(out, "interfaces.csv")
    assert iface["interface"] == "tma0"
    assert [int(iface[k]) for k in ("packets", "bytes", "in_packets", "out_packets",
                                    "kernel_in_packets", "kernel_in_bytes")] == \
        [2 * len(all_sizes), 2 * frames(all_sizes), len(all_sizes), len(all_sizes),
         len(all_sizes), frames(all_sizes)]
    [counter] = rows(out, "counters.csv")
    assert [counter[k] for k in ("name", "packets", "bytes", "total_packets", "total_bytes",
                                 "resets")] == \
        ["echo", "2", str(2 * frames(third)), str(2 * len(all_sizes)),
         str(2 * frames(all_sizes)), "1"]
    # A is who spoke first: b's ports 40000 (first, third) and 40001, to the echo's 7
    convs = {(r["protocol"], r["port_a"], r["port_b"]): [int(r[k]) for k in (
        "packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")]
        for r in rows(out, "conversations.csv")}
    one, two = first + third, second
    assert convs == {
        ("udp", "40000", "7"): [len(one), frames(one), len(one), frames(one)],
        ("udp", "40001", "7"): [len(two), frames(two), len(two), frames(two)]}


def test_ctl_reset_on_a_playback(tmp_path):
    """No root needed: a daemon playing 1kxun.pcap as fast as it can; the reset's figures
    are the headless run's counter, then zero; the daemon answers on after the file's end."""
    sock = str(tmp_path / "play.sock")
    headless = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(PCAP), "--no-ui",
                               "--csv", str(tmp_path / "headless"), "--counter", "web=port 80",
                               "--dissect-packets", "0", "--no-history"],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert headless.returncode == 0, headless.stderr
    [want] = rows(tmp_path / "headless", "counters.csv")
    daemon = subprocess.Popen([sys.executable, "-m", "tuimon", "serve", "-r", str(PCAP),
                               "--speed", "0", "--control", sock, "--counter", "web=port 80",
                               "--dissect-packets", "0", "--no-history"],
                              cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_line(daemon, "tuimon: serving 1kxun.pcap on")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = ctl("counters", sock)
            assert now.returncode == 0, now.stderr
            if ctl_rows(now.stdout)["web"] == (int(want["packets"]), int(want["bytes"])):
                break
            time.sleep(0.2)
        reset = ctl("counters", "--reset", "web", sock)
        assert reset.returncode == 0, reset.stderr
        assert ctl_rows(reset.stdout)["web"] == (int(want["packets"]), int(want["bytes"]))
        assert ctl_rows(ctl("counters", sock).stdout)["web"] == (0, 0)
        unknown = ctl("counters", "--reset", "nope", sock)
        assert unknown.returncode == 2 and unknown.stdout == ""
        assert unknown.stderr.strip() == "tuimon: no counter named nope (the daemon counts web)"
        stop(daemon)
        gone = ctl("counters", sock)
        assert gone.returncode == 2 and "Traceback" not in gone.stderr
        assert gone.stderr.startswith("tuimon: no tuimon serve listens on"), gone.stderr
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()


def test_drill_down_and_save_through_the_socket(tmp_path):
    """A playback daemon: a conversation's packets read again by the daemon (drill-down's
    reply reaches the client that asked, among two), and an attached save lands in the
    daemon's --csv folder whatever folder the client named."""
    from tuimon.server.attach_client import SocketClient
    from tuimon.server.protocol import PacketList, Packets, Page, Query, Save, Saved

    sock, out = str(tmp_path / "drill.sock"), tmp_path / "daemon-csv"
    daemon = subprocess.Popen([sys.executable, "-m", "tuimon", "serve", "-r", str(PCAP),
                               "--speed", "0", "--control", sock, "--csv", str(out),
                               "--dissect-packets", "0", "--no-history"],
                              cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    clients = []
    try:
        wait_line(daemon, "tuimon: serving 1kxun.pcap on")
        one, other = SocketClient(sock), SocketClient(sock)
        clients += [one, other]
        other.launch()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = one.request(Query(view="conversations", limit=1, seq=1), Page)
            if page.state == "finished":
                break
            time.sleep(0.2)
        [row] = page.rows
        other.send(Query(view="hosts", seq=5))
        listed = one.request(Packets(page.keys[0], seq=2), PacketList, timeout=60)
        assert listed.error is None and listed.found == row.packets_a_to_b + row.packets_b_to_a
        assert len(listed.rows) == listed.found
        from tuimon.server.wire import loads_reply

        got = []  # the other client's: its page (and any Status), never one's packets
        while other.conn.poll(1.0):
            got.append(type(loads_reply(other.conn.recv_bytes())).__name__)
        assert "Page" in got and "PacketList" not in got, got
        saved = one.request(Save(str(tmp_path / "elsewhere"), seq=3), Saved)
        assert saved.error is None and saved.folder == str(out)
        assert sorted(p.name for p in out.iterdir()) == [
            "alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
            "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv",
            "stations.csv"]
        assert not (tmp_path / "elsewhere").exists()
        stop(daemon)
    finally:
        for client in clients:
            client.close()
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
