"""`tuimon IFACE --no-ui --csv DIR` on veth pairs in network namespaces: exact counts.

Namespace a runs tuimon and a UDP echo server; namespace b sends datagrams of known sizes
and waits for each echo. A UDP/IPv4 frame over Ethernet is payload + 42 bytes.
"""

from __future__ import annotations

import csv
import grp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.support.netns import TUIMON, wait_line
from tests.support.echo import check_echo_counts, exchange, frames, rows, start

pytestmark = pytest.mark.live


def finish(proc) -> str:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out


def check_kernel_counts(iface_row: dict, sizes, missed: str = "0") -> None:
    """The kernel counted what the capture did (nothing else is on the link) and nothing
    was missed."""
    n, total = len(sizes), frames(sizes)
    assert [int(iface_row[k]) for k in ("kernel_in_packets", "kernel_in_bytes",
                                        "kernel_out_packets", "kernel_out_bytes")] \
        == [n, total, n, total]
    assert [iface_row[k] for k in ("kernel_errors_in", "kernel_errors_out", "kernel_drops_in",
                                   "kernel_drops_out")] == ["0"] * 4
    # veth says 10000 Mb/s on current kernels (older ones: unknown); a few kB are ~0 %
    if iface_row["link_speed"]:
        assert int(iface_row["link_speed"]) > 0 and 0 <= float(iface_row["utilisation"]) < 1
    else:
        assert iface_row["utilisation"] == ""
    assert iface_row["missed_packets"] == missed


def test_counts_one_interface(netns, echo, tmp_path):
    sizes = [1, 18, 100, 1000, 1472]
    proc = start(netns, "tma0", "--duration", "2", "--csv", str(tmp_path))
    exchange(netns, 0, sizes)
    finish(proc)
    [iface] = rows(tmp_path, "interfaces.csv")
    assert iface["interface"] == "tma0" and iface["drops"] == "0"
    check_echo_counts(tmp_path, netns.addr_a(), netns.addr_b(), iface, sizes)
    check_kernel_counts(iface, sizes)
    assert len(rows(tmp_path, "hosts.csv")) == 2
    assert len(rows(tmp_path, "conversations.csv")) == 1


def test_two_interfaces(netns, echo, tmp_path):
    proc = start(netns, "tma0", "tma1", "--duration", "2", "--csv", str(tmp_path))
    exchange(netns, 0, [10, 20, 30])
    exchange(netns, 1, [500, 600], sport=40001)
    finish(proc)
    found = {r["interface"]: r for r in rows(tmp_path, "interfaces.csv")}
    assert set(found) == {"tma0", "tma1"}
    check_echo_counts(tmp_path, netns.addr_a(0), netns.addr_b(0), found["tma0"], [10, 20, 30])
    check_echo_counts(tmp_path, netns.addr_a(1), netns.addr_b(1), found["tma1"], [500, 600],
                      sport=40001)
    check_kernel_counts(found["tma0"], [10, 20, 30])
    check_kernel_counts(found["tma1"], [500, 600])


def test_capture_filter(netns, echo, tmp_path):
    proc = start(netns, "tma0", "-f", "udp", "--duration", "2", "--csv", str(tmp_path))
    exchange(netns, 0, [64, 128], tcp_ports=[9, 10])
    finish(proc)
    [iface] = rows(tmp_path, "interfaces.csv")
    check_echo_counts(tmp_path, netns.addr_a(), netns.addr_b(), iface, [64, 128])
    # the kernel saw the TCP SYNs and RSTs the filter kept out: no "missed" then
    assert (int(iface["kernel_in_packets"]), int(iface["kernel_out_packets"])) == (4, 4)
    assert iface["missed_packets"] == ""
    assert {r["protocol"] for r in rows(tmp_path, "conversations.csv")} == {"udp"}
    assert "tcp" not in {r["protocol"] for r in rows(tmp_path, "protocols.csv")}


