"""The conversations with the most bytes, kept as the folds go, so the view a user sees
first (Conversations by bytes, largest first) needs no pass over the whole table.

A listed conversation's bytes only grow (the table's, then the kept ones that left it).
So :class:`Leaders` holds every listed conversation that had at least ``floor`` bytes when
last folded: the fold offers it each conversation it folds, the engine the ones that leave.
Past :data:`HIGH` members the floor rises to the :data:`LOW`-th largest and the rest go.
The largest ``need`` of the whole listing are then the largest of the members and of the
conversations counted since the last fold (:meth:`Leaders.top`), exactly as a sort of the
listing gives them: ties in listed order, which only a walk of the listing can tell, done
only when the answer holds equal values.

At 740,000 conversations (150,000 packets/s for 20 s of the benchmark capture) a pass over
the table costs about 110 ms on an idle core; the members about 2 ms.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable

HIGH = 8192  # members at most; past it the floor rises...
LOW = 2048  # ...to keep about this many


def total_bytes(c) -> int:
    """Bytes both ways as counted so far (the Conversations view's ``bytes``)."""
    return c.ab_b + c.ba_b


class Leaders:
    """Every listed conversation with at least :attr:`floor` bytes as last folded (and
    maybe a few more: a member stays until the floor passes it)."""

    __slots__ = ("members", "floor", "order")

    def __init__(self) -> None:
        self.members: set = set()  # by identity
        self.floor = 0
        # the last walk's tied conversations -> their place in listed order; good for as
        # long as none of them moves in the listing, which only leaving the table does
        # (:meth:`left`), so a query whose ties were all placed before needs no walk
        self.order: dict = {}

    def left(self, conversations: Iterable) -> None:
        """``conversations`` left their place in the listing (the table, or the kept)."""
        order = self.order
        if order:
            for c in conversations:
                order.pop(c, None)

    def prune(self) -> None:
        """Past :data:`HIGH` members: the floor rises to the :data:`LOW`-th largest."""
        members = self.members
        if len(members) <= HIGH:
            return
        floor = heapq.nlargest(LOW, map(total_bytes, members))[-1]
        if sum(1 for c in members if c.ab_b + c.ba_b >= floor) > HIGH:
            floor += 1  # ties at the floor (a flood of equal conversations): above them
        members.difference_update([c for c in members if c.ab_b + c.ba_b < floor])
        self.floor = floor

    def reset(self, listed: Iterable, keep: int) -> list:
        """Start again from one pass over the whole listing (the members fell short of a
        query's rows): the ``keep`` largest and their floor. Returns the pass's first
        ``keep`` + 1 in order (``heapq.nlargest`` is stable: ties in listed order)."""
        top = heapq.nlargest(keep + 1, listed, key=total_bytes)
        floor = total_bytes(top[-1]) + 1 if len(top) > keep else 0
        self.members.clear()
        self.members.update(c for c in top if total_bytes(c) >= floor)
        self.floor = floor
        return top

    def top(self, need: int, fresh: Iterable, walk: Callable[[], Iterable]) -> list | None:
        """The ``need`` listed conversations with the most bytes, largest first, ties in
        listed order: ``sorted(listing, key=total_bytes, reverse=True)[:need]``. ``fresh``:
        the listed conversations counted since the last fold; ``walk()``: the listing, in
        order (walked only to order equal values). None: fewer than ``need`` to choose from."""
        floor = self.floor
        found = set(self.members)
        found.update(c for c in fresh if c.ab_b + c.ba_b >= floor)
        if len(found) < need:
            return None
        if need <= 0:
            return []
        ranked = heapq.nlargest(need, found, key=total_bytes)
        last = total_bytes(ranked[-1])
        head = [c for c in found if c.ab_b + c.ba_b >= last]  # the answer and its ties
        values = [c.ab_b + c.ba_b for c in head]
        if len(set(values)) == len(values):  # no ties: the order by value is the answer
            return ranked
        counts: dict[int, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        tied = {c for c, v in zip(head, values) if counts[v] > 1}
        order = self.order
        if not all(map(order.__contains__, tied)):
            # the tied ones in listed order: a walk in C (filter, islice) that stops at the
            # last; what it found replaces what an earlier walk had placed
            order.clear()
            order.update(zip(itertools.islice(filter(tied.__contains__, walk()), len(tied)),
                             itertools.count()))
        get = order.get
        head.sort(key=lambda c: (-(c.ab_b + c.ba_b), get(c, 0)))
        return head[:need]
