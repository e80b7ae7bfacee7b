"""Does the real app keep up at gateway rates? Live capture on one end of a veth pair
(network namespaces made by tests' Netns, deleted afterwards) while traffic comes from the
other end, with tuimon either as the real Textual app in tmux (``--mode app``:
``tuimon IFACE --csv DIR``, quit with ``q`` once the traffic has stopped) or headless
(``--mode headless``: ``tuimon IFACE --no-ui --duration ... --csv DIR``).

Traffic kinds, each for ``--seconds``: ``pps`` (tcpreplay ``--pps RATE`` of the benchmark
capture), ``topspeed`` (tcpreplay ``--topspeed``), ``iperf`` (iperf3 TCP at ``-b RATE``,
server in the capturing namespace) and ``iperf-max`` (iperf3 without ``-b``). For iperf3 the
veth has MTU 1500 and ``gso_max_segs 1``: frames of a real link's size, not 64 KB GSO
segments. Per run: frames the capturing veth carried (rx + tx delta of its /proc/net/dev),
what tuimon counted and the drops it reported (interfaces.csv), CPU seconds of tuimon and
its children, the app's time from ``q`` to exit, and (app, pps, while traffic runs, unless
``--no-probe``) key press latencies: ``4``/``2`` until the status line names the new view,
keys sent and the screen read through a tmux control-mode client (``--probe poll``: the
earlier probe, a ``tmux capture-pane`` process every 5 ms).

    python -m bench.app_live --kind pps --rate 150000 --seconds 10 --mode app

``TUIMON_BENCH_ARGS`` (e.g. ``"--ring 0"``, ``"--interval 10"``) adds options to the app's
command line, to find out what a cost is due to. The traffic and headless tuimon each run
in a session of their own, as the app does in tmux: Linux gives each session one share of
the CPU (autogroup), so each of them meets the same competition.

prints one JSON line per run. ``python -m bench.run --only app`` runs the whole matrix.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support.netns import Netns, skip_reason, wait_line

from bench.live import MTU, dev_counters, tcpreplay_sent
from bench.tmux_control import Control

ROOT = Path(__file__).resolve().parent.parent
TUIMON = str(ROOT / ".venv" / "bin" / "tuimon")
KINDS = ("pps", "iperf", "iperf-max", "topspeed")
DEFAULT_RATE = {"pps": "150000", "iperf": "1G"}
HZ = os.sysconf("SC_CLK_TCK")
STATUS = re.compile(r"^\s*(Interfaces|Hosts|Protocols|Conversations)(?:\s+·)?\s+[\d,.kKM]+ rows?", re.M)


# -- traffic ---------------------------------------------------------------------------------

class Traffic:
    """One traffic run from namespace b to the capturing veth in namespace a."""

    def __init__(self, ns: Netns, kind: str, rate: str | None, seconds: float, pcap: Path):
        self.ns, self.kind, self.rate, self.seconds, self.pcap = ns, kind, rate, seconds, pcap
        self.server = self.proc = None
        iperf = kind.startswith("iperf")
        for namespace, dev in ((ns.a, ns.veth_a()), (ns.b, ns.veth_b())):
            ns.run(namespace, "ip", "link", "set", dev, "mtu", "1500" if iperf else str(MTU),
                   "gso_max_segs", "1" if iperf else "65535")

    def prepare(self) -> None:
        """iperf3: the server, listening before the capture starts (no frames yet)."""
        if not self.kind.startswith("iperf"):
            return
        self.server = self.ns.popen(self.ns.a, "iperf3", "-s", "-1", "-B", self.ns.addr_a(),
                                    start_new_session=True)
        deadline = time.monotonic() + 10
        while ":5201" not in self.ns.run(self.ns.a, "ss", "-ltnH").stdout:
            if time.monotonic() > deadline or self.server.poll() is not None:
                raise RuntimeError("iperf3 -s did not start listening")
            time.sleep(0.05)

    def start(self) -> None:
        ns, secs = self.ns, str(int(self.seconds))
        if self.kind.startswith("iperf"):
            rate = ["-b", self.rate] if self.kind == "iperf" else []
            argv = ["iperf3", "-c", ns.addr_a(), "-B", ns.addr_b(), "-t", secs, "-J", *rate]
        else:
            speed = ["--topspeed"] if self.kind == "topspeed" else ["--pps", self.rate]
            argv = ["tcpreplay", "-i", ns.veth_b(), *speed, "--preload-pcap", "--loop", "0",
                    "--duration", secs, str(self.pcap)]
        # A session of its own, as traffic from outside the box shares no scheduling group
        # with the one who watches it (Linux's autogroup: each session is one group, and
        # the groups share the CPU evenly); without it the generator's core-long busy loop
        # and the benchmark's key probe would share one group.
        self.proc = ns.popen(ns.b, *argv, start_new_session=True)

    def wait(self) -> dict:
        out, err = self.proc.communicate(timeout=self.seconds + 120)
        if self.server:
            try:
                self.server.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        if self.kind.startswith("iperf"):
            try:
                end = json.loads(out)["end"]
            except (ValueError, KeyError):
                raise RuntimeError(f"iperf3 said: {(out + err).strip()[-500:]}") from None
            return {"sent_mbit_s": round(end["sum_sent"]["bits_per_second"] / 1e6),
                    "retransmits": end["sum_sent"].get("retransmits")}
        sent, took, failed = tcpreplay_sent(out + err)
        return {"sent": sent, "sent_pps": round(sent / took) if took else 0,
                "tcpreplay_failed": failed}

    def stop(self) -> None:
        for p in (self.proc, self.server):
            if p and p.poll() is None:
                p.kill()
                p.communicate()


# -- measuring -------------------------------------------------------------------------------

def veth(ns: Netns) -> dict:
    return dev_counters(ns, ns.a, ns.veth_a())


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system, and of reaped children) of the processes under ``root``."""
    stats = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = text.rsplit(")", 1)[1].split()
        stats[int(pid)] = (int(f[1]), sum(int(x) for x in f[11:15]))
    below, todo = set(), [root]
    while todo:
        parent = todo.pop()
        kids = [p for p, (pp, _) in stats.items() if pp == parent and p not in below]
        below.update(kids)
        todo += kids
    return sum(stats[p][1] for p in below) / HZ


