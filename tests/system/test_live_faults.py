"""Live capture faults, for real in network namespaces, headless and in the app: an
interface going down and up, dumpcap killed, the interface deleted, dumpcap missing or not
permitted. Each gives a clear state and message; what was counted stays counted."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import time

import psutil
import pytest

from tests.support.netns import TUIMON, wait_line
from tests.support.ptyrun import Terminal
from tests.support.echo import check_echo_counts, exchange, start

pytestmark = pytest.mark.live
NO_CAPTURE_CAPS = ["setpriv", "--bounding-set=-net_raw,-net_admin"]


def rows(folder, name: str) -> list[dict]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


def test_headless_interface_down_and_up_again(netns, echo, tmp_path):
    """dumpcap does not notice an interface going down (it just sees nothing): tuimon
    does, says so, says when it is back, and counts on."""
    proc = start(netns, "tma0", "--duration", "6", "--csv", str(tmp_path))
    exchange(netns, 0, [100])
    time.sleep(0.5)
    assert netns.run(netns.a, "ip", "link", "set", "tma0", "down").returncode == 0
    assert wait_line(proc, "tuimon: tma0") == \
        "tuimon: tma0 is down: nothing to capture until it is up again\n"
    assert netns.run(netns.a, "ip", "link", "set", "tma0", "up").returncode == 0
    line = wait_line(proc, "tuimon: tma0")
    if line == "tuimon: tma0 is no link: nothing to capture until it is up again\n":
        line = wait_line(proc, "tuimon: tma0")  # sampled while its carrier was coming back
    assert line == "tuimon: tma0 is up again\n"
    time.sleep(1.0)  # the veth pair carries traffic again (IPv6 DAD aside)
    exchange(netns, 0, [200])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    [iface] = rows(tmp_path, "interfaces.csv")
    # Only the echoes are UDP/IPv4 on the link; a link coming up may add IPv6 chatter.
    hosts = {r["address"]: r for r in rows(tmp_path, "hosts.csv")}
    assert hosts[netns.addr_a()]["packets"] == "4"
    assert hosts[netns.addr_a()]["bytes"] == str(2 * 142 + 2 * 242)
    assert int(iface["ipv4_packets"]) == 4


def test_headless_peer_gone_is_no_link(netns, echo, tmp_path):
    """The far end of the link goes down: this side is up with no carrier."""
    proc = start(netns, "tma0", "--duration", "3", "--csv", str(tmp_path))
    assert netns.run(netns.b, "ip", "link", "set", netns.veth_b(0), "down").returncode == 0
    assert wait_line(proc, "tuimon: tma0") == \
        "tuimon: tma0 is no link: nothing to capture until it is up again\n"
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


# -- the app ------------------------------------------------------------------------------

@pytest.fixture
def app(netns, tmp_path):
    """The real app capturing on tma0 in namespace a, --csv DIR given."""
    out = tmp_path / "out"
    term = Terminal("tma0", "--csv", str(out), "--interval", "0.2", cwd=str(tmp_path),
                    prefix=netns.cmd(netns.a), cols=200)
    try:
        term.wait_for("capturing", timeout=60)
        yield term, out
    finally:
        term.close()


def dumpcap_of(term) -> psutil.Process:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [p for p in psutil.Process(term.proc.pid).children(recursive=True)
                 if p.name() == "dumpcap"]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no dumpcap")


def quit_and_read(term, out, status: int = 0) -> list[dict]:
    os.write(term.master, b"q")
    assert term.wait_exit() == status
    assert "Traceback" not in term.text()
    return rows(out, "interfaces.csv")


def test_app_interface_down_is_shown_and_counting_goes_on(netns, echo, app):
    term, out = app
    exchange(netns, 0, [100, 200])
    assert netns.run(netns.a, "ip", "link", "set", "tma0", "down").returncode == 0
    term.wait_for("tma0 is down: nothing to capture until it is up again", timeout=15)
    assert "capturing" in term.text() and "error" not in term.text()
    assert netns.run(netns.a, "ip", "link", "set", "tma0", "up").returncode == 0
    time.sleep(1.0)
    exchange(netns, 0, [300])
    time.sleep(1.0)
    [iface] = quit_and_read(term, out)
    assert int(iface["ipv4_packets"]) == 6


@pytest.mark.parametrize("fault,shown", [
    ("kill", "capture ended on tma0: dumpcap was killed (SIGKILL)"),
    ("delete", "capture ended on tma0: interface removed"),
])
def test_app_capture_ending_is_shown_and_the_counts_kept(netns, echo, app, fault, shown):
    term, out = app
    exchange(netns, 0, [100, 200, 300])
    time.sleep(1.0)
    if fault == "kill":
        dumpcap_of(term).send_signal(signal.SIGKILL)
    else:
        assert netns.run(netns.a, "ip", "link", "del", "tma0").returncode == 0
    term.wait_for(shown, timeout=15)
    term.wait_for("error", timeout=5)  # the state follows the message within the second
    [iface] = quit_and_read(term, out)  # q saves what was counted, exit 0 as asked
    check_echo_counts(out, netns.addr_a(), netns.addr_b(), iface, [100, 200, 300])


# -- dumpcap missing or not permitted: one line, exit 2, headless and in the app ----------

def cases(tmp_path):
    bare = tmp_path / "bin"  # a PATH with no dumpcap
    bare.mkdir()
    return {
        "missing": (["env", f"PATH={bare}"], "tuimon: dumpcap not found: install the tshark "
                                             "package (apt-get install tshark)"),
        "not permitted": (NO_CAPTURE_CAPS, "tuimon: no permission to capture on tma0: "),
    }


@pytest.mark.parametrize("case", ["missing", "not permitted"])
def test_dumpcap_missing_or_not_permitted(netns, tmp_path, case):
    if case == "not permitted" and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    prefix, line = cases(tmp_path)[case]
    r = netns.run(netns.a, *prefix, TUIMON, "tma0", "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(line) and "Traceback" not in r.stderr
    term = Terminal("tma0", cwd=str(tmp_path), prefix=[*netns.cmd(netns.a), *prefix])
    try:
        assert term.wait_exit() == 2
        text = term.text().strip()
        assert text.startswith(line) and text.count("\n") == 0, text
    finally:
        term.close()
