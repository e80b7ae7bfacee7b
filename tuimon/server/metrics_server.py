"""``--metrics [ADDR:]PORT``: ``/metrics`` in Prometheus's exposition format.

Two threads meet here and share one thing only:

* the **counting thread** (the driver's, through :class:`~tuimon.server.service.EngineService`)
  calls :meth:`MetricsServer.publish` once a second and at the end: it builds a
  :class:`~tuimon.sinks.metrics.MetricsSnapshot` from the engine and swaps it in with one
  assignment;
* **prometheus-client's HTTP thread** answers a scrape with :class:`SnapshotCollector`,
  which reads that attribute once and turns the snapshot into metric families. It never
  touches the engine, whose tables change under the counting thread.

Every metric and label is in docs/fleet.md. The server binds to 127.0.0.1 unless an
address is given, and is shut down by :meth:`MetricsServer.close`.
"""

from __future__ import annotations

import ipaddress
import re
import time

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.sinks.metrics import EMPTY, MetricsSnapshot, build

DEFAULT_ADDRESS = "127.0.0.1"
PUBLISH_EVERY = 1.0  # seconds between two snapshots (the end is always published)
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?")


class MetricsError(TuimonError):
    """A --metrics address that does not parse, or cannot be listened on."""


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``:PORT``, ``ADDR:PORT`` or ``[IPV6]:PORT`` -> (address, port); the
    address defaults to 127.0.0.1. Raises :class:`MetricsError` (one line)."""
    bad = MetricsError(f"--metrics: expected [ADDR:]PORT with PORT 1-65535 "
                       f"(9464, 127.0.0.1:9464, [::1]:9464), not {text!r}")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad from None
    elif host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOST_NAME.fullmatch(host):
                raise bad from None
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise bad
    return host or DEFAULT_ADDRESS, int(port)


def _traffic(prefix: str, what: str, labels: list[str], rows) -> tuple:
    """``PREFIX_packets`` and ``PREFIX_bytes`` counter families ("Packets WHAT", "Bytes
    WHAT") from ``(label values, packets, bytes)`` rows."""
    packets = CounterMetricFamily(f"{prefix}_packets", f"Packets {what}", labels=labels)
    nbytes = CounterMetricFamily(f"{prefix}_bytes", f"Bytes {what}", labels=labels)
    for values, p, b in rows:
        packets.add_metric(values, p)
        nbytes.add_metric(values, b)
    return packets, nbytes


def families(snap: MetricsSnapshot):
    """The metric families of one snapshot (docs/fleet.md names each)."""
    packets = CounterMetricFamily("tuimon_interface_packets",
                                  "Frames captured on the interface", labels=["interface"])
    nbytes = CounterMetricFamily("tuimon_interface_bytes",
                                 "Bytes on the wire captured on the interface",
                                 labels=["interface"])
    drops = CounterMetricFamily("tuimon_interface_drops",
                                "Packets the capture says it dropped (where it says so)",
                                labels=["interface"])
    for name, p, b, d in snap.interfaces:
        packets.add_metric([name], p)
        nbytes.add_metric([name], b)
        if d is not None:
            drops.add_metric([name], d)
    yield from (packets, nbytes, drops)

    yield from _traffic("tuimon_protocol", "per protocol (link, network, transport layers)",
                        ["protocol", "layer"],
                        (([name, layer], p, b) for layer, name, p, b in snap.protocols))
    yield from _traffic("tuimon_application", "per application protocol (never decreasing)",
                        ["application"], (([name], p, b) for name, p, b in snap.applications))
    yield from _traffic("tuimon_named", "a named counter picked since the start (resets do "
                        "not lower it)", ["counter"],
                        (([name], p, b) for name, p, b, _ in snap.counters))
    resets = CounterMetricFamily("tuimon_named_resets",
                                 "Times a named counter was read and reset", labels=["counter"])
    for name, _, _, n in snap.counters:
        resets.add_metric([name], n)
    yield resets
    if snap.top_hosts:
        yield from _traffic("tuimon_host", "to or from the host (the top N hosts by bytes)",
                            ["address"], (([a], p, b) for a, p, b in snap.top_hosts))

    yield GaugeMetricFamily("tuimon_conversations", "Conversations in the table",
                            value=snap.conversations)
    yield CounterMetricFamily("tuimon_conversations_expired",
                              "Conversations that left the table (idle timeout, --max-flows)",
                              value=snap.expired)
    yield GaugeMetricFamily("tuimon_hosts", "Hosts in the table", value=snap.hosts)
    yield CounterMetricFamily("tuimon_hosts_folded",
                              "Hosts folded into '(other hosts)' over --max-hosts",
                              value=snap.hosts_folded)
    yield GaugeMetricFamily("tuimon_capture_lag_seconds",
                            "How old the newest counted packet is while more waits "
                            "(live capture; 0 when the counting keeps up)",
                            value=snap.lag_seconds)
    yield GaugeMetricFamily("tuimon_capture_queued_packets",
                            "Packets waiting in the capture's pipes (an estimate)",
                            value=snap.lag_packets)
    if snap.capture_time is not None:
        yield GaugeMetricFamily("tuimon_capture_time_seconds",
                                "The capture clock: the newest packet's time, or now live",
                                value=snap.capture_time)
    yield GaugeMetricFamily("tuimon_capture_ended",
                            "1 once the source has ended: the figures are final",
                            value=1 if snap.ended else 0)


class SnapshotCollector(Collector):
    """Serves whatever snapshot its owner holds at the moment of the scrape."""

    def __init__(self, owner: "MetricsServer") -> None:
        self.owner = owner

    def collect(self):
        snap = self.owner.snapshot  # one read of an object nobody changes
        return families(snap)


class MetricsServer:
    """The /metrics endpoint and the snapshot it serves."""

    def __init__(self, address: str, port: int, top_hosts: int = 0,
                 clock=time.monotonic, wallclock=time.time) -> None:
        self.address, self.port, self.top_hosts = address, port, top_hosts
        self.clock, self.wallclock = clock, wallclock
        self.snapshot: MetricsSnapshot = EMPTY
        self._published = -PUBLISH_EVERY
        self.registry = CollectorRegistry()
        self.registry.register(SnapshotCollector(self))
        try:
            self._httpd, self._thread = start_http_server(port, address, self.registry)
        except OSError as err:
            raise MetricsError(f"--metrics: cannot listen on {self.where()}: "
                               f"{err.strerror or err}") from None
        self.port = self._httpd.server_address[1]

    @classmethod
    def for_config(cls, config: Config) -> "MetricsServer":
        address, port = parse_address(config.metrics)
        return cls(address, port, config.metrics_top_hosts)

    def where(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def publish(self, service, force: bool = False) -> None:
        """Build a snapshot of ``service``'s engine and serve it from now on (at most once
        a second unless ``force``). Called in the counting thread."""
        now = self.clock()
        if not force and now - self._published < PUBLISH_EVERY:
            return
        self._published = now
        self.snapshot = build(service.engine, self.snapshot, self.top_hosts,
                              _lag(service, self.wallclock), ended=_ended(service))

    def close(self, linger: float = 0.0) -> None:
        """Stop serving, after ``linger`` seconds (a headless run's final figures stay up
        that long for a scraper)."""
        if linger > 0:
            time.sleep(linger)
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=1.0)


def _lag(service, wallclock) -> tuple[float, int]:
    """(seconds, packets) a live capture's counting is behind: how old its newest counted
    packet is while packets wait in the pipes; (0, 0) when nothing waits."""
    source, session = service.source, service.session
    if not service.live or source is None or session is None or service.stopped_at is not None:
        return 0.0, 0
    queued, packets = source.behind()
    if not queued or session.newest is None:
        return 0.0, 0
    return max(0.0, wallclock() - session.newest), packets


def _ended(service) -> bool:
    return service.stopped_at is not None
