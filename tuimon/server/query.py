"""What the UI asks the engine for, and the answer: one sorted, filtered, visible window.

The UI sends a :class:`Query` (view, sort column and direction, filter text, the visible
window and the row under its cursor); :class:`QueryRunner` answers with a :class:`Page`
holding only the rows of that window (plus a margin) and the totals. Filtering and
sorting work on the engine's own objects with cheap keys; NamedTuple rows are built only
for the window, so a query over 100,000 conversations stays cheap.

Cursor following: when the query names the row under the cursor (``cursor_key``) and that
row is still there, the answer moves the window by as much as the row moved, so the row
keeps its line on the screen while the order changes around it. Without a key the cursor
keeps its index (the top row stays the top row).

Pure Python: no Textual, no Rich; everything here crosses a process boundary by pickle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable
from operator import attrgetter

from tuimon.core.conversation import _GONE, Conversation
from tuimon.core.rates import rate_key, rates_packed
from tuimon.core.rows import host_apps_text
from tuimon.server.filter import conversation_mask, FilterContext, FilterError, compile_filter, parse
from tuimon.server.protocol import ALL_VIEWS, COLUMNS, DEFAULT_SORT, Page, Query


# A large view whose window is near the top sorts only the rows it shows (plus slack):
# views of engine objects with at least PARTIAL_MIN of them, when the rows wanted are at
# most 1/PARTIAL_RATIO of all. 750,000 conversations: a full sort 300 ms, the first 100 50 ms.
PARTIAL_VIEWS = ("hosts", "conversations")
PARTIAL_MIN = 5000
PARTIAL_RATIO = 8
# The Conversations view by bytes, largest first, unfiltered: its first rows (at most this
# many) come from Engine.leading (one numpy pass over the store's columns).
LEAD_MAX = 2048


def row_key(view: str, item) -> Hashable:
    """The identity of a row (or engine object) that survives refreshes."""
    if view == "hosts":
        return item.addr
    if view == "conversations":
        return item.endpoints()
    if view == "interfaces":
        return item.interface
    if view == "counters":
        return item.name
    if view == "stations":
        return item.mac
    if view == "sizes":
        return (item.interface, item.min_length)
    if view == "ports":
        return (item.protocol, item.port)
    if view == "pairs":
        return item.endpoints()
    if view == "processes":
        return (item.pid, item.name)
    return item.path or (item.layer, item.protocol)


LAYERS = ("link", "network", "transport", "application")
OTHER = "(other)"  # an application row: what its transport counted that no protocol names


def tree_order(rows: list) -> list:
    """Protocol rows in hierarchy order: every row right after its parent (depth first),
    siblings in the order they come in (the sort order), a layer's rows before the next
    layer's (with several link types the link rows and the network rows are all at the top:
    the link rows come first, whatever the sort), and an ``(other)`` row last under its
    parent. A row whose parent is not there stays at the top level."""
    paths = {r.path for r in rows}
    children: dict[str, list] = {}
    for r in rows:
        parent = r.path.rpartition("/")[0]
        children.setdefault(parent if parent in paths else "", []).append(r)
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    for siblings in children.values():
        siblings.sort(key=lambda r: (rank.get(r.layer, len(LAYERS)), r.protocol == OTHER))
    out: list = []
    stack = list(reversed(children.get("", [])))
    while stack:
        r = stack.pop()
        out.append(r)
        stack.extend(reversed(children.get(r.path, [])))
    return out


def with_other(rows: list) -> list:
    """The protocol rows, and under each transport row whose application rows do not add
    up to it an ``(other)`` row with the rest (packets no dissector nor port named: later
    fragments, unnamed ports), so that a layer's rows always add up to their parent."""
    apps: dict[str, list] = {}
    for r in rows:
        if r.layer == "application":
            parent = r.path.rpartition("/")[0]
            entry = apps.setdefault(parent, [0, 0, 0.0, 0.0, 0.0])
            entry[0] += r.packets
            entry[1] += r.bytes
            for i, rate in enumerate((r.rate_2s, r.rate_10s, r.rate_40s)):
                entry[2 + i] += rate
    out = list(rows)
    for r in rows:
        if r.layer != "transport":
            continue
        p, b, *rates = apps.get(r.path, [0, 0, 0.0, 0.0, 0.0])
        if r.packets > p:
            share = r.share * (r.bytes - b) / r.bytes if r.bytes else 0.0
            out.append(type(r)(OTHER, r.packets - p, r.bytes - b, "application",
                               *(max(0.0, total - named) for total, named in
                                 zip((r.rate_2s, r.rate_10s, r.rate_40s), rates)),
                               f"{r.path}/{OTHER}", r.depth + 1, share))
    return out


def _none_low(value):
    return -1 if value is None else value


