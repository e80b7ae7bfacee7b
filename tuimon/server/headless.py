"""``--no-ui``: the same :class:`~tuimon.server.driver.Driver` as the app's engine process,
with no UI attached; then the CSV files or the summary.

What headless adds around the driver: signals (SIGINT, SIGTERM, SIGHUP stop the count and
what was counted is written; while the report is written they are noted and it goes on), the
capture's news said once on stderr (``tuimon: capture on IFACE ended: REASON``, an interface
down and up again, a capture stalled), and the report at the end: the CSV files, or the
summary -- printed too when the CSV files cannot be written, so the counts are not lost.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import NamedTuple

from tuimon.config import Config
from tuimon.errors import ExportFailed, TuimonError
from tuimon.server.driver import Driver
from tuimon.server.protocol import ERROR
from tuimon.server.service import EngineService
from tuimon.server.session import tune_gc
from tuimon.sinks.csv import check_folder, export_engine


NAMES_WAIT = 3.0  # --resolve: the save waits this long at most for the busiest hosts' names
SUMMARY_TOP = 10  # the --no-ui summary's largest hosts, protocols and conversations


def say(text: str) -> None:
    print(f"tuimon: {text}", file=sys.stderr, flush=True)


class AlertNews:
    """Says each alert on stderr once, as it is raised (--alert)."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.said = 0

    def __call__(self) -> None:
        watch = self.service.alerts
        if watch is None:
            return
        from tuimon.server.alerts import alert_line  # loaded only with --alert

        for alert in watch.alerts[self.said:]:
            say(alert_line(alert))
        self.said = len(watch.alerts)


