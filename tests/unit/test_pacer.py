"""Recorded-pace playback, driven by a fake clock: no test sleeps."""

from __future__ import annotations

import pytest

from tuimon.server.pacer import Pacer


def records(times):
    return [(0, t, 100, None) for t in times]


def play(pacer: Pacer, step: float = 0.05, limit: float = 10_000):
    """Poll with a fake clock until finished; return (wall time taken, [(wall, ts)...])."""
    now, seen = 0.0, []
    while not pacer.finished and now < limit:
        out, wait = pacer.poll(now)
        seen += [(now, r[1]) for r in out]
        now += max(step, min(wait, 1.0)) if out == [] else 0.0
    return seen[-1][0] if seen else 0.0, seen


def span(n=101, seconds=10.0, start=1000.0):
    return [start + seconds * i / (n - 1) for i in range(n)]


@pytest.mark.parametrize("speed,expected", [(1.0, 10.0), (2.0, 5.0), (0.5, 20.0), (10.0, 1.0)])
def test_recorded_pace_scales_with_speed(speed, expected):
    taken, seen = play(Pacer([records(span())], speed=speed), step=0.01)
    assert len(seen) == 101
    assert taken == pytest.approx(expected, abs=0.05)
    for wall, ts in seen:  # every packet handed out no earlier than its time
        assert wall + 1e-9 >= (ts - 1000.0) / speed


def test_speed_zero_is_as_fast_as_possible():
    pacer = Pacer([records(span(20000, 3600))], speed=0)
    out, wait = pacer.poll(0.0)
    assert len(out) == 5000 and wait == 0.0
    taken, seen = play(pacer)
    assert taken == 0.0 and pacer.packets == 20000


def test_pause_holds_everything_and_resume_continues_from_there():
    pacer = Pacer([records(span())], speed=1.0)
    out, _ = pacer.poll(2.0)
    assert len(out) == 1  # only the first: the clock anchors at the first packet
    out, _ = pacer.poll(3.0)
    assert out[-1][1] == pytest.approx(1001.0)
    pacer.pause(3.0)
    assert pacer.poll(100.0)[0] == []
    pacer.resume(100.0)
    assert pacer.poll(100.0)[0] == []
    out, _ = pacer.poll(101.0)
    assert out[-1][1] == pytest.approx(1002.0)


def test_speed_change_takes_effect_from_the_current_position():
    pacer = Pacer([records(span())], speed=1.0)
    pacer.poll(0.0)
    pacer.poll(4.0)
    assert pacer.faster(4.0) == 2.0
    out, _ = pacer.poll(5.0)
    assert out[-1][1] == pytest.approx(1006.0)
    assert pacer.slower(5.0) == 1.0 and pacer.slower(5.0) == 0.5


def test_long_gaps_are_skipped_and_marked():
    times = [0.0, 1.0, 2.0, 30002.0, 30003.0]
    taken, seen = play(Pacer([records(times)], speed=1.0, max_gap=5.0), step=0.01)
    assert taken == pytest.approx(3.0, abs=0.05)
    assert len(seen) == 5
    gaps = Pacer([records(times)], max_gap=5.0)
    play(gaps)
    assert gaps.gaps == [(2.0, 30000.0)]


def test_finished_state_and_capture_clock_between_packets():
    pacer = Pacer([records([10.0]), records([20.0])], speed=1.0, max_gap=60)
    pacer.poll(0.0)
    assert pacer.capture_now(4.0) == pytest.approx(14.0)
    play(pacer)
    assert pacer.finished and pacer.position == 20.0


def test_speed_steps_from_any_speed():
    pacer = Pacer([records(span())], speed=3.0)
    assert pacer.faster(0.0) == 5.0
    pacer.set_speed(3.0, 0.0)
    assert pacer.slower(0.0) == 2.0
    pacer.set_speed(0.25, 0.0)
    assert pacer.slower(0.0) == 0.25  # the slowest stays
    pacer.set_speed(100.0, 0.0)
    assert pacer.faster(0.0) == 0.0 and pacer.faster(0.0) == 0.0  # max stays
    assert pacer.slower(0.0) == 100.0
