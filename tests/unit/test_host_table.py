"""The hosts as columns (core/hosts.py): the same figures, rates, peaks and application
protocols as one object per host with its own packed history (what the engine kept before),
through folds over many seconds, hosts folding into another and their ids used again; the
handles; the rows and rate keys read from the columns."""

from __future__ import annotations

import random

import numpy as np

from tuimon.capture.decode import V6
from tuimon.core.conversation import Host
from tuimon.core.engine import Engine
from tuimon.core.hosts import HostsView, HostTable, StoredHost
from tuimon.core.rates import bump_packed, rate2_packed, rate_key, rates_packed
from tuimon.core.names import OTHER_HOSTS
from tuimon.core.rows import RowBuilder

NAMES = [None, "dns", "tls", "http"]


def table() -> HostTable:
    names = list(NAMES)
    return HostTable(names, lambda n: names.index(n) if n in names else names.append(n) or
                     len(names) - 1)


class Model:
    """One plain Host per address, counted as the engine did before the columns."""

    def __init__(self) -> None:
        self.hosts: dict[int, Host] = {}

    def count(self, addr, p, b, first, last, sec) -> None:
        h = self.hosts[addr]
        h.packets += p
        h.bytes += b
        h.tx_p += p
        h.rx_b += 2 * b
        h.first, h.last = min(h.first, first), max(h.last, last)
        h.hist = bump_packed(h.hist, sec, b)
        h.peak = max(h.peak, rate2_packed(h.hist, sec))

    def app(self, addr, name, b) -> None:
        h = self.hosts[addr]
        h.apps = h.apps or {}
        h.apps[name] = h.apps.get(name, 0) + b


def drive(seed: int, seconds: int = 90):
    rng = random.Random(seed)
    t, m = table(), Model()
    other = t.add(-1, float("inf"))
    t.last[other] = -float("inf")
    m.hosts[-1] = Host(-1, float("inf"))
    m.hosts[-1].last = -float("inf")
    next_addr = 1
    for sec in range(1000, 1000 + seconds, rng.choice((1, 1, 3))):
        for _ in range(rng.randrange(4)):  # new hosts
            t.add(next_addr, float(sec))
            m.hosts[next_addr] = Host(next_addr, float(sec))
            next_addr += 1
        live = [a for a in t.ids if a != -1]
        for _fold in range(rng.choice((1, 2))):  # (a second's fold may come in parts)
            picked = rng.sample(live, rng.randrange(len(live) + 1))
            if not picked:
                continue
            hids = np.array([t.ids[a] for a in picked], np.int64)
            p = np.array([rng.randrange(1, 5) for _ in picked], np.int64)
            b = np.array([rng.choice((0, 60, 1500, 9000)) for _ in picked], np.int64)
            f = np.full(len(picked), sec + 0.25)
            t.count(hids, p, b, p, np.zeros_like(p), np.zeros_like(p), 2 * b, f, f + 0.5)
            t.bump(hids, sec, b)
            for a, pp, bb in zip(picked, p.tolist(), b.tolist()):
                m.count(a, pp, bb, sec + 0.25, sec + 0.75, sec)
            apps = [(a, rng.randrange(1, 4), rng.randrange(100)) for a in picked[:3]]
            t.add_apps([t.ids[a] for a, _, _ in apps], [n for _, n, _ in apps],
                       [x for _, _, x in apps])
            for a, n, x in apps:
                m.app(a, NAMES[n], x)
        if live and rng.random() < 0.2:  # some hosts fold into the other one
            gone = rng.sample(live, rng.randrange(1, min(4, len(live)) + 1))
            held = [t.handle(t.ids[a]) for a in gone[:1]]
            plain = t.fold_into([t.ids[a] for a in gone], other, True)
            assert [h.addr for h in plain] == gone and plain[0] is held[0]
            o = m.hosts[-1]
            for a, h in zip(gone, plain):
                ref = m.hosts.pop(a)
                assert figures(h) == figures(ref) and h.__class__ is Host
                assert rates_packed(h.hist, sec) == rates_packed(ref.hist, sec)
                o.packets += ref.packets
                o.bytes += ref.bytes
                o.tx_p += ref.tx_p
                o.rx_b += ref.rx_b
                o.first, o.last = min(o.first, ref.first), max(o.last, ref.last)
                for name, x in (ref.apps or {}).items():
                    m.app(-1, name, x)
        yield sec, t, m


def figures(h) -> tuple:
    return (h.addr, h.packets, h.bytes, h.tx_p, h.tx_b, h.rx_p, h.rx_b, h.first, h.last,
            h.peak, h.apps or None)


def test_the_columns_count_as_one_object_per_host_did():
    for seed in range(6):
        for sec, t, m in drive(seed):
            view = HostsView(t)
            assert list(view) == list(m.hosts)  # the hosts' order: as they were made
            for now in (sec, sec + 1.5, sec + 12, sec + 45):
                hids = np.array([t.ids[a] for a in m.hosts], np.int64)
                got = list(zip(*(r.tolist() for r in t.rates(hids, now))))
                assert got == [rates_packed(h.hist, now) for h in m.hosts.values()]
            for a, ref in m.hosts.items():
                h = view[a]
                assert figures(h) == figures(ref)
                assert rates_packed(h.hist, sec + 0.5) == rates_packed(ref.hist, sec + 0.5)
                assert rate2_packed(h.hist, sec) == rate2_packed(ref.hist, sec)