def test_unfiltered_counts_tcp_too(netns, echo, tmp_path):
    proc = start(netns, "tma0", "--duration", "2", "--csv", str(tmp_path))
    exchange(netns, 0, [64], tcp_ports=[9])
    finish(proc)
    [iface] = rows(tmp_path, "interfaces.csv")
    assert int(iface["packets"]) == 4  # echo request and reply, SYN, RST
    assert {r["protocol"] for r in rows(tmp_path, "conversations.csv")} == {"udp", "tcp"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_stops_and_still_writes_csv(netns, echo, tmp_path, signum):
    proc = start(netns, "tma0", "--csv", str(tmp_path))
    exchange(netns, 0, [300, 400])
    proc.send_signal(signum)
    finish(proc)
    [iface] = rows(tmp_path, "interfaces.csv")
    assert iface["drops"] == "0"  # dumpcap's final statistics block was read
    check_echo_counts(tmp_path, netns.addr_a(), netns.addr_b(), iface, [300, 400])


def test_any(netns, echo, tmp_path):
    proc = start(netns, "any", "--duration", "2", "--csv", str(tmp_path))
    exchange(netns, 0, [10, 100])
    finish(proc)
    [iface] = rows(tmp_path, "interfaces.csv")
    # Cooked capture: a 16-byte Linux SLL header stands in for the 14-byte Ethernet one.
    assert (iface["interface"], iface["link"]) == ("any", "linux-sll")
    assert (int(iface["packets"]), int(iface["bytes"])) == (4, 2 * (10 + 44 + 100 + 44))
    # the cooked header's packet type: the requests came in, the echoes went out
    assert [int(iface[k]) for k in ("in_packets", "in_bytes", "out_packets", "out_bytes")] \
        == [2, 10 + 44 + 100 + 44, 2, 10 + 44 + 100 + 44]
    assert iface["kernel_in_packets"] == "" and iface["missed_packets"] == ""  # no kernel "any"


def test_default_interface(netns, tmp_path):
    r = netns.run(netns.a, TUIMON, "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("tuimon: no interface is up with traffic")
    netns.run(netns.b, sys.executable, "-c", "import socket; socket.socket(2, 2).sendto("
              "b'x', ('10.199.2.1', 9))")  # only tma1 has seen traffic now
    proc = netns.tuimon("--no-ui", "--duration", "0.5", "--csv", str(tmp_path))
    assert wait_line(proc, "tuimon: capturing on") == "tuimon: capturing on tma1\n"
    finish(proc)


def test_list_interfaces(netns):
    r = netns.run(netns.a, TUIMON, "--list-interfaces")
    assert r.returncode == 0, r.stderr
    found = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[1:]}
    assert found["tma0"] == ["up", netns.addr_a(0)]
    assert found["tma1"] == ["up", netns.addr_a(1)]
    assert "any" in found


@pytest.mark.parametrize("args, words", [
    (["tma0", "-f", "udp and ("], ["bad capture filter", "udp and ("]),
    (["tma0", "-f", "tcp port 99999"], ["bad capture filter", "99999"]),
    (["nosuch0"], ["no such interface: nosuch0", "tuimon --list-interfaces"]),
    (["tma0", "nosuch0"], ["no such interface: nosuch0"]),
])
def test_errors_are_one_line(netns, tmp_path, args, words):
    r = netns.run(netns.a, TUIMON, *args, "--no-ui", "--duration", "1", "--csv", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tuimon: ")
    assert "Traceback" not in r.stderr and r.stdout == ""
    for word in words:
        assert word in r.stderr
    assert not list(tmp_path.iterdir())


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534"]


def nobody_can_run_tuimon() -> None:
    """Skip unless user nobody can run this worktree's tuimon (its .venv and sources must be
    readable and searchable by others all the way up)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    r = subprocess.run([*NOBODY, "--clear-groups", TUIMON, "--help"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"user nobody cannot run {TUIMON} (permissions of the path): "
                    f"{r.stderr.strip()[-200:]}")


def test_permission_denied_is_one_line(netns, tmp_path):
    nobody_can_run_tuimon()
    r = netns.run(netns.a, *NOBODY, "--clear-groups", TUIMON, "tma0", "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr == ("tuimon: no permission to capture on tma0: run tuimon as root, or let "
                        "your user capture: sudo dpkg-reconfigure wireshark-common (answer Yes), "
                        "sudo usermod -a -G wireshark $USER, then log in again\n")


def test_the_default_interface_without_permission_is_one_line(netns):
    nobody_can_run_tuimon()
    netns.run(netns.b, sys.executable, "-c", "import socket; socket.socket(2, 2).sendto("
              "b'x', ('10.199.1.1', 9))")  # tma0 has seen traffic: it is the default
    r = netns.run(netns.a, *NOBODY, "--clear-groups", TUIMON, "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("tuimon: no permission to capture on tma0: ")


def test_wireshark_group_captures_without_root(netns, echo):
    """An ordinary user in Debian's wireshark group: dumpcap (root:wireshark 754 with file
    capabilities) captures, tuimon itself runs without any privilege."""
    nobody_can_run_tuimon()
    try:
        gid = grp.getgrnam("wireshark").gr_gid
    except KeyError:
        pytest.skip("no wireshark group: dumpcap is not set up for ordinary users "
                    "(dpkg-reconfigure wireshark-common)")
    dumpcap = shutil.which("dumpcap")
    st = os.stat(dumpcap)
    if st.st_gid != gid or not st.st_mode & 0o010:
        pytest.skip(f"{dumpcap} is not executable by the wireshark group")
    out = tempfile.mkdtemp(prefix="tuimon-nobody-")
    try:
        os.chmod(out, 0o777)
        proc = netns.popen(netns.a, *NOBODY, f"--groups={gid}", TUIMON, "tma0", "--no-ui",
                           "--duration", "2", "--csv", out, cwd="/")
        wait_line(proc, "tuimon: capturing on")
        sizes = [10, 700]
        exchange(netns, 0, sizes)
        finish(proc)
        folder = Path(out)
        assert (folder / "interfaces.csv").stat().st_uid == 65534  # written by nobody
        [iface] = rows(folder, "interfaces.csv")
        check_echo_counts(folder, netns.addr_a(), netns.addr_b(), iface, sizes)
        check_kernel_counts(iface, sizes)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- captures that end on their own: what was counted is written, one line says why, exit 1 ------

def ended_on_its_own(proc, expected_lines: list[str]) -> None:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert err.splitlines() == expected_lines
    assert out == ""


def dumpcap_of(proc) -> int:
    [child] = [c for c in psutil.Process(proc.pid).children() if c.name() == "dumpcap"]
    return child.pid


def test_dumpcap_killed(netns, echo, tmp_path):
    sizes = [100, 200, 300]
    proc = start(netns, "tma0", "--duration", "60", "--csv", str(tmp_path))
    exchange(netns, 0, sizes)
    time.sleep(1)  # dumpcap has taken them from the kernel and written them to us
    os.kill(dumpcap_of(proc), signal.SIGKILL)
    ended_on_its_own(proc, ["tuimon: capture on tma0 ended: dumpcap was killed (SIGKILL)"])
    [iface] = rows(tmp_path, "interfaces.csv")
    check_echo_counts(tmp_path, netns.addr_a(), netns.addr_b(), iface, sizes)


def test_interface_deleted(netns, echo, tmp_path):
    sizes = [64, 640]
    proc = start(netns, "tma0", "--duration", "60", "--csv", str(tmp_path))
    exchange(netns, 0, sizes)
    time.sleep(1)
    assert netns.run(netns.a, "ip", "link", "del", "tma0").returncode == 0
    ended_on_its_own(proc, ["tuimon: capture on tma0 ended: interface removed"])
    [iface] = rows(tmp_path, "interfaces.csv")
    check_echo_counts(tmp_path, netns.addr_a(), netns.addr_b(), iface, sizes)


def test_one_of_two_interfaces_deleted(netns, echo, tmp_path):
    started = time.monotonic()
    proc = start(netns, "tma0", "tma1", "--duration", "5", "--csv", str(tmp_path))
    exchange(netns, 0, [10, 20])
    exchange(netns, 1, [500, 600], sport=40001)
    time.sleep(1)
    assert netns.run(netns.a, "ip", "link", "del", "tma1").returncode == 0
    assert wait_line(proc, "tuimon: capture on") == \
        "tuimon: capture on tma1 ended: interface removed\n"
    exchange(netns, 0, [30, 40])  # tma0 is still counted
    ended_on_its_own(proc, [])  # said once, already read
    assert time.monotonic() - started >= 5  # it ran to --duration
    found = {r["interface"]: r for r in rows(tmp_path, "interfaces.csv")}
    check_echo_counts(tmp_path, netns.addr_a(0), netns.addr_b(0), found["tma0"], [10, 20, 30, 40])
    check_echo_counts(tmp_path, netns.addr_a(1), netns.addr_b(1), found["tma1"], [500, 600],
                      sport=40001)
