"""--source conntrack for real, in network namespaces: known UDP and TCP traffic between two
namespaces joined by a veth pair, tracked by namespace a's conntrack (an nft rule there
makes it track), counted by ``tuimon --source conntrack --no-ui --csv`` run inside it, and
compared with the kernel's own figures (``conntrack -L -o extended``) and with the IP
bytes a capture (tcpdump) on the same veth sees. A flow older than tuimon counts only what
it adds afterwards. Accounting off and a missing CAP_NET_ADMIN are one line, exit 2."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time

import pytest

from tests.support.echo import rows
from tests.support.netns import TUIMON, wait_line

UDP_PORT, TCP_PORT, OLD_PORT = 7001, 7002, 7003

# In namespace b: a UDP echo on UDP_PORT and OLD_PORT, a TCP server on TCP_PORT that
# answers each read with as many bytes ("ready" when listening).
SERVER = r"""
import socket, sys, threading
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(65535); s.sendto(data, peer)
def tcp():
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", %d)); l.listen()
    while True:
        c, _ = l.accept()
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
        c.close()
for p in (%d, %d): threading.Thread(target=udp, args=(p,), daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print("ready", file=sys.stderr, flush=True)
threading.Event().wait()
""" % (TCP_PORT, UDP_PORT, OLD_PORT)

# In namespace a: the old flow (from port OLD_PORT + 100, 3 datagrams, then "old" and wait
# for a line on stdin, then 2 more), the UDP flow and the TCP flow.
CLIENT = r"""
import socket, sys
peer = sys.argv[1]
old = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); old.bind(("0.0.0.0", %d))
old.settimeout(5)
for n in (10, 20, 30):
    old.sendto(b"o" * n, (peer, %d)); old.recvfrom(65535)
print("old", flush=True)
sys.stdin.readline()
for n in (40, 50):
    old.sendto(b"o" * n, (peer, %d)); old.recvfrom(65535)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
for n in (1, 100, 1000, 1400):
    u.sendto(b"u" * n, (peer, %d)); u.recvfrom(65535)
t = socket.create_connection((peer, %d), timeout=5)
t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for n in (10, 5000, 300):
    t.sendall(b"t" * n)
    got = 0
    while got < n:
        got += len(t.recv(65536))
t.close()
print("done", flush=True)
""" % (OLD_PORT + 100, OLD_PORT, OLD_PORT, UDP_PORT, TCP_PORT)

def line_of(proc, timeout: float = 20) -> str:
    """The next line ``proc`` prints on its standard output (fail if none comes in time)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError(f"no line in {timeout} s; stderr: {proc.communicate()[1]!r}")
    return proc.stdout.readline().strip()


def conntrack_flows(netns) -> dict:
    """(proto, src, sport, dst, dport) -> (orig packets, bytes, reply packets, bytes)."""
    r = netns.run(netns.a, "conntrack", "-L", "-o", "extended")
    assert r.returncode == 0, r.stderr
    flows = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] != "ipv4" or fields[2] not in ("tcp", "udp"):
            continue
        kv = [f.split("=", 1) for f in fields if "=" in f]
        orig, reply = kv[:6], kv[6:12]
        src, dst, sport, dport, op, ob = (v for _, v in orig)
        rp, rb = (v for k, v in reply if k in ("packets", "bytes"))
        flows[(fields[2], src, int(sport), dst, int(dport))] = (int(op), int(ob), int(rp),
                                                                  int(rb))
    return flows


def captured(pcap) -> dict:
    """What tshark reads in the capture: (proto, src, sport, dst, dport) -> [packets,
    IP bytes] per direction."""
    r = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "ip.src", "-e",
                        "ip.dst", "-e", "ip.len", "-e", "udp.srcport", "-e", "udp.dstport",
                        "-e", "tcp.srcport", "-e", "tcp.dstport"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out: dict = {}
    for line in r.stdout.splitlines():
        src, dst, length, us, ud, ts, td = line.split("\t")
        proto, sport, dport = ("udp", us, ud) if us else ("tcp", ts, td)
        if not sport:
            continue
        c = out.setdefault((proto, src, int(sport), dst, int(dport)), [0, 0])
        c[0] += 1
        c[1] += int(length)
    return out