def sort_key(view: str, column: str, engine) -> Callable:
    """A cheap key function over the view's items (engine objects or rows)."""
    if column not in COLUMNS[view]:
        raise ValueError(f"cannot sort {view} by {column!r}")
    now = engine.now
    if column.startswith("rate_") and view in ("hosts", "conversations"):
        return rate_key(("rate_2s", "rate_10s", "rate_40s").index(column), now,
                        Conversation.folded_bytes if view == "conversations" else None)
    if view == "pairs":
        return _pair_key(column, engine)
    if view == "hosts" and column == "app_protocols":
        return host_apps_text
    if view == "hosts":
        attr = {"address": "addr", "tx_bytes": "tx_b", "rx_bytes": "rx_b", "tx_packets": "tx_p",
                "rx_packets": "rx_p", "first_seen": "first", "last_seen": "last",
                "peak_rate": "peak"}.get(column, column)
        return attrgetter(attr)
    if view == "conversations":
        names = engine.names
        proto_names: dict[int, str] = {}

        def proto_name(c):
            proto = c.key[0]
            name = proto_names.get(proto)
            if name is None:
                name = proto_names[proto] = names.ip_protocol(proto)
            return name

        return {
            "protocol": proto_name,
            "a": lambda c: (c.a, _none_low(c.pa)),
            "b": lambda c: (c.b, _none_low(c.pb)),
            "bytes": lambda c: c.ab_b + c.ba_b,
            "packets": lambda c: c.ab_p + c.ba_p,
            "service": lambda c: c.service or "",
            "app_protocol": lambda c: c.app or "",
            "tcp_flags": lambda c: c.flags_ab | c.flags_ba,
            "bytes_a_to_b": attrgetter("ab_b"),
            "bytes_b_to_a": attrgetter("ba_b"),
            "packets_a_to_b": attrgetter("ab_p"),
            "packets_b_to_a": attrgetter("ba_p"),
            "first_seen": attrgetter("first"),
            "last_seen": attrgetter("last"),
            "nat": engine.nat_text,
        }[column]
    getter = attrgetter(column)
    return lambda row: _none_low(getter(row))


def _pair_key(column: str, engine) -> Callable:
    """Sort keys over :class:`tuimon.core.pairs.Pair` objects."""
    now = engine.now
    if column.startswith("rate_"):
        parts = column.split("_")  # rate_2s, rate_a_to_b_2s
        i = ("2s", "10s", "40s").index(parts[-1])
        if len(parts) == 2:
            return lambda p: rates_packed(p.hist_ab, now)[i] + rates_packed(p.hist_ba, now)[i]
        attr = "hist_ab" if parts[1] == "a" else "hist_ba"
        get = attrgetter(attr)
        return lambda p: rates_packed(get(p), now)[i]
    names = engine.names
    return {
        "a": lambda p: (p.endpoints()[1], _none_low(p.endpoints()[2])),
        "b": lambda p: (p.endpoints()[3], _none_low(p.endpoints()[4])),
        "protocol": lambda p: names.ip_protocol(p.key[0]) if len(p.key) == 5 else "",
        "bytes": lambda p: p.ab_b + p.ba_b,
        "packets": lambda p: p.ab_p + p.ba_p,
        "bytes_a_to_b": attrgetter("ab_b"),
        "bytes_b_to_a": attrgetter("ba_b"),
        "packets_a_to_b": attrgetter("ab_p"),
        "packets_b_to_a": attrgetter("ba_p"),
        "peak_a_to_b": attrgetter("peak_ab"),
        "peak_b_to_a": attrgetter("peak_ba"),
        "conversations": attrgetter("convs"),
        "first_seen": attrgetter("first"),
        "last_seen": attrgetter("last"),
    }[column]


def window(total: int, q: Query, found: int | None) -> tuple[int, int]:
    """(offset, cursor) for an answer: follow the cursor row when it was found."""
    limit = max(1, q.limit)
    if total == 0:
        return 0, 0
    if found is not None:
        cursor = found
        offset = q.offset + (found - q.cursor)
    else:
        cursor = min(max(q.cursor, 0), total - 1)
        offset = q.offset
    offset = min(max(offset, 0), max(0, total - limit))
    if cursor < offset:
        offset = cursor
    elif cursor >= offset + limit:
        offset = cursor - limit + 1
    return offset, cursor


