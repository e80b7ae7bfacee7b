"""``tuimon serve``: the daemon. The same :class:`~tuimon.server.driver.Driver` as the app's
engine process and ``--no-ui``, its channel the control socket
(:class:`~tuimon.server.control.ControlChannel`) instead of the app's pipe.

It counts whether or not anyone is attached; clients come and go. SIGTERM, SIGINT (and
SIGHUP, as headless) stop it: a live capture hands over what it still holds, the last
application-protocol verdicts are applied, the history gets its last minute, the CSV files
are written into ``--csv`` DIR, the socket is removed. Its own lines go to stderr, one line
each (``tuimon: ...``), never a traceback. A playback is served at its recorded pace and,
once it has ended, until the daemon is stopped; a live capture that ends on its own (every
interface gone) ends the daemon with status 1, its counts saved.
"""

from __future__ import annotations

import os
import threading

from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.control import ControlChannel, default_socket, open_listener
from tuimon.server.driver import Driver
from tuimon.server.headless import Ending, News, Signals, say
from tuimon.server.protocol import ERROR, Save, Served, one_line
from tuimon.server.service import EngineService
from tuimon.server.session import tune_gc
from tuimon.server.worker import debug_log
from tuimon.sinks.csv import check_folder


def run_serve(config: Config, factory=None) -> Ending:
    """Serve until a signal (or ``--duration``, or a live capture's end); the exit status
    is 0, or 1 when the capture ended on its own or the last save failed."""
    if config.csv:
        check_folder(config.csv)  # a day's counting must not end in "cannot save"
    path = config.control or default_socket(config)
    listener = open_listener(path, config.control_group)  # a bad path: one line, now
    tune_gc()
    kw = {} if factory is None else {"factory": factory}
    service = EngineService(config, keep_expired=True, **kw)
    stop = threading.Event()
    news = News(service)

    def greeting() -> list:
        return [Served(service.status.source, os.getpid(), config.counters, config.conntrack,
                       service.live, config.csv), service.status]

    channel = ControlChannel(listener, greeting, config, say)
    failed = None
    with Signals(stop) as signals:
        try:
            status = service.open()
            if status.state == ERROR and not status.opened:
                raise TuimonError(status.message)
            say(f"serving {service.status.source} on {path}")
            if service.note():
                say(service.note())
            channel.start()
            driver = Driver(service, channel, stop=stop, on_tick=news,
                            linger=not service.live)
            try:
                driver.run(opened=True)
            except Exception as err:  # noqa: BLE001 - one line, never a traceback
                debug_log()
                failed = one_line(f"engine failed: {type(err).__name__}: {err}")
                say(failed)
        finally:
            channel.close()
            service.close_capture()
        news()
        signals.saving = True
        code = 1 if (news.said or failed or service.status.state == ERROR) else 0
        try:
            service.drain()  # the last verdicts; the history's last minute
        except Exception as err:  # noqa: BLE001
            say(one_line(f"cannot finish the history: {type(err).__name__}: {err}"))
            code = 1
        if config.csv:
            saved = service.save(Save(config.csv))
            if saved.error:
                say(saved.error)
                code = 1
            else:
                say(f"saved {len(saved.paths)} CSV files into {saved.folder}")
        if signals.while_saving:
            say("a signal came while saving: the files were finished first")
    service.close()
    say("stopped")
    return Ending(code, True)


