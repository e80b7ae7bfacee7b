"""--speed 0 (max): the rate windows come from capture time, whatever the batches. One file
showed 2.7, 6.8 and 14.8 Mb/s in three runs: every byte of a batch fell into its last
second. The cut is Session._ingest_by_second's (tests/unit/test_alerts.py tests it
alone)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tuimon.config import Config
from tuimon.server.service import EngineService

DATA = Path(__file__).resolve().parents[1] / "data"


def frames(path: Path) -> list[tuple[float, int]]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e",
                          "frame.time_epoch", "-e", "frame.len"], capture_output=True,
                         text=True, check=True).stdout
    return [(float(t), int(n)) for t, n in (line.split("\t") for line in out.splitlines())]


@pytest.mark.parametrize("name", ["1kxun.pcap", "quic.pcap", "mining.pcapng"])
def test_max_speed_rates_are_the_capture_times_rates(name):
    svc = EngineService(Config(read=str(DATA / name), speed=0.0, dissect_packets=0),
                        clock=lambda: 50.0, wallclock=lambda: 1.7e9)
    svc.run_all()
    t = svc.engine.totals()
    sec = int(svc.engine.now)
    wire = frames(DATA / name)  # Wireshark's times and lengths
    expected = [sum(n for ts, n in wire if sec - int(ts) < w) / w for w in (2, 10, 40)]
    assert [t.rate_2s, t.rate_10s, t.rate_40s] == pytest.approx(expected)
    hosts = svc.engine.host_rows()
    assert sum(h.rate_40s for h in hosts) >= t.rate_40s * 0.99  # (both ends count a frame)
