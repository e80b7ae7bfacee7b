"""Memory with a million conversations: RSS of an engine that tracks them.

The conversations are built through ``Engine.ingest`` as a capture would bring them: each
is a request and its answer (TCP to port 443 and UDP to port 53, 3 to 1), between 4,096
clients and 65,536 servers, 100,000 new conversations per second of capture time (so all
of them are younger than the 40 s rate windows and keep a rate history), folded once a
second as a session does. Run in its own process: ``python -m bench.memory [N]``.

``python -m bench.memory --hosts [N]``: a flood of N distinct source addresses (spoofed
sources), each one UDP query to one of 16 servers and its answer, 100,000 a second, under
``--max-flows 100000`` and the default ``--max-hosts``: the hosts table stays bounded
(the least recent fold into the ``(other hosts)`` row) and so does the memory.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _index():
    """The conversations' key index a capture's engine has (tuimon.server.service): the
    compiled one where the compiled stage is built."""
    from tuimon.capture.cwalk import walker
    from tuimon.core.slotindex import slot_index

    return slot_index(walker())


def build(n: int, per_second: int = 100_000, batch: int = 10_000):
    from tuimon.core.engine import Engine

    client_base, server_base = 0x0A000000, 0xC6120000  # 10.0.0.0, 198.18.0.0
    t0 = 1_700_000_000.0

    def pairs():
        for i in range(n):
            client = client_base + (i & 4095)
            server = server_base + (i * 7919 & 65535)
            cport = 1024 + (i >> 12) % 64000
            ts = t0 + i / per_second
            if i & 3:
                yield ts, ((0, ts, 74, (4, 6, client, server, cport, 443, 0x02), 0, None, 0, 0),
                           (0, ts, 1434, (4, 6, server, client, 443, cport, 0x12), 0, None, 0, 0))
            else:
                yield ts, ((0, ts, 80, (4, 17, client, server, cport, 53, 0), 0, None, 0, 0),
                           (0, ts, 200, (4, 17, server, client, 53, cport, 0), 0, None, 0, 0))

    return _count(Engine(index=_index()), pairs(), per_second, batch)


def _count(engine, pairs, per_second: int, batch: int):
    """Feed ``pairs`` (time, (request, answer)) to ``engine`` in batches, folding once a
    second of their time, as a capture brings them."""
    engine.set_interface(0, "bench0", "ether")
    records = []
    for ts, pair in pairs:
        records.extend(pair)
        if len(records) >= batch:
            engine.ingest(records)
            records = []
            if int(ts) != int(ts - batch / 2 / per_second):
                engine.fold()
    engine.ingest(records)
    engine.fold()
    return engine


def build_hosts(n: int, per_second: int = 100_000, batch: int = 10_000, max_flows: int = 100_000):
    """``n`` distinct sources, a query and its answer each (see the module's docstring)."""
    from tuimon.core.engine import Engine

    source_base, server_base = 0x0B000000, 0xC6120000  # 11.0.0.0, 198.18.0.0
    t0 = 1_700_000_000.0

    def pairs():
        for i in range(n):
            source, server, port = source_base + i, server_base + (i & 15), 1024 + (i & 0x7FFF)
            ts = t0 + i / per_second
            yield ts, ((0, ts, 80, (4, 17, source, server, port, 53, 0), 0, None, 0, 0),
                       (0, ts, 200, (4, 17, server, source, 53, port, 0), 0, None, 0, 0))

    return _count(Engine(max_flows=max_flows, index=_index()), pairs(), per_second, batch)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    hosts = "--hosts" in argv
    argv = [a for a in argv if a != "--hosts"]
    n = int(argv[0]) if argv else 1_000_000
    base = rss_mib()
    start = time.perf_counter()
    engine = build_hosts(n) if hosts else build(n)
    elapsed = time.perf_counter() - start
    gc.collect()
    totals = engine.totals()
    result = {
        "conversations": len(engine.conversations), "hosts": len(engine.hosts),
        "sources": n if hosts else None, "max_flows": engine.max_flows,
        "max_hosts": engine.max_hosts, "hosts_folded": totals.hosts_folded,
        "expired": totals.expired,
        "rss_mib": round(rss_mib(), 1), "peak_rss_mib": round(resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_mib": round(base, 1), "seconds": round(elapsed, 2),
        "packets_per_s": round(2 * n / elapsed),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
