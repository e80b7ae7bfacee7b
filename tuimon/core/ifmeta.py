"""What the engine keeps per capture interface besides its counters: name, link, drops,
skipped records, direction source, the kernel's own counters (:class:`InterfaceMeta`), and
the layout of the counter list itself (the ``_I*``/``_WAY`` slots)."""

from __future__ import annotations

from tuimon.capture.decode import IPV6, OUT

# Interface counter slots; per-kind packets/bytes live at 4 + 2 * kind, per-direction
# packets/bytes at _WAY + 2 * way (way IN = 1, OUT = 2).
_IP, _IB, _IFIRST, _ILAST = range(4)
_WAY = 4 + 2 * (IPV6 + 1) - 2
_COUNTERS = _WAY + 2 * (OUT + 1)


def reasons_text(reasons: dict[str, int]) -> str:
    """``{"truncated final record": 1}`` -> ``"truncated final record: 1"``; several are
    joined with ``"; "``, the most frequent first."""
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{reason}: {count}" for reason, count in ordered if count)


class InterfaceMeta:
    __slots__ = ("name", "link", "drops", "skipped", "hist", "folded_b", "folded_p", "reasons",
                 "direction", "kernel", "trail", "folded_in", "folded_out", "peak")

    def __init__(self, name: str, link: str) -> None:
        self.name, self.link = name, link
        self.direction = ""  # where in/out comes from ("" : not known on this interface)
        self.kernel: tuple | None = None  # KernelRow fields (tuimon.capture.kernel)
        self.drops: int | None = None
        self.skipped = 0
        self.reasons = ""
        self.hist: list = []
        self.folded_b = self.folded_p = 0
        # The last TRAIL seconds, [second, bytes, in bytes, out bytes] (rates.bump_trail):
        # the sparklines and the History view's last hour.
        self.trail: list = []
        self.folded_in = self.folded_out = 0
        self.peak = 0.0  # the highest 2 s rate seen at a fold (bytes/s)


_NO_KERNEL = (None,) * 11


def kernel_fields(kernel, captured: int) -> tuple:
    """The kernel columns of an interface row: the kernel's counters, link speed,
    utilisation, and ``missed`` = what the kernel counted minus what was captured and
    minus what still waited in the capture's pipe (only when the capture was unfiltered,
    so that the two count the same frames)."""
    if kernel is None:
        return _NO_KERNEL
    missed = None
    if kernel.comparable:
        missed = max(0, kernel.packets_in + kernel.packets_out - captured - kernel.waiting)
    return (kernel.packets_in, kernel.bytes_in, kernel.packets_out, kernel.bytes_out,
            kernel.errors_in, kernel.errors_out, kernel.drops_in, kernel.drops_out,
            kernel.speed or None, kernel.utilisation, missed)
