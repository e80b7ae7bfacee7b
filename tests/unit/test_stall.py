"""The stall watch: a capture that hands over nothing while the kernel counts packets on
its interface is stalled after STALL_SECONDS; a quiet link, a burst just before a reading,
or a filtered capture never is. Readings once a second, by a fake clock."""

from __future__ import annotations

from tuimon.capture.kernel import KernelRow
from tuimon.server.stall import STALL_PACKETS, STALL_SECONDS, StallWatch


def row(packets: int, comparable: bool = True) -> KernelRow:
    return KernelRow(packets, 0, 0, 0, 0, 0, 0, 0, 0, None, comparable)


def run(readings, comparable: bool = True) -> list[dict]:
    """``readings``: (kernel packets, frames handed over) once a second; the stalled
    captures after each."""
    watch, seen = StallWatch(), []
    for second, (kernel, frames) in enumerate(readings):
        watch.update(float(second), {0: row(kernel, comparable)}, {0: frames})
        seen.append(dict(watch.stalled))
    return seen


def test_a_stopped_capture_is_stalled_after_the_seconds_then_flows_again():
    readings = [(10, 10), (10, 10), (50, 10), (60, 10), (70, 10), (80, 10), (90, 10),
                (95, 95), (95, 95)]
    seen = run(readings)
    first = 2 + int(STALL_SECONDS)  # the kernel counted more at second 2
    assert all(s == {} for s in seen[:first])
    assert seen[first] == {0: 80 - 10} and seen[first + 1] == {0: 90 - 10}
    assert seen[-2:] == [{}, {}]  # frames came through: flowing again


def test_stopped_before_the_first_frame():
    seen = run([(0, 0), (40, 0), (40, 0), (40, 0), (40, 0)])
    assert seen[-1] == {0: 40} and seen[-2] == {}


def test_healthy_captures_are_never_stalled():
    quiet = [(5, 5)] * 10
    # a burst the kernel counted just before a reading, handed over by the next one
    burst = [(5, 5)] * 4 + [(30, 5), (30, 30)] + [(30, 30)] * 5
    # a steady trickle that dumpcap hands over a second late
    late = [(i * 3, max(0, (i - 1) * 3)) for i in range(10)]
    # the kernel counting a few packets more than the capture, for long (not a stall)
    few = [(5, 5)] + [(5 + STALL_PACKETS - 1, 5)] * 10
    for readings in (quiet, burst, late, few):
        assert all(s == {} for s in run(readings)), readings


def test_a_filtered_capture_is_not_watched():
    assert all(s == {} for s in run([(i * 100, 0) for i in range(10)], comparable=False))


def test_an_ended_capture_is_forgotten():
    watch = StallWatch()
    for second in range(6):
        watch.update(float(second), {0: row(second * 10)}, {0: 0})
    assert watch.stalled == {0: 50}
    watch.update(6.0, {0: row(60)}, {})  # its dumpcap has gone
    assert watch.stalled == {}