def setup_conntrack(netns) -> None:
    """Namespace a tracks connections, with accounting on."""
    if shutil.which("conntrack") is None or shutil.which("nft") is None:
        pytest.skip("conntrack or nft is not installed (apt-get install conntrack nftables)")
    for cmd in (["nft", "add", "table", "ip", "tmct"],
                ["nft", "add", "chain", "ip", "tmct", "c",
                 "{ type filter hook input priority 0; }"],
                ["nft", "add", "rule", "ip", "tmct", "c", "ct", "state", "new", "counter"],
                ["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"]):
        r = netns.run(netns.a, *cmd)
        if r.returncode != 0:
            pytest.skip(f"no connection tracking here ({' '.join(cmd)}: {r.stderr.strip()})")


def test_conntrack_counts_what_the_kernel_and_a_capture_count(netns, tmp_path):
    setup_conntrack(netns)
    a, b = netns.addr_a(), netns.addr_b()
    server = netns.python(netns.b, SERVER)
    wait_line(server, "ready")
    client = netns.python(netns.a, CLIENT, b, stdin=subprocess.PIPE)
    assert line_of(client) == "old"  # a flow older than tuimon
    out = tmp_path / "csv"
    tuimon = netns.tuimon("--source", "conntrack", "--no-ui", "--duration", "6", "--csv",
                          str(out))
    pcap = tmp_path / "veth.pcap"
    dump = netns.popen(netns.a, "tcpdump", "-i", netns.veth_a(), "-w", str(pcap), "-U", "-n",
                       "ip")
    try:
        wait_line(tuimon, "tuimon: capturing on conntrack")
        wait_line(dump, "tcpdump: listening on")
        client.stdin.write("go\n")
        client.stdin.flush()
        assert line_of(client) == "done"
        time.sleep(1.5)  # a dump or two after the traffic, the TCP flow in TIME_WAIT
        kernel = conntrack_flows(netns)
        _, err = tuimon.communicate(timeout=30)
        assert tuimon.returncode == 0, err
    finally:
        dump.terminate()
        dump.communicate(timeout=10)
        for p in (client, tuimon):
            if p.poll() is None:
                p.kill()
    wire = captured(pcap)
    convs = {(r["protocol"], r["address_a"], int(r["port_a"]), r["address_b"],
              int(r["port_b"])): r for r in rows(out, "conversations.csv")}
    assert sorted(k[4] for k in convs) == [UDP_PORT, TCP_PORT, OLD_PORT]
    assert all((k[1], k[3]) == (a, b) for k in convs)
    for key, row in convs.items():
        got = (int(row["packets_a_to_b"]), int(row["bytes_a_to_b"]),
               int(row["packets_b_to_a"]), int(row["bytes_b_to_a"]))
        proto, src, sport, dst, dport = key
        ab, ba = wire[key], wire[(proto, dst, dport, src, sport)]
        assert got == (ab[0], ab[1], ba[0], ba[1]), key  # the capture's IP bytes
        if sport != OLD_PORT + 100:
            assert got == kernel[key], key  # the kernel's own figures
        else:  # older than tuimon: only what it added since (2 datagrams each way)
            assert got == (2, 2 * 28 + 90, 2, 2 * 28 + 90)
            before = (3, 3 * 28 + 60, 3, 3 * 28 + 60)
            assert tuple(k - g for k, g in zip(kernel[key], got)) == before
    [udp] = [row for k, row in convs.items() if k[4] == UDP_PORT]
    assert int(udp["bytes_a_to_b"]) == 4 * 28 + 1 + 100 + 1000 + 1400
    [iface] = rows(out, "interfaces.csv")
    assert iface["interface"] == "conntrack" and "IP bytes" in iface["link"]
    assert int(iface["bytes"]) == sum(c[1] for c in wire.values())


