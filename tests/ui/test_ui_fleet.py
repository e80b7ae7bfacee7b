"""--metrics and --ipfix in the app: the engine process (the real one, beside a Pilot-driven
app) serves /metrics while the app runs and exports the playback's conversations to an
IPFIX collector, here a UDP socket on 127.0.0.1; the figures are the app's own."""

from __future__ import annotations

import socket
import struct
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import DATA, args_for, settle
from tuimon.server.client import ProcessClient as ProcessBackend
from tuimon.server.protocol import FINISHED
from tuimon.ui.app import MonitorApp

NETFLIX = f"{DATA}/netflix.pcap"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ipfix_records(sock: socket.socket) -> tuple[int, int]:
    """Messages and data records (sets 256 and up) received so far."""
    messages = records = 0
    sock.settimeout(0.2)
    try:
        while True:
            data = sock.recv(65535)
            version, length = struct.unpack_from("!HH", data)
            assert version == 10 and length == len(data)
            messages += 1
            at = 16
            while at < length:
                set_id, set_len = struct.unpack_from("!HH", data, at)
                if set_id >= 256:
                    records += 1  # at least one record a data set
                at += set_len
    except TimeoutError:
        pass
    return messages, records


async def test_the_app_serves_metrics_and_exports_ipfix():
    metrics_port = free_port(socket.SOCK_STREAM)
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    config = args_for(NETFLIX, metrics=f"127.0.0.1:{metrics_port}",
                      ipfix=f"127.0.0.1:{collector.getsockname()[1]}", dissect_packets=0)
    backend = ProcessBackend(config)
    try:
        assert backend.launch().opened
        app = MonitorApp(backend, interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(100):
                await pilot.pause(0.1)
                page = app.last_page
                if page is not None and page.state == FINISHED and page.totals.packets == 1793:
                    break
            assert app.last_page.totals.packets == 1793
            text = ""
            for _ in range(30):  # the engine publishes once a second and at the end
                text = urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
                if 'tuimon_capture_ended 1.0' in text:
                    break
                await pilot.pause(0.2)
            values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                      for f in text_string_to_metric_families(text) for s in f.samples}
            assert values[("tuimon_interface_packets_total",
                           (("interface", "netflix.pcap"),))] == 1793
            assert values[("tuimon_interface_bytes_total",
                           (("interface", "netflix.pcap"),))] == app.last_page.totals.bytes
            await pilot.press("q")
            await settle(pilot)
    finally:
        backend.stop()
    messages, records = ipfix_records(collector)
    collector.close()
    assert messages > 0 and records > 0  # the session's end exports every conversation
