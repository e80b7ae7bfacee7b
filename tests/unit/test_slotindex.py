"""The index from conversation keys to slots (core/slotindex.py; its C side in
capture/walk.c): the compiled SlotIndex answers as the pure-Python DictIndex, step by step,
through thousands of interleaved inserts, finds and removals (IPv4 and IPv6 keys, the
all-zero key, keys apart in one word only, keys sharing a home entry, runs wrapping around
the table's end, the table doubling several times, slots freed and given new keys, the
store's key array reallocated); and the compiled one is what slot_index gives where the
compiled stage is built. Mutants of the C removal (a wrong backward-shift rule, no shift)
are compiled and caught, by the library's self-test and by the step-by-step comparison.

The compiled tests are skipped, with the reason, only where the machine has no C compiler."""

from __future__ import annotations

import ctypes
import random
import subprocess

import numpy as np
import pytest

from tuimon.capture import cwalk
from tuimon.core.slotindex import INITIAL, DictIndex, SlotIndex, slot_index


def home(keys: np.ndarray, mask: int) -> np.ndarray:
    """walk.c's hash of key rows (mix of the five words, then finish), masked: numpy."""
    k = keys.astype(np.uint64)
    u = np.uint64
    with np.errstate(over="ignore"):
        h = k[:, 0].copy()
        for w in range(1, 5):
            h = h ^ (k[:, w] + u(0x9E3779B97F4A7C15) + (h << u(6)) + (h >> u(2)))
        h ^= h >> u(33)
        h *= u(0xFF51AFD7ED558CCD)
        h ^= h >> u(33)
        h *= u(0xC4CEB9FE1A85EC53)
        h ^= h >> u(33)
    return (h & u(mask)).astype(np.int64)


def word0(six, proto, ported, lo, hi):
    return (six << 41) | (proto << 33) | (ported << 32) | (lo << 16) | hi


