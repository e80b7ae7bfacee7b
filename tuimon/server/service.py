"""EngineService: one engine counting one source, answering queries and saving CSV files.

The engine worker process (:mod:`tuimon.server.worker`) drives one; tests drive one
directly, without a process.
"""

from __future__ import annotations

import heapq
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING

from tuimon.capture.cwalk import walker
from tuimon.capture.kernel import for_source
from tuimon.capture.open import open_source
from tuimon.capture.source import SHED_BYTES, Source
from tuimon.config import Config
from tuimon.core.counters import Counters
from tuimon.core.engine import Engine
from tuimon.core.names import OTHER_HOSTS, address_text
from tuimon.core.slotindex import slot_index
from tuimon.errors import TuimonError
from tuimon.core.processes import ProcessTable
from tuimon.server.pacer import IDLE
from tuimon.server.playback import Feed, Player, positioned
from tuimon.server.protocol import (
    ALERTS_SENT,
    CAPTURING,
    ERROR,
    FINISHED,
    PLAYING,
    STARTING,
    CheckFilter,
    CountersReset,
    Dissect,
    FilterChecked,
    HistoryChart,
    HistoryOf,
    Hold,
    LAG_SHOWN,
    Lag,
    Packets,
    Page,
    Ping,
    Pong,
    Progress,
    Query,
    REFRESH_BEHIND,
    ResetCounters,
    SPANS,
    SPARK_POINTS,
    SPARK_STEP,
    Save,
    Saved,
    Speed,
    Status,
    Trail,
    WritePcap,
    one_line,
)
from tuimon.server.resolver import Resolver, reverse
from tuimon.server.session import Session
from tuimon import timefmt
from tuimon.sinks.flowlog import FlowLog
from tuimon.sinks.history_where import default_path, history_path

# What only some sessions use is imported where it is first used, so a headless playback
# does not load it (its start-up is part of every run): the named counters, quotas and
# alerts, the app's queries, filters, drill-down and History view, the live pollers, IPFIX,
# the history's recorder (SQLite).
if TYPE_CHECKING:
    from tuimon.server.alerts import AlertWatch
    from tuimon.server.drill import Driller, Where
    from tuimon.server.kernel_poll import KernelPoller
    from tuimon.server.process_poll import ProcessPoller
    from tuimon.server.query import QueryRunner
    from tuimon.sinks.history import HistoryRecorder
    from tuimon.sinks.ipfix_export import IpfixExporter


TOP_HOSTS = 20  # names on: the busiest hosts are looked up too, besides the page's
TOP_EVERY = 10.0  # seconds between two looks at the busiest hosts
SAVE_NAMES = 1000  # headless --resolve: the busiest hosts looked up for hosts.csv


def _buckets(series: list, step: int) -> list:
    """Bytes per second averaged over each ``step`` seconds of ``series`` (its length a
    multiple of ``step``)."""
    return [sum(series[i:i + step]) / step for i in range(0, len(series), step)]


def new_folder_name(now: float) -> str:
    return "tuimon-" + timefmt.stamp(now)


def _vendor(mac):
    """The vendor of ``mac`` (the manufacturers' table read at the first call)."""
    from tuimon.server.manuf import load_vendors

    return load_vendors()(mac)


def _kernel_poller() -> KernelPoller:
    """The real poller of the kernel's named counters (a live capture's)."""
    from tuimon.server.kernel_poll import KernelPoller

    return KernelPoller()


def _process_poller(table: ProcessTable) -> ProcessPoller:
    """The real poller of the local sockets (a live capture's Processes view)."""
    from tuimon.server.process_poll import ProcessPoller

    return ProcessPoller(table)


