"""--metrics: the snapshot (sinks/metrics.py) against the CSV files of the same engine, the
collector's exposition text parsed back, bounded labels, monotonic applications and named
counters, the address option, and the endpoint's life (server/metrics_server.py)."""

from __future__ import annotations

import csv
import socket
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tuimon.cli import run
from tuimon.config import Config
from tuimon.server.metrics_server import (
    MetricsError,
    MetricsServer,
    SnapshotCollector,
    _lag,
    parse_address,
)
from tuimon.server.protocol import ResetCounters
from tuimon.server.service import EngineService
from tuimon.sinks.csv import export_snapshot
from tuimon.sinks.metrics import EMPTY, MetricsSnapshot, applications, build

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"
COUNTERS = (("web", "port 443"), ("dns", "port 53"), ("none", "port 1"))
LABELS = {"interface", "protocol", "layer", "application", "counter", "address"}


def _counted(name: str = "netflix.pcap", **kw) -> EngineService:
    config = Config(read=str(DATA / name), dissect_packets=0, no_history=True,
                    counters=COUNTERS, **kw)
    service = EngineService(config)
    assert service.run_all().state == "finished"
    return service


def _csv(folder: Path, name: str) -> list[dict]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


def _exposed(snap: MetricsSnapshot) -> dict[tuple, float]:
    """The exposition text of ``snap``, parsed back: (sample name, labels) -> value."""
    holder = SimpleNamespace(snapshot=snap)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(holder))
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.parametrize("name", ["netflix.pcap", "1kxun.pcap", "gre.pcapng"])
def test_exposed_figures_are_the_csv_files(tmp_path, name):
    service = _counted(name)
    export_snapshot(service.engine.snapshot(), str(tmp_path), service.expired)
    got = _exposed(build(service.engine, ended=True))

    interfaces = _csv(tmp_path, "interfaces.csv")
    assert interfaces
    for row in interfaces:
        label = (("interface", row["interface"]),)
        assert got[("tuimon_interface_packets_total", label)] == int(row["packets"])
        assert got[("tuimon_interface_bytes_total", label)] == int(row["bytes"])
        if row["drops"]:
            assert got[("tuimon_interface_drops_total", label)] == int(row["drops"])
        else:
            assert ("tuimon_interface_drops_total", label) not in got

    want_protocols, want_apps = {}, {}
    for row in _csv(tmp_path, "protocols.csv"):
        figures = (int(row["packets"]), int(row["bytes"]))
        if row["layer"] == "application":
            want_apps[row["protocol"]] = figures
        else:
            want_protocols[(row["protocol"], row["layer"])] = figures
    got_protocols = {(dict(k[1])["protocol"], dict(k[1])["layer"]):
                     (v, got[("tuimon_protocol_bytes_total", k[1])])
                     for k, v in got.items() if k[0] == "tuimon_protocol_packets_total"}
    got_apps = {dict(k[1])["application"]: (v, got[("tuimon_application_bytes_total", k[1])])
                for k, v in got.items() if k[0] == "tuimon_application_packets_total"}
    assert got_protocols == want_protocols and want_protocols
    assert got_apps == want_apps

    counters = _csv(tmp_path, "counters.csv")
    assert [r["name"] for r in counters] == [n for n, _ in COUNTERS]
    for row in counters:
        label = (("counter", row["name"]),)
        assert got[("tuimon_named_packets_total", label)] == int(row["total_packets"])
        assert got[("tuimon_named_bytes_total", label)] == int(row["total_bytes"])
        assert got[("tuimon_named_resets_total", label)] == int(row["resets"])

    conversations = _csv(tmp_path, "conversations.csv")
    hosts = _csv(tmp_path, "hosts.csv")
    assert got[("tuimon_conversations", ())] == sum(r["state"] == "active" for r in conversations)
    assert got[("tuimon_conversations_expired_total", ())] == \
        sum(r["state"] == "expired" for r in conversations)
    assert got[("tuimon_hosts", ())] == sum(r["address"] != "(other hosts)" for r in hosts)
    assert got[("tuimon_capture_ended", ())] == 1
    assert got[("tuimon_capture_lag_seconds", ())] == 0
    assert got[("tuimon_capture_time_seconds", ())] == service.engine.now
    # bounded labels: no address without --metrics-top-hosts
    assert {name for _, labels in got for name, _ in labels} <= LABELS - {"address"}


def test_top_hosts_are_the_busiest_n_and_only_they_have_an_address(tmp_path):
    service = _counted("1kxun.pcap")
    export_snapshot(service.engine.snapshot(), str(tmp_path))
    hosts = _csv(tmp_path, "hosts.csv")  # by bytes, most first
    assert len(hosts) > 5
    got = _exposed(build(service.engine, top=5))
    series = {dict(k[1])["address"]: v for k, v in got.items()
              if k[0] == "tuimon_host_bytes_total"}
    assert series == {r["address"]: int(r["bytes"]) for r in hosts[:5]}
    packets = {dict(k[1])["address"]: v for k, v in got.items()
               if k[0] == "tuimon_host_packets_total"}
    assert packets == {r["address"]: int(r["packets"]) for r in hosts[:5]}
    assert sum("address" in dict(k[1]) for k in got) == 2 * 5  # at most N series a metric
    assert len(build(service.engine, top=10_000).top_hosts) == len(hosts)


