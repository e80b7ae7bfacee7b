"""The Source protocol: what every packet source offers the driver, so nothing probes.

File playback (:class:`~tuimon.capture.file.FileSource`, standard input and capture
filters through tcpdump included), live capture (:class:`~tuimon.capture.live.LiveSource`)
and the tests' fakes all subclass :class:`Source`, which gives every optional part a
default: a file has no drop counts, kernel devices, ring or link states; a live capture
has no size or position.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from tuimon.capture.reader import Interface


# More than this waiting in a live capture's pipe: the counting is behind, and what can
# shed its own work does (the drill-down ring, the labeller), never packets.
SHED_BYTES = 1 << 20


class Source:
    """A source of packet records, in batches (lists of record tuples, see
    :mod:`tuimon.capture.reader`)."""

    kind = "file"  # "file" (playback: paced by the player) or "live"
    name = ""  # what the header calls it
    capture_filter: str | None = None
    size: int | None = None  # bytes of a file (None: not known, or live)

    interfaces: Sequence[Interface] = ()  # the interfaces seen so far, in index order

    def batches(self) -> Iterator[list]:
        """Lists of records as they come; a live source yields (maybe empty) lists at least
        every few hundred milliseconds, traffic or not."""
        return iter(())

    def drops_of(self, iface: Interface) -> int | None:
        """Packets the capture dropped on ``iface`` so far (None: not known, yet)."""
        return iface.drops

    def position(self) -> int:
        """Bytes of the file consumed so far (the playback's progress)."""
        return 0

    def skip_reasons(self, index: int | None = None) -> dict[str, int]:
        """Records skipped as damaged, by reason, on interface ``index`` (None: all)."""
        return {}

    def skipped(self) -> int:
        return sum(self.skip_reasons().values())

    # -- live sources --------------------------------------------------------------------

    # interface index -> why its capture ended (``stopped``: we asked it to)
    ended: Mapping[int, str] = MappingProxyType({})
    # interface index -> ``down`` / ``no link`` while its link is not up
    down: Mapping[int, str] = MappingProxyType({})
    stopping = False  # stop() was called

    # interface index -> the kernel's name for it, where the kernel counts it
    devices: Mapping[int, str] = MappingProxyType({})

    def rings(self) -> list:
        """(first interface index, Ring) of recent traffic kept for drill-down."""
        return []

    def behind(self) -> tuple[int, int]:
        """(bytes, packets) captured but not handed out yet, as far as known."""
        return (0, 0)

    def captured(self) -> dict[int, int] | None:
        """Frames each capture (by its first interface's index) has handed over so far,
        to be set against the kernel's counters (a stalled capture); None: not known."""
        return None

    def wake_on(self, fd: int) -> None:
        """A live source that waits for packets also wakes (and yields an empty batch)
        when ``fd`` becomes readable: the engine's request pipe."""

    def stop(self) -> None:
        """Stop gracefully: what was captured until now is still handed out, then
        :meth:`batches` ends. A file simply ends at its next batch."""
        self.stopping = True

    def close(self) -> None:
        """Release everything (processes, pipes, files); safe to call twice."""
