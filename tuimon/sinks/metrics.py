"""The figures ``--metrics`` serves, as one immutable snapshot of the engine.

:func:`build` runs in the counting thread (once a second, and when the capture ends) and
reads the engine only through its public reading methods, never per packet. The result, a
:class:`MetricsSnapshot` of tuples and numbers, is handed whole to the HTTP thread
(:mod:`tuimon.server.metrics_server`), which reads nothing else: the engine's own tables
are never touched from there.

The figures are those of the CSV files: ``interfaces.csv``'s packets, bytes and drops,
``protocols.csv``'s rows (link, network and transport layers as protocols, the application
layer as applications), ``counters.csv``'s ``total_packets``/``total_bytes``/``resets``.
One exception keeps Prometheus's counters monotonic: a dissector verdict moves what a
conversation counted from its port guess to its real application name, so the engine's
figure for the guess goes down. Here the guess keeps what it had shown (the move is
remembered as an offset, carried from snapshot to snapshot), and the new name counts it
too: an application's figure never decreases, and it exceeds ``protocols.csv``'s by what
moved away from it (docs/fleet.md).
"""

from __future__ import annotations

import heapq
from operator import attrgetter
from typing import NamedTuple

from tuimon.core.names import OTHER_HOSTS
from tuimon.sinks.csv import LAYERS, protocol_totals

APPLICATION = "application"


class MetricsSnapshot(NamedTuple):
    """What one scrape shows. Tuples and numbers only: built once, never changed."""

    interfaces: tuple = ()  # (name, packets, bytes, drops or None), in the capture's order
    protocols: tuple = ()  # (layer, name, packets, bytes): link, network, transport rows
    applications: tuple = ()  # (name, packets, bytes) as served: never decreasing
    counters: tuple = ()  # (name, total packets, total bytes, resets), as configured
    top_hosts: tuple = ()  # (address, packets, bytes): the N busiest (--metrics-top-hosts)
    conversations: int = 0  # in the table now
    expired: int = 0  # conversations that have left the table since the start
    hosts: int = 0  # hosts in the table ("(other hosts)" not counted)
    hosts_folded: int = 0  # hosts folded into "(other hosts)" since the start
    lag_seconds: float = 0.0  # how old the newest counted packet is while more waits
    lag_packets: int = 0  # packets waiting in the capture's pipes (an estimate)
    capture_time: float | None = None  # the capture clock (newest packet, or live time)
    ended: bool = False  # the source has ended: these are the run's final figures
    # The engine's application figures as read (name, packets, bytes) and what moved away
    # from each name so far: the next build's starting point (see the module's text).
    app_read: tuple = ()
    app_moved: tuple = ()


EMPTY = MetricsSnapshot()


def applications(read: dict[str, tuple[int, int]], previous: MetricsSnapshot
                 ) -> tuple[tuple, tuple, tuple]:
    """(served, read, moved) for the engine's application figures ``read`` (name ->
    (packets, bytes)) after ``previous``: a figure that went down since ``previous`` read
    it adds the difference to the name's moved offset, so ``read + moved`` never
    decreases; a name once served stays served."""
    before = {name: (p, b) for name, p, b in previous.app_read}
    moved = {name: [p, b] for name, p, b in previous.app_moved}
    for name, (p0, b0) in before.items():
        p, b = read.get(name, (0, 0))
        m = moved.setdefault(name, [0, 0])
        m[0] += max(0, p0 - p)
        m[1] += max(0, b0 - b)
    names = sorted(set(read) | set(moved))
    served = tuple((n, read.get(n, (0, 0))[0] + moved.get(n, (0, 0))[0],
                    read.get(n, (0, 0))[1] + moved.get(n, (0, 0))[1]) for n in names)
    return (served, tuple((n, *read[n]) for n in sorted(read)),
            tuple((n, m[0], m[1]) for n, m in sorted(moved.items()) if m[0] or m[1]))


def top_hosts(engine, n: int) -> tuple:
    """The ``n`` hosts with the most bytes, as (address, packets, bytes), most first
    (ties: the host seen first). ``(other hosts)`` is not a host. A walk of every host:
    only when asked for (``--metrics-top-hosts``)."""
    if n <= 0:
        return ()
    hosts = heapq.nlargest(n, (h for key, h in engine.hosts.items() if key != OTHER_HOSTS),
                           key=attrgetter("bytes"))
    return tuple((r.address, r.packets, r.bytes)
                 for r in engine.host_rows(hosts, with_rates=False))


def build(engine, previous: MetricsSnapshot = EMPTY, top: int = 0,
          lag: tuple[float, int] = (0.0, 0), ended: bool = False) -> MetricsSnapshot:
    """A snapshot of ``engine`` now (folded first, as a save's is). ``previous``: the last
    one served (its application offsets carry on); ``top``: how many hosts get a series
    of their own; ``lag``: (seconds, packets) the counting is behind a live capture;
    ``ended``: the source has ended."""
    engine.fold()  # cheap when nothing is pending
    totals = engine.totals()
    interfaces = tuple((r.interface, r.packets, r.bytes, r.drops)
                       for r in engine.interface_rows())
    rows = sorted(protocol_totals(engine.protocol_rows()),
                  key=lambda r: (LAYERS.index(r.layer), r.protocol))
    protocols = tuple((r.layer, r.protocol, r.packets, r.bytes) for r in rows
                      if r.layer != APPLICATION)
    served, read, moved = applications(
        {r.protocol: (r.packets, r.bytes) for r in rows if r.layer == APPLICATION}, previous)
    counters = () if engine.counters is None else tuple(
        (r.name, r.total_packets, r.total_bytes, r.resets) for r in engine.counters.rows())
    return MetricsSnapshot(
        interfaces, protocols, served, counters, top_hosts(engine, top),
        totals.conversations, totals.expired, totals.hosts, totals.hosts_folded,
        float(lag[0]), int(lag[1]), engine.now, ended, read, moved)
