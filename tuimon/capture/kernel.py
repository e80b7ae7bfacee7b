"""The kernel's own counters of the interfaces a live capture runs on (psutil).

What the kernel counted on an interface *during our capture* -- bytes and packets in and
out, errors, drops -- next to what the capture saw, so capture drops become visible, plus
the link speed and how busy the link is. Read once a second in the engine process, only
for live sources.

Every reading goes through ``read`` (default :func:`read_psutil`), a function returning
``{interface: Counters}``; tests pass a fake one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

WINDOW = 2.0  # seconds of samples behind the utilisation (the "2s" rate window)


class Counters(NamedTuple):
    """One reading of one interface: totals since the kernel started counting."""

    bytes_in: int
    bytes_out: int
    packets_in: int
    packets_out: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int
    speed: int = 0  # Mb/s, 0 when the driver does not say


class KernelRow(NamedTuple):
    """What the kernel counted on an interface since the capture started."""

    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    errors_in: int
    errors_out: int
    drops_in: int
    drops_out: int
    speed: int  # Mb/s, 0: unknown
    utilisation: float | None  # percent of speed, the busier direction, over WINDOW
    comparable: bool  # the capture was unfiltered: it should have seen what the kernel did
    # packets captured but still waiting in the capture's pipe when this was read: not
    # missed (see tuimon.server.session.Session.kernel_tick)
    waiting: int = 0


def read_psutil() -> dict[str, Counters]:
    import psutil

    io = psutil.net_io_counters(pernic=True)
    stats = psutil.net_if_stats()
    out = {}
    for name, c in io.items():
        st = stats.get(name)
        out[name] = Counters(c.bytes_recv, c.bytes_sent, c.packets_recv, c.packets_sent,
                             c.errin, c.errout, c.dropin, c.dropout, st.speed if st else 0)
    return out


class KernelCounters:
    """Deltas of the kernel's counters since the capture started, per captured interface.

    ``devices`` maps the engine's interface index to the interface name; names the kernel
    does not know (``any``) get no row. An interface that disappears keeps its last row.
    """

    def __init__(self, devices: dict[int, str], comparable: bool,
                 read: Callable[[], dict] = read_psutil,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.devices = dict(devices)
        self.comparable = comparable
        self.read = read
        self.clock = clock
        self.rows: dict[int, KernelRow] = {}
        first = self._read()
        self.base = {name: c for name, c in first.items() if name in self.devices.values()}
        now = clock()
        self.samples = {name: deque([(now, c.bytes_in, c.bytes_out,
                                      c.packets_in + c.packets_out)])
                        for name, c in self.base.items()}

    def _read(self) -> dict:
        try:
            return self.read()
        except Exception:  # noqa: BLE001 - counters are extra; never stop the capture
            return {}

    def sample(self) -> dict[int, KernelRow]:
        """Read the kernel now; return the rows of every interface it has counted."""
        now_counters = self._read()
        now = self.clock()
        for index, name in self.devices.items():
            base, c = self.base.get(name), now_counters.get(name)
            if base is None or c is None:
                continue
            samples = self.samples[name]
            samples.append((now, c.bytes_in, c.bytes_out, c.packets_in + c.packets_out))
            while len(samples) > 2 and now - samples[1][0] >= WINDOW:
                samples.popleft()
            self.rows[index] = KernelRow(
                _delta(c.packets_in, base.packets_in), _delta(c.bytes_in, base.bytes_in),
                _delta(c.packets_out, base.packets_out), _delta(c.bytes_out, base.bytes_out),
                _delta(c.errors_in, base.errors_in), _delta(c.errors_out, base.errors_out),
                _delta(c.drops_in, base.drops_in), _delta(c.drops_out, base.drops_out),
                c.speed, _utilisation(samples, c.speed), self.comparable)
        return dict(self.rows)


    def rate(self) -> tuple[float, float] | None:
        """(bits/s, packets/s) through the captured interfaces, both ways, over the last
        samples by the kernel's own counters; None before two samples."""
        bits = packets = 0.0
        seen = False
        for samples in self.samples.values():
            if len(samples) < 2:
                continue
            (t0, in0, out0, p0), (t1, in1, out1, p1) = samples[-2], samples[-1]
            if t1 > t0:
                seen = True
                bits += max(0, in1 + out1 - in0 - out0) * 8 / (t1 - t0)
                packets += max(0, p1 - p0) / (t1 - t0)
        return (bits, packets) if seen else None


def _delta(now: int, base: int) -> int:
    return now - base if now >= base else now  # the counter was reset (interface recreated)


def _utilisation(samples, speed: int) -> float | None:
    """Percent of the link speed used by the busier direction between the oldest and the
    newest sample (a full-duplex link carries its speed each way)."""
    if not speed or len(samples) < 2:
        return None
    (t0, in0, out0, _), (t1, in1, out1, _) = samples[0], samples[-1]
    if t1 <= t0:
        return None
    busier = max(in1 - in0, out1 - out0, 0) * 8 / (t1 - t0)
    return round(100.0 * busier / (speed * 1e6), 3)


def for_source(source, read: Callable[[], dict] | None = None,
               clock: Callable[[], float] = time.monotonic) -> KernelCounters | None:
    """Kernel counters for a live source's interfaces; None for anything else."""
    if source.kind != "live" or not source.devices:
        return None
    return KernelCounters(source.devices, not source.capture_filter,
                          read or read_psutil, clock)


def mac_address(name: str) -> bytes | None:
    """The interface's own Ethernet address (psutil's AF_PACKET address), or None."""
    import psutil

    try:
        addrs = psutil.net_if_addrs().get(name, ())
    except OSError:
        return None
    for a in addrs:
        if a.family == psutil.AF_LINK and a.address:
            try:
                mac = bytes.fromhex(a.address.replace(":", "").replace("-", ""))
            except ValueError:
                continue
            if len(mac) == 6 and any(mac):
                return mac
    return None