class EngineService:
    """One engine counting one source, answering queries and saving CSV files.

    Not thread-safe: one thread calls everything (the worker's main thread, or a test).
    """

    def __init__(self, config: Config, factory: Callable[[Config], Source] = open_source,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time,
                 kernel_read: Callable[[], dict] | None = None,
                 rates: bool = True, keep_expired: bool = True,
                 engine: Engine | None = None,
                 poller: Callable[[], KernelPoller] | None = None,
                 resolve: Callable[[str], str | None] = reverse,
                 sockets: Callable[[ProcessTable], ProcessPoller] | None = None) -> None:
        """``factory``: opens the source ``config`` names. ``kernel_read``: how a live
        source's kernel counters are read (default psutil). ``rates=False``: keep no rate
        histories (a headless report shows none); ``keep_expired=False``: conversations
        that leave the table are not kept for saves (headless without ``--csv``).
        ``engine``: count into this one instead of a new one (tests). ``poller``: makes
        the poller of the kernel's named counters a live capture shows beside its own
        (default: the real one with the real sources, none with a test's ``factory``).
        ``resolve``: address text -> its name or None, what the background resolver calls
        (default: the system's reverse lookup; tests hand a fake).
        ``sockets``: makes the poller of the local sockets behind the Processes view of a
        live capture (default: psutil's with the real sources, none with a test's)."""
        self.config = config
        self.factory = factory
        self.kernel_read = kernel_read
        self.clock = clock
        self.wallclock = wallclock
        # conntrack: the kernel says when a flow leaves (its destroy event), not an idle timeout
        timeout = 0 if config.conntrack and config.flow_timeout is None else config.flow_timeout
        # the conversations' key index: the compiled one where the compiled stage is built
        self.engine = engine or Engine(flow_timeout=timeout,
                                       max_flows=config.max_flows, rates=rates,
                                       max_hosts=config.max_hosts,
                                       index=slot_index(walker()))
        if rates:  # the app's and the daemon's: conversations that leave stay listed
            self.engine.keep_left()
        if self.engine.vendors is None:  # the Stations view's vendors, read when first shown
            self.engine.vendors = _vendor
        if config.counters and self.engine.counters is None:  # checked by cli.py already
            from tuimon.server.counterspec import compile_all

            self.engine.counters = Counters(compile_all(list(config.counters), self.engine.names))
        self._quotas_set = False  # --quota: set on the counters at open (the history's use)
        # saved after the table's conversations
        self.expired = FlowLog.attach(self.engine) if keep_expired else None
        # --alert: evaluated at the end of every fold (server/alerts.py)
        self.alerts: AlertWatch | None = None
        if config.alerts:
            from tuimon.server.alerts import AlertWatch
            from tuimon.server.alertspec import parse_alert

            self.alerts = AlertWatch.attach([parse_alert(text) for text in config.alerts],
                                            self.engine)
        self._resolve = resolve
        self.resolver: Resolver | None = None  # made when names are first wanted
        self._top_named: float | None = None  # when the busiest hosts were last queued
        if keep_expired:  # pairs.csv (and the Pairs view): the host pairs, folded from now on
            self.engine.pairs()
        self.runner: QueryRunner | None = None  # made at the first query
        self.session: Session | None = None
        self.source = None
        self.status = Status(STARTING, "", config.label())
        self.version = 0
        self.started = clock()
        self.stopped_at: float | None = None
        self._answered = -REFRESH_BEHIND  # when the last query was answered (the clock's)
        self.live = False
        self.player: Player | None = None
        self._advanced: int | None = None  # the capture second the clock was last moved to
        self.driller: Driller | None = None
        self.history: HistoryRecorder | None = None  # recording into the history database
        # headless: the history's last minute is written while the report is, and waited
        # for by close() (end_history); elsewhere the end of the capture waits for it
        self.history_waits_for_close = False
        self.ipfix: IpfixExporter | None = None  # --ipfix: exporting to a collector
        # What the History view reads: the database recorded into, else the default one
        # when it exists (a headless recording, read in the app), else none.
        self.history_file: str | None = None
        self.poller_factory = poller if poller is not None else (
            _kernel_poller if factory is open_source else None)
        self.kernel: KernelPoller | None = None  # the kernel's named counters, live
        self.sockets_factory = sockets if sockets is not None else (
            _process_poller if factory is open_source else None)
        self.sockets: ProcessPoller | None = None  # the Processes view's socket table, live
        self._keep = keep_expired
        self.metrics = None  # --metrics: the /metrics endpoint (server/metrics_server.py)

    # -- life cycle ----------------------------------------------------------------------

    def open(self) -> Status:
        if self.config.metrics and self.metrics is None:
            from tuimon.server.metrics_server import MetricsServer

            try:
                self.metrics = MetricsServer.for_config(self.config)
            except TuimonError as err:
                return self.fail(str(err))
        path = history_path(self.config)
        self.history_file = path
        if path is None and not self.config.no_history and os.path.isfile(default_path()):
            self.history_file = default_path()
        if path is not None:
            from tuimon.sinks.history import RETENTION, HistoryFailed, HistoryRecorder

            try:
                self.history = HistoryRecorder.attach(
                    self.engine, path, live=self.config.live,
                    conversations=self.config.history_conversations,
                    retention={**RETENTION, **dict(self.config.history_keep)})
            except HistoryFailed as err:
                if self.config.history:  # asked for: an error; the default: no history
                    return self.fail(str(err))
        self._set_quotas()
        if self.config.ipfix:
            from tuimon.sinks.ipfix_export import IpfixExporter

            try:
                self.ipfix = IpfixExporter.attach(self.engine, self.config.ipfix,
                                                  active=self.config.ipfix_active,
                                                  conntrack=self.config.conntrack)
            except TuimonError as err:
                return self.fail(str(err))
        try:
            self.source = self.factory(self.config)
        except TuimonError as err:
            return self.fail(str(err))
        except Exception as err:  # noqa: BLE001 - the user sees one line, never a traceback
            return self.fail(f"cannot open the capture: {type(err).__name__}: {err}")
        self.live = self.source.kind != "file"
        self.session = Session(self.source, self.engine,
                               kernel=for_source(self.source, self.kernel_read, self.clock),
                               clock=self.clock,
                               dissect_packets=0 if self.config.conntrack
                               else self.config.dissect_packets)
        self.started = self.clock()
        note = ""
        if self.live and not self.config.interfaces and not self.config.conntrack:
            note = (f"capturing on {self._label()}: no interface was named, and it is the "
                    f"first one that is up, not loopback, and has traffic")
        self._poll_kernel_counters()
        self._track_processes()
        self.status = Status(CAPTURING if self.live else PLAYING, "", self._label(), True, note,
                             len(self.kernel) if self.kernel is not None else 0)
        if not self.live:
            self.play()  # reads nothing until polled; the worker feeds it from its reader
        return self.status

    def _set_quotas(self) -> None:
        """--quota on the named counters: what earlier sessions of the period used comes
        from the history database (read now, before this session writes to it)."""
        counters = self.engine.counters
        if not self.config.quotas or counters is None or self._quotas_set:
            return
        self._quotas_set = True
        from tuimon.server.quota import calendar, used_before

        start = calendar(self.config.billing_day)
        now = self.wallclock() if self.config.live else None
        for name, limit, period in self.config.quotas:
            before = used_before(self.history_file, name, start(period, now)) \
                if now is not None else 0  # a playback's period is known at its first packet
            counters.set_quota(name, limit, period, start, before)

    def _poll_kernel_counters(self) -> None:
        """A live capture lists the kernel's named counters beside its own (read now, then
        in a thread of their own); a refusal (no CAP_NET_ADMIN) leaves them out quietly."""
        if not self.live or self.poller_factory is None:
            return
        poller = self.poller_factory()
        if poller.poll():
            self.kernel = poller
            self.engine.extra_counters = poller.rows
            poller.start()

    def _track_processes(self) -> None:
        """The Processes view and processes.csv (sessions that show or save): a live
        capture's local sockets, polled in a thread of their own once a second; a playback
        has none to see (everything unattributed)."""
        if not self._keep or self.engine.processes is not None:
            return
        table = ProcessTable(rates=self.engine.rates, live=self.live)
        self.engine.track_processes(table)
        if self.live and self.sockets_factory is not None:
            self.sockets = self.sockets_factory(table)
            self.sockets.poll()  # before the first packets are folded
            self.sockets.start()

    def _label(self) -> str:
        if self.source is not None and not self.live and self.config.read is not None:
            return self.status.source
        name = self.source.name if self.source is not None else ""
        return name if isinstance(name, str) and name else self.status.source

    def ingest(self, batch: list) -> None:
        if batch:
            count = self.session.ingest
            if self.ipfix is not None:  # cut where an active timeout falls due
                count = partial(self.ipfix.ingest, count=count)
            if self.history is not None:
                self.history.ingest(batch, count)
            else:
                count(batch)
            self.version += 1

    def capture_news(self) -> Status | None:
        """A new Status when one of a live source's captures ended on its own
        (interface removed, dumpcap exited), an interface is down, or a capture has
        stalled (server/stall.py); None when nothing changed."""
        ended = dict(self.source.ended)
        down = {i: state for i, state in self.source.down.items()
                if i not in ended}
        stalled = sorted(i for i in self.stalled() if i not in ended and i not in down)
        if not ended and not down and not stalled and not self.status.message:
            return None
        names = {i.index: i.name for i in self.source.interfaces}
        problems = [f"{names.get(index, f'interface {index}')}: {reason}"
                    for index, reason in sorted(ended.items()) if reason != "stopped"]
        parts = ["capture ended on " + "; ".join(problems)] if problems else []
        parts += [f"{names.get(index, f'interface {index}')} is {state}: nothing to capture "
                  f"until it is up again" for index, state in sorted(down.items())]
        parts += [f"capture on {names.get(index, f'interface {index}')} has stalled: the "
                  f"kernel counts packets, dumpcap hands over none (stopped?)"
                  for index in stalled]
        message = one_line("; ".join(parts))
        if message == self.status.message:
            return None
        if self.session is not None:  # what the ended dumpcap said last: its drop count
            self.session.sync_interfaces()
            self.version += 1
        self.status = Status(self.status.state, message, self.status.source, True)
        return self.status

    def stalled(self) -> dict[int, int]:
        """Live captures that hand over nothing while the kernel counts packets on their
        interface: index -> the packets the kernel counted meanwhile."""
        return dict(self.session.stall.stalled) if self.session is not None else {}

    # -- playback ---------------------------------------------------------------------------

    def play(self, feed: Feed | None = None, speed: float | None = None) -> Player:
        """Start the paced playback of the opened file, from ``feed`` (default: read the
        source here, in this thread)."""
        self.player = Player(feed or Feed(positioned(self.source)),
                             self.source.size,
                             self.config.play_speed if speed is None else speed,
                             self.config.max_gap)
        return self.player

    def pump(self, budget: float = 0.05) -> float:
        """Count the packets that are due by this service's clock, for up to ``budget``
        seconds of it; at the end of the file, finish. Returns the seconds until more is
        due (the owner may wait that long)."""
        if self.status.state != PLAYING:
            return IDLE
        player = self.player or self.play()
        deadline = self.clock() + budget
        while True:
            records, wait = player.poll(self.clock())
            # As fast as possible (--speed 0, max) a poll hands out many seconds of capture
            # at once: the session counts them a second at a time, folding between, so
            # every byte counts in its own second of the rate windows (all in the last one,
            # the rates were arbitrary): Session._ingest_by_second.
            self.ingest(records)
            if player.finished:
                self.finish(player.error)
                return wait
            if wait > 0 or self.clock() >= deadline:
                break
        self._advance_clock()
        return wait

    def _advance_clock(self) -> None:
        """Between packets the capture clock moves at the playback's pace, so rates decay
        in the recording's quiet seconds as they did on the link."""
        reached = self.player.reached(self.clock())
        now = self.engine.now
        if reached is None or now is None or reached <= now:
            return
        if self._advanced is None or int(reached) > self._advanced:
            self.engine.fold()  # what is pending belongs to the seconds before
            self.engine.advance(reached)
            if self.history is not None:
                self.history.tick(reached)
            if self.ipfix is not None:
                self.ipfix.tick(reached)
            self._advanced = int(reached)
            self.version += 1

    def progress(self) -> Progress | None:
        return self.player.progress(self.clock()) if self.player is not None else None

    def control(self, request) -> Progress | None:
        """A Speed or Hold request on a playback; None (nothing to answer) when live."""
        if self.player is None:
            return None
        now = self.clock()
        if isinstance(request, Speed):
            self.player.step_speed(request.step, now)
        elif request.paused:
            self.player.pause(now)
        else:
            self.player.resume(now)
        return self.progress()

    def _ended_on_its_own(self) -> bool:
        ended = self.source.ended if self.source is not None else {}
        return any(reason != "stopped" for reason in ended.values())

    def stop_capture(self) -> None:
        """--duration is up: a live source winds down gracefully (what it has is counted)."""
        if self.source is not None:
            self.source.stop()

    def poll_labels(self) -> None:
        """Apply application-protocol verdicts that came in (they come asynchronously)."""
        if self.session is not None and self.session.poll_labels():
            self.version += 1
            if self.metrics is not None:  # late verdicts after the end too
                self.metrics.publish(self, force=self.stopped_at is not None)

    # -- names (server/resolver.py) -------------------------------------------------------

    def names_for(self, addresses) -> dict[str, str]:
        """The names known of ``addresses`` (address texts); the others are looked up in the
        background, and the busiest hosts with them every TOP_EVERY seconds."""
        if self.resolver is None:
            self.resolver = Resolver(self._resolve)
        now = self.clock()
        if self._top_named is None or now - self._top_named >= TOP_EVERY:
            self._top_named = now
            self.resolver.names(self.top_hosts(TOP_HOSTS))
        return self.resolver.names(addresses)

    def top_hosts(self, count: int) -> list[str]:
        """The address texts of the ``count`` hosts with the most bytes."""
        hosts = heapq.nlargest(count, (h for h in self.engine.hosts.values()
                                       if h.addr != OTHER_HOSTS), key=attrgetter("bytes"))
        return [address_text(h.addr) for h in hosts]

    def saved_names(self, wait: float = 0.0) -> dict[str, str] | None:
        """hosts.csv's names: None when names were never wanted (the column stays empty),
        else those known of every host. ``wait``: first look up the busiest SAVE_NAMES
        hosts, waiting up to that long for the answers (headless --resolve)."""
        if self.resolver is None and not (wait and self.config.resolve):
            return None
        if wait:
            self._top_named = None
            self.names_for(self.top_hosts(SAVE_NAMES))
            self.resolver.wait(wait)
        return self.resolver.known(address_text(a) for a in self.engine.hosts if a != OTHER_HOSTS)

    def stop_resolver(self) -> None:
        """No more lookups: the resolver's threads end (what it knew is kept by whoever
        asked :meth:`saved_names` first)."""
        if self.resolver is not None:
            self.resolver.close()

    def note(self) -> str:
        note = self.session.labeler.note if self.session is not None else ""
        if self.alerts is not None and self.alerts.notes:
            said = "; ".join(self.alerts.notes)
            note = f"{note}; {said}" if note else said
        if self.history is not None and self.history.error:
            note = f"{note}; {self.history.error}" if note else self.history.error
        if self.ipfix is not None and self.ipfix.error:
            note = f"{note}; {self.ipfix.error}" if note else self.ipfix.error
        return note

    def tick(self) -> None:
        """Keep a live clock moving on a quiet link so rates decay; headless --resolve
        looks the busiest hosts up meanwhile."""
        if self.config.resolve and self.config.no_ui:
            self.names_for(())
        if self.live and self.status.state == CAPTURING:
            self.engine.advance(self.wallclock())
            if self.history is not None:
                self.history.tick(self.engine.now)
            if self.ipfix is not None:
                self.ipfix.tick(self.engine.now)
            self.session.sync_interfaces()  # the capture's drops, as they happen
            self.session.kernel_tick()
            self.version += 1
        if self.metrics is not None:
            self.metrics.publish(self)

    def finish(self, error: str | None = None, drain: bool = False) -> Status:
        """The source ended. ``drain``: wait (bounded) for the last application-protocol
        verdicts here; the worker does not, it keeps applying them as they come."""
        if self.session is not None:
            try:
                if drain:
                    self.session.finish_labels()
                self.session.sync_interfaces()
                self.session.kernel_tick(final=True)
            except Exception:  # noqa: BLE001 - keep what was counted
                pass
            self.engine.fold()
            self.version += 1
            if drain:
                self.end_history(wait=not self.history_waits_for_close)
        if self.stopped_at is None:
            self.stopped_at = self.clock()
        if self.metrics is not None:  # the end's figures
            self.metrics.publish(self, force=True)
        if error is None:
            self.capture_news()
            if self._ended_on_its_own():  # a capture ended on its own: that is an error
                error = self.status.message
        if error is not None:
            return self.fail(error)
        self.status = Status(FINISHED, "", self.status.source, True)
        return self.status

    def drain(self) -> None:
        """Wait (bounded) for the last application-protocol verdicts and apply them."""
        if self.session is not None:
            self.session.finish_labels()
            self.engine.fold()
            self.version += 1
        self.end_history(wait=not self.history_waits_for_close)
        if self.metrics is not None:
            self.metrics.publish(self, force=True)

    def end_history(self, wait: bool = True) -> None:
        """The history gets the last minute and the conversations still in the table
        (``wait``: and they are written when this returns); so does the IPFIX collector."""
        if self.history is not None:
            self.history.finish(wait=wait)
        if self.ipfix is not None:
            self.ipfix.finish()

    def fail(self, message: str) -> Status:
        if self.stopped_at is None:
            self.stopped_at = self.clock()
        self.status = Status(ERROR, one_line(message), self.status.source,
                             self.session is not None)
        return self.status

    def close_capture(self) -> None:
        """The source and tshark are closed; what was counted stays, for a save."""
        if self.source is not None:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001
                pass
        if self.session is not None:
            self.session.close()

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
        if self.sockets is not None:
            self.sockets.close()
        self.end_history()
        self.close_capture()
        if self.driller is not None:
            self.driller.close()
        if self.expired is not None:
            self.expired.close()
        if self.resolver is not None:
            self.resolver.close()
        if self.metrics is not None:  # the final figures, served --metrics-linger more (headless)
            metrics, self.metrics = self.metrics, None
            metrics.publish(self, force=True)
            metrics.close(self.config.metrics_linger if self.config.no_ui else 0.0)

    def run_all(self) -> Status:
        """Open the source and count all of it, here and now (tests, small files): a file
        is played as fast as possible."""
        if self.open().state == ERROR:
            return self.status
        if not self.live:
            self.play(speed=0.0)
            while self.status.state == PLAYING:
                self.pump()
            self.drain()
            return self.status
        try:
            for batch in self.source.batches():
                self.ingest(batch)
        except TuimonError as err:
            return self.finish(str(err), drain=True)
        return self.finish(drain=True)

    # -- requests -----------------------------------------------------------------------

    def elapsed(self) -> float:
        end = self.stopped_at if self.stopped_at is not None else self.clock()
        return max(0.0, end - self.started)

    def refresh_due(self) -> bool:
        """Whether the UI's periodic refresh is answered now: always, unless a live
        capture's counting is behind (more than SHED_BYTES wait in its pipes); then one in
        REFRESH_BEHIND seconds, so the sort of a large table each second does not keep it
        behind (the header says Behind meanwhile)."""
        if not self.live or self.source is None or self.source.behind()[0] <= SHED_BYTES:
            return True
        return self.clock() - self._answered >= REFRESH_BEHIND

    def answer(self, q: Query) -> Page:
        self._answered = self.clock()
        if q.refresh or not self.live or self.status.state != CAPTURING:
            self.engine.fold()  # cheap when nothing is pending
        # A key's query while a live capture runs answers from the last fold (at most a
        # second old; the conversations' own counts are current) and leaves the fold to
        # the second's end: folding a busy link's last half second first was most of a
        # key press's wait (150,000 packets/s: about 40,000 conversations to fold).
        if self.runner is None:
            from tuimon.server.query import QueryRunner

            self.runner = QueryRunner(self.engine)
        page = self.runner.run(q, self.version)
        page.state, page.message = self.status.state, self.status.message
        page.source, page.elapsed = self.status.source, self.elapsed()
        page.progress = self.progress()
        page.note = self.note()
        page.lag = self.lag()
        if q.names and q.view in ("hosts", "conversations"):
            if q.view == "hosts":
                shown = [row.address for row in page.rows]
            else:
                shown = [a for row in page.rows for a in (row.address_a, row.address_b)]
            page.names = self.names_for(shown)
        if self.alerts is not None:
            page.alerts = self.alerts.alerts[-ALERTS_SENT:]
            page.alerts_count, page.alerts_active = self.alerts.count, self.alerts.active
        if q.view == "interfaces" and self.engine.rates:
            page.trails = self.trails({row.interface for row in page.rows})
        return page

    def trails(self, names: set) -> dict:
        """The sparklines of the interfaces ``names``: SPARK_POINTS averages of SPARK_STEP
        seconds each, the last one ending at the capture clock's second."""
        out = {}
        for name, (total, ins, outs, known) in self.engine.interface_trails(
                SPARK_POINTS * SPARK_STEP).items():
            if name in names:
                out[name] = Trail(*(_buckets(series, SPARK_STEP) for series in (total, ins, outs)),
                                  known)
        return out

    # -- history ------------------------------------------------------------------------

    def history_now(self) -> float:
        """The clock a History span ends at: the capture's (a playback records on it),
        which a live capture moves on with the wall clock."""
        return self.engine.now if self.engine.now is not None else self.wallclock()

    def history_of(self, request: HistoryOf) -> HistoryChart:
        """One thing's traffic over a span, here and now (:meth:`history_job`)."""
        return self.history_job(request)()

    def history_job(self, request: HistoryOf) -> Callable[[], HistoryChart]:
        """One thing's traffic over a span: what memory holds is taken here (the engine's
        thread); the returned job reads the database (per minute, hour or day) and may run
        in another thread. An interface's last hour comes from memory, per second, when
        the session has counted that long or there is no database."""
        span = request.span if request.span in SPANS else "hour"
        length, step = SPANS[span]
        now = self.history_now()
        path, why = self.history_file, ""
        if path is None:
            why = "no history database (--history PATH)"
        if request.kind == "conversation":
            from tuimon.server.conversation_history import conversation_job

            return conversation_job(self.engine, request, now, path, why)
        chart = HistoryChart(request.seq, request.kind, request.key, span, now=now)
        memory = request.kind == "interface" and (
            path is None or span == "hour" and self._counted_an_hour())
        # An interface's last hour is taken from memory here, in case the database cannot
        # be read (the job runs in another thread and must not touch the engine).
        fallback = self._from_memory(request.key) if request.kind == "interface" else None

        from tuimon.sinks.history_read import HistoryReader, HistoryUnreadable

        def job() -> HistoryChart:
            reader, note = None, why
            if path is not None:
                try:
                    reader = HistoryReader(path)
                except HistoryUnreadable as err:
                    note = one_line(str(err))
            try:
                if memory or reader is None and fallback is not None:
                    (chart.source, chart.step, chart.start, chart.bytes, chart.in_bytes,
                     chart.out_bytes) = fallback
                    chart.note = f"{note}: the last hour from memory" if note else ""
                elif reader is None:
                    chart.note = f"{note}: memory holds no {span} of a {request.kind}"
                    chart.source = "memory"
                else:
                    grain = {60: "minutes", 3600: "hours", 86400: "days"}[step]
                    end = (int(now) // step + 1) * step
                    points = reader.series(request.kind, request.key, grain, end - length, end)
                    chart.step, chart.start = step, end - length
                    chart.bytes = [p.bytes for p in points]
                    chart.in_bytes = [p.in_bytes for p in points]
                    chart.out_bytes = (None if request.kind == "protocol"
                                       else [p.out_bytes for p in points])
                    if not any(chart.bytes):
                        chart.note = f"nothing recorded for it in the last {span}"
                if reader is not None and request.kind in ("interface", "host"):
                    chart.periods = [(name, start, *point[1:]) for name, start, point in
                                     reader.periods(request.kind, request.key, now,
                                                    self.config.billing_day)]
                if reader is not None:
                    hour_end = (int(now) // 3600 + 1) * 3600
                    chart.profile = [tuple(h) for h in reader.hours_of_day(
                        request.kind, request.key, hour_end - 30 * 86400, hour_end)]
            except HistoryUnreadable as err:
                chart.note = one_line(str(err))
            finally:
                if reader is not None:
                    reader.close()
            if chart.out_bytes is not None and any(chart.bytes) and \
                    not any(chart.in_bytes) and not any(chart.out_bytes):
                chart.in_bytes, chart.out_bytes = chart.bytes, None  # direction not known
            return chart

        return job

    def _counted_an_hour(self) -> bool:
        firsts = [row.first_seen for row in self.engine.interface_rows()
                  if row.first_seen is not None]
        return bool(firsts) and self.history_now() - min(firsts) >= 3600

    def _from_memory(self, name: str) -> tuple:
        """An interface's last hour per second: (source, step, start, bytes, in, out)."""
        total, ins, outs, known = self.engine.interface_trails(3600).get(
            name, ([0] * 3600, [0] * 3600, [0] * 3600, False))
        start = int(self.history_now()) - 3599
        return ("memory", 1, start, total, *((ins, outs) if known else (total, None)))

    def lag(self) -> Lag | None:
        """How far behind the counting of a live capture is, or None when it keeps up
        (nothing waits in the pipes, or what waits is younger than LAG_SHOWN)."""
        if not self.live or self.session is None or self.status.state != CAPTURING:
            return None
        queued, packets = self.source.behind()
        newest = self.session.newest
        if not queued or newest is None:
            return None
        seconds = self.wallclock() - newest
        if seconds < LAG_SHOWN:
            return None
        rate = self.session.kernel.rate() if self.session.kernel is not None else None
        return Lag(round(seconds, 1), packets, *(rate or (None, None)))

    def save(self, request: Save) -> Saved:
        from tuimon.sinks.csv import export_engine

        folder = request.folder
        if folder is None:
            base = new_folder_name(self.wallclock())
            folder, n = base, 1
            while os.path.exists(folder):
                n += 1
                folder = f"{base}-{n}"
        try:
            # what export_snapshot(engine.snapshot(), ...) writes, conversations.csv from the
            # store's columns (in C where the compiled stage is built): a million lines
            # in a fraction of a second; in this process, no child (it has other threads)
            paths = export_engine(self.engine, folder, self.expired, parallel=False,
                                  alerts=self.alerts.alerts if self.alerts is not None else (),
                                  names=self.saved_names())
        except TuimonError as err:
            return Saved(request.seq, folder, [], str(err))
        except Exception as err:  # noqa: BLE001 - a failed save never stops the monitor
            return Saved(request.seq, folder, [], one_line(f"cannot save CSV into {folder}: {err}"))
        return Saved(request.seq, folder, paths)

    def reset_counters(self, request: ResetCounters) -> CountersReset:
        """Read and zero named counters. Atomic: this runs in the engine's one thread,
        between two batches, so every packet counts either in the figures returned or in
        the next ones, never both, never neither."""
        counters, kernel = self.engine.counters, self.kernel
        if counters is None and not kernel:
            return CountersReset(request.seq, [], "no named counters (--counter NAME=EXPR)")
        names = None if request.names is None else list(request.names)
        rows = counters.reset(names, self.engine.now) if counters is not None else []
        if kernel:  # each read and zeroed in the kernel in one operation
            try:
                rows += kernel.reset(names)
            except TuimonError as err:
                self.version += 1
                return CountersReset(request.seq, rows, one_line(str(err)))
        self.version += 1
        return CountersReset(request.seq, rows)

    # -- drill-down ----------------------------------------------------------------------

    def where(self, key: tuple) -> Where:
        """Where the packets of conversation ``key`` can be read again."""
        from tuimon.server.drill import Where

        conv = self.engine.conversation(key)
        where = Where(first_seen=conv.first if conv is not None else None)
        if self.source is None:
            where.unavailable = "the capture was never opened"
        elif self.live:
            rings = self.source.rings()
            where.rings = rings
            if not rings:
                where.unavailable = ("live packets cannot be opened without the ring of recent "
                                     "traffic (--ring MB is 0)")
        else:
            path = self.config.read
            if not path or path == "-":
                where.unavailable = "packets read from standard input cannot be read again"
            where.path, where.capture_filter = path, self.config.capture_filter
        return where

    def drill_job(self, request) -> Callable[[], object]:
        """Look up what a drill request needs (here, with the engine); the returned job
        does the slow part and may run in another thread."""
        from tuimon.server.drill import Driller, run_job

        if isinstance(request, HistoryOf):
            job = self.history_job(request)
            return lambda: run_job(job, request)
        if self.driller is None:
            self.driller = Driller()
        driller = self.driller
        if isinstance(request, Dissect):
            return lambda: run_job(lambda: driller.dissect(request), request)
        where = self.where(request.key)
        if isinstance(request, Packets):
            return lambda: run_job(lambda: driller.packets(request, where), request)
        proto_name = self.engine.names.ip_protocol(request.key[0])
        now = self.wallclock()
        return lambda: run_job(lambda: driller.write(request, where, proto_name, now), request)

    def handle(self, request):
        """The reply to one request (None: nothing to answer). Drill-down requests are
        answered here too, synchronously (the engine process runs their jobs in a thread
        of their own: :meth:`drill_job`)."""
        match request:
            case Packets() | Dissect() | WritePcap() | HistoryOf():
                return self.drill_job(request)()
            case Query():
                return self.answer(request)
            case CheckFilter(text=text, seq=seq):
                from tuimon.server.filter import check

                return FilterChecked(seq, text, check(text, self.engine.names))
            case Save():
                return self.save(request)
            case Ping(seq=seq):
                modules = sorted({name.split(".")[0] for name in list(sys.modules)})
                return Pong(seq, os.getpid(), modules)
            case Speed() | Hold():
                return self.control(request)
            case ResetCounters():
                return self.reset_counters(request)
        return None
