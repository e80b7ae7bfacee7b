"""The history database's size per day at the benchmark's rate: ``python -m bench.history
CAPTURE DB [MINUTES [--conversations]]`` prints one JSON line (``--conversations``: with
``--history-conversations``' row per conversation).

The playback benchmark's capture (bench/build.py: 100,000 packets/s, copies of tests/data
with rewritten addresses) is replayed into an engine with a :class:`HistoryRecorder`, again
and again at its own rate, for MINUTES minutes of capture time (default 1): each replay is
shifted in time to follow the one before and its ports XOR-ed with the replay's number, so
the same hosts keep talking in new conversations, as at a gateway. At the end every
conversation still in the table is written too (one row per conversation, as each gets
when it leaves). The growth per day is the file's size less an empty database's, per
minute, times 1,440 (before retention: minutes and conversations are kept 7 days).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time


def replay(capture: str, db: str, minutes: float = 1, conversations: bool = False) -> dict:
    """``conversations``: a row per conversation too (``--history-conversations``)."""
    from tuimon.capture.file import FileSource
    from tuimon.core.engine import Engine
    from tuimon.sinks.history import HistoryRecorder, connect
    from tuimon.sinks.history_schema import GRAINS, KINDS, table

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    empty = db + ".empty"
    connect(empty).close()
    empty_size = os.path.getsize(empty)
    os.remove(empty)
    engine = Engine(rates=False)
    engine.set_interface(0, "bench0", "ether")
    rec = HistoryRecorder.attach(engine, db, conversations=conversations)
    first = span = None
    packets = rounds = 0
    started = time.perf_counter()
    while first is None or rounds * span < minutes * 60:
        shift = rounds * span if span else 0.0
        source = FileSource(capture)
        last = 0.0
        for batch in source.batches():
            if not batch:
                continue
            if first is None:
                first = batch[0][1]
            out = []
            for r in batch:
                d = r[3]
                if rounds and d is not None and len(d) > 4 and d[4] is not None:
                    d = (*d[:4], d[4] ^ rounds, *d[5:])
                out.append((r[0], r[1] + shift, r[2], d, *r[4:]))
            last = batch[-1][1]
            packets += len(out)
            rec.ingest(out, engine.ingest)
        source.close()
        if span is None:
            span = max(1.0, last - first + 1e-5)
        rounds += 1
    rec.finish()
    seconds = time.perf_counter() - started
    size = os.path.getsize(db)
    conn = sqlite3.connect(db)
    rows = {table(k, g): conn.execute(f"SELECT COUNT(*) FROM {table(k, g)}").fetchone()[0]
            for k in KINDS for g in GRAINS}
    rows["conversations"] = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    conn.close()
    captured = rounds * span / 60
    return {"packets": packets, "rounds": rounds, "minutes": round(captured, 2),
            "pps": round(packets / (rounds * span)), "size_bytes": size,
            "rows": rows, "seconds": round(seconds, 1),
            "per_day_bytes": round((size - empty_size) / captured * 1440),
            "conversations": conversations}


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(replay(args[0], args[1], float(args[2]) if len(args) > 2 else 1,
                            "--conversations" in args[3:])))