class Keys:
    """Random keys of several kinds, never one twice among those given out."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seen: set[tuple] = set()
        # keys whose home is one of the last 6 entries of the first table: runs there
        # wrap around its end
        pool = np.zeros((200_000, 5), dtype=np.uint64)
        pool[:, 0] = word0(0, 17, 1, 53, 0)
        pool[:, 1] = np.arange(len(pool), dtype=np.uint64)
        pool[:, 2] = 0x0A000001
        self.wrap = [tuple(r) for r in pool[home(pool, INITIAL - 1) >= INITIAL - 6].tolist()]
        self.rng.shuffle(self.wrap)

    def one(self) -> tuple:
        r = self.rng
        while True:
            kind = r.random()
            if kind < 0.3:  # IPv4, ports or not
                ported = r.random() < 0.8
                lo, hi = sorted(r.getrandbits(32) for _ in range(2))
                k = (word0(0, r.choice((6, 17, 1)), ported, r.getrandbits(16) * ported,
                           r.getrandbits(16) * ported), lo, hi, 0, 0)
            elif kind < 0.5:  # IPv6
                k = (word0(1, r.choice((6, 17, 58)), 1, r.getrandbits(16), r.getrandbits(16)),
                     *(r.getrandbits(64) for _ in range(4)))
            elif kind < 0.75:  # few values a word: keys apart in one word, the zero key
                k = tuple(r.choice((0, 1, 2, 1 << 63, (1 << 64) - 1)) for _ in range(5))
            elif kind < 0.9 and self.wrap:  # sharing a home near the table's end
                k = self.wrap.pop()
            else:  # any words
                k = tuple(r.getrandbits(64) for _ in range(5))
            if k not in self.seen:
                self.seen.add(k)
                return k

    def again(self, k: tuple) -> None:
        """``k`` may be given out again (its conversation is gone)."""
        self.seen.discard(k)


class Store:
    """A model of the columnar store: a key array that grows by reallocation (a new array,
    the old one scribbled over), slots freed and reused."""

    def __init__(self) -> None:
        self.keys = np.zeros((64, 5), dtype=np.uint64)
        self.free: list[int] = list(range(63, -1, -1))
        self.live: set[int] = set()

    def take(self, rows: list[tuple]) -> np.ndarray:
        while len(self.free) < len(rows):
            old = self.keys
            self.keys = np.zeros((2 * len(old), 5), dtype=np.uint64)
            self.keys[: len(old)] = old
            old[:] = 0xDEAD  # whoever kept the old array reads garbage
            self.free.extend(range(len(self.keys) - 1, len(old) - 1, -1))
        slots = [self.free.pop() for _ in rows]
        self.keys[slots] = np.array(rows, dtype=np.uint64).reshape(-1, 5)
        self.live.update(slots)
        return np.array(slots, dtype=np.int64)

    def drop(self, slots: list[int]) -> None:
        self.live.difference_update(slots)
        self.free.extend(slots)


def _run(index, seed: int, steps: int, top: int, check_every: int = 1) -> dict:
    """``steps`` rounds of inserts, finds and removals on ``index`` and on a DictIndex,
    the live conversations growing towards ``top``, then falling, then growing again;
    asserts they agree at every step. Returns what was seen."""
    rng = random.Random(seed)
    gen, store, ref = Keys(seed), Store(), DictIndex()
    gone: list[tuple] = []  # keys removed: looked for, and sometimes given again
    sizes, shifts, wrapped = set(), 0, 0
    for step in range(steps):
        phase = step * 3 // steps  # grow, fall, grow again
        target = top if phase != 1 else top // 8
        live = len(store.live)
        n_in = rng.randrange(0, 2 * max(1, (target - live) * 3 // (steps // 3)) + 8)
        n_out = rng.randrange(0, min(live, 24) + 1) if live > target // 2 or phase == 1 \
            else rng.randrange(0, 4)
        # removals first: their key rows still intact
        if n_out and store.live:
            t = getattr(index, "_table", None)
            if t is not None and t[-1] >= 0 and t[0] >= 0:
                wrapped += 1  # a run crosses the table's end: shifts may cross it
            out = rng.sample(sorted(store.live), min(n_out, len(store.live)))
            rows = [tuple(r) for r in store.keys[out].tolist()]
            index.remove(store.keys, np.array(out, dtype=np.int64))
            ref.remove(store.keys, np.array(out, dtype=np.int64))
            store.drop(out)
            gone.extend(rows)
            shifts += len(out)
            if rng.random() < 0.5:  # a freed slot's row is rewritten by the next owner
                for r in rows:
                    gen.again(r)
        if n_in:
            rows = [gen.one() for _ in range(n_in)]
            slots = store.take(rows)
            index.insert(store.keys, slots)
            ref.insert(store.keys, slots)
        assert index.count == ref.count == len(store.live)
        if hasattr(index, "nbytes"):
            sizes.add(index.nbytes // 8)
            assert 2 * index.count <= index.nbytes // 8
        # finds: live keys, removed ones, new ones, in one mixed batch
        q = [tuple(r) for r in store.keys[rng.sample(sorted(store.live),
                                                       min(40, len(store.live)))].tolist()]
        q += rng.sample(gone, min(20, len(gone))) + [gen.one() for _ in range(5)]
        rng.shuffle(q)
        qa = np.array(q, dtype=np.uint64).reshape(-1, 5)
        got, want = index.find(store.keys, qa), ref.find(store.keys, qa)
        assert got.dtype == np.int64 and got.tolist() == want.tolist(), step
        if step % check_every == 0 or step == steps - 1:  # every live key, in C
            live_slots = np.array(sorted(store.live), dtype=np.int64)
            found = index.find(store.keys, np.ascontiguousarray(store.keys[live_slots]))
            assert (found == live_slots).all(), step
    return {"sizes": sizes, "removed": shifts, "live": len(store.live), "wrapped": wrapped}


def test_compiled_as_the_dict_through_growth_and_removals(walk):
    """Several thousand steps, the table doubling from 1,024 entries to 65,536 and the
    live conversations falling to an eighth between: the same answers every step."""
    seen = _run(SlotIndex(walk), seed=1, steps=3000, top=24_000, check_every=10)
    assert {INITIAL, 2 * INITIAL, 4 * INITIAL, 64 * INITIAL} <= seen["sizes"]
    assert seen["removed"] > 10_000 and seen["wrapped"] > 100, seen


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_compiled_as_the_dict_in_a_small_table(walk, seed):
    """Few conversations, the table at its first size: the runs near its end (the keys
    sharing a home there) wrap round, and removals shift entries back across the wrap."""
    index = SlotIndex(walk)
    seen = _run(index, seed=seed, steps=1500, top=400)
    assert seen["sizes"] == {INITIAL}
    assert seen["wrapped"] > 100, seen  # removals while a run crossed the table's end


def test_a_run_across_the_wrap_taken_apart(walk):
    """60 keys with homes in the last six entries of a 1,024-entry table: one run from
    there round to entry 50 or beyond. Taken out one by one in random orders, the rest
    are found after every removal, and each leaves the table as if never inserted."""
    gen = Keys(9)
    rows = [gen.wrap.pop() for _ in range(60)]
    keys = np.array(rows, dtype=np.uint64)
    for seed in range(5):
        index = SlotIndex(walk)
        slots = np.arange(60, dtype=np.int64)
        random.Random(seed).shuffle(slots)
        index.insert(keys, slots[:30])
        index.insert(keys, slots[30:])
        t = index._table
        assert index.find(keys, keys).tolist() == list(range(60))
        assert (t[-4:] >= 0).all() and (t[:50] >= 0).all()
        left = set(range(60))
        for s in random.Random(seed + 100).sample(range(60), 60):
            index.remove(keys, np.array([s]))
            left.discard(s)
            found = index.find(keys, keys)
            assert found.tolist() == [i if i in left else -1 for i in range(60)]
            # as a fresh table holding the rest in the same order of insertion
            fresh = SlotIndex(walk)
            fresh.insert(keys, np.array([i for i in slots if i in left], dtype=np.int64))
            assert fresh._table.tolist() == t.tolist()
        assert (t == -1).all() and index.count == 0


def test_keys_apart_in_one_word(walk):
    """Keys equal but for one word (each of the five in turn), in a table where many
    share an entry's neighbourhood: every word is compared."""
    base = np.array([word0(1, 17, 1, 1000, 2000), 5, 9, 1, 2], dtype=np.uint64)
    keys = np.tile(base, (5 * 600, 1))
    for w in range(5):
        keys[w * 600:(w + 1) * 600, w] += np.arange(600, dtype=np.uint64)
    keys = np.unique(keys, axis=0)  # the base key is in each group once
    keys = np.ascontiguousarray(keys)
    index, ref = SlotIndex(walk), DictIndex()
    slots = np.arange(len(keys), dtype=np.int64)
    index.insert(keys, slots)
    ref.insert(keys, slots)
    assert index.find(keys, keys).tolist() == slots.tolist()
    other = keys.copy()
    other[:, 4] += np.uint64(1 << 40)
    assert (index.find(keys, other) == ref.find(keys, other)).all()
    assert index.find(keys, other[:1000]).tolist() == ref.find(keys, other[:1000]).tolist()


