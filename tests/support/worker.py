"""Helpers shared by the tests, from test_ui_worker.py."""

from __future__ import annotations

import os
import queue
import time
from tuimon.capture.source import Source
from tuimon.errors import CaptureFailed
from tuimon.config import Config


DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


PCAP = os.path.join(DATA, "1kxun.pcap")


def args_for(path: str = PCAP, **extra) -> Config:
    base = dict(read=path, speed=0.0,  # speed 0: to the end at once
                flow_timeout=0)  # every conversation of the capture stays (test_expiry.py)
    base.update(extra)
    return Config(**base)


class FakeLive(Source):
    """A live source: two interfaces, one of which goes away."""

    kind = "live"
    name = "eth0, eth1"

    def __init__(self, kit):
        from tuimon.capture.reader import Interface

        self.interfaces = [Interface(0, 1, "eth0"), Interface(1, 1, "eth1")]
        self.ended = {}
        self.kit = kit

    def batches(self):
        yield [self.kit.record("10.0.0.1", "10.0.0.2", 1, 2, ts=100.0)]
        self.ended[1] = "interface removed"
        yield [self.kit.record("10.0.0.1", "10.0.0.2", 1, 2, ts=101.0)]
        self.ended[0] = "dumpcap exited (status 1)"

    def skipped(self):
        return 0

    def close(self):
        pass


def failing_source(args):
    """A source that delivers one batch, then fails (module level: the worker imports it)."""

    from tuimon.capture.source import Source

    class Failing(Source):
        kind = "file"
        name = "broken.pcap"
        interfaces = []

        def batches(self):
            from tuimon.capture.decode import IPV4

            yield [(0, 100.0, 60, (IPV4, 6, 1, 2, 3, 4, 0), 0, b"", 0, 0)]
            raise CaptureFailed("dumpcap exited: the device went away")

        def skipped(self):
            return 0

        def close(self):
            pass

    return Failing()


class Collector:
    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, reply):
        self.q.put(reply)

    def wait_for(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                reply = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(reply)
            if predicate(reply):
                return reply
        raise AssertionError(f"nothing matched; got {seen!r}")
