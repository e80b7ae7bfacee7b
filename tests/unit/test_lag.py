"""Lag and loss shown apart: a live capture whose counting is behind says so in the header
(how far, how many packets wait, the rate from the kernel's counters meanwhile), never as
drops; "Missed" (kernel minus captured) never counts the packets still waiting."""

from __future__ import annotations

from tuimon.capture.kernel import Counters
from tuimon.capture.reader import Interface
from tuimon.capture.source import Source
from tuimon.config import Config
from tuimon.core.names import parse_address
from tuimon.capture.decode import IPV4
from tuimon.server.protocol import Query
from tuimon.server.service import EngineService
from tuimon.ui.header import MonitorHeader


def record(ts: float, size: int = 100) -> tuple:
    a, b = parse_address("10.0.0.1"), parse_address("10.0.0.2")
    return (0, ts, size, (IPV4, 17, a, b, 1000, 53, 0), 1, b"", 0, 0)


class Kernel:
    """The kernel's counters of eth0 as psutil would give them."""

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0

    def __call__(self) -> dict:
        return {"eth0": Counters(self.bytes_in, 0, self.packets_in, 0, 0, 0, 0, 0, 1000)}


class Slow(Source):
    """A live source whose pipe holds ``queued`` bytes not read yet."""

    kind = "live"
    name = "eth0"
    devices = {0: "eth0"}

    def __init__(self) -> None:
        self.interfaces = [Interface(0, 1, "eth0", direction="mac")]
        self.queued = (0, 0)
        self.pending: list = []

    def behind(self) -> tuple[int, int]:
        return self.queued

    def batches(self):
        while self.pending:
            yield self.pending.pop(0)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def service(source: Slow, kernel: Kernel, clock: Clock, wall: Clock) -> EngineService:
    svc = EngineService(Config(interfaces=("eth0",), dissect_packets=0),
                        factory=lambda config: source, clock=clock, wallclock=wall,
                        kernel_read=kernel)
    assert svc.open().state == "capturing"
    return svc


def totals_text(page) -> str:
    return MonitorHeader._totals(page, True).plain


def test_behind_is_shown_apart_from_drops_with_the_kernels_rate():
    source, kernel, clock, wall = Slow(), Kernel(), Clock(10.0), Clock(1000.0)
    svc = service(source, kernel, clock, wall)
    # Two packets counted at 1000.0; the kernel has seen 10, the other 8 wait in the pipe.
    svc.ingest([record(1000.0), record(1000.0)])
    kernel.packets_in, kernel.bytes_in = 10, 1000
    source.queued = (800, 8)
    clock.t, wall.t = 11.0, 1003.0  # three seconds later nothing more was counted
    svc.tick()
    page = svc.answer(Query(view="interfaces"))
    assert page.lag is not None
    assert (page.lag.seconds, page.lag.packets) == (3.0, 8)
    assert page.lag.kernel_pps == 10.0 and page.lag.kernel_bps == 8000.0
    text = totals_text(page)
    assert "Behind 3.0 s 8 pkts" in text
    assert "Now (kernel) " in text
    assert "Drops n/a" in text  # nothing was dropped: it waits
    # "Missed" does not count the 8 packets still waiting in the pipe
    [row] = page.rows
    assert row.missed_packets in (None, 0)


def test_caught_up_no_longer_behind_and_missed_is_what_the_kernel_lost():
    source, kernel, clock, wall = Slow(), Kernel(), Clock(10.0), Clock(1000.0)
    svc = service(source, kernel, clock, wall)
    svc.ingest([record(1000.0)] * 7)
    kernel.packets_in, kernel.bytes_in = 10, 1000  # 3 never reached the capture
    clock.t, wall.t = 11.0, 1001.0
    svc.tick()  # sampled with nothing queued: applied once half a second old
    clock.t, wall.t = 12.0, 1002.0
    svc.tick()
    page = svc.answer(Query(view="interfaces"))
    assert page.lag is None
    [row] = page.rows
    assert row.missed_packets == 3
    text = totals_text(page)
    assert "Behind" not in text and "Missed 3" in text