class QueryRunner:
    """Answers queries over one engine. Keeps caches between queries (hence a class)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.context = FilterContext(engine)
        self._filters: dict[str, object] = {}
        self._cache_key: tuple | None = None
        self._cache: list = []
        self._cache_total = 0  # rows in the cached order; more than len(_cache): a prefix
        self._frozen: dict[str, tuple[tuple, dict]] = {}

    # -- items ------------------------------------------------------------------------

    def items(self, view: str, ports: bool = False) -> list:
        engine = self.engine
        if view == "pairs":
            return list(engine.pairs(ports).pairs.values())
        if view == "hosts":
            return list(engine.hosts.values())
        if view == "conversations":  # those in the table, then those that left (kept)
            return [*engine.conversations, *engine.left_conversations]
        if view == "interfaces":
            return engine.interface_rows()
        if view == "protocols":
            return with_other(engine.protocol_rows())
        if view == "counters":
            return engine.counter_rows(engine.now)
        if view == "stations":
            return engine.station_rows()
        if view == "sizes":
            return engine.size_rows()
        if view == "ports":
            return engine.port_rows()
        if view == "processes":
            return engine.process_rows()
        raise ValueError(f"unknown view {view!r}")

    def _view_items(self, q: Query) -> list:
        """:meth:`items` of the query's view (the Pairs view with ports or not)."""
        return self.items(q.view, True) if q.ports else self.items(q.view)

    def rows(self, view: str, items: list, ports: bool = False) -> list:
        if view == "pairs":
            return self.engine.pair_rows(items, ports)
        if view == "hosts":
            return self.engine.host_rows(items)
        if view == "conversations":
            return self.engine.conversation_rows(items)
        return list(items)

    def _exists(self, view: str, key) -> bool:
        """Whether the engine still holds the host or conversation ``key`` names."""
        if view == "hosts":
            return isinstance(key, int) and key in self.engine.hosts
        if view == "conversations":
            return isinstance(key, tuple) and len(key) == 5 \
                and self.engine.conversation(key) is not None
        return False

    def _lookup(self, view: str, key, items: list) -> int | None:
        """Index of the row with ``key`` in ``items``, or None."""
        if key is None:
            return None
        obj = None
        if view == "hosts":
            obj = self.engine.hosts.get(key) if isinstance(key, int) else None
        elif view == "conversations":
            obj = (self.engine.conversation(key)
                   if isinstance(key, tuple) and len(key) == 5 else None)
        else:
            for i, row in enumerate(items):
                if row_key(view, row) == key:
                    return i
            return None
        if obj is None:
            return None
        try:
            return items.index(obj)
        except ValueError:  # filtered out
            return None

    # -- filtering and ordering -------------------------------------------------------------

    def compiled(self, text: str):
        """The parsed filter (cached), or raise FilterError."""
        node = self._filters.get(text)
        if node is None:
            node = parse(text, self.engine.names)
            if len(self._filters) > 32:
                self._filters.clear()
            self._filters[text] = node if node is not None else False
        return node or None

    def ordered(self, q: Query, version: int, need: int | None = None
                ) -> tuple[list, int, str | None]:
        """The view's items, filtered and sorted (cached while nothing changed), their
        number, and the filter's error. ``need``: only the first ``need`` of the order are
        wanted; a large view of hosts or conversations then gets just those (a partial
        sort: ``heapq.nlargest`` gives exactly the full sort's first rows, ties in the same
        order), the rest unsorted behind them is left out. None: all of it."""
        if q.view not in ALL_VIEWS:
            raise ValueError(f"unknown view {q.view!r}")
        sort = q.sort if q.sort in COLUMNS[q.view] else DEFAULT_SORT
        error = None
        try:
            node = self.compiled(q.filter)
        except FilterError as err:
            node, error = None, str(err)
        cache_key = (version, q.view, sort, q.descending, q.filter if error is None else "",
                     q.freeze, q.ports)
        if not q.freeze:
            self._frozen.pop(q.view, None)
        elif self._frozen.get(q.view, ((),))[0] != (sort, q.descending):
            self._frozen.pop(q.view, None)
        if cache_key == self._cache_key and (not q.freeze or q.view in self._frozen) \
                and (len(self._cache) == self._cache_total
                     or (need is not None and need <= len(self._cache))):
            return self._cache, self._cache_total, error
        if (need is not None and q.view == "conversations" and sort == "bytes" and q.descending
                and not q.filter and not q.freeze and need <= LEAD_MAX):
            # the default view: its first rows from the engine (Engine.leading)
            engine = self.engine
            items = engine.leading(need)
            total = len(engine.conversations) + len(engine.left_conversations)
            self._cache_key, self._cache, self._cache_total = cache_key, items, total
            return items, total, error
        if q.view == "conversations" and not q.freeze:
            found = self._conversations(q, sort, node, need)
            if found is not None:
                self._cache_key, self._cache, self._cache_total = cache_key, *found
                return found[0], found[1], error
        items = self._view_items(q)
        ident = self._ident(q.view)
        if node is not None:
            pred = compile_filter(node, q.view, self.context)
            if pred is not None and q.view != "protocols":  # a tree is filtered in order
                items = [x for x in items if pred(x)]
                node = None
        total = len(items)
        if q.freeze:
            frozen = self._frozen.get(q.view)
            if frozen is None:
                order = sorted(self._view_items(q), key=sort_key(q.view, sort, self.engine),
                               reverse=q.descending)
                frozen = ((sort, q.descending), {ident(x): i for i, x in enumerate(order)})
                self._frozen[q.view] = frozen
            rank = frozen[1]
            last = len(rank)
            items = sorted(items, key=lambda x: rank.get(ident(x), last))
        elif need is not None and q.view in PARTIAL_VIEWS and total >= PARTIAL_MIN \
                and need * PARTIAL_RATIO <= total:
            pick = heapq.nlargest if q.descending else heapq.nsmallest
            items = pick(need, items, key=sort_key(q.view, sort, self.engine))
        else:
            items = sorted(items, key=sort_key(q.view, sort, self.engine), reverse=q.descending)
        if q.view == "protocols":
            items = tree_order(items)
        if node is not None:
            pred = compile_filter(node, q.view, self.context)
            if pred is not None:
                items = [x for x in items if pred(x)]
            total = len(items)
        self._cache_key, self._cache, self._cache_total = cache_key, items, total
        return items, total, error

    def _conversations(self, q: Query, sort: str, node, need: int | None):
        """The Conversations view's order and its length over the engine's columns: the
        filter as a numpy mask, the sort in numpy (or, for a column numpy does not sort,
        the filtered conversations themselves); None when neither the filter nor the sort
        can be done over the columns (the objects' way)."""
        engine = self.engine
        listed = None
        if node is not None:
            mask_of = conversation_mask(node, self.context)
            if mask_of is not None:
                listed = engine.filtered(mask_of)
        total = len(listed) if listed is not None else \
            len(engine.conversations) + len(engine.left_conversations)
        partial = need is not None and total >= PARTIAL_MIN and need * PARTIAL_RATIO <= total
        items = engine.order_by(sort, q.descending, need if partial else None, listed)
        if items is not None:
            return items, total
        if listed is None:
            return None
        items = list(engine.listed_at(listed))  # a rate, NAT: the conversations' own keys
        key = sort_key(q.view, sort, engine)
        if partial:
            items = (heapq.nlargest if q.descending else heapq.nsmallest)(need, items, key=key)
        else:
            items = sorted(items, key=key, reverse=q.descending)
        return items, total

    @staticmethod
    def _ident(view: str) -> Callable:
        if view in ("hosts", "conversations", "pairs"):
            return lambda obj: obj  # engine objects hash by identity and live for the session
        return lambda row: row_key(view, row)

    # -- the answer ------------------------------------------------------------------------

    def run(self, q: Query, version: int = -1) -> Page:
        """Answer ``q``. ``version`` changes whenever the engine counted something new
        (-1: never cache)."""
        if version < 0:
            self._cache_key = None
        limit, margin = max(1, q.limit), max(0, q.margin)
        items, total, error = self.ordered(q, version, q.offset + 2 * (limit + margin))
        found = self._lookup(q.view, q.cursor_key, items)
        offset, cursor = window(total, q, found)
        end = min(total, offset + limit + margin)
        if len(items) < total and (end > len(items) or (
                found is None and self._exists(q.view, q.cursor_key))):
            # the window or the cursor's row lies beyond the partial order: all of it
            items, total, error = self.ordered(q, version)
            found = self._lookup(q.view, q.cursor_key, items)
            offset, cursor = window(total, q, found)
            end = min(total, offset + limit + margin)
        start = max(0, offset - margin)
        chunk = items[start:end]
        rows = self.rows(q.view, chunk, q.ports)
        keys = [row_key(q.view, x) for x in chunk]
        cursor_key = keys[cursor - start] if total and start <= cursor < end else None
        sort = q.sort if q.sort in COLUMNS[q.view] else DEFAULT_SORT
        expired = (tuple(i for i, x in enumerate(chunk) if x.gen == _GONE)
                   if q.view == "conversations" else ())
        count = (len(self.engine.hosts) if q.view == "hosts" else
                 len(self.engine.conversations) + len(self.engine.left_conversations)
                 if q.view == "conversations" else
                 len(self._view_items(q)) if error is None and q.filter else total)
        return Page(seq=q.seq, view=q.view, sort=sort, descending=q.descending,
                    filter=q.filter if error is None else "", error=error, total=total,
                    count=count, offset=offset, start=start, rows=rows, keys=keys,
                    cursor=cursor, cursor_key=cursor_key, totals=self.engine.totals(),
                    frozen=q.freeze, expired=expired, quotas=self.engine.counters.quotas(self.engine.now)
                    if self.engine.counters is not None else [])
