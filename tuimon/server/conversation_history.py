"""The History view of one conversation: what memory and the database know of it.

* The last hour, per second, from memory: opening a conversation's History *watches* it
  (:mod:`tuimon.core.watch`), so its chart fills per second from then on, each way apart,
  as an interface's does; what it counted before the watch began is drawn at its average
  rate since its first packet (the note says from when the chart is per second).
* A day, month or year from the history database: the rows of this conversation (its
  protocol, addresses and ports, either way round: it may have left the table and come
  back, in this session or earlier ones, when recorded with ``--history-conversations``)
  and the conversation in the table now, each drawn as its average rate over its lifetime
  (:mod:`tuimon.sinks.history_spread`: the database keeps a conversation's totals, not
  its traffic per minute). The time-of-day profile is made the same way.

"In" is A to B and "out" B to A, A being the side that sent first, as the Conversations
view and conversations.csv show them. There are no today / week / period totals: those
are kept per interface and host.
"""

from __future__ import annotations

from collections.abc import Callable

from tuimon import timefmt
from tuimon.core.engine import Engine
from tuimon.core.names import address_text
from tuimon.server.protocol import SPANS, HistoryChart, HistoryOf, one_line
from tuimon.sinks.history_read import HistoryReader, HistoryUnreadable
from tuimon.sinks.history_spread import Span, hours_of_day, spread

PROFILE_DAYS = 30


def is_key(key) -> bool:
    """A row key of the Conversations view: ``(proto, a, port a, b, port b)``, the ports
    ints or both None."""
    if not isinstance(key, tuple) or len(key) != 5:
        return False
    proto, a, pa, b, pb = key
    ports = (pa is None and pb is None) or (type(pa) is int and type(pb) is int)
    return all(type(v) is int and v >= 0 for v in (proto, a, b)) and ports


def ends_text(engine: Engine, key: tuple) -> tuple:
    """A row key ``(proto, a, port a, b, port b)`` as conversations.csv writes it."""
    proto, a, pa, b, pb = key
    return (engine.names.ip_protocol(proto), address_text(a), pa, address_text(b), pb)


def conversation_job(engine: Engine, request: HistoryOf, now: float, path: str | None,
                     why: str) -> Callable[[], HistoryChart]:
    """What memory holds is taken here (the engine's thread); the returned job reads the
    database and may run in another thread (``path`` None: no database, ``why`` says so)."""
    key = request.key
    span = request.span if request.span in SPANS else "hour"
    length, step = SPANS[span]
    chart = HistoryChart(request.seq, "conversation", key, span, now=now)
    if not is_key(key):
        chart.note = "not a conversation: (protocol, address, port, address, port) expected"
        return lambda: chart
    conv = engine.conversation(key)
    w = engine.watches.watch(key, conv, now)
    ends = ends_text(engine, key)
    if span == "hour":
        step, length = 1, 3600
        trail = engine.watches.series(key, now, 3600)
        # what it counted before the watch began, at its average rate since its first packet
        live = [Span(conv.first, w.since if w.since is not None else now, w.before_ab,
                     w.before_ba)] if conv is not None and conv is w.conv else []
        chart.note = _hour_note(conv, w)
    else:
        trail = None
        live = [Span(conv.first, conv.last, conv.ab_b, conv.ba_b)] if conv is not None else []
    end = (int(now) // step + 1) * step

    def job() -> HistoryChart:
        spans, note = list(live), why
        reader = None
        if path is not None:
            try:
                reader = HistoryReader(path)
            except HistoryUnreadable as err:
                note = one_line(str(err))
        hour_end = (int(now) // 3600 + 1) * 3600
        first = min(hour_end - PROFILE_DAYS * 86400, end - length)
        try:
            if reader is not None:
                spans += reader.conversation_spans(ends, first, max(hour_end, end))
        except HistoryUnreadable as err:
            note = one_line(str(err))
        finally:
            if reader is not None:
                reader.close()
        chart.step, chart.start = step, end - length
        chart.source = "memory" if span == "hour" else "history"
        total, ab, ba = spread(spans, end - length, step, length // step)
        if trail is not None:
            total, ab, ba = ([x + y for x, y in zip(a, b)] for a, b in zip((total, ab, ba), trail))
        chart.bytes, chart.in_bytes, chart.out_bytes = total, ab, ba
        if span != "hour":
            chart.note = note or AVERAGED
        elif note and not chart.note:
            chart.note = note
        if not any(total):
            chart.note = (f"{note}: " if note else "") + f"nothing of it in the last {span}"
        if spans:
            chart.profile = hours_of_day(spans, hour_end - PROFILE_DAYS * 86400, hour_end)
        return chart

    return job


AVERAGED = "each of its lifetimes at its average rate (the history keeps its totals)"


def _hour_note(conv, w) -> str:
    """Says from when the per-second chart holds the conversation's traffic."""
    if conv is None:
        return "not in the table now: the last hour from what the history recorded"
    if conv is not w.conv or not (w.before_ab or w.before_ba):
        return ""
    since = timefmt.clock(w.since) if w.since is not None else "now"
    return f"per second from {since} (when its history was opened); before, its average rate"