def test_a_quiet_link_with_an_empty_pipe_is_not_behind():
    source, kernel, clock, wall = Slow(), Kernel(), Clock(10.0), Clock(1000.0)
    svc = service(source, kernel, clock, wall)
    svc.ingest([record(1000.0)])
    clock.t, wall.t = 70.0, 1060.0  # a minute without traffic, nothing waits
    svc.tick()
    assert svc.answer(Query(view="interfaces")).lag is None


class Channel:
    """The UI's end of the pipe: the requests it sends, the replies it gets."""

    def __init__(self) -> None:
        self.requests: list = []
        self.replies: list = []

    def fileno(self) -> int:
        return -1

    def poll(self, timeout: float) -> list:
        pending, self.requests = self.requests, []
        return pending

    def send(self, message) -> bool:
        self.replies.append(message)
        return True


def test_behind_the_refresh_sheds_to_one_in_a_few_seconds_and_a_key_is_answered():
    from tuimon.server.driver import Driver
    from tuimon.server.protocol import REFRESH_BEHIND

    source, kernel, clock, wall = Slow(), Kernel(), Clock(10.0), Clock(1000.0)
    svc = service(source, kernel, clock, wall)
    channel = Channel()
    driver = Driver(svc, channel)

    def ask(seq: int, refresh: bool) -> list:
        channel.requests.append(Query(view="hosts", seq=seq, refresh=refresh))
        channel.replies.clear()
        driver._requests(0.0)
        return [r.seq for r in channel.replies]

    assert ask(1, True) == [1]  # keeping up: every refresh
    assert ask(2, True) == [2]
    source.queued = (8 << 20, 50_000)  # 8 MiB wait in the pipe: behind
    clock.t += 0.5
    assert ask(3, True) == []  # answered 0.5 s ago: shed
    assert ask(4, False) == [4]  # a key: at once
    clock.t += REFRESH_BEHIND - 0.1
    assert ask(5, True) == []
    clock.t += 0.2
    assert ask(6, True) == [6]
    source.queued = (0, 0)  # caught up: every refresh again
    clock.t += 0.1
    assert ask(7, True) == [7]


class Looks:
    """The UI's end for the driver: ``asks[i]`` is what the i-th look at the requests finds."""

    def __init__(self, asks: list) -> None:
        self.asks = asks
        self.looks = 0
        self.replies: list = []

    def fileno(self) -> int:
        return -1

    def poll(self, timeout: float) -> list:
        found = self.asks[self.looks] if self.looks < len(self.asks) else []
        self.looks += 1
        return found

    def send(self, message) -> bool:
        self.replies.append(message)
        return True


def test_a_key_that_came_while_a_batch_was_read_is_answered_before_it_is_counted():
    """The driver looks at the requests between reading a batch and counting it, so a key
    waits for a read, not for a read and its counting; a Stop found there still has the
    batch counted (nothing read is lost)."""
    from tuimon.server.driver import Driver
    from tuimon.server.protocol import Page, Stop

    source, kernel, clock, wall = Slow(), Kernel(), Clock(10.0), Clock(1000.0)
    svc = service(source, kernel, clock, wall)
    source.pending = [[record(1000.0)] * 3, [record(1000.1)] * 4]
    # looks: before the first read, after it (a key), before the second read, after it (Stop)
    channel = Looks([[], [Query(view="interfaces", seq=1)], [], [Stop()]])
    Driver(svc, channel).run(opened=True)
    pages = [r for r in channel.replies if isinstance(r, Page)]
    assert pages[0].seq == 1 and pages[0].totals.packets == 0  # before the first batch
    assert svc.engine.totals().packets == 7  # the batch read before the Stop: counted