def result(kind, rate, seconds, mode, before, after, out: Path, sent: dict, **extra) -> dict:
    with open(out / "interfaces.csv", newline="") as f:
        row = next(csv.DictReader(f))
    rx = after["rx_packets"] - before["rx_packets"]
    tx = after["tx_packets"] - before["tx_packets"]
    counted = int(row["packets"])
    return {"mode": mode, "kind": kind, "rate": rate or "", "seconds": seconds, **sent,
            "carried": rx + tx, "rx": rx, "tx": tx, "counted": counted,
            "drops": int(row["drops"]) if row["drops"] else None,
            "missed": int(row["missed_packets"]) if row.get("missed_packets") else None,
            "missing": rx + tx - counted, **extra}


def run_headless(ns: Netns, traffic: Traffic, out: Path) -> dict:
    traffic.prepare()
    before = veth(ns)
    # long enough for tcpreplay's preload and iperf3's connection; checked below
    proc = ns.popen(ns.a, TUIMON, ns.veth_a(), "--no-ui", "--duration",
                    str(traffic.seconds + 10), "--csv", str(out), cwd=str(ROOT),
                    start_new_session=True)  # its own session, as the app's in tmux
    wait_line(proc, "tuimon: capturing on", timeout=20)
    time.sleep(0.5)
    traffic.start()
    sent = traffic.wait()
    traffic_end = time.monotonic()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"tuimon exited {proc.returncode}: {err.strip()}")
    if time.monotonic() - traffic_end < 0.5:
        raise RuntimeError("tuimon --duration ended before the traffic did")
    return result(traffic.kind, traffic.rate, traffic.seconds, "headless", before, veth(ns),
                  out, sent, cpu_s=round(usage.ru_utime + usage.ru_stime, 2))


