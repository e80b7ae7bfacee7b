"""The real app (Pilot, the real ProcessBackend and engine process, a real LiveSource) on two
veth interfaces in a network namespace: exact counts with direction and kernel counters,
then one interface deleted mid-capture -- its row says so, the app, the engine process
and the other interface go on.

The app runs in namespace a (a network namespace is per process), in a small driver
script that prints what the app shows as one JSON line every 0.2 s and quits on "quit".
"""

from __future__ import annotations

import csv
import json
import time

import pytest

from tests.support.echo import exchange, frames

pytestmark = pytest.mark.live

DRIVER = r"""
import argparse, asyncio, json, sys, threading
from tuimon.ui.app import MonitorApp
from tuimon.config import Config
from tuimon.server.client import ProcessClient as ProcessBackend

args = Config(interfaces=tuple(sys.argv[2:]), csv=sys.argv[1] or None, interval=0.2)
quit_now = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), quit_now.set()), daemon=True).start()


async def main():
    backend = ProcessBackend(args)
    status = backend.launch()
    if status.state == "error":
        print(json.dumps({"error": status.message}), flush=True)
        return
    app = MonitorApp(backend, interval=0.2, view="interfaces", csv_dir=args.csv)
    try:
        async with app.run_test(size=(200, 30)) as pilot:
            while not quit_now.is_set():
                await pilot.pause(0.2)
                page = app.last_page
                rows = {r.interface: r._asdict() for r in (page.rows if page else [])}
                print(json.dumps({
                    "state": app.header.state, "message": app.header.message,
                    "source": app.header.source, "rows": rows,
                    "header": str(app.header.render()),
                    "worker_alive": backend.process.is_alive(),
                    "notes": [[n.title, n.message] for n in app._notifications],
                }), flush=True)
            await pilot.press("q")  # with --csv: saves, once the capture has stopped
            for _ in range(100):
                if not app.is_running:
                    break
                await asyncio.sleep(0.1)
    finally:
        backend.stop()
    print(json.dumps({"exit": app.return_code}), flush=True)


asyncio.run(main())
"""


class Driver:
    def __init__(self, ns, *interfaces: str, csv_dir: str = "") -> None:
        self.proc = ns.python(ns.a, DRIVER, csv_dir, *interfaces,
                              stdin=__import__("subprocess").PIPE)
        self.last: dict = {}

    def wait(self, what: str, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.last = json.loads(line)
            assert "error" not in self.last, self.last
            if predicate(self.last):
                return self.last
        self.proc.kill()
        _, err = self.proc.communicate()
        raise AssertionError(f"the app never showed {what}; last: {self.last}; stderr: {err[-2000:]}")

    def quit(self) -> dict:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        assert "Traceback" not in err, err
        return json.loads(out.strip().splitlines()[-1])


def counted(row: dict, sizes) -> bool:
    n, total = len(sizes), frames(sizes)
    return (row["packets"], row["bytes"], row["in_packets"], row["in_bytes"],
            row["out_packets"], row["out_bytes"]) == (2 * n, 2 * total, n, total, n, total)


def kernel_agrees(row: dict, sizes) -> bool:
    n, total = len(sizes), frames(sizes)
    return (row["kernel_in_packets"], row["kernel_in_bytes"], row["kernel_out_packets"],
            row["kernel_out_bytes"], row["missed_packets"]) == (n, total, n, total, 0)


def test_app_goes_on_when_one_interface_is_deleted(netns, echo, tmp_path):
    app = Driver(netns, "tma0", "tma1", csv_dir=str(tmp_path))
    app.wait("both interfaces capturing", lambda s: s["state"] == "capturing"
             and set(s["rows"]) == {"tma0", "tma1"})
    exchange(netns, 0, [10, 20])
    exchange(netns, 1, [500, 600], sport=40001)
    shown = app.wait("exact counts, direction and kernel counters on both", lambda s: all(
        counted(s["rows"][name], sizes) and kernel_agrees(s["rows"][name], sizes)
        for name, sizes in (("tma0", [10, 20]), ("tma1", [500, 600]))))
    # the capture socket's drops are read while dumpcap runs (as root): known, and none
    assert "Drops 0" in shown["header"]

    assert netns.run(netns.a, "ip", "link", "del", "tma1").returncode == 0
    shown = app.wait("tma1's capture ended", lambda s: "tma1: interface removed" in s["message"])
    assert shown["state"] == "capturing" and shown["worker_alive"]
    assert ["Capture", "capture ended on tma1: interface removed"] in shown["notes"]
    # dumpcap reports its drops when it stops (tma1's did, as its interface went away);
    # tma0's are read from its capture socket while it runs
    assert "Missed 0" in shown["header"]
    shown = app.wait("tma1's drops", lambda s: s["rows"]["tma1"]["drops"] == 0
                     and s["rows"]["tma0"]["drops"] == 0)
    assert "Drops 0" in shown["header"]

    exchange(netns, 0, [30, 40])  # tma0 is still counted, in the same engine process
    final = app.wait("tma0 counting on", lambda s: counted(s["rows"]["tma0"], [10, 20, 30, 40]))
    assert final["state"] == "capturing" and final["worker_alive"]
    assert counted(final["rows"]["tma1"], [500, 600])  # what tma1 had is kept
    assert kernel_agrees(final["rows"]["tma1"], [500, 600])  # its last kernel reading too
    assert app.quit() == {"exit": 0}
    # q saved the CSV files after stopping the capture: dumpcap's final drop count is in
    with open(tmp_path / "interfaces.csv", newline="") as f:
        saved = {r["interface"]: r for r in csv.DictReader(f)}
    assert saved["tma0"]["drops"] == "0"  # tma0's dumpcap was stopped and said so
    assert saved["tma1"]["drops"] == "0"
    assert [int(saved["tma0"][k]) for k in ("packets", "in_packets", "out_packets",
                                            "kernel_in_packets", "missed_packets")] == [8, 4, 4, 4, 0]


def test_app_names_the_default_interface(netns):
    netns.run(netns.b, "python3", "-c", "import socket; socket.socket(2, 2).sendto("
              "b'x', ('10.199.2.1', 9))")  # only tma1 has seen traffic
    app = Driver(netns)
    shown = app.wait("the picked interface", lambda s: s["state"] == "capturing"
                     and s["notes"] and s["rows"])
    assert shown["source"] == "tma1" and list(shown["rows"]) == ["tma1"]
    assert shown["notes"][0] == ["Interface", "capturing on tma1: no interface was named, and "
                                 "it is the first one that is up, not loopback, and has traffic"]
    assert app.quit() == {"exit": 0}
