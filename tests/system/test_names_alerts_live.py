"""Names and alerts for real: tuimon in a network namespace with a private /etc/hosts (a
mount namespace of its own, ``unshare -m`` and a bind mount: the machine's file is never
touched) names the peer in hosts.csv with --resolve; traffic over an --alert threshold
gives an alerts.csv row, a line on stderr and exit 0; a bad --alert is one line, exit 2,
headless and in the app.

Namespace a runs tuimon and a UDP echo server; namespace b sends datagrams and waits for
each echo (tests/support/echo.py). Live tests need root; they skip otherwise.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.echo import exchange, rows
from tests.support.netns import ROOT, TUIMON, wait_line
from tests.support.ptyrun import Terminal

DNS = str(ROOT / "tests" / "data" / "dns.pcap")
HOSTS = ("127.0.0.1 localhost\n"
         "10.199.1.1 here-a.tuimon.test\n"
         "10.199.1.2 there-b.tuimon.test\n")
# run tuimon with our hosts file bound over /etc/hosts, in a mount namespace of its own
PRIVATE_HOSTS = 'mount --bind "$0" /etc/hosts && exec "$@"'


def finish(proc) -> tuple[str, str]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


@pytest.mark.live
def test_resolve_names_the_peer_from_a_private_hosts_file(netns, echo, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed for a private /etc/hosts")
    with open("/etc/hosts", "rb") as f:
        before = f.read()
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    out = tmp_path / "out"
    proc = netns.popen(netns.a, "unshare", "-m", "--propagation", "private", "sh", "-c",
                       PRIVATE_HOSTS, str(hosts), TUIMON, "tma0", "--no-ui", "--duration", "3",
                       "--resolve", "--csv", str(out))
    wait_line(proc, "tuimon: capturing on")
    exchange(netns, 0, [100, 200, 300])
    finish(proc)
    names = {r["address"]: r["name"] for r in rows(out, "hosts.csv")}
    assert names == {"10.199.1.1": "here-a.tuimon.test", "10.199.1.2": "there-b.tuimon.test"}
    with open("/etc/hosts", "rb") as f:
        assert f.read() == before  # the machine's hosts file: untouched


@pytest.mark.live
def test_without_resolve_no_name_is_looked_up(netns, echo, tmp_path):
    out = tmp_path / "out"
    proc = netns.tuimon("tma0", "--no-ui", "--duration", "2", "--csv", str(out))
    wait_line(proc, "tuimon: capturing on")
    exchange(netns, 0, [100])
    finish(proc)
    found = rows(out, "hosts.csv")
    assert len(found) == 2 and all(r["name"] == "" for r in found)
    assert all(r["peak_rate"] == "" for r in found)  # headless keeps no host rates
    [iface] = rows(out, "interfaces.csv")
    assert iface["peak_rate"] == ""  # nor interface ones: its seconds would be a batch's
    assert rows(out, "alerts.csv") == []


@pytest.mark.live
def test_an_alert_fires_for_real(netns, echo, tmp_path):
    out = tmp_path / "out"
    proc = netns.tuimon("tma0", "--no-ui", "--duration", "3", "--csv", str(out),
                        "--alert", "host 10.199.1.2 > 1Mb/s", "--alert", "iface tma0 > 2Mb/s",
                        "--alert", "host 10.199.1.2 > 10Gb/s", "--alert", "iface tma0 > 90%")
    wait_line(proc, "tuimon: capturing on")
    exchange(netns, 0, [1400] * 400)  # 400 echoes of 1442-byte frames: about 9 Mb/s for 1 s
    _, err = finish(proc)
    alerts = rows(out, "alerts.csv")
    assert [(a["alert"], a["subject"], a["threshold"], a["unit"]) for a in alerts] == [
        ("host 10.199.1.2 > 1Mb/s", "10.199.1.2", "1000000", "b/s"),
        ("iface tma0 > 2Mb/s", "tma0", "2000000", "b/s")]  # once each; 10 Gb/s, 90 %: never
    assert int(alerts[0]["value"]) > 1_000_000 and int(alerts[1]["value"]) > 2_000_000
    assert "tuimon: alert host 10.199.1.2 > 1Mb/s: 10.199.1.2 at" in err
    hosts = {r["address"]: r for r in rows(out, "hosts.csv")}
    assert int(hosts["10.199.1.2"]["peak_rate"]) >= int(alerts[0]["value"])  # --alert: rates
    [iface] = rows(out, "interfaces.csv")
    assert int(iface["peak_rate"]) >= int(alerts[1]["value"])


@pytest.mark.parametrize("expr,needle", [
    ("host 10.0.0 > 5Mb/s", "'10.0.0' is not an IP address"),
    ("iface eth0 > lots", "bad rate 'lots'"),
    ("when it is busy", "expected 'host ADDR > RATE'"),
])
def test_a_bad_alert_is_one_line_exit_2(tmp_path, expr, needle):
    r = subprocess.run([TUIMON, "-r", DNS, "--no-ui", "--csv",
                        str(tmp_path / "out"), "--alert", expr],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tuimon: bad --alert")
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
    term = Terminal("-r", DNS, "--alert", expr)  # before the screen is taken
    try:
        assert term.wait_exit(timeout=60) == 2
        text = term.text().replace("\r\n", "\n").strip()
    finally:
        term.close()
    assert text.startswith("tuimon: bad --alert") and needle in text and "\n" not in text
