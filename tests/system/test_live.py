"""Live capture: dumpcap error mapping and arguments, LiveSource plumbing against a fake
dumpcap (no root needed), and LiveSource on real veth interfaces in network namespaces."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections import namedtuple

import pytest

from tests.support.netns import ROOT, wait_line
from tuimon.capture import interfaces as ifaces
from tuimon.capture.dumpcap import dumpcap_args, dumpcap_error, ended_reason
from tuimon.capture.live import GATHER, GATHER_BYTES, LiveSource, gather_wait
from tuimon.server.driver import count_source
from tuimon.errors import (BadCaptureFilter, CaptureFailed, CapturePermissionDenied,
                           CaptureToolMissing, UnknownInterface)
from tests.support.send import send

# What dumpcap 4.0 writes on stderr (stdout for -d is the BPF program).
NO_DEVICE = ("Capturing on 'nosuch'\n"
             'dumpcap: There is no device named "nosuch".\n(No such device exists)\n')
BAD_FILTER = ("Capturing on 'Loopback: lo'\n"
              "dumpcap: Invalid capture filter \"udp and (\" for interface 'lo'.\n\n"
              "That string isn't a valid capture filter (syntax error in filter expression).\n"
              "See the User's Guide for a description of the capture filter syntax.\n")
NO_PERMISSION = ("Capturing on 'Loopback: lo'\n"
                 "dumpcap: You do not have permission to capture on device \"lo\".\n"
                 "(socket: Operation not permitted)\n"
                 "Please check to make sure you have sufficient permissions.\n\n"
                 "    sudo dpkg-reconfigure wireshark-common\n")
NOT_UP = "Capturing on 'Loopback: lo'\ndumpcap: Device \"lo\" is not up.\n(That device is not up)\n"
VANISHED = ("Capturing on 'v1'\nFile: -\ndumpcap: The network adapter \"v1\" is no longer "
            "attached; the capture has stopped.\n\nPackets captured: 3\n")
FINE = "Capturing on 'eth0'\nFile: -\n\nPackets captured: 3\n"


# -- dumpcap's messages and arguments -------------------------------------------------

@pytest.mark.parametrize("stderr, kind, words", [
    (NO_DEVICE, UnknownInterface, ["nosuch", "tuimon --list-interfaces"]),
    (BAD_FILTER, BadCaptureFilter, ["'udp and ('", "syntax error in filter expression"]),
    (NO_PERMISSION, CapturePermissionDenied, ["lo", "root", "wireshark", "dpkg-reconfigure"]),
    (NOT_UP, CaptureFailed, ["down", "ip link set"]),
    ("dumpcap: something new went wrong\n", CaptureFailed, ["something new went wrong"]),
])
def test_dumpcap_error_mapping(stderr, kind, words):
    iface = "nosuch" if stderr is NO_DEVICE else "lo"
    err = dumpcap_error(stderr, iface, "udp and (")
    assert type(err) is kind
    assert "\n" not in str(err)
    for word in words:
        assert word in str(err)


def test_no_error_when_dumpcap_is_fine():
    assert dumpcap_error(FINE, "eth0") is None
    assert dumpcap_error("", "eth0") is None


def test_error_text_is_made_printable():
    err = dumpcap_error(NO_DEVICE, "evil\x1b[2Jname")
    assert "\x1b" not in str(err) and "\\x1b" in str(err)


def test_ended_reason():
    assert ended_reason(VANISHED, 0) == "interface removed"
    assert ended_reason(FINE, -9) == "dumpcap was killed (SIGKILL)"
    assert ended_reason("dumpcap: Error while capturing packets: boom\n", 2) == \
        "Error while capturing packets: boom"
    assert ended_reason(FINE, 1) == "dumpcap exited (status 1)"


def test_dumpcap_args():
    assert dumpcap_args("/usr/bin/dumpcap", "eth0") == \
        ["/usr/bin/dumpcap", "-i", "eth0", "-B", "64", "-n", "-w", "-", "-q"]
    assert dumpcap_args("dumpcap", "eth0", "tcp port 443") == \
        ["dumpcap", "-i", "eth0", "-f", "tcp port 443", "-B", "64", "-n", "-w", "-", "-q"]
    assert dumpcap_args("dumpcap", "-weird", "udp", check=True) == \
        ["dumpcap", "-i", "-weird", "-f", "udp", "-d"]


def test_missing_dumpcap():
    with pytest.raises(CaptureToolMissing, match="install the tshark package"):
        LiveSource(["eth0"], dumpcap="/nonexistent/dumpcap")
    with pytest.raises(CaptureToolMissing):
        ifaces.list_interfaces(dumpcap="/nonexistent/dumpcap")


# -- default interface and the interface list (psutil faked) ---------------------------

Stats = namedtuple("Stats", "isup flags")
Io = namedtuple("Io", "packets_sent packets_recv")
Addr = namedtuple("Addr", "family address")


@pytest.fixture
def fake_host(monkeypatch):
    stats = {"lo": Stats(True, "up,loopback,running"), "eth0": Stats(False, "broadcast"),
             "eth1": Stats(True, "up,broadcast,running"), "eth2": Stats(True, "up,running")}
    io = {"lo": Io(9, 9), "eth0": Io(5, 5), "eth1": Io(0, 0), "eth2": Io(1, 0)}
    addrs = {"eth2": [Addr(2, "192.0.2.7"), Addr(10, "fe80::1%eth2"), Addr(17, "02:00:00:00:00:01")]}
    monkeypatch.setattr(ifaces.psutil, "net_if_stats", lambda: stats)
    monkeypatch.setattr(ifaces.psutil, "net_io_counters", lambda pernic: io)
    monkeypatch.setattr(ifaces.psutil, "net_if_addrs", lambda: addrs)
    monkeypatch.setattr(ifaces.socket, "if_nameindex",
                        lambda: [(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "eth2")])
    return stats, io


def test_default_interface_is_first_up_busy_non_loopback(fake_host):
    assert ifaces.default_interface() == "eth2"


def test_no_default_interface(fake_host):
    stats, io = fake_host
    io["eth2"] = Io(0, 0)
    with pytest.raises(UnknownInterface, match="list-interfaces"):
        ifaces.default_interface()


def test_list_interfaces(fake_host, fake_dumpcap):
    text = ifaces.list_interfaces(dumpcap=fake_dumpcap)
    lines = text.splitlines()
    assert lines[0].split() == ["interface", "state", "addresses"]
    assert lines[1].split() == ["eth2", "up", "192.0.2.7,", "fe80::1"]
    assert lines[2].split() == ["any", "all", "interfaces"]
    assert lines[3].split() == ["lo", "up", "Loopback"]
    assert lines[4].split() == ["eth0", "down"]


# -- LiveSource against a fake dumpcap --------------------------------------------------

FAKE = r'''#!{python}
"""Behaves like dumpcap for tuimon: -D, -d, and pcapng on stdout until SIGTERM."""
import os, signal, struct, sys, time
sys.path.insert(0, {root!r})
from tests.support import pcapbuild as pb
args = sys.argv[1:]
env = os.environ.get
if "-D" in args:
    print("1. eth2\n2. any\n3. lo (Loopback)\n4. eth0")
    sys.exit(0)
iface = args[args.index("-i") + 1]
sys.stderr.write(f"Capturing on '{{iface}}'\n")
sys.stderr.flush()
if env("FAKE_ERROR") and ("-d" not in args or not env("FAKE_AT_START")):
    sys.stderr.write(env("FAKE_ERROR"))
    sys.exit(0 if "-d" in args else 1)
if "-d" in args:
    print("(000) ret      #262144")
    sys.exit(0)
stopping = False
def stop(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, stop)
out = sys.stdout.buffer
out.write(pb._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1), "<"))
out.write(pb._block(1, struct.pack("<HHI", 1, 0, 262144) + pb._opt(2, iface.encode(), "<")
                    + pb._opt(9, b"\x06", "<") + b"\0\0\0\0", "<"))
frame = pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1000, 2000, b"x" * 10)))
for i in range(int(env("FAKE_PACKETS", "0"))):
    body = struct.pack("<IIIII", 0, 0, 1_000_000 * (i + 1), len(frame), len(frame))
    out.write(pb._block(6, body + frame + b"\0" * (-len(frame) % 4), "<"))
out.flush()
for i in range(int(env("FAKE_TRICKLE", "0"))):  # a packet a millisecond
    body = struct.pack("<IIIII", 0, 0, i, len(frame), len(frame))
    out.write(pb._block(6, body + frame + b"\0" * (-len(frame) % 4), "<"))
    out.flush()
    time.sleep(0.001)
if env("FAKE_CUT") == iface:  # half a packet block, then gone
    out.write(pb._block(6, struct.pack("<IIIII", 0, 0, 0, len(frame), len(frame)) + frame, "<")[:30])
    out.flush()
    sys.exit(0)
if env("FAKE_VANISH") == iface:
    sys.stderr.write(f'dumpcap: The network adapter "{{iface}}" is no longer attached; '
                     'the capture has stopped.\n')
    stopping = True
while not stopping:
    time.sleep(0.02)
isb = struct.pack("<III", 0, 0, 0) + pb._opt(5, struct.pack("<Q", int(env("FAKE_DROPS", "0"))), "<")
out.write(pb._block(5, isb + b"\0\0\0\0", "<"))
out.flush()
'''


@pytest.fixture
def fake_dumpcap(tmp_path):
    path = tmp_path / "dumpcap"
    path.write_text(FAKE.format(python=sys.executable, root=str(ROOT)))
    path.chmod(0o755)
    return str(path)


def _alive(source) -> list:
    return [c.proc.pid for c in source._captures if c.proc.poll() is None]


def test_fake_capture_stop_yields_everything(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_PACKETS", "5")
    monkeypatch.setenv("FAKE_DROPS", "3")
    source = LiveSource(["eth9", "eth8", "eth9"], dumpcap=fake_dumpcap)
    assert source.kind == "live" and source.name == "eth9, eth8"
    assert [(i.index, i.name, i.link) for i in source.interfaces] == [(0, "eth9", "ether"),
                                                                       (1, "eth8", "ether")]
    records = []
    for n, batch in enumerate(source.batches()):
        records += batch
        if n == 3:
            source.stop()
    assert sorted(r[0] for r in records) == [0] * 5 + [1] * 5
    assert {r[2] for r in records} == {52}
    assert [i.drops for i in source.interfaces] == [3, 3]
    assert source.ended == {0: "stopped", 1: "stopped"}
    assert source.skipped() == 0 and not _alive(source)


def test_fake_capture_yields_empty_batches_when_quiet(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_DROPS", "2")
    source = LiveSource(["eth9"], dumpcap=fake_dumpcap)
    last, gaps = time.monotonic(), []
    for batch in source.batches():  # leaving the loop closes the source, as Session.run does
        assert batch == []
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        if len(gaps) == 4:
            break
    assert max(gaps) < 0.5
    assert source.interfaces[0].drops == 2 and source.ended == {0: "stopped"}
    assert not _alive(source)


def test_fake_capture_gathers_a_trickle_into_batches(fake_dumpcap, monkeypatch):
    """A packet a millisecond: reads wait for GATHER after the last one, so the 300 come
    in a few dozen batches, not one or two packets each (live.gather_wait)."""
    monkeypatch.setenv("FAKE_TRICKLE", "300")
    source = LiveSource(["eth9"], dumpcap=fake_dumpcap)
    sizes = []
    for batch in source.batches():
        if batch:
            sizes.append(len(batch))
        if sum(sizes) >= 300:
            break
    assert sum(sizes) == 300
    assert len(sizes) <= 100, sizes


def test_gather_wait():
    assert gather_wait(10.0, 10.0, 0) == pytest.approx(GATHER)
    assert gather_wait(10.0, 10.004, 100) == pytest.approx(GATHER - 0.004)
    assert gather_wait(10.0, 10.0 + GATHER, 0) == 0.0
    assert gather_wait(10.0, 10.0, GATHER_BYTES) == 0.0  # enough queued: no wait
    assert gather_wait(0.0, 10.0, 0) == 0.0


def test_fake_capture_through_session(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_PACKETS", "4")
    monkeypatch.setenv("FAKE_DROPS", "7")
    source = LiveSource(["eth9"], dumpcap=fake_dumpcap)
    deadline = time.monotonic() + 0.6
    session = count_source(source, until=lambda: time.monotonic() >= deadline)
    source.close()
    [row] = session.engine.snapshot().interfaces
    assert (row.interface, row.packets, row.bytes, row.drops) == ("eth9", 4, 208, 7)


def test_fake_interface_vanishes_alone(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_PACKETS", "2")
    monkeypatch.setenv("FAKE_VANISH", "eth8")
    source = LiveSource(["eth9", "eth8"], dumpcap=fake_dumpcap)
    count = 0
    for batch in source.batches():
        count += len(batch)
        if 1 in source.ended and 0 not in source.ended:
            assert source.ended[1] == "interface removed"
            source.stop()
    assert count == 4
    assert source.ended == {0: "stopped", 1: "interface removed"}


def test_fake_cut_capture_reports_its_reason_on_its_interface(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_PACKETS", "2")
    monkeypatch.setenv("FAKE_CUT", "eth8")
    source = LiveSource(["eth9", "eth8"], dumpcap=fake_dumpcap)
    session = count_source(source, until=lambda: 1 in source.ended)
    source.close()
    assert source.ended == {0: "stopped", 1: "dumpcap exited (status 0)"}
    assert source.skip_reasons() == source.skip_reasons(1) == {"truncated final record": 1}
    assert source.skip_reasons(0) == {} and source.skipped() == 1
    rows = session.engine.snapshot().interfaces
    assert [(r.interface, r.packets, r.skipped_records, r.skipped_reasons) for r in rows] == \
        [("eth9", 2, 0, ""), ("eth8", 2, 1, "truncated final record: 1")]


def test_fake_errors_before_start(fake_dumpcap, monkeypatch):
    monkeypatch.setenv("FAKE_ERROR", BAD_FILTER)
    with pytest.raises(BadCaptureFilter, match="syntax error"):
        LiveSource(["lo"], capture_filter="udp and (", dumpcap=fake_dumpcap)
    monkeypatch.setenv("FAKE_ERROR", NO_PERMISSION)
    monkeypatch.setenv("FAKE_AT_START", "1")  # -d passes, the capture itself fails
    with pytest.raises(CapturePermissionDenied):
        LiveSource(["lo"], dumpcap=fake_dumpcap)


# -- LiveSource on real interfaces, inside a namespace -----------------------------------

PROBE = r"""
import json, signal, sys, time
from tuimon.capture.live import GATHER, GATHER_BYTES, LiveSource, gather_wait
source = LiveSource(sys.argv[1].split(","), capture_filter=sys.argv[2] or None)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", file=sys.stderr, flush=True)
lengths, gaps, last, stopped = {}, [], time.monotonic(), False
for batch in source.batches():
    now = time.monotonic()
    gaps.append(now - last)
    last = now
    for index, ts, wire_len, decoded, way, *_frame in batch:
        lengths.setdefault(index, []).append(wire_len)
    if stop and not stopped:
        source.stop()
        stopped = True
print(json.dumps({"lengths": lengths, "max_gap": max(gaps), "ended": source.ended,
                  "interfaces": [[i.index, i.name, i.link, i.drops] for i in source.interfaces]}))
"""


@pytest.mark.live
def test_live_source_in_namespace(netns):
    probe = netns.python(netns.a, PROBE, "tma0,tma1", "")
    wait_line(probe, "ready")
    send(netns, 0, [1, 100])
    send(netns, 1, [200])
    time.sleep(0.3)
    assert netns.run(netns.a, "ip", "link", "del", "tma1").returncode == 0
    send(netns, 0, [1000, 1458])
    time.sleep(0.3)
    probe.send_signal(signal.SIGTERM)
    out, err = probe.communicate(timeout=15)
    assert probe.returncode == 0, err
    got = json.loads(out)
    assert got["lengths"] == {"0": [43, 142, 1042, 1500], "1": [242]}
    assert got["ended"] == {"0": "stopped", "1": "interface removed"}
    assert got["interfaces"] == [[0, "tma0", "ether", 0], [1, "tma1", "ether", 0]]
    assert got["max_gap"] < 0.5
