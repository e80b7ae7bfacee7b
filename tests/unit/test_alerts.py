"""--alert: the expressions parsed (and refused in one line), and the rules evaluated per
fold on the capture clock: once per crossing, re-armed below 90 % of the threshold,
new hosts after the learning seconds, an interface's share of its link speed (never when
the speed is unknown); the peaks the fold keeps; alerts.csv."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

from tests.conftest import record
from tuimon.cli import build_parser, config_from
from tuimon.core.engine import Engine
from tuimon.errors import BadAlert
from tuimon.server.alerts import REARM, AlertWatch, alert_line
from tuimon.server.alertspec import LEARN, parse_alert, parse_rate
from tuimon.sinks.csv import ALERT_COLUMNS, export_snapshot

T0 = 1_700_000_000.0
HOST = "10.0.0.5"


@pytest.mark.parametrize("text,kind,limit,percent", [
    ("host 10.0.0.5 > 50Mb/s", "host", 50e6 / 8, False),
    ("  host   10.0.0.5>50Mb/s ", "host", 50e6 / 8, False),
    ("host 2001:db8::1 > 1.5 GB/s", "host", 1.5e9, False),
    ("iface eth0 > 800kbps", "iface", 800e3 / 8, False),
    ("iface eth0 > 80%", "iface", 80.0, True),
    ("new-host", "new-host", 0.0, False),
])
def test_good_expressions(text, kind, limit, percent):
    rule = parse_alert(text)
    assert (rule.kind, rule.limit, rule.percent) == (kind, pytest.approx(limit), percent)
    assert rule.text == " ".join(text.split())


@pytest.mark.parametrize("text,needle", [
    ("host 10.0.0 > 5Mb/s", "not an IP address"),
    ("host 10.0.0.5 > 50", "bad rate '50'"),
    ("host 10.0.0.5 > 50%", "a host has no link speed"),
    ("iface eth0 > 150%", "at most 100"),
    ("iface eth0 > 0Mb/s", "above 0"),
    ("iface eth0 < 5Mb/s", "expected 'host ADDR > RATE'"),
    ("new host", "expected"),
    ("", "expected"),
])
def test_bad_expressions_are_one_line(text, needle):
    with pytest.raises(BadAlert) as err:
        parse_alert(text)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("bad --alert")


def test_rates_and_the_option():
    assert parse_rate("8b/s") == 1.0 and parse_rate("1 kB/s") == 1000.0
    assert parse_rate("1Mbit/s") == 125_000.0
    config = config_from(build_parser().parse_args(
        ["-r", "x.pcap", "--alert", "host  10.0.0.5 > 5Mb/s", "--alert", "new-host",
         "--resolve"]))
    assert config.alerts == ("host 10.0.0.5 > 5Mb/s", "new-host") and config.resolve
    with pytest.raises(BadAlert):
        config_from(build_parser().parse_args(["-r", "x.pcap", "--alert", "host x > 1b/s"]))


def second(e: Engine, ts: float, nbytes: int, src: str = HOST, dst: str = "10.0.0.9") -> None:
    """``nbytes`` from ``src`` to ``dst`` in the second starting at ``ts``, then a fold (as the
    session folds once a second of capture time)."""
    e.ingest([record(src, dst, 40000, 443, size=nbytes, ts=ts + 0.5)])
    e.fold()


def watched(*texts: str) -> tuple[Engine, AlertWatch]:
    e = Engine()
    e.set_interface(0, "eth0", "ether")
    return e, AlertWatch.attach([parse_alert(t) for t in texts], e)


def test_a_host_fires_once_per_crossing_and_rearms_below_90_percent():
    # 8 Mb/s = 1,000,000 bytes/s: the 2 s rate is the last two seconds' bytes halved
    e, watch = watched("host 10.0.0.5 > 8Mb/s")
    second(e, T0, 500_000)  # 2 s rate 250 kB/s: under
    assert watch.alerts == []
    second(e, T0 + 1, 1_700_000)  # (0.5 + 1.7) / 2 = 1.1 MB/s: over -> fires
    assert len(watch.alerts) == 1 and watch.active == 1
    a = watch.alerts[0]
    assert (a.subject, a.unit, a.threshold, a.value) == (HOST, "b/s", 8_000_000, 8_800_000)
    assert a.time == pytest.approx(T0 + 1.5) and a.alert == "host 10.0.0.5 > 8Mb/s"
    second(e, T0 + 2, 2_000_000)  # still over: no second alert
    second(e, T0 + 3, 0)  # (2.0 + 0) / 2 = 1.0 MB/s: at the threshold, still raised
    assert len(watch.alerts) == 1 and watch.active == 1
    second(e, T0 + 4, 1_900_000)  # 0.95 MB/s: under, but above 90 %: not re-armed
    second(e, T0 + 5, 1_000_000)  # 1.45 MB/s: over again, but it never re-armed
    assert len(watch.alerts) == 1
    e.advance(T0 + 8)  # a quiet link: the rate decays to 0
    e.fold()
    assert watch.active == 0
    second(e, T0 + 9, 2_100_000)  # 1.05 MB/s: a new crossing
    assert len(watch.alerts) == 2 and watch.active == 1
    assert REARM == 0.9
    assert alert_line(watch.alerts[1]) == "alert host 10.0.0.5 > 8Mb/s: 10.0.0.5 at 8.4 Mb/s"


def test_an_interface_rate_and_a_host_never_seen():
    e, watch = watched("iface eth0 > 4Mb/s", "host 10.9.9.9 > 1b/s", "iface eth9 > 1Mb/s")
    second(e, T0, 1_000_000)
    second(e, T0 + 1, 100_000)  # 550 kB/s = 4.4 Mb/s
    assert [(a.alert, a.subject) for a in watch.alerts] == [("iface eth0 > 4Mb/s", "eth0")]
    assert watch.notes == ["alert 'iface eth9 > 1Mb/s': no interface eth9 in this capture "
                           "(it never fires)"]


def test_new_hosts_after_the_learning_seconds():
    e, watch = watched("new-host")
    second(e, T0, 100, "10.0.0.1", "10.0.0.2")
    second(e, T0 + LEARN - 2, 100, "10.0.0.1", "10.0.0.3")  # still learning
    assert watch.alerts == []
    second(e, T0 + LEARN + 1, 100, "10.0.0.4", "10.0.0.2")
    second(e, T0 + LEARN + 2, 100, "10.0.0.4", "10.0.0.2")  # known by now
    assert [(a.subject, a.value, a.unit) for a in watch.alerts] == [("10.0.0.4", None, "")]
    assert e.new_hosts == []  # drained every fold


def interface(speed, utilisation):
    return SimpleNamespace(interface="eth0", link_speed=speed, utilisation=utilisation,
                           rate_2s=0.0)


class FakeEngine:
    """What AlertWatch reads of an engine: its clock, hosts, interface rows."""

    def __init__(self) -> None:
        self.now, self.hosts, self.rows = T0, {}, [interface(None, None)]
        self.on_fold = self.new_hosts = None

    def interface_rows(self):
        return self.rows


def test_a_share_of_the_link_speed_and_an_unknown_speed():
    e = FakeEngine()
    watch = AlertWatch.attach([parse_alert("iface eth0 > 80%")], e)
    assert e.on_fold == watch.evaluate
    watch.evaluate()  # speed unknown (playback, 'any', a driver that does not say)
    watch.evaluate()
    assert watch.alerts == [] and watch.notes == [
        "alert 'iface eth0 > 80%': the link speed of eth0 is not known (it never fires)"]
    # over at 2; 72.5 is not under 72 (90 % of 80): not re-armed, 81 does not fire; 71 is
    for now, util in ((1, 79.0), (2, 85.5), (3, 90.0), (4, 72.5), (5, 81.0), (6, 71.0),
                      (7, 80.0), (8, 80.1)):
        e.now, e.rows = T0 + now, [interface(1000, util)]
        watch.evaluate()
    assert [(a.time - T0, a.value, a.threshold, a.unit) for a in watch.alerts] == [
        (2, 85.5, 80.0, "%"), (8, 80.1, 80.0, "%")]


def test_peaks_are_the_highest_2s_rate_per_host_and_interface():
    e = Engine()
    e.set_interface(0, "eth0", "ether")
    for i, nbytes in enumerate((1000, 3000, 5000, 0, 0, 100)):
        second(e, T0 + i, nbytes)
    hosts = {r.address: r for r in e.host_rows()}
    assert hosts[HOST].peak_rate == 4000.0  # (3000 + 5000) / 2
    assert hosts["10.0.0.9"].peak_rate == 4000.0
    assert e.interface_rows()[0].peak_rate == 4000.0
    headless = Engine(rates=False)
    headless.ingest([record(HOST, "10.0.0.9", 1, 2, size=100, ts=T0)])
    headless.fold()
    assert headless.host_rows()[0].peak_rate is None  # no rates kept: not known
    assert headless.interface_rows()[0].peak_rate is None


def test_a_batch_read_at_once_is_counted_a_second_at_a_time(tmp_path):
    """Headless reads a file in large batches; with --alert (rates kept) each second's
    bytes still land in their second: the peak and the alert are those of the capture."""
    from tests.support.playback import START, capture
    from tuimon.cli import main

    path = capture(tmp_path, [*range(10), *(10 + i / 100 for i in range(50))])  # 102-byte frames
    out = tmp_path / "out"
    assert main(["-r", str(path), "--no-ui", "--dissect-packets", "0", "--csv", str(out),
                 "--alert", "host 10.0.0.1 > 20kb/s"]) == 0
    with open(out / "hosts.csv", newline="") as f:
        hosts = {r["address"]: r for r in csv.DictReader(f)}
    # seconds 9 and 10: 1 + 50 frames; all 60 at once would be 24480
    assert hosts["10.0.0.1"]["peak_rate"] == str(51 * 102 * 8 // 2)
    with open(out / "alerts.csv", newline="") as f:
        [alert] = list(csv.DictReader(f))
    assert alert["value"] == "20808" and alert["time"].startswith("2023-11-14T22:13:30.")
    with open(out / "interfaces.csv", newline="") as f:
        [iface] = list(csv.DictReader(f))
    assert iface["peak_rate"] == "20808"
    assert START == 1_700_000_000.0


def test_alerts_csv(tmp_path):
    e, watch = watched("host 10.0.0.5 > 8Mb/s", "new-host")
    second(e, T0, 3_000_000)
    second(e, T0 + LEARN, 10, "10.0.0.7", "10.0.0.9")
    export_snapshot(e.snapshot(), str(tmp_path), alerts=watch.alerts)
    with open(tmp_path / "alerts.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [ALERT_COLUMNS,
                    ["2023-11-14T22:13:20.500000Z", "host 10.0.0.5 > 8Mb/s", HOST, "12000000",
                     "8000000", "b/s"],
                    ["2023-11-14T22:13:30.500000Z", "new-host", "10.0.0.7", "", "", ""]]
    with open(tmp_path / "hosts.csv", newline="") as f:
        hosts = {r["address"]: r for r in csv.DictReader(f)}
    assert hosts[HOST]["peak_rate"] == "12000000" and hosts[HOST]["name"] == ""
