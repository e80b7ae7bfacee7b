"""`make bench`: tuimon against tshark on a capture of a million packets, alternating rounds.

Prints packets/s of each, the ratio, tuimon's peak RSS and CPU time, and writes the results
to BENCHMARKS.md with the machine, the date and the command.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.build import build

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def measure(cmd: list[str]) -> dict:
    """Run a command; wall seconds, CPU seconds and peak RSS (MiB) of the process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {err.strip()}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}


def count_packets(path: Path) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Number of packets" in line:
            return int(line.split(":")[1].strip())
    raise SystemExit("bench: capinfos could not count the packets")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="make bench")
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    big = OUT / f"bench-{args.packets}.pcap"
    if not big.exists():
        print(f"building {big.name} ...", flush=True)
        build(big, args.packets)
    packets = count_packets(big)
    tuimon = [sys.executable, "-m", "tuimon", "-r", str(big), "--no-ui", "--csv", str(OUT / "csv")]
    tshark = ["tshark", "-n", "-r", str(big), "-q", "-z", "conv,tcp", "-z", "conv,udp", "-z", "endpoints,ip"]
    results = {"tuimon": [], "tshark": []}
    for r in range(args.rounds):
        for name, cmd in (("tuimon", tuimon), ("tshark", tshark)):
            m = measure(cmd)
            results[name].append(m)
            print(f"round {r + 1} {name:7} {packets / m['wall']:>10,.0f} packets/s  "
                  f"cpu {m['cpu']:.1f} s  rss {m['rss']:.0f} MiB", flush=True)
    best = {k: min(v, key=lambda m: m["wall"]) for k, v in results.items()}
    conversations = sum(1 for _ in open(OUT / "csv" / "conversations.csv")) - 1
    pps = {k: packets / m["wall"] for k, m in best.items()}
    summary = [
        f"## Playback, {datetime.date.today().isoformat()}",
        "",
        f"Machine: {platform.node() or 'unknown'}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"tshark {subprocess.run(['tshark', '-v'], capture_output=True, text=True).stdout.split()[2]}.",
        f"Command: `make bench` ({args.rounds} alternating rounds, best of each); capture: "
        f"{packets:,} packets, {big.stat().st_size / 1e6:.0f} MB, {conversations:,} conversations.",
        "",
        "| tool | packets/s | wall s | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|",
        *(f"| {k} | {pps[k]:,.0f} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss']:.0f} |" for k, m in best.items()),
        "",
        f"tuimon / tshark: **{pps['tuimon'] / pps['tshark']:.2f}×** (target: at least 3×).",
        "",
    ]
    print("\n".join(summary))
    if not args.no_write:
        (ROOT / "BENCHMARKS.md").write_text("# Benchmarks\n\nReproduce with `make bench`.\n\n" + "\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
