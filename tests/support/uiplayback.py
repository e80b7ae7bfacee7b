"""Helpers shared by the tests, from test_ui_playback.py."""

from __future__ import annotations

from tests.support.playback import START, args_for
from tests.support.app import RecordingBackend
from functools import partial
from tuimon.capture.open import open_source
from tuimon.server.protocol import PLAYING
from tuimon.server.service import EngineService
from tuimon.ui.app import MonitorApp


def playing(path, clock, stdin=None, **extra):
    svc = EngineService(args_for(path, **extra), partial(open_source, stdin=stdin),
                        clock=clock, wallclock=lambda: START)
    assert svc.open().state == PLAYING
    return svc


def advance(svc, clock, seconds, step=0.01, app=None):
    """Pump the engine while the fake clock moves; a new Status goes to the app, as the
    worker process sends it."""
    before = svc.status
    end = clock.now + seconds
    while clock.now < end - 1e-9 and svc.status.state == PLAYING:
        svc.pump()
        clock.now += step
    clock.now = max(clock.now, end)  # exactly there, whatever the float steps added up to
    svc.pump()
    if app is not None and svc.status is not before:
        app.backend.deliver(svc.status)


def app_for(svc, view="hosts"):
    return MonitorApp(RecordingBackend(svc), interval=None, view=view)
