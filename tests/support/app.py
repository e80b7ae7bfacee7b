"""Helpers shared by the tests, from test_ui_app.py."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from tuimon.server import labeler
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp
from tuimon.config import Config
from tuimon.server.client import LocalClient as LocalBackend


DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


PCAP = os.path.join(DATA, "1kxun.pcap")


FILES = ["alerts.csv", "conversations.csv", "counters.csv", "hosts.csv", "interfaces.csv",
         "pairs.csv", "ports.csv", "processes.csv", "protocols.csv", "sizes.csv", "stations.csv"]


def args_for(path=PCAP, **extra):
    base = dict(read=path, speed=0.0,  # speed 0: to the end at once
                flow_timeout=0)  # every conversation of the capture stays (test_expiry.py)
    base.update(extra)
    return Config(**base)


class RecordingBackend(LocalBackend):
    """The in-process backend, remembering what the app asked."""

    def __init__(self, service):
        super().__init__(service)
        self.sent = []

    def send(self, request):
        self.sent.append(request)
        super().send(request)


CACHED_TSHARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tshark_cached.py")


@contextmanager
def cached_labeller():
    """Within it, the labeller of a service played to its end in this process (run_all)
    gets the real tshark's answers, cached for the session (tests/support/tshark_cached.py:
    tshark's own output for the same input bytes; it answers once its input has ended, so
    not for a live capture nor a playback stopped half way)."""
    real = labeler.tshark_argv
    labeler.tshark_argv = lambda *a: [sys.executable, CACHED_TSHARK, *real(*a)]
    try:
        yield
    finally:
        labeler.tshark_argv = real


def run_to_the_end(svc: EngineService) -> EngineService:
    """``svc.run_all()`` with the labeller's tshark answers cached (:func:`cached_labeller`)."""
    with cached_labeller():
        svc.run_all()
    return svc


def finished_service(path=PCAP, factory=None, processes=None):
    """The capture played to its end in this process, its application protocols from the
    real tshark's answers, cached for the session (tests/support/tshark_cached.py).
    ``processes``: a ProcessTable the engine attributes to instead of the playback's
    (which has no sockets to see): a fake socket table, for the Processes view."""
    kw = {"factory": factory} if factory else {}
    with cached_labeller():
        svc = EngineService(args_for(path), clock=lambda: 50.0, wallclock=lambda: 1700000000.0,
                            **kw)
        if processes is not None:
            svc.engine.track_processes(processes)
        svc.run_all()
    return svc


def played_service(path=PCAP):
    """``tuimon -r FILE --speed 0`` as a user runs it: the default idle timeouts (what
    expires stays listed, dimmed), counted to the end; the app's clock at 00:00:00; tshark's
    answers cached as for :func:`finished_service`."""
    svc = EngineService(Config(read=path, speed=0.0), clock=lambda: 50.0,
                        wallclock=lambda: 1700000000.0)
    return run_to_the_end(svc)


def make_app(path=PCAP, csv_dir=None, interval=None, view="hosts", service=None):
    backend = RecordingBackend(service or finished_service(path))
    return MonitorApp(backend, interval=interval, csv_dir=csv_dir, view=view)


def visible_column(app, name):
    """The values of a column in the rows the table holds, in order."""
    table = app.table
    rows = [table._rows[i] for i in sorted(table._rows)]
    return [getattr(r, name) for r in rows]


async def settle(pilot, times=3):
    for _ in range(times):
        await pilot.pause()
