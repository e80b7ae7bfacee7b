"""What each source costs at the same traffic: ``tuimon IFACE`` (packets captured by
dumpcap) against ``tuimon --source conntrack`` (the kernel's flow accounting, no packet
copied), both headless, while tcpreplay sends the benchmark capture at a fixed rate over a
veth pair between two network namespaces (created here, deleted afterwards).

The capturing namespace tracks connections (an nftables rule on its prerouting hook makes
the kernel track them, ``nf_conntrack_acct=1``), tcpreplay rewrites the destination MAC to
the receiving veth's and every address is local there (``ip route add local 0.0.0.0/0 dev
lo table local``, with ``accept_local``; IPv4: the namespaces have IPv6 off), so every
frame reaches the IP layer and is delivered, and conntrack confirms its flow, not only the
capture socket sees it. The kernel answers what it is sent (TCP resets, ICMP) through
``lo``, as a host would: conntrack counts those packets too, the capture on the veth does
not. The benchmark capture starts a new conversation every few packets, so
conntrack gets tens of thousands of new flows a second.
Two kinds of traffic, each counted by both sources in turn: tcpreplay of real frames at
PPS packets/s (a new flow every few packets), and iperf3 TCP at full speed (one flow, the
server in the capturing namespace). Reported per run: CPU seconds of tuimon and its
children (``wait4``) and per second, what it counted (its packets: frames captured, or the
kernel's per-flow packets, replies through ``lo`` included), and conntrack's table size
at the end.

``python -m bench.kernel_cpu CAPTURE OUT [PPS [SECONDS]]`` prints one JSON line.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.live import MTU, tcpreplay_sent
from tests.support.netns import Netns, skip_reason, wait_line

ROOT = Path(__file__).resolve().parent.parent


def _table_size(ns: Netns) -> int:
    r = ns.run(ns.a, "conntrack", "-C")
    return int(r.stdout.strip() or 0) if r.returncode == 0 else -1


def _rows(path: Path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def _send(ns: Netns, traffic: str, pcap: Path, pps: int, seconds: float, mac: str) -> int:
    """Send the traffic from namespace b; the packets sent (iperf3: 0, the capture says)."""
    if traffic == "iperf":
        server = ns.popen(ns.a, "iperf3", "-s", "-1", "-B", ns.addr_a())
        time.sleep(1.0)
        r = ns.run(ns.b, "iperf3", "-c", ns.addr_a(), "-B", ns.addr_b(), "-t",
                   str(int(seconds)), "-J", timeout=seconds + 60)
        server.communicate(timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"iperf3 said: {(r.stdout + r.stderr).strip()[-300:]}")
        return 0
    replay = ns.run(ns.b, "tcpreplay-edit", f"--enet-dmac={mac}", "-i", ns.veth_b(),
                    "--pps", str(pps), "--preload-pcap", "--loop", "0", "--duration",
                    str(int(seconds)), str(pcap), timeout=seconds + 120)
    return tcpreplay_sent(replay.stdout + replay.stderr)[0]


def run_one(ns: Netns, pcap: Path, out: Path, source: str, traffic: str, pps: int,
            seconds: float, tuimon: str, mac: str) -> dict:
    args = ["--source", "conntrack"] if source == "conntrack" else [ns.veth_a()]
    proc = ns.popen(ns.a, tuimon, *args, "--no-ui", "--no-history", "--duration",
                    str(seconds + 5), "--csv", str(out), cwd=str(ROOT))
    wait_line(proc, "tuimon: capturing on", timeout=20)
    time.sleep(0.5)
    sent = _send(ns, traffic, pcap, pps, seconds, mac)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    if code != 0:
        raise RuntimeError(f"tuimon {' '.join(args)} exited {code}: {err.strip()[-300:]}")
    with open(out / "interfaces.csv", newline="") as f:
        iface = next(csv.DictReader(f))
    cpu = usage.ru_utime + usage.ru_stime
    packets = int(iface["packets"] or 0)
    return {"source": source, "traffic": traffic, "sent": sent, "cpu_s": round(cpu, 2),
            "cpu_per_s": round(cpu / (seconds + 5), 3), "packets": packets,
            "bytes": int(iface["bytes"] or 0),
            "conversations": _rows(out / "conversations.csv"),
            "table_at_end": _table_size(ns)}


def run(pcap: Path, out: Path, pps: int = 150_000, seconds: float = 20.0,
        tuimon: str | None = None) -> dict:
    reason = skip_reason()
    if reason:
        return {"skipped": reason}
    for tool in ("tcpreplay-edit", "conntrack", "nft"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            return {"skipped": f"{tool} is not installed"}
    tuimon = tuimon or str(ROOT / ".venv" / "bin" / "tuimon")
    runs = []
    with Netns(pairs=1) as ns:
        for namespace, dev in ((ns.a, ns.veth_a()), (ns.b, ns.veth_b())):
            ns.run(namespace, "ip", "link", "set", dev, "mtu", str(MTU))
        for cmd in (["nft", "add", "table", "ip", "tmbench"],
                    ["nft", "add", "chain", "ip", "tmbench", "pre",
                     "{ type filter hook prerouting priority 0; }"],
                    ["nft", "add", "rule", "ip", "tmbench", "pre", "ct", "state", "new",
                     "counter"],
                    ["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"],
                    # every address is this namespace's (AnyIP): frames are delivered, so
                    # conntrack confirms their flows (routed away, they would never be)
                    ["ip", "link", "set", "lo", "up"],
                    ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "local"],
                    ["sysctl", "-qw", "net.ipv4.conf.all.accept_local=1"],
                    ["sysctl", "-qw", f"net.ipv4.conf.{ns.veth_a()}.accept_local=1"],
                    ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
                    ["sysctl", "-qw", f"net.ipv4.conf.{ns.veth_a()}.rp_filter=0"]):
            r = ns.run(ns.a, *cmd)
            if r.returncode != 0:
                return {"skipped": f"{' '.join(cmd)}: {r.stderr.strip()}"}
        link = json.loads(ns.run(ns.a, "ip", "-j", "link", "show", "dev", ns.veth_a()).stdout)
        mac = link[0]["address"]
        for traffic in ("tcpreplay", "iperf"):
            for source in ("capture", "conntrack"):
                ns.run(ns.a, "conntrack", "-F")  # each run starts from an empty table
                result = run_one(ns, pcap, out / f"kernel-{traffic}-{source}", source,
                                 traffic, pps, seconds, tuimon, mac)
                print(f"kernel_cpu {traffic:9} {source:9}: sent {result['sent']:,}, cpu "
                      f"{result['cpu_s']} s, counted {result['packets']:,} packets, "
                      f"{result['conversations']:,} conversations", flush=True,
                      file=sys.stderr)
                runs.append(result)
    return {"runs": runs, "pps": pps, "seconds": seconds}


if __name__ == "__main__":
    argv = sys.argv[1:]
    print(json.dumps(run(Path(argv[0]), Path(argv[1]),
                         int(argv[2]) if len(argv) > 2 else 150_000,
                         float(argv[3]) if len(argv) > 3 else 20.0)))
