"""Live capture: tcpreplay sends the benchmark capture over a veth pair between two network
namespaces (created here, deleted afterwards: tests/netns.py's Netns) while
``tuimon IFACE --no-ui --duration ... --csv`` captures the other end.

Two runs: a fixed rate (``tcpreplay --pps``) and as fast as tcpreplay can (``--topspeed``),
each for ``--seconds`` (20). Reported per run: what tcpreplay says it sent, what the
receiving veth's kernel counters say arrived (``/proc/net/dev`` in its namespace) and
dropped, what tuimon counted (interfaces.csv ``packets``) and the drops it reported
(``drops``: dumpcap's statistics block, i.e. the kernel capture ring's drops), and the CPU
time of tuimon with its dumpcap (``wait4``).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time
from pathlib import Path

from tests.support.netns import Netns, skip_reason, wait_line

MTU = 9000  # frames of the real captures go up to jumbo size


def dev_counters(ns: Netns, namespace: str, dev: str) -> dict:
    """rx/tx packets and drops of ``dev`` from /proc/net/dev inside ``namespace``."""
    text = ns.run(namespace, "cat", "/proc/net/dev").stdout
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == dev:
            f = [int(x) for x in rest.split()]
            return {"rx_packets": f[1], "rx_drop": f[3], "tx_packets": f[9], "tx_drop": f[11]}
    raise RuntimeError(f"no {dev} in /proc/net/dev of {namespace}")


def tcpreplay_sent(text: str) -> tuple[int, float, int]:
    """(packets sent, seconds, failed) from tcpreplay's report."""
    sent = re.search(r"Actual: (\d+) packets .* in ([\d.]+) seconds", text)
    failed = re.search(r"Failed packets:\s+(\d+)", text)
    if not sent:
        raise RuntimeError(f"tcpreplay said: {text.strip()[-500:]}")
    return int(sent.group(1)), float(sent.group(2)), int(failed.group(1)) if failed else 0


def run_one(ns: Netns, pcap: Path, out: Path, rate: str, seconds: float, tuimon: str) -> dict:
    rx_dev, tx_dev = ns.veth_a(), ns.veth_b()
    before_rx = dev_counters(ns, ns.a, rx_dev)
    before_tx = dev_counters(ns, ns.b, tx_dev)
    proc = ns.popen(ns.a, tuimon, rx_dev, "--no-ui", "--duration", str(seconds + 4),
                    "--csv", str(out), cwd=str(Path(__file__).resolve().parent.parent))
    wait_line(proc, "tuimon: capturing on", timeout=20)
    time.sleep(0.5)
    speed = ["--topspeed"] if rate == "topspeed" else ["--pps", rate]
    replay = ns.run(ns.b, "tcpreplay", "-i", tx_dev, *speed, "--preload-pcap", "--loop", "0",
                    "--duration", str(int(seconds)), str(pcap), timeout=seconds + 120)
    sent, took, failed = tcpreplay_sent(replay.stdout + replay.stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"tuimon exited {proc.returncode}: {err.strip()}")
    after_rx = dev_counters(ns, ns.a, rx_dev)
    after_tx = dev_counters(ns, ns.b, tx_dev)
    with open(out / "interfaces.csv", newline="") as f:
        row = next(csv.DictReader(f))
    counted, drops = int(row["packets"]), row["drops"]
    arrived = after_rx["rx_packets"] - before_rx["rx_packets"]
    return {
        "rate": rate, "seconds": took, "sent": sent, "sent_pps": round(sent / took) if took else 0,
        "tcpreplay_failed": failed, "arrived": arrived,
        "veth_rx_drop": after_rx["rx_drop"] - before_rx["rx_drop"],
        "veth_tx_drop": after_tx["tx_drop"] - before_tx["tx_drop"],
        "counted": counted, "dumpcap_drops": int(drops) if drops != "" else None,
        "missing": arrived - counted,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_per_s": round((usage.ru_utime + usage.ru_stime) / (seconds + 4), 2),
    }


def run(pcap: Path, out: Path, rates=("150000", "topspeed"), seconds: float = 20.0,
        tuimon: str | None = None) -> list[dict] | str:
    reason = skip_reason()
    if reason:
        return reason
    if subprocess.run(["which", "tcpreplay"], capture_output=True).returncode:
        return "tcpreplay is not installed"
    tuimon = tuimon or str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "tuimon")
    results = []
    with Netns(pairs=1) as ns:
        for namespace, dev in ((ns.a, ns.veth_a()), (ns.b, ns.veth_b())):
            ns.run(namespace, "ip", "link", "set", dev, "mtu", str(MTU))
        for rate in rates:
            result = run_one(ns, pcap, out / f"live-{rate}", rate, seconds, tuimon)
            print(f"live {rate:>9}: sent {result['sent']:,} ({result['sent_pps']:,}/s), "
                  f"arrived {result['arrived']:,}, counted {result['counted']:,}, "
                  f"dumpcap drops {result['dumpcap_drops']}, veth drops rx "
                  f"{result['veth_rx_drop']} tx {result['veth_tx_drop']}, "
                  f"cpu {result['cpu_s']} s", flush=True)
            results.append(result)
    return results