def test_the_zero_key_and_the_all_ones_key(walk):
    keys = np.zeros((3, 5), dtype=np.uint64)
    keys[1] = np.uint64((1 << 64) - 1)
    keys[2, 0] = 1
    for index in (SlotIndex(walk), DictIndex()):
        index.insert(keys, np.array([0, 1]))
        assert index.find(keys, keys).tolist() == [0, 1, -1]
        index.remove(keys, np.array([0]))
        assert index.find(keys, keys).tolist() == [-1, 1, -1]
        index.insert(keys, [2, 0])
        assert index.find(keys, keys).tolist() == [0, 1, 2] and index.count == 3


def test_the_hash_is_walk_cs(walk):
    """A key lands at its home under the Python model of walk.c's hash (the model the
    other tests pick colliding keys with)."""
    gen = Keys(5)
    keys = np.array([gen.one() for _ in range(300)], dtype=np.uint64)
    homes = home(keys, INITIAL - 1)
    for s in range(300):
        index = SlotIndex(walk)
        index.insert(keys, [s])
        assert index._table[homes[s]] == s


def test_empty_calls_and_wrong_arrays(walk):
    keys = np.zeros((4, 5), dtype=np.uint64)
    for index in (SlotIndex(walk), DictIndex()):
        index.insert(keys, np.empty(0, dtype=np.int64))
        index.remove(keys, [])
        assert index.find(keys, np.empty((0, 5), dtype=np.uint64)).tolist() == []
        assert index.count == 0
        with pytest.raises(ValueError):
            index.find(keys, np.zeros((2, 5), dtype=np.int64))  # not uint64
        with pytest.raises(ValueError):
            index.find(keys, np.zeros((2, 10), dtype=np.uint64)[:, ::2])  # not contiguous
    index = SlotIndex(walk)
    index.insert(keys, [3])
    with pytest.raises(ValueError):  # a key array without the rows of the index's slots
        index.find(keys[:2], keys[:1])
    with pytest.raises(ValueError):
        index.insert(keys, [4])
    with pytest.raises(ValueError):
        SlotIndex(walk, size=1000)


