"""--metrics against a real Prometheus server: it scrapes tuimon on 127.0.0.1 once a second,
and its query results (/api/v1/query) are the CSV files of the same run; `promtool check
metrics` passes on what tuimon serves.

tuimon runs headless on a playback with ``--metrics-linger``: the run's final snapshot stays
served after the report is written, so the figures Prometheus holds are stable and the CSV
files are there to compare with (docs/fleet.md). Prometheus and tuimon are killed whatever
the outcome; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
TUIMON = [sys.executable, "-m", "tuimon"]
TOP = 3

pytestmark = pytest.mark.skipif(not (os.access(PROMETHEUS, os.X_OK) and shutil.which(PROMTOOL)),
                                reason="needs the Debian package prometheus (prometheus, promtool)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path: str, **params) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        reply = json.loads(_get(url))
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr: str) -> dict[tuple, float]:
        """An instant vector: (sorted labels but __name__ and the target's) -> value."""
        out = {}
        for r in self.api("query", query=expr)["result"]:
            labels = tuple(sorted((k, v) for k, v in r["metric"].items()
                                  if k not in ("__name__", "job", "instance")))
            out[labels] = float(r["value"][1])
        return out


@pytest.fixture
def servers(tmp_path):
    """start(tuimon's arguments) -> (prometheus, tuimon's metrics URL, the CSV folder):
    Prometheus scraping 127.0.0.1:PORT once a second, ready, then a headless tuimon with
    ``--csv`` and ``--metrics`` on that port. Both are stopped at the end, pass or fail."""
    procs = []

    def start(*args: str):
        tport, pport = _free_port(), _free_port()
        out = tmp_path / "out"
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: tuimon\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{tport}']\n")
        procs.append(subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{pport}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.err", "w")))
        prom = Prometheus(pport)
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{prom.base}/-/ready"):
                    break
            except OSError:
                assert time.monotonic() < deadline, "Prometheus never got ready"
                time.sleep(0.2)
        procs.append(subprocess.Popen(
            [*TUIMON, *args, "--no-ui", "--csv", str(out), "--metrics", f"127.0.0.1:{tport}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "tuimon.err", "w")))
        return prom, f"http://127.0.0.1:{tport}/metrics", out

    try:
        yield start
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _wait_report(out: Path, deadline: float) -> None:
    while not (out / "counters.csv").exists():  # the report is written, then tuimon lingers
        assert time.monotonic() < deadline, "tuimon wrote no CSV files"
        time.sleep(0.2)


def _wait_up(prom: Prometheus, deadline: float) -> None:
    last = None
    while time.monotonic() < deadline:
        try:
            targets = prom.api("targets")["activeTargets"]
            last = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets]
            if any(t["health"] == "up" for t in targets):
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"the tuimon target never came up: {last}")


def _want(out: Path) -> dict[str, dict[tuple, float]]:
    """What the queries must return, from the CSV files."""
    want: dict[str, dict[tuple, float]] = {}
    for row in _rows(out / "interfaces.csv"):
        key = (("interface", row["interface"]),)
        want.setdefault("tuimon_interface_packets_total", {})[key] = float(row["packets"])
        want.setdefault("tuimon_interface_bytes_total", {})[key] = float(row["bytes"])
    for row in _rows(out / "protocols.csv"):
        if row["layer"] != "application":
            key = (("layer", row["layer"]), ("protocol", row["protocol"]))
            want.setdefault("tuimon_protocol_packets_total", {})[key] = float(row["packets"])
            want.setdefault("tuimon_protocol_bytes_total", {})[key] = float(row["bytes"])
    for row in _rows(out / "counters.csv"):
        key = (("counter", row["name"]),)
        want.setdefault("tuimon_named_packets_total", {})[key] = float(row["total_packets"])
        want.setdefault("tuimon_named_bytes_total", {})[key] = float(row["total_bytes"])
    hosts = _rows(out / "hosts.csv")
    want["tuimon_host_bytes_total"] = {(("address", r["address"]),): float(r["bytes"])
                                       for r in hosts[:TOP]}
    conversations = _rows(out / "conversations.csv")
    want["tuimon_conversations"] = {(): float(sum(r["state"] == "active"
                                                  for r in conversations))}
    want["tuimon_conversations_expired_total"] = {(): float(sum(r["state"] == "expired"
                                                                for r in conversations))}
    want["tuimon_hosts"] = {(): float(sum(r["address"] != "(other hosts)" for r in hosts))}
    want["tuimon_capture_ended"] = {(): 1.0}
    return want


def test_prometheus_scrapes_the_csv_figures(servers):
    prom, url, out = servers("-r", str(DATA / "1kxun.pcap"), "--metrics-linger", "120",
                             "--metrics-top-hosts", str(TOP), "--counter", "web=port 80",
                             "--counter", "dns=port 53")
    deadline = time.monotonic() + 60
    _wait_report(out, deadline)
    _wait_up(prom, deadline)
    want = _want(out)
    assert want["tuimon_interface_packets_total"] == {(("interface", "1kxun.pcap"),): 1723.0}
    got: dict = {}
    while time.monotonic() < deadline:
        got = {name: prom.query(name) for name in want}
        if got == want:
            break
        time.sleep(0.5)
    for name in want:
        assert got[name] == want[name], name
    time.sleep(2.5)  # two scrapes later: the same (the final snapshot stays served)
    assert {name: prom.query(name) for name in want} == want
    assert prom.query("up") == {(): 1.0}
    assert prom.query("count(tuimon_host_packets_total)") == {(): float(TOP)}

    # Applications: protocols.csv's figures, or more where a dissector verdict moved a
    # port guess's count to another name (the guess's series never goes down).
    apps = {dict(k)["application"]: v for k, v in
            prom.query("tuimon_application_bytes_total").items()}
    csv_apps = {r["protocol"]: float(r["bytes"]) for r in _rows(out / "protocols.csv")
                if r["layer"] == "application"}
    assert csv_apps and all(apps.get(name, -1) >= v for name, v in csv_apps.items())
    assert sum(apps.values()) >= sum(csv_apps.values())

    text = _get(url)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert b"tuimon_interface_packets_total" in text


def test_a_paced_playback_is_scraped_as_it_goes(servers):
    """ftp.pcap (209 packets over 8.5 s: 50 in the first two seconds, 152 at 6 s, 7 at
    8 s) at half its recorded pace: Prometheus sees the figures grow, never fall, while the
    playback runs, then the CSV files' figures, final. (At its own pace a start delayed by
    a busy machine left Prometheus only the 50 and the end to see.)"""
    prom, _, out = servers("-r", str(DATA / "ftp.pcap"), "--speed", "0.5",
                           "--metrics-linger", "120")
    started = time.time()
    deadline = time.monotonic() + 60
    _wait_report(out, deadline)
    _wait_up(prom, deadline)
    (row,) = _rows(out / "interfaces.csv")
    final = {"tuimon_interface_packets_total": float(row["packets"]),
             "tuimon_interface_bytes_total": float(row["bytes"])}
    while time.monotonic() < deadline:
        if prom.query("tuimon_interface_packets_total") == {
                (("interface", "ftp.pcap"),): final["tuimon_interface_packets_total"]}:
            break
        time.sleep(0.5)
    time.sleep(1.5)  # the range's last step (a whole second from its start) after that scrape
    end = time.time()
    for name, value in final.items():
        data = prom.api("query_range", query=name, start=f"{started:.3f}", end=f"{end:.3f}",
                        step="1")
        (series,) = data["result"]
        values = [float(v) for _, v in series["values"]]
        assert values == sorted(values), values  # a counter: never lower
        assert values[-1] == value
        assert len(set(values)) >= 3, values  # scraped during the playback, not only at its end
    ended = [float(v) for _, v in prom.api("query_range", query="tuimon_capture_ended",
                                           start=f"{started:.3f}", end=f"{end:.3f}",
                                           step="1")["result"][0]["values"]]
    assert ended[0] == 0 and ended[-1] == 1 and ended == sorted(ended)
