"""``--no-ui``: the same :class:`~tuimon.server.driver.Driver` as the app's engine process,
with no UI attached; then the CSV files or the summary.

What headless adds around the driver: signals (SIGINT, SIGTERM, SIGHUP stop the count and
what was counted is written), the capture's news said once on stderr (``tuimon: capture on
IFACE ended: REASON``, an interface down and up again), and the report at the end.
"""

from __future__ import annotations

import signal
import sys
import threading

from tuimon.config import Config
from tuimon.errors import ExportFailed, TuimonError
from tuimon.server.driver import Driver
from tuimon.server.protocol import ERROR
from tuimon.server.service import EngineService
from tuimon.server.session import tune_gc
from tuimon.sinks.csv import check_folder, export_engine
from tuimon.sinks.summary import render_summary


def say(text: str) -> None:
    print(f"tuimon: {text}", file=sys.stderr, flush=True)


class News:
    """Says once, on stderr, each live capture that ended on its own (not asked to stop),
    and each interface that went down or came back."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.said: set[int] = set()
        self.down: dict[int, str] = {}

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


def run_headless(config: Config, factory=None) -> tuple[int, bool]:
    """Count, then write the CSV files or print the summary. Returns (exit status, done):
    0, or 1 when a live capture ended on its own (what was counted is still written);
    ``done``: everything is written, the process may end at once. A CSV folder that cannot
    be written is an error before counting starts; one that fails when saving (disk full)
    still gets the summary printed, then the error."""
    if config.csv:
        check_folder(config.csv)  # an hour's capture must not end in "cannot save"
    tune_gc()
    kw = {} if factory is None else {"factory": factory}
    # neither the CSV files nor the summary show rates: no rate histories to keep
    service = EngineService(config, rates=False, keep_expired=bool(config.csv), **kw)
    stop = threading.Event()
    news = News(service)
    driver = Driver(service, stop=stop, on_tick=news)

    def handler(signum, frame) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    first_note = ""
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
        for s, h in previous.items():
            signal.signal(s, h)
    if status.state == ERROR and not status.opened:
        raise TuimonError(status.message)
    if driver.error is not None and not service.live:
        raise driver.error  # a damaged file: the one-line error, nothing written
    news()
    if service.note() != first_note:
        say(service.note())  # tshark died on the way
    player = service.player
    if player is not None and config.speed and player.pacer.gaps:
        gaps = player.pacer.gaps
        say(f"skipped {len(gaps)} gaps longer than {config.max_gap:g} s "
            f"({sum(g for _, g in gaps):.0f} s of capture time)")
    engine, expired = service.engine, service.expired
    if config.csv:
        try:
            export_engine(engine, config.csv, expired)  # on both cores
            if expired.lost:
                say(f"{expired.lost} expired conversations are missing from "
                    "conversations.csv (their spool was full)")
        except ExportFailed:  # the disk filled: what was counted is not lost
            print(render_summary(engine.snapshot(with_rates=False)))
            raise
    else:
        print(render_summary(engine.snapshot(with_rates=False)))
    service.close()
    ended_on_its_own = bool(news.said) or (status.state == ERROR and service.live)
    return (1 if ended_on_its_own else 0), True