def test_accounting_off_is_one_line_and_enable_acct_turns_it_on(netns):
    setup_conntrack(netns)
    netns.run(netns.a, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=0")
    r = netns.run(netns.a, TUIMON, "--source", "conntrack", "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "nf_conntrack_acct" in r.stderr and "sysctl -w net.netfilter.nf_conntrack_acct=1" \
        in r.stderr and "--enable-acct" in r.stderr
    r = netns.run(netns.a, TUIMON, "--source", "conntrack", "--no-ui", "--duration", "1",
                  "--enable-acct")
    assert r.returncode == 0, r.stderr
    on = netns.run(netns.a, "sysctl", "-n", "net.netfilter.nf_conntrack_acct")
    assert on.stdout.strip() == "1"


def test_without_cap_net_admin_is_one_line(netns):
    setup_conntrack(netns)
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    r = netns.run(netns.a, "setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin",
                  TUIMON, "--source", "conntrack", "--no-ui", "--duration", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("tuimon: reading the kernel's conntrack table needs "
                               "CAP_NET_ADMIN")


def test_conntrack_takes_no_interface_or_file():
    r = subprocess.run([sys.executable, "-m", "tuimon", "--source", "conntrack", "eth0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr


# Namespace a as a NAT router: UDP to a's 10.199.1.1:NAT_PORT (pair 0) is sent on to b's
# other address (pair 1) at UDP_PORT, from a's address there (masquerade).
NAT_PORT = 7100
READER = r"""
import sys, time
from tuimon.capture.conntrack import ConntrackSource
from tuimon.core.engine import Engine
source, engine = ConntrackSource(), Engine(flow_timeout=0)
print("ready", file=sys.stderr, flush=True)
end = time.monotonic() + float(sys.argv[1])
for batch in source.batches():
    engine.ingest_flows(batch)
    if time.monotonic() > end:
        break
for r in engine.snapshot().conversations:
    print(r.address_a, r.port_a, r.address_b, r.port_b, r.nat, sep="|")
"""


def test_a_natted_flow_counts_on_its_original_tuple_and_shows_its_reply_tuple(netns, tmp_path):
    setup_conntrack(netns)
    a0, b0, a1, b1 = netns.addr_a(0), netns.addr_b(0), netns.addr_a(1), netns.addr_b(1)
    for cmd in (["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                ["nft", "add", "table", "ip", "tmnat"],
                ["nft", "add", "chain", "ip", "tmnat", "pre",
                 "{ type nat hook prerouting priority -100; }"],
                ["nft", "add", "chain", "ip", "tmnat", "post",
                 "{ type nat hook postrouting priority 100; }"],
                ["nft", "add", "rule", "ip", "tmnat", "pre", "udp", "dport", str(NAT_PORT),
                 "dnat", "to", f"{b1}:{UDP_PORT}"],
                ["nft", "add", "rule", "ip", "tmnat", "post", "oifname", netns.veth_a(1),
                 "masquerade"]):
        r = netns.run(netns.a, *cmd)
        if r.returncode != 0:
            pytest.skip(f"no NAT here ({' '.join(cmd)}: {r.stderr.strip()})")
    server = netns.python(netns.b, SERVER)
    wait_line(server, "ready")
    out = tmp_path / "csv"
    tuimon = netns.tuimon("--source", "conntrack", "--no-ui", "--duration", "5", "--csv",
                          str(out))
    reader = netns.python(netns.a, READER, "4")
    pcap = tmp_path / "outside.pcap"
    dump = netns.popen(netns.a, "tcpdump", "-i", netns.veth_a(0), "-w", str(pcap), "-U", "-n",
                       "udp")
    sizes = [10, 200, 1300]
    try:
        wait_line(tuimon, "tuimon: capturing on conntrack")
        wait_line(reader, "ready")
        wait_line(dump, "tcpdump: listening on")
        r = netns.run(netns.b, sys.executable, "-c", (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)\n"
            f"for n in {sizes}:\n"
            f"    s.sendto(b'n' * n, ('{a0}', {NAT_PORT})); s.recvfrom(65535)\n"
            "print(s.getsockname()[1])\n"))
        assert r.returncode == 0, r.stderr
        sport = int(r.stdout)
        time.sleep(1.5)
        kernel = conntrack_flows(netns)
        _, err = tuimon.communicate(timeout=30)
        assert tuimon.returncode == 0, err
        seen, _ = reader.communicate(timeout=30)
    finally:
        dump.terminate()
        dump.communicate(timeout=10)
        for p in (tuimon, reader):
            if p.poll() is None:
                p.kill()
    key = ("udp", b0, sport, a0, NAT_PORT)
    [row] = [r for r in rows(out, "conversations.csv")
             if (r["address_a"], r["port_a"], r["address_b"], r["port_b"]) ==
             (b0, str(sport), a0, str(NAT_PORT))]
    got = (int(row["packets_a_to_b"]), int(row["bytes_a_to_b"]), int(row["packets_b_to_a"]),
           int(row["bytes_b_to_a"]))
    assert got == kernel[key] == (3, sum(sizes) + 3 * 28, 3, sum(sizes) + 3 * 28)
    wire = captured(pcap)  # outside, before the translation: the original tuple
    ab, ba = wire[key], wire[("udp", a0, NAT_PORT, b0, sport)]
    assert got == (ab[0], ab[1], ba[0], ba[1])
    nat = [line.split("|") for line in seen.splitlines()]
    [(_, _, _, _, reply)] = [n for n in nat if n[:4] == [b0, str(sport), a0, str(NAT_PORT)]]
    assert reply.startswith(f"{b1}:{UDP_PORT} > {a1}:")  # answers: server to the router