def test_slot_index_picks_the_compiled_one_where_built(walk, monkeypatch):
    """Where the compiled stage is built, the index is the C one (its functions the
    walker's); without it (TUIMON_NO_CWALK=1: no walker) the dict."""
    index = slot_index(walk)
    assert type(index) is SlotIndex
    assert index._find is walk.index_find and index._insert is walk.index_insert
    calls = []
    real = walk.index_find
    monkeypatch.setattr(walk, "index_find",
                        lambda *a: calls.append(a[4]) or real(*a))
    keys = np.zeros((2, 5), dtype=np.uint64)
    keys[1, 1] = 7
    index = slot_index(walk)
    index.insert(keys, [0, 1])
    assert index.find(keys, keys).tolist() == [0, 1] and calls == [2]
    monkeypatch.setenv(cwalk.ENV_OFF, "1")
    assert cwalk.walker() is None
    assert type(slot_index(cwalk.walker())) is DictIndex
    assert type(slot_index()) is DictIndex


# -- mutants of the C side: the tests above and the self-test must catch them -------------

SHIFT_RULE = "if (((j - h) & tmask) >= ((j - hole) & tmask)) {"
MUTANTS = {
    "wrong shift rule": (SHIFT_RULE, SHIFT_RULE.replace(">=", ">")),
    "no shift": (SHIFT_RULE, "if (0) {"),
    "a word not compared": ("k[3] == x[3] && ", ""),
}


def _mutant(tmp_path, old: str, new: str) -> cwalk.Walker:
    source = cwalk.SOURCE.read_text()
    assert source.count(old) == 1
    path = tmp_path / "mutant.c"
    path.write_text(source.replace(old, new))
    lib = tmp_path / "mutant.so"
    subprocess.run([cwalk.compiler(), *cwalk.FLAGS, "-o", str(lib), str(path)], check=True,
                   timeout=120, capture_output=True)
    return cwalk.Walker(ctypes.CDLL(str(lib)))


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutants_are_caught(walk, tmp_path, name):
    mutant = _mutant(tmp_path, *MUTANTS[name])
    if name != "a word not compared":  # the self-test's keys differ in word 0 only
        with pytest.raises(RuntimeError, match="self-test"):
            mutant.self_test()
    with pytest.raises(AssertionError):
        _run(SlotIndex(mutant), seed=2, steps=1500, top=400)


def test_room_made_at_once_keeps_every_slot_found(walk):
    """reserve: the table grows to hold n at most half full in one step, what was in it
    entered again and found; it never shrinks, and inserts past it still grow it."""
    rng = np.random.default_rng(9)
    keys = np.ascontiguousarray(rng.integers(0, 1 << 63, (5000, 5), dtype=np.uint64))
    index, ref = SlotIndex(walk), DictIndex()
    first = np.arange(300, dtype=np.int64)
    for ix in (index, ref):
        ix.insert(keys, first)
        ix.reserve(keys, 2000)
    assert index.nbytes == 4096 * 8  # 2 * 2000 -> 4096 entries
    assert index.find(keys, keys).tolist() == ref.find(keys, keys).tolist()
    index.reserve(keys, 10)
    assert index.nbytes == 4096 * 8  # never smaller
    rest = np.arange(300, 5000, dtype=np.int64)
    for ix in (index, ref):
        ix.insert(keys, rest)
    assert index.nbytes == 16384 * 8 and index.count == 5000
    assert index.find(keys, keys).tolist() == list(range(5000))