def test_applications_never_decrease_when_a_verdict_moves_a_count():
    first = MetricsSnapshot(app_read=(("http", 10, 1000),))
    served, read, moved = applications({"http": (7, 700), "tls": (3, 300)}, first)
    assert served == (("http", 10, 1000), ("tls", 3, 300))
    assert moved == (("http", 3, 300),)
    second = first._replace(app_read=read, app_moved=moved)
    served, read, moved = applications({"http": (9, 900), "tls": (3, 300)}, second)
    assert served == (("http", 12, 1200), ("tls", 3, 300))
    third = second._replace(app_read=read, app_moved=moved)
    served, _, _ = applications({"tls": (12, 1200)}, third)  # every http packet moved away
    assert served == (("http", 12, 1200), ("tls", 12, 1200))  # http stays, never lower
    assert applications({"dns": (1, 80)}, EMPTY)[0] == (("dns", 1, 80),)


def test_a_reset_of_a_named_counter_does_not_lower_its_series():
    service = _counted()
    before = {r[0]: r for r in build(service.engine).counters}
    assert before["web"][1] > 0
    service.handle(ResetCounters(("web",), seq=1))
    after = {r[0]: r for r in build(service.engine).counters}
    assert after["web"] == ("web", before["web"][1], before["web"][2], 1)
    assert after["dns"] == before["dns"]


def test_lag_of_a_live_capture_behind():
    now = 1000.0
    service = SimpleNamespace(live=True, stopped_at=None,
                              source=SimpleNamespace(behind=lambda: (150_000, 120)),
                              session=SimpleNamespace(newest=now - 2.5))
    assert _lag(service, lambda: now) == (2.5, 120)
    service.source = SimpleNamespace(behind=lambda: (0, 0))
    assert _lag(service, lambda: now) == (0.0, 0)
    service.live = False
    assert _lag(service, lambda: now) == (0.0, 0)


@pytest.mark.parametrize("text, want", [
    ("9464", ("127.0.0.1", 9464)), (":9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:1", ("0.0.0.0", 1)), ("[::1]:65535", ("::1", 65535)),
    ("localhost:80", ("localhost", 80)),
])
def test_addresses(text, want):
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["", "x", ":", "0", ":0", "65536", "1.2.3.4:", "1.2.3.4:x",
                                  "[nope]:80", "a b:80", "host_x:80", "[::1]", "٩٤:80", "1:٩"])
def test_bad_addresses(text):
    with pytest.raises(MetricsError):
        parse_address(text)


@pytest.mark.parametrize("argv, text", [
    (["--metrics", "abc"], "tuimon: --metrics: expected [ADDR:]PORT"),
    (["--metrics-top-hosts", "3"], "go with --metrics"),
    (["--metrics", "9", "--metrics-linger", "3"], "--metrics-linger goes with --no-ui"),
])
def test_bad_options_are_one_line_and_exit_2(capsys, argv, text):
    code, _ = run(["-r", str(DATA / "dns.pcap"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and text in err and err.count("\n") == 1 and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_the_service_serves_its_final_snapshot_until_it_closes():
    port = _free_port()
    service = _counted(metrics=f"127.0.0.1:{port}")
    assert service.metrics is not None and service.metrics.snapshot.ended
    text = _get(port)
    assert 'tuimon_interface_packets_total{interface="netflix.pcap"}' in text
    assert "tuimon_capture_ended 1.0" in text
    service.close()
    assert service.metrics is None
    with pytest.raises(OSError):
        _get(port)


def test_a_port_taken_is_one_line_before_counting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = EngineService(Config(read=str(DATA / "dns.pcap"), dissect_packets=0,
                                       no_history=True, metrics=str(port)))
        status = service.open()
    assert status.state == "error"
    assert status.message.startswith(f"--metrics: cannot listen on 127.0.0.1:{port}: ")
    assert service.source is None  # nothing was opened


def test_publish_is_at_most_once_a_second_unless_forced():
    clock = [100.0]
    server = MetricsServer("127.0.0.1", 0, clock=lambda: clock[0])
    try:
        service = _counted("dns.pcap")
        server.publish(service)
        first = server.snapshot
        assert first.interfaces and first is not EMPTY
        server.publish(service)
        assert server.snapshot is first  # within the second: nothing built
        clock[0] += 1.0
        server.publish(service)
        assert server.snapshot is not first
        second = server.snapshot
        server.publish(service, force=True)
        assert server.snapshot is not second
        assert "tuimon_interface_packets_total" in _get(server.port)
    finally:
        server.close()
    started = time.monotonic()
    MetricsServer("127.0.0.1", 0).close(linger=0.3)
    assert time.monotonic() - started >= 0.3
