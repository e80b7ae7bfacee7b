"""Helpers shared by the tests, from test_kernel.py."""

from __future__ import annotations

from tests.conftest import record
from tuimon.capture.source import Source
from tuimon.capture.kernel import Counters
from tuimon.capture.reader import Interface


class FakeKernel:
    """psutil as a dict the test changes; every reading is counted."""

    def __init__(self, **counters) -> None:
        self.now = dict(counters)
        self.reads = 0

    def __call__(self) -> dict:
        self.reads += 1
        return dict(self.now)

    def add(self, name, **delta) -> None:
        c = self.now[name]
        self.now[name] = c._replace(**{k: getattr(c, k) + v for k, v in delta.items()})


def counters(speed=1000, **kw) -> Counters:
    base = dict(bytes_in=10_000, bytes_out=20_000, packets_in=100, packets_out=200,
                errors_in=1, errors_out=2, drops_in=3, drops_out=4, speed=speed)
    base.update(kw)
    return Counters(**base)


class FakeLive(Source):
    kind = "live"
    name = "eth0, eth1"
    capture_filter = None
    devices = {0: "eth0", 1: "eth1"}

    def __init__(self, kernel: FakeKernel) -> None:
        self.interfaces = [Interface(0, 1, "eth0", direction="mac"), Interface(1, 1, "eth1")]
        self.ended = {}
        self.kernel = kernel

    def batches(self):
        # eth0: 2 in (100 B), 1 out (60 B); the kernel saw 5 packets in, 1 out: 3 missed
        yield [record("10.0.0.1", "10.0.0.2", 1, 2, size=50, ts=100.0, way=1),
               record("10.0.0.1", "10.0.0.2", 1, 2, size=50, ts=100.1, way=1),
               record("10.0.0.2", "10.0.0.1", 2, 1, size=60, ts=100.2, way=2)]
        self.kernel.add("eth0", packets_in=5, bytes_in=250, packets_out=1, bytes_out=60)

    def skipped(self):
        return 0

    def close(self):
        pass
