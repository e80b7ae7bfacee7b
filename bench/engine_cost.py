"""The app's counting, in-process and without the UI: CPU µs per packet.

Builds the service the app's engine process runs (``EngineService(config, rates=True,
keep_expired=True)``: rates and peaks, the pairs, the processes' table, expired
conversations kept), opens a capture file the way ``tuimon -r FILE`` does, and feeds the
source's batches to :meth:`EngineService.ingest` as the live driver does (a fold per
second of capture time, in :class:`tuimon.server.session.Session`). No tshark
(``--dissect-packets 0`` by default), no history database. The Processes view's table
attributes as on a live capture, against this machine's socket table read once (a
playback's would put everything in one row at once); ``--playback-processes`` for that.

Prints one line: packets, CPU seconds of the whole loop (reading the file included) and of
``ingest`` alone, and each per packet::

    python -m bench.engine_cost bench/out/bench-1000000.pcap
    python -m bench.engine_cost FILE --rows 2000   # batches cut to live-like sizes
"""

from __future__ import annotations

import argparse
import gc
import time

from tuimon.config import Config
from tuimon.server.service import EngineService
from tuimon.server.session import tune_gc


def _cut(batches, rows: int):
    for batch in batches:
        for i in range(0, len(batch), rows):
            yield batch[i:i + rows]


def run(path: str, rows: int = 0, dissect: int = 0, limit: int = 0,
        live_processes: bool = True) -> dict:
    tune_gc()  # as the engine's process does (tuimon.server.worker)
    config = Config(read=path, no_history=True, dissect_packets=dissect)
    svc = EngineService(config, rates=True, keep_expired=True)
    status = svc.open()
    if svc.session is None:
        raise SystemExit(f"cannot open {path}: {status.message}")
    engine = svc.engine
    if live_processes and getattr(engine, "processes", None) is not None:
        from tuimon.core.processes import ProcessTable
        from tuimon.server.process_poll import ProcessPoller

        engine.fold_watchers.remove(engine.processes.fold)
        table = ProcessTable(rates=engine.rates, live=True)
        ProcessPoller(table).poll()
        engine.track_processes(table)
    batches = svc.source.batches()
    if rows:
        batches = _cut(batches, rows)
    packets = n_batches = 0
    spent = 0.0
    clock = time.process_time
    start = clock()
    for batch in batches:
        t = clock()
        svc.ingest(batch)
        spent += clock() - t
        packets += len(batch)
        n_batches += 1
        if limit and packets >= limit:
            break
    t = clock()
    svc.engine.fold()
    spent += clock() - t
    total = clock() - start
    out = {"packets": packets, "batches": n_batches, "cpu_s": round(total, 3),
           "ingest_s": round(spent, 3),
           "us_per_packet": round(1e6 * total / max(packets, 1), 3),
           "ingest_us_per_packet": round(1e6 * spent / max(packets, 1), 3),
           "conversations": len(engine.conversations),
           "stations": len(engine.stations.table) if hasattr(engine, "stations") else 0}
    svc.close_capture()
    gc.collect()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pcap")
    p.add_argument("--rows", type=int, default=0, help="cut batches to this many rows")
    p.add_argument("--dissect-packets", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="stop after this many packets")
    p.add_argument("--playback-processes", action="store_true",
                   help="the Processes table as a playback has it (one row, at once)")
    args = p.parse_args()
    r = run(args.pcap, args.rows, args.dissect_packets, args.limit,
            not args.playback_processes)
    print(" ".join(f"{k}={v}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