class News:
    """Says once, on stderr, each live capture that ended on its own (not asked to stop),
    each interface that went down or came back, and each capture that stalled (the kernel
    counts packets, dumpcap hands over none) or flows again."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.said: set[int] = set()
        self.down: dict[int, str] = {}
        self.stalled: set[int] = set()

    def _names(self) -> dict[int, str]:
        return {iface.index: iface.name for iface in self.service.source.interfaces}

    def __call__(self) -> None:
        source = self.service.source
        if source is None:
            return
        names = self._names()
        down = dict(source.down)
        if down != self.down:
            for index in sorted(set(down) | set(self.down)):
                if index in self.said:
                    continue
                name = names.get(index, f"interface {index}")
                if index in down and self.down.get(index) != down[index]:
                    say(f"{name} is {down[index]}: nothing to capture until it is up again")
                elif index not in down:
                    say(f"{name} is up again")
            self.down = down
        for index, reason in list(source.ended.items()):
            if index not in self.said and reason != "stopped":
                self.said.add(index)
                say(f"capture on {names.get(index, f'interface {index}')} ended: {reason}")
        stalled = self.service.stalled()
        for index in sorted(set(stalled) | self.stalled):
            name = names.get(index, f"interface {index}")
            if index in stalled and index not in self.stalled and index not in self.said:
                say(f"capture on {name} has stalled: the kernel counted {stalled[index]} "
                    f"packets that dumpcap has not handed over (is dumpcap stopped?)")
            elif index not in stalled and index not in self.said:
                say(f"capture on {name} flows again")
        self.stalled = set(stalled)


class Ending(NamedTuple):
    """How a headless run ended."""

    code: int  # the exit status
    at_once: bool  # everything is written, closed and synced: the process may os._exit


class Signals:
    """SIGINT, SIGTERM and SIGHUP from the start of the count to the end of the report.
    The first one stops the count (``stop``); what was counted is written all the same.
    One that comes while the report is written (a second one, or a first one then) is
    noted and the report goes on: a save cut short would lose the whole count."""

    NUMBERS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.saving = False
        self.while_saving: list[int] = []
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        self.stop.set()
        if self.saving:
            self.while_saving.append(signum)

    def __enter__(self) -> Signals:
        self._previous = {s: signal.signal(s, self._handler) for s in self.NUMBERS}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)


def run_headless(config: Config, factory=None) -> Ending:
    """Count, then write the CSV files or print the summary. The exit status is 0, or 1
    when a live capture ended on its own (what was counted is still written). A CSV folder
    that cannot be written is an error before counting starts; a save that fails after
    counting (disk full, the folder gone) still gets the summary printed, then the error."""
    if config.csv:
        check_folder(config.csv)  # an hour's capture must not end in "cannot save"
    tune_gc()
    kw = {} if factory is None else {"factory": factory}
    # neither the CSV files nor the summary show rates: no rate histories to keep, unless
    # --alert needs them (hosts' rates; hosts.csv's peak_rate is filled then)
    service = EngineService(config, rates=bool(config.alerts), keep_expired=bool(config.csv),
                            **kw)
    # the history's last minute is written by its writer process while the report is
    # (docs/history.md); waited for below, whatever happens
    service.history_waits_for_close = True
    try:
        return _run(config, service)
    finally:
        if service.history is not None:
            service.history.finish()


def _run(config: Config, service: EngineService) -> Ending:
    stop = threading.Event()
    news = News(service)
    alerts = AlertNews(service)

    def on_tick() -> None:
        news()
        alerts()

    driver = Driver(service, stop=stop, on_tick=on_tick)
    with Signals(stop) as signals:  # until the report is written
        first_note = said = ""
        try:
            status = service.open()
            if status.state != ERROR:
                if service.live:
                    say(f"capturing on {service.source.name}")
                first_note = service.note()
                if first_note:  # tshark missing: port guesses only
                    say(first_note)
                status = driver.run(opened=True)
        finally:
            service.close_capture()
        if status.state == ERROR and not status.opened:
            raise TuimonError(status.message)
        if driver.error is not None and not service.live:
            raise driver.error  # a damaged file: the one-line error, nothing written
        news()
        alerts()
        said = service.note()
        if said != first_note:
            say(said)  # tshark died on the way
        player = service.player
        if player is not None and config.speed and player.pacer.gaps:
            gaps = player.pacer.gaps
            say(f"skipped {len(gaps)} gaps longer than {config.max_gap:g} s "
                f"({sum(g for _, g in gaps):.0f} s of capture time)")
        signals.saving = True
        try:
            report(config, service)
        finally:
            if signals.while_saving:
                names = sorted({signal.Signals(s).name for s in signals.while_saving})
                say(f"{' and '.join(names)} came while saving: the report was finished first")
    service.close()  # the history's last minute written
    late = service.history.error if service.history is not None else ""
    if late and late not in said:
        say(late)  # the last minute could not be written
    ended_on_its_own = bool(news.said) or (status.state == ERROR and service.live)
    return Ending(1 if ended_on_its_own else 0, True)


def report(config: Config, service: EngineService) -> None:
    """The CSV files into ``--csv`` DIR, else the summary on stdout. A save that fails, for
    whatever reason, prints the summary first, so the counts are not lost, then raises
    the one-line error."""
    # loaded here, at the end, yet before the save: one failing for want of file
    # descriptors (or a disk gone) must still be able to print the summary
    from tuimon.sinks.summary import render_summary

    engine, expired = service.engine, service.expired

    def summary() -> str:  # (the conversations it lists: the largest, one more than shown)
        return render_summary(engine.snapshot(with_rates=False,
                                              conversations=engine.leading(SUMMARY_TOP + 1)),
                              SUMMARY_TOP)

    if not config.csv:
        print(summary())
        return
    try:
        names = service.saved_names(wait=NAMES_WAIT)
        service.stop_resolver()  # its threads gone, the save may fork (sinks/part.py)
        export_engine(engine, config.csv, expired,  # on both cores
                      alerts=service.alerts.alerts if service.alerts is not None else (),
                      names=names)
    except Exception as err:  # noqa: BLE001 - the disk filled, the folder went, a bug
        print(summary(), flush=True)
        if isinstance(err, ExportFailed):
            raise
        raise ExportFailed(f"cannot save CSV into {config.csv}: "
                           f"{type(err).__name__}: {err}") from None
    if expired.lost:
        say(f"{expired.lost} expired conversations are missing from "
            "conversations.csv (their spool was full)")
