"""A fixed history for the History view and sparkline tests: a capture with direction (Linux
cooked, in and out in waves over 8 minutes) and a history database of fixed rows for its
interface, host and protocol, built with the schema module around the capture's end.

The rows: minutes for the last 2 days, hours for the last 400 days (the last 48 the sums
of their minutes), days the sums of their hours; a daily rhythm, quieter weekends, a
three-day outage 10 days back, traffic growing over the year. Every figure is a function
of its time: the same file every run.
"""

from __future__ import annotations

import math
import sqlite3

from tests.support import pcapbuild as pb
from tuimon.config import Config
from tuimon.server.protocol import PLAYING
from tuimon.server.service import EngineService
from tuimon.sinks.history_schema import migrate

T0 = 1_699_999_980  # 2023-11-14 22:13:00 UTC, on the minute
SECONDS = 480
NAME = "wave.pcap"
LOCAL, REMOTE = "192.168.1.10", "203.0.113.5"
END_MINUTE = T0 + SECONDS - 60  # the minute the capture ends in


def wave_in(s: int) -> int:
    return 200 + int(1200 * (0.5 + 0.5 * math.sin(2 * math.pi * s / 120)))


def wave_out(s: int) -> int:
    return 100 + int(400 * (0.5 + 0.5 * math.cos(2 * math.pi * s / 90)))


def wave_capture(folder) -> str:
    """One packet in and one out each second for SECONDS seconds, sized by the waves."""
    frames = []
    for s in range(SECONDS):
        down = pb.ipv4(REMOTE, LOCAL, 17, pb.udp(6000, 5000, bytes(wave_in(s))))
        up = pb.ipv4(LOCAL, REMOTE, 17, pb.udp(5000, 6000, bytes(wave_out(s))))
        frames.append((T0 + s + 0.1, pb.sll(down, pkttype=0)))
        frames.append((T0 + s + 0.6, pb.sll(up, pkttype=4)))
    path = f"{folder}/{NAME}"
    pb.write_pcap(path, frames, linktype=113)
    return path


def _level(t: int) -> float:
    """Bytes per second at time t: a daily rhythm (busiest at 15:00 UTC), weekends at 40 %,
    an outage from 10 to 7 days before the end, growth over the year."""
    days_back = (END_MINUTE - t) / 86400
    if 7 <= days_back < 10:
        return 0.0
    hour = (t % 86400) / 3600
    daily = 1.1 + math.sin(2 * math.pi * (hour - 9) / 24)
    weekend = 0.4 if time_weekday(t) >= 5 else 1.0
    growth = 1.0 - min(days_back, 400) / 600
    return 20_000 * daily * weekend * growth


def time_weekday(t: int) -> int:
    return (t // 86400 + 3) % 7  # 1970-01-01 was a Thursday (3)


def minute_figures(t: int) -> tuple[int, int]:
    """(in, out) bytes of the minute starting at t."""
    level = _level(t) * 60
    wobble = 1 + 0.25 * math.sin(t / 577)
    return int(level * wobble), int(level * 0.3 * (2 - wobble))


def hour_figures(t: int) -> tuple[int, int]:
    level = _level(t + 1800) * 3600
    return int(level), int(level * 0.3)


def history_rows(end_minute: int = END_MINUTE) -> dict[str, dict]:
    """grain -> {period start: (in, out)} for the fixed history."""
    minutes = {}
    for t in range(end_minute - 2 * 86400, end_minute, 60):
        minutes[t] = minute_figures(t)
    end_hour = end_minute - end_minute % 3600
    hours = {}
    for t in range(end_hour - 400 * 24 * 3600, end_hour + 3600, 3600):
        inside = [minutes[m] for m in range(t, t + 3600, 60) if m in minutes]
        if t >= end_minute - 2 * 86400:
            hours[t] = (sum(i for i, _ in inside), sum(o for _, o in inside))
        else:
            hours[t] = hour_figures(t)
    days = {}
    for t, (i, o) in hours.items():
        day = t - t % 86400
        a, b = days.get(day, (0, 0))
        days[day] = (a + i, b + o)
    return {"minutes": minutes, "hours": hours, "days": days}


def write_history(path: str) -> dict[str, dict]:
    """The database at ``path``: the fixed rows for the interface, the host and the
    protocol (``transport``, ``udp``). Returns the rows (history_rows)."""
    rows = history_rows()
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db)
    db.execute("BEGIN")
    for grain, period in (("minutes", "minute"), ("hours", "hour"), ("days", "day")):
        items = [(t, i, o) for t, (i, o) in rows[grain].items() if i or o]
        db.executemany(
            f"INSERT INTO interface_{grain} ({period}, interface, packets, bytes, in_packets, "
            f"in_bytes, out_packets, out_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(t, NAME, (i + o) // 500, i + o, i // 500, i, o // 500, o) for t, i, o in items])
        db.executemany(
            f"INSERT INTO host_{grain} ({period}, address, packets, bytes, tx_packets, "
            f"tx_bytes, rx_packets, rx_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(t, LOCAL, (i + o) // 500, i + o, o // 500, o, i // 500, i) for t, i, o in items])
        db.executemany(
            f"INSERT INTO protocol_{grain} ({period}, layer, protocol, packets, bytes) "
            f"VALUES (?, 'transport', 'udp', ?, ?)",
            [(t, (i + o) // 500, i + o) for t, i, o in items])
    db.executemany(
        "INSERT INTO conversations (protocol, address_a, port_a, address_b, port_b, "
        "packets_a_to_b, bytes_a_to_b, packets_b_to_a, bytes_b_to_a, first_seen, last_seen, "
        "state) VALUES ('udp', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'idle')",
        [conversation_row(day) for day in range(1, CONVERSATION_DAYS + 1)])
    db.execute("COMMIT")
    db.close()
    return rows


CONVERSATION_DAYS = 20  # the wave conversation's earlier lifetimes, one a day


def conversation_row(days_back: int) -> tuple:
    """The wave conversation ``days_back`` days before the capture, from 14:00 UTC for an
    hour and a half (REMOTE first on odd days: either way round is the same conversation),
    its bytes growing with the days; LOCAL to REMOTE is a third of the other way."""
    start = END_MINUTE - END_MINUTE % 86400 - days_back * 86400 + 14 * 3600
    down = 3_000_000 + 100_000 * (CONVERSATION_DAYS - days_back)
    up = down // 3
    if days_back % 2:
        return (REMOTE, 6000, LOCAL, 5000, down // 500, down, up // 500, up, start, start + 5400)
    return (LOCAL, 5000, REMOTE, 6000, up // 500, up, down // 500, down, start, start + 5400)


def history_service(folder, with_history: bool = True) -> EngineService:
    """The wave capture played to its end at its recorded pace on a fake clock (a quarter
    second a step: every second of it folded on its own, as live), no tshark (the picture
    does not depend on it), reading the fixed history when ``with_history``."""
    from tests.support.playback import Clock

    capture = wave_capture(folder)
    clock = Clock()
    config = Config(read=capture, speed=1.0, flow_timeout=0, dissect_packets=0, max_gap=5.0)
    svc = EngineService(config, clock=clock, wallclock=lambda: T0 + 3600.0)
    assert svc.open().state == PLAYING
    while svc.status.state == PLAYING:
        svc.pump()
        clock.now += 0.25
    svc.drain()
    svc.stopped_at = svc.started  # elapsed 00:00:00 in the header, as the other snapshots
    if with_history:
        path = f"{folder}/history.sqlite"
        write_history(path)
        svc.history_file = path
    else:
        svc.history_file = None
    return svc
