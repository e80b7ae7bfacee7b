"""``tuimon web``: the app attached to a daemon, in headless Chromium.

The daemon plays ``tests/data/1kxun.pcap`` (no root needed); ``tuimon web SOCKET`` serves
it on 127.0.0.1 with textual-serve; Chromium opens the page over the DevTools protocol
(tests/support/browser.py). textual-serve draws on canvases, so what is checked is (1) the
text the app sent the browser over the websocket, escape sequences removed: the header's
totals and the Hosts view's first row, against the headless run of the same file, (2) that
the browser drew glyphs on the terminal's canvas, (3) a screenshot, kept in the test's
folder (``web.png``). Then the web server is stopped, its session's ``tuimon attach`` with
it, and the daemon counts on. Everything is killed at the end whatever happened.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.browser import open_page, skip_reason
from tests.support.echo import rows
from tests.support.netns import wait_line

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "tests" / "data" / "1kxun.pcap"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ESCAPE = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"tuimon web never listened on 127.0.0.1:{port}")


def kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_the_app_in_a_browser(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    headless = subprocess.run([sys.executable, "-m", "tuimon", "-r", str(PCAP), "--no-ui",
                               "--csv", str(tmp_path / "headless"), "--dissect-packets", "0",
                               "--no-history"], cwd=ROOT, env=ENV, capture_output=True,
                              text=True, timeout=120)
    assert headless.returncode == 0, headless.stderr
    [iface] = rows(tmp_path / "headless", "interfaces.csv")
    hosts = rows(tmp_path / "headless", "hosts.csv")
    top = max(hosts, key=lambda h: int(h["bytes"]))

    sock, port = str(tmp_path / "play.sock"), free_port()
    daemon = web = None
    try:
        daemon = subprocess.Popen([sys.executable, "-m", "tuimon", "serve", "-r", str(PCAP),
                                   "--speed", "0", "--control", sock, "--dissect-packets", "0",
                                   "--no-history"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        wait_line(daemon, "tuimon: serving 1kxun.pcap on")
        web = subprocess.Popen([sys.executable, "-m", "tuimon", "web", sock, "--web-bind",
                                f"127.0.0.1:{port}"], cwd=ROOT, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_listening(port, web)
        listening = {c.laddr for c in psutil.Process(web.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", port)}, listening

        seen = open_page(f"http://127.0.0.1:{port}/", ["1kxun.pcap", top["address"]])
        (tmp_path / "web.png").write_bytes(seen.screenshot)
        text = ESCAPE.sub("", seen.text)
        assert f"Total {iface['packets']} pkts" in text, text[:2000]
        assert f"Hosts {len(hosts)}" in text
        # the Hosts view's first row: the top host by bytes, its packets
        assert re.search(rf"{re.escape(top['address'])}\s+\S+ [kMG]?B\s+{top['packets']}\b",
                         text), text[:3000]
        assert seen.ink > 0.05, seen.ink  # glyphs drawn on the terminal's canvas
        assert seen.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(seen.screenshot) > 20_000

        web.send_signal(signal.SIGTERM)
        web.communicate(timeout=30)
        assert daemon.poll() is None, "the browser session stopped the daemon"
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0 and "Traceback" not in err, err
    finally:
        kill(web)
        kill(daemon)
    stray = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
             if p.info["cmdline"] and "attach" in p.info["cmdline"] and sock in p.info["cmdline"]]
    assert stray == []
