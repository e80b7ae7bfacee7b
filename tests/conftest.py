"""Shared test set-up: snapshot folder, a fixed time zone, a history folder of the session's own
(XDG_DATA_HOME), a synthetic-engine builder, and the fixtures of tests/support declared once
for every tier."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from pathlib import Path

import pytest

from tuimon.capture.decode import IPV4, IPV6, V6
from tuimon.core.engine import Engine
from tuimon.core.names import parse_address

# Fixtures that live beside their helpers in tests/support: ``netns`` (two network
# namespaces joined by veth pairs) and ``echo`` (an echo server in one of them).
pytest_plugins = ["tests.support.netns", "tests.support.echo"]

# Snapshot baselines live in the top-level snapshots/ folder. Keep the unresolved ".."
# (see shared/notes/textual-measured.md: a fully resolved path made --snapshot-update on
# one test delete the module's other snapshots).
SNAPSHOTS = Path(__file__).resolve().parent / ".." / "snapshots"

try:
    from pytest_textual_snapshot import SVGImageExtension
except ImportError:  # pragma: no cover - the plugin is a test dependency
    SVGImageExtension = None
else:
    def _dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / test_location.basename)

    SVGImageExtension.dirname = classmethod(_dirname)

# Times in the tables are local wall-clock times: pin the zone so snapshots match anywhere.
os.environ["TZ"] = "UTC"
time.tzset()

DATA = Path(__file__).resolve().parent / "data"

# A live session records its history into $XDG_DATA_HOME/tuimon/history.sqlite: tests (and
# every tuimon they start, which inherits the environment) write into a folder of their
# own, never into the real home. Set at import, before any test or fixture runs.
if not os.environ.get("TUIMON_TEST_XDG"):
    import tempfile

    os.environ["TUIMON_TEST_XDG"] = os.environ["XDG_DATA_HOME"] = \
        tempfile.mkdtemp(prefix="tuimon-xdg-")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (Textual's Pilot) on a fresh event loop; no plugin needed."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
        return True
    return None


def record(src: str, dst: str, sport=None, dport=None, proto: int = 6, size: int = 100,
           ts: float = 1000.0, flags: int = 0x10, iface: int = 0, way: int = 0) -> tuple:
    """One packet record as the capture layer hands it to the engine (no frame bytes)."""
    a, b = parse_address(src), parse_address(dst)
    kind = IPV6 if a >= V6 else IPV4
    return (iface, ts, size, (kind, proto, a, b, sport, dport, flags if proto == 6 else 0), way,
            b"", 0, 0)


def build_engine(records: list[tuple]) -> Engine:
    engine = Engine()
    engine.set_interface(0, "eth0", "ether")
    engine.ingest(records)
    engine.fold()
    return engine


@pytest.fixture
def small_engine() -> Engine:
    """Three hosts talking: a web conversation, DNS, ICMP and an IPv6 one."""
    return build_engine([
        record("10.0.0.1", "93.184.216.34", 40000, 443, size=1500, ts=1000.0),
        record("93.184.216.34", "10.0.0.1", 443, 40000, size=9000, ts=1000.5),
        record("10.0.0.1", "10.0.0.53", 5353, 53, proto=17, size=80, ts=1001.0),
        record("10.0.0.53", "10.0.0.1", 53, 5353, proto=17, size=200, ts=1001.1),
        record("10.0.0.2", "10.0.0.1", None, None, proto=1, size=84, ts=1002.0),
        record("2001:db8::1", "2001:db8::2", 50000, 80, size=700, ts=1003.0),
    ])


@pytest.fixture
def kit():
    """The builders, for tests that make their own engines: ``kit.record``, ``kit.engine``."""

    class Kit:
        pass

    k = Kit()
    k.record = staticmethod(record)
    k.engine = staticmethod(build_engine)
    return k


TIERS = ("unit", "oracle", "ui", "system")


def pytest_collection_modifyitems(config, items):
    """Each test is marked with its tier, the folder it lives in: ``pytest -m unit``."""
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


def pytest_collection_finish(session):
    """What collecting made (the modules, the tests) lives as long as the process: out of
    the garbage collector's way (gc.freeze). A full collection walks every object there is;
    with the modules and tests frozen it walks only what the tests made since (the UI tier,
    where Textual makes many objects: 9.2 CPU-seconds of collecting down to 6.6).
    Objects are still freed as before; only cycles among the frozen ones are never sought."""
    import gc

    gc.collect()
    gc.freeze()


def pytest_configure(config):
    """One folder of tshark's answers for the whole session, made by the controlling
    process and inherited by the xdist workers (tests/support/oracle.py); compiled code
    shared the same way (tests/support/compiled.py)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from tests.support import compiled  # xdist's controlling process

        config._compiled = compiled.prewarm(config)
    if "TUIMON_TSHARK_CACHE" not in os.environ:
        import tempfile

        folder = tempfile.mkdtemp(prefix="tuimon-tshark-")
        os.environ["TUIMON_TSHARK_CACHE"] = folder
        config._tshark_cache = folder


def pytest_unconfigure(config):
    if getattr(config, "_compiled", None):
        from tests.support import compiled

        compiled.release(config._compiled)
    xdg = os.environ.get("TUIMON_TEST_XDG")
    if xdg and os.environ.get("PYTEST_XDIST_WORKER") is None:
        import shutil

        shutil.rmtree(xdg, ignore_errors=True)
    folder = getattr(config, "_tshark_cache", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("TUIMON_TSHARK_CACHE", None)


@pytest.fixture
def walk(monkeypatch):
    """The compiled stage (walk.c: the record walk, the grouping, the slot index), which
    must load wherever a compiler exists."""
    from tuimon.capture import cwalk

    monkeypatch.delenv(cwalk.ENV_OFF, raising=False)
    if cwalk.compiler() is None:
        pytest.skip("no C compiler (cc, gcc or $CC): the compiled stage cannot be built here")
    w = cwalk.walker()
    assert w is not None, cwalk.status()
    return w