class Tmux:
    def __init__(self) -> None:
        self.socket = f"tuimon-bench-{os.getpid()}-{time.monotonic_ns()}"

    @staticmethod
    def env() -> dict:
        return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=10, env=self.env())
        if check and done.returncode:
            raise RuntimeError(f"tmux {args}: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "main", check=False)

    def wait(self, predicate, what: str, timeout: float, poll: float = 0.1) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline or "Traceback" in screen:
                raise RuntimeError(f"timed out waiting for {what}; screen:\n{screen}")
            time.sleep(poll)


def probe_keys(tmux: Tmux, rounds: int = 5, how: str = "control") -> list[float]:
    """Milliseconds from each key (4, then 2, ...) to the status line naming its view.

    ``control`` (the default): keys and screens through one tmux control-mode client, the
    screen read only when the pane has written something (:mod:`bench.tmux_control`).
    ``poll``: the earlier probe, a ``tmux send-keys`` process, then a ``tmux capture-pane``
    process every 5 ms, which itself loads a busy machine."""
    def shows(view):
        return lambda s: bool((m := STATUS.findall(s)) and m[-1] == view)

    times = []
    control = Control(tmux.socket, env=tmux.env()) if how == "control" else None
    try:
        for _ in range(rounds):
            for key, view in (("4", "Conversations"), ("2", "Hosts")):
                start = time.perf_counter()
                if control is not None:
                    control.send_keys(key)
                    if control.wait_screen(shows(view), 10) is None:
                        raise RuntimeError(f"timed out waiting for {view}; screen:\n"
                                           f"{tmux.screen()}")
                else:
                    tmux("send-keys", "-t", "main", key)
                    tmux.wait(shows(view), view, 10, 0.005)
                times.append((time.perf_counter() - start) * 1000)
                time.sleep(0.2)
    finally:
        if control is not None:
            control.close()
    return times


def run_app(ns: Netns, traffic: Traffic, out: Path, probe: str | None = None,
            rounds: int = 5) -> dict:
    """The real app in tmux: wait for 'capturing', traffic, 2 s, q, wait for interfaces.csv."""
    traffic.prepare()
    exit_file, time_file = out / "exit", out / "time"
    for f in (exit_file, time_file, out / "interfaces.csv"):
        f.unlink(missing_ok=True)
    wrap = (["/usr/bin/time", "-f", "%U %S", "-o", str(time_file)]
            if os.path.exists("/usr/bin/time") else [])
    argv = ["env", "TERM=xterm-256color", "ip", "netns", "exec", ns.a, *wrap, TUIMON,
            ns.veth_a(), "--csv", str(out), *os.environ.get("TUIMON_BENCH_ARGS", "").split()]
    command = (f"cd {shlex.quote(str(ROOT))}; {shlex.join(argv)}; "
               f"echo $? $(date +%s.%N) > {shlex.quote(str(exit_file))}; sleep 120")
    tmux = Tmux()
    before = veth(ns)
    try:
        tmux("new-session", "-d", "-s", "main", "-x", "160", "-y", "48", "sh", "-c", command)
        pane = int(tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())
        tmux.wait(lambda s: ns.veth_a() in s and "capturing" in s, "capturing", 30)
        time.sleep(0.5)
        traffic.start()
        keys = []
        if probe:
            time.sleep(min(3.0, traffic.seconds / 3))  # tcpreplay's preload, then full rate
            keys = probe_keys(tmux, rounds, probe)
        sent = traffic.wait()
        time.sleep(2)
        cpu_at_quit = tree_cpu(pane)
        quit_at = time.time()
        tmux("send-keys", "-t", "main", "q")
        deadline = time.monotonic() + 60
        while not (exit_file.exists() and exit_file.read_text().strip()
                   and (out / "interfaces.csv").exists()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not exit within 60 s; screen:\n{tmux.screen()}")
            time.sleep(0.05)
        code, exited = exit_file.read_text().split()
        if int(code) != 0:
            raise RuntimeError(f"the app exited {code}; screen:\n{tmux.screen()}")
        extra = {"cpu_at_quit_s": round(cpu_at_quit, 2),
                 "quit_to_exit_s": round(float(exited) - quit_at, 2)}
        if wrap:
            extra["cpu_s"] = round(sum(map(float, time_file.read_text().split()[-2:])), 2)
        if keys:
            # (an even count's median: the mean of the middle two, not the upper one)
            extra["key_ms"] = {"median": round(statistics.median(keys), 1),
                               "max": round(max(keys), 1), "n": len(keys), "probe": probe,
                               "each": [round(k, 1) for k in keys]}
        return result(traffic.kind, traffic.rate, traffic.seconds, "app", before, veth(ns),
                      out, sent, **extra)
    finally:
        tmux("kill-server", check=False)


# -- runs --------------------------------------------------------------------------------------

def run(pcap: Path, out: Path, cases, seconds: float = 20.0, probe: bool = True,
        report=print, how: str = "control", rounds: int = 5) -> list[dict] | str:
    """``cases``: (kind, rate or None, mode) triples; every run in a fresh pair of namespaces.
    ``how``, ``rounds``: the key probe's (:func:`probe_keys`)."""
    reason = skip_reason()
    missing = [t for t in ("tmux", "tcpreplay", "iperf3") if shutil.which(t) is None]
    if reason or missing:
        return reason or f"{', '.join(missing)} not installed"
    results = []
    for kind, rate, mode in cases:
        rate = rate or DEFAULT_RATE.get(kind)
        with Netns(pairs=1) as ns:
            traffic = Traffic(ns, kind, rate, seconds, pcap)
            where = out / f"app-{mode}-{kind}"
            where.mkdir(parents=True, exist_ok=True)
            try:
                if mode == "app":
                    r = run_app(ns, traffic, where, how if probe and kind == "pps" else None,
                                rounds)
                else:
                    r = run_headless(ns, traffic, where)
            finally:
                traffic.stop()
        report(r)
        results.append(r)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.app_live", description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=KINDS, default="pps")
    p.add_argument("--rate", help="pps: packets/s (150000); iperf: iperf3 -b (1G)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--mode", choices=("app", "headless", "both"), default="app")
    p.add_argument("--no-probe", action="store_true", help="app, pps: no key press probe")
    p.add_argument("--probe", choices=("control", "poll"), default="control",
                   help="the key probe: a tmux control-mode client (default) or the earlier "
                        "capture-pane process every 5 ms")
    p.add_argument("--probe-rounds", type=int, default=5, help="rounds of 4 then 2 (5)")
    p.add_argument("--pcap", type=Path, help="default: bench/out/bench-1000000.pcap (built)")
    args = p.parse_args(argv)
    if args.pcap is None:
        from bench.run import capture
        args.pcap = capture(1_000_000)
    modes = ("app", "headless") if args.mode == "both" else (args.mode,)
    results = run(args.pcap, ROOT / "bench" / "out", [(args.kind, args.rate, m) for m in modes],
                  args.seconds, probe=not args.no_probe, how=args.probe,
                  rounds=args.probe_rounds,
                  report=lambda r: print(json.dumps(r), flush=True))
    if isinstance(results, str):
        print(json.dumps({"skipped": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