def test_ids_are_used_again_and_the_history_does_not_follow_them():
    t = table()
    a = t.add(10, 1.0)
    t.bump(np.array([a]), 100, np.array([500]))
    t.bump(np.array([a]), 101, np.array([700]))
    other = t.add(99, 0.0)
    held = t.handle(a)
    t.fold_into([a], other, False)
    assert held.__class__ is Host and held.hist == [100 << 48 | 500, 101 << 48 | 700]
    b = t.add(11, 102.0)
    assert b == a and t.handle(b) is not held and t.hist_of(b) is None
    assert t.rates(np.array([b]), 101.5) == (0.0, 0.0, 0.0) and t.peak[b] == 0.0
    assert held.addr == 10 and HostsView(t).get(10) is None and 11 in HostsView(t)


def test_handles_are_the_same_object_while_held():
    t = table()
    t.add(5, 1.0)
    view = HostsView(t)
    h = view[5]
    assert isinstance(h, StoredHost) and view.get(5) is h and view.values() == [h]
    assert view.items() == [(5, h)] and len(view) == 1


def test_labels_move_a_hosts_bytes_between_protocols():
    t = table()
    t.add(1, 0.0)
    t.give_app(1, "dns", 100)
    assert t.apps_of(0) == {"dns": 100}
    t.give_app(1, "quic", 40)  # (a name the fold never handed)
    t.take_app(1, "dns", 30)
    assert t.apps_of(0) == {"dns": 70, "quic": 40}
    t.take_app(1, "quic", 40)
    t.take_app(2, "dns", 5)  # (no such host)
    assert t.apps_of(0) == {"dns": 70}
    t.add(2, 0.0)
    t.give_app(2, "tls", 9)
    t.take_app(2, "tls", 9)
    assert not t.apps_of(1)


def test_rows_and_rate_keys_read_the_columns_as_the_objects(kit):
    e = Engine()
    for s in range(5):
        e.ingest([kit.record(f"10.0.0.{i % 7 + 1}", "10.9.9.9", 1000 + i, 53, proto=17,
                             size=60 + 10 * i, ts=1000.0 + s + i / 100) for i in range(30)])
        e.fold()
    hosts = list(e.hosts.values())
    plain = []
    for h in hosts:
        p = Host(h.addr, h.first)
        for name in ("packets", "bytes", "tx_p", "tx_b", "rx_p", "rx_b", "last", "peak",
                     "hist", "apps"):
            setattr(p, name, getattr(h, name))
        plain.append(p)
    for now in (e.now, e.now + 5):
        assert e._rows.host_rows(hosts, now, True, e._hosts) == \
            RowBuilder.host_rows(plain, now, True)
        for window in range(3):
            assert [rate_key(window, now)(h) for h in hosts] == \
                [rate_key(window, now)(p) for p in plain]
    assert any(r.rate_2s for r in e.host_rows())


def test_what_is_kept_a_while_is_in_memory_of_its_own():
    """A rate history's second and the expiry wheel's slots (kept for seconds, while the
    fold's temporaries come and go) are copied out of the heap from 64 KiB on, so a
    long-lived array does not keep the heap from shrinking under it."""
    import mmap

    from tuimon.core.store import kept, mapped

    def own(a) -> bool:  # an array over an anonymous map of its own
        return isinstance(a.base, memoryview) and isinstance(a.base.obj, mmap.mmap)

    big, small = kept(np.arange(20_000), np.int32), kept(np.arange(100), np.int32)
    assert big.dtype == np.int32 and big.tolist() == list(range(20_000))
    assert own(big) and not own(small)
    assert own(mapped(1 << 17, np.int64))
    t = table()
    hids = np.array([t.add(a, 0.0) for a in range(20_000)], np.int64)
    for sec in (1, 2):
        t.bump(hids, sec, np.ones(20_000, np.int64))
    ids, nbytes = t.past[1]
    assert own(ids) and own(nbytes)
    assert ids.tolist() == hids.tolist()


def test_find_v4_is_what_the_address_dict_says():
    """The sorted IPv4 addresses (a batch's lookups at once) follow hosts made, folded
    away and made again, interleaved with lookups; IPv6 and the other-hosts row are not
    in them."""
    r = random.Random(8)
    t = table()
    other = t.add(OTHER_HOSTS, 0.0)
    t.add(V6 | 5, 0.0)
    universe = [r.getrandbits(32) for _ in range(400)] + [0, (1 << 32) - 1]
    for step in range(300):
        for a in r.sample(universe, 5):
            if a not in t.ids:
                t.add(a, float(step))
        if r.random() < 0.3:
            live = [h for a, h in t.ids.items() if 0 <= a < 1 << 32]
            t.fold_into(r.sample(live, min(len(live), r.randrange(1, 6))), other, False)
        if r.random() < 0.5:
            ask = np.array(r.sample(universe, 50) + [1 << 40], np.uint64)
            assert t.find_v4(ask).tolist() == [t.ids.get(a, -1) for a in ask.tolist()]
