"""The CPU share the rest of the machine leaves for tshark, read from /proc: a process's
own busy time counts as free when it is the one asked about, and as taken otherwise."""

from __future__ import annotations

import os
import time

from tuimon.server.cpushare import FreeShare


def test_a_busy_process_counts_as_free_only_when_it_is_tsharks():
    me = os.getpid()
    others, mine = FreeShare(), FreeShare()
    assert others.sample([]) == 1.0 and mine.sample([me]) == 1.0  # no interval yet
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    taken, left_to_me = others.sample([]), mine.sample([me])
    assert 0.0 <= taken < left_to_me <= 1.0


def test_an_unreadable_process_means_plenty_free():
    share = FreeShare()
    share.sample([])
    assert share.sample([2 ** 22 + 12345]) == 1.0  # no such pid: nothing to hold back
