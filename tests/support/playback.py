"""Helpers shared by the tests, from test_playback.py."""

from __future__ import annotations

from tests.support import pcapbuild as pb
from tuimon.config import Config


START = 1_700_000_000.0


def frame(i: int, size: int = 60) -> bytes:
    payload = bytes(size)
    return pb.eth(pb.ipv4("10.0.0.1", f"10.0.1.{1 + i % 4}", 17, pb.udp(1000, 53, payload)))


def capture(tmp_path, times, name="span.pcap"):
    """A pcap with one packet at each capture time (seconds after START)."""
    path = tmp_path / name
    pb.write_pcap(path, [(START + t, frame(i)) for i, t in enumerate(times)])
    return path


def span(seconds=10.0, n=101):
    return [seconds * i / (n - 1) for i in range(n)]


class Clock:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def args_for(path, **extra):
    base = dict(read=str(path))
    base.update(extra)
    return Config(**base)
