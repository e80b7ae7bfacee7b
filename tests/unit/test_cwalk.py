"""The compiled record walk (capture/walk.c, loaded by capture/cwalk.py) stops exactly
where the reader's Python walks stop: the same offsets and end position on every capture
of tests/data (pcap and pcapng, both byte orders), at every cut of a few small ones, on
damaged lengths and on random bytes; the reader's records are the same with it and with
TUIMON_NO_CWALK=1; and whatever keeps it from being built, the reader walks in Python.

Skipped, with the reason, only where the machine has no C compiler."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import pcapbuild as pb
from tests.support.feed import feed
from tuimon.capture import cwalk
from tuimon.capture.columns import COLUMNS, PacketColumns
from tuimon.capture.decode import IPV4, IPV6
from tuimon.capture.reader import MAX_BLOCK, MAX_RECORD, CaptureReader

DATA = Path(__file__).parent.parent / "data"
CAPTURES = sorted(p for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
SMALL = ["dns.pcap", "dlt_ppp.pcap", "nats.pcap", "gre.pcapng", "esp.pcapng",
         "hsrp2_ipv6.pcapng"]
SHB = b"\x0a\x0d\x0d\x0a"


def _readers(walk, fmt: str, endian: str, limit: int = MAX_RECORD):
    """A reader that walks in Python and one that walks compiled, set to ``fmt``."""
    out = []
    for c in (None, walk):
        r = CaptureReader("t", columns=True)
        r._cwalk, r.format, r._endian, r._limit = c, fmt, endian, limit
        out.append(r)
    return out


def _same(walk, buf, pos: int, fmt: str, endian: str, limit: int = MAX_RECORD):
    """Both walks from ``pos`` in ``buf``: assert they agree; the Python one's answer."""
    py, c = _readers(walk, fmt, endian, limit)
    pcap = fmt == "pcap"
    po, pe = py._walk(pcap, buf, pos, len(buf))
    if pcap:
        co, ce = walk.pcap(buf, pos, len(buf), endian == ">", limit)
    else:
        co, ce = walk.pcapng(buf, pos, len(buf), endian == ">", MAX_BLOCK)
    assert c._walk(pcap, buf, pos, len(buf))[1] == pe  # the reader's choice of the two
    assert isinstance(co, np.ndarray) and co.dtype == np.int64
    assert (co.tolist(), ce) == (po, pe), (fmt, endian, pos, len(buf))
    assert type(ce) is int
    return po, pe


def _pcap_endian(data: bytes) -> str:
    return "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"


def _blocks(data: bytes) -> list[tuple[int, str]]:
    """A pcapng file's block starts and their byte order."""
    out, pos, e = [], 0, "<"
    while len(data) - pos >= 12:
        if data[pos : pos + 4] == SHB:
            e = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack_from(e + "I", data, pos + 4)[0]
        if blen < 12 or blen % 4 or len(data) - pos < blen:
            break
        out.append((pos, e))
        pos += blen
    return out


def _records(data: bytes, e: str) -> list[int]:
    """A pcap file's record starts."""
    out, pos = [], 24
    while len(data) - pos >= 16:
        incl = struct.unpack_from(e + "I", data, pos + 8)[0]
        if len(data) - pos - 16 < incl:
            break
        out.append(pos)
        pos += 16 + incl
    return out


def _big(path: Path, tmp: Path) -> bytes:
    """A capture's frames rewritten big-endian (as pcap or as pcapng, like the file)."""
    data = path.read_bytes()
    if data[:4] == SHB:
        frames = []
        for pos, e in _blocks(data):
            btype, blen = struct.unpack_from(e + "II", data, pos)
            if btype == 6:
                caplen, orig = struct.unpack_from(e + "II", data, pos + 20)
                frames.append((0, len(frames), data[pos + 28 : pos + 28 + caplen], orig))
        pb.write_pcapng(tmp, [{"linktype": 1, "name": "x"}], frames, endian=">")
    else:
        e = _pcap_endian(data)
        frames = [(1e9 + i, data[p + 16 : p + 16 + struct.unpack_from(e + "I", data, p + 8)[0]])
                  for i, p in enumerate(_records(data, e))]
        pb.write_pcap(tmp, frames, endian=">")
    return tmp.read_bytes()


def _check_file(walk, data: bytes, rng: random.Random, spots: int = 40) -> int:
    """Both walks over a whole file (from each run's start), and from ``spots`` random
    offsets in either byte order; returns how many records the walks found."""
    found = 0
    if data[:4] == SHB:
        for pos, e in _blocks(data):
            offs, _ = _same(walk, data, pos, "pcapng", e)
            found += len(offs)
        fmt = "pcapng"
    else:
        e = _pcap_endian(data)
        pos = 24
        while pos < len(data):
            offs, end = _same(walk, data, pos, "pcap", e)
            found += len(offs)
            if end == pos:
                break
            pos = end
        fmt = "pcap"
    for _ in range(spots):  # anywhere, even mid-record: both must read the same lengths
        _same(walk, data, rng.randrange(len(data)), fmt, rng.choice("<>"),
              rng.choice((MAX_RECORD, 64, 1500)))
    return found


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_capture_walks_the_same(walk, path, tmp_path):
    rng = random.Random(path.name)
    found = _check_file(walk, path.read_bytes(), rng)
    assert found > 0
    big = _big(path, tmp_path / ("b" + path.suffix))
    assert _check_file(walk, big, rng) > 0


@pytest.mark.parametrize("name", SMALL)
def test_every_cut_of_small_captures(walk, name):
    data = (DATA / name).read_bytes()
    if data[:4] == SHB:
        starts = [(p, e) for p, e in _blocks(data)
                  if struct.unpack_from(e + "I", data, p)[0] == 6][:3]
        fmt = "pcapng"
    else:
        e = _pcap_endian(data)
        starts = [(p, e) for p in _records(data, e)[:3]]
        fmt = "pcap"
    assert starts
    for cut in range(len(data) + 1):
        buf = data[:cut]
        for pos, e in starts:
            if pos <= cut:
                _same(walk, buf, pos, fmt, e)


def test_damaged_pcapng_lengths(walk, tmp_path):
    frames = [(0, i, pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 17, pb.udp(1, 2, b"x" * i))))
              for i in range(40)]
    for endian in "<>":
        pb.write_pcapng(tmp_path / "d.pcapng", [{"linktype": 1, "name": "x"}], frames,
                        endian=endian)
        data = (tmp_path / "d.pcapng").read_bytes()
        epbs = [p for p, e in _blocks(data) if struct.unpack_from(endian + "I", data, p)[0] == 6]
        first = epbs[0]
        for k in (0, 1, 17, len(epbs) - 1):
            at = epbs[k]
            blen = struct.unpack_from(endian + "I", data, at + 4)[0]
            for bad in (0, 4, 12, 28, 31, 32, 33, 34, 36, blen - 4, blen + 1, blen + 4,
                        MAX_BLOCK - 4, MAX_BLOCK, MAX_BLOCK + 4, 0x7FFFFFFC, 0x80000000,
                        0xFFFFFFFC, 0xFFFFFFFF):
                buf = data[: at + 4] + struct.pack(endian + "I", bad) + data[at + 8 :]
                offs, end = _same(walk, buf, first, "pcapng", endian)
                if bad < 32 or bad % 4 or bad > MAX_BLOCK or at + bad > len(buf):
                    assert (len(offs), end) == (k, at)  # stopped at the damage
            for btype in (5, 0x106, 0x06000000, 1, 0x0A0D0D0A):
                buf = data[:at] + struct.pack(endian + "I", btype) + data[at + 4 :]
                offs, end = _same(walk, buf, first, "pcapng", endian)
                assert len(offs) == k and end == at
        offs, _ = _same(walk, data, first, "pcapng", endian)
        assert offs == epbs


def test_damaged_pcap_lengths(walk, tmp_path):
    frames = [pb.eth(pb.ipv4("10.0.0.1", "10.0.0.2", 6, pb.tcp(1, 2, 0x10, b"y" * i)))
              for i in range(40)]
    for endian in "<>":
        pb.write_pcap(tmp_path / "d.pcap", frames, endian=endian)
        data = (tmp_path / "d.pcap").read_bytes()
        recs = _records(data, endian)
        assert len(recs) == 40
        for k in (0, 1, 17, len(recs) - 1):
            at = recs[k]
            for bad in (0, 1, 63, 64, 65, 1500, MAX_RECORD, MAX_RECORD + 1, 0x7FFFFFFF,
                        0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, len(data) - at - 16,
                        len(data) - at - 15):
                buf = data[: at + 8] + struct.pack(endian + "I", bad) + data[at + 12 :]
                for limit in (MAX_RECORD, 64, 128 * 1024 * 1024):
                    _same(walk, buf, 24, "pcap", endian, limit)
        for limit in (0, 60, 64, 100, MAX_RECORD):  # stopped by the link type's maximum
            _same(walk, data, 24, "pcap", endian, limit)


@pytest.mark.parametrize("seed", range(6))
def test_random_records_and_bytes(walk, seed):
    """Runs of records of random lengths, some of them wrong, then random bytes."""
    rng = random.Random(seed)
    for _ in range(150):
        e = rng.choice("<>")
        parts = []
        for _ in range(rng.randrange(40)):
            if rng.random() < 0.5:  # a pcapng block
                body = rng.randrange(0, 200)
                blen = 32 + body - body % 4
                if rng.random() < 0.05:
                    blen = rng.choice((rng.randrange(1 << 32), blen + rng.randrange(1, 8)))
                btype = 6 if rng.random() < 0.9 else rng.randrange(1 << 32)
                rec = struct.pack(e + "II", btype, blen) + bytes(rng.randrange(256)
                                                                  for _ in range(24 + body))
            else:  # a pcap record
                incl = rng.randrange(0, 200)
                if rng.random() < 0.05:
                    incl = rng.randrange(1 << 32)
                rec = (bytes(8) + struct.pack(e + "II", incl, incl)
                       + bytes(rng.randrange(256) for _ in range(min(incl, 200))))
            parts.append(rec)
        buf = b"".join(parts) + bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        if not buf:
            continue
        pos = rng.choice((0, rng.randrange(len(buf))))
        for fmt in ("pcap", "pcapng"):
            _same(walk, buf, pos, fmt, e, rng.choice((MAX_RECORD, 100, 1 << 27)))


def test_a_buffer_not_of_bytes(walk):
    """bytearray and memoryview chunks (fed as they come) walk the same as bytes."""
    data = (DATA / "hsrp2_ipv6.pcapng").read_bytes()
    (pos, e), = [(p, e) for p, e in _blocks(data)
                 if struct.unpack_from(e + "I", data, p)[0] == 6][:1]
    want = _same(walk, data, pos, "pcapng", e)
    assert len(want[0]) > 1
    for buf in (bytearray(data), memoryview(data)):
        offs, end = walk.pcapng(buf, pos, len(data), e == ">", MAX_BLOCK)
        assert (offs.tolist(), end) == want


def _read(data: bytes, steps) -> tuple[CaptureReader, list]:
    reader = CaptureReader("t", columns=True)
    batches = feed(reader, data, steps)
    reader.finish()
    return reader, batches


def _plain(batches):
    return [(i, ts, w, dec, way, bytes(buf[s:e]))
            for b in batches for i, ts, w, dec, way, buf, s, e in b]


@pytest.mark.parametrize("name", ["ssh.pcap", "tls-appdata.pcap", "mining.pcapng",
                                  "lru_ipv6_caches.pcapng", "badpackets.pcap",
                                  "dhcp-fuzz.pcapng", "big:synscan.pcap",
                                  "big:mining.pcapng"])
def test_the_reader_gives_the_same_records_with_and_without(walk, name, monkeypatch,
                                                           tmp_path):
    if name.startswith("big:"):
        path = DATA / name[4:]
        data = _big(path, tmp_path / ("b" + path.suffix))
    else:
        data = (DATA / name).read_bytes()
    for steps in ((1 << 20,), (333, 4096, 70_000), (5000,)):
        monkeypatch.setenv(cwalk.ENV_OFF, "1")
        py_reader, py = _read(data, steps)
        assert py_reader._cwalk is None
        monkeypatch.delenv(cwalk.ENV_OFF)
        c_reader, c = _read(data, steps)
        assert c_reader._cwalk is walk
        assert _plain(c) == _plain(py)
        assert c_reader.skipped == py_reader.skipped
        assert c_reader.frames == py_reader.frames
        if steps == (1 << 20,) and name != "dhcp-fuzz.pcapng":  # runs went to the builder
            assert any(isinstance(b, PacketColumns) for b in c)


# -- the loader -------------------------------------------------------------------------

@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """The loader as in a new process, with its own cache directory."""
    monkeypatch.delenv(cwalk.ENV_OFF, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(cwalk, "_loaded", False)
    monkeypatch.setattr(cwalk, "_walker", None)
    monkeypatch.setattr(cwalk, "_status", "")
    return tmp_path / "cache" / "tuimon"


def test_built_once_into_the_cache(walk, fresh):
    assert cwalk.walker() is not None
    libs = sorted(p.name for p in fresh.iterdir())
    assert len(libs) == 1 and libs[0].startswith("walk-") and libs[0].endswith(".so")
    assert str(fresh) in cwalk.status()


def test_a_build_removes_other_builds_long_unused(walk, fresh):
    """Old builds (another walk.c, compiler or machine) do not pile up: one not loaded for
    STALE_DAYS goes when a library is built; a recent one stays."""
    fresh.mkdir(parents=True, mode=0o700)
    old, recent = fresh / "walk-0000000000000000.so", fresh / "walk-1111111111111111.so"
    for lib in (old, recent):
        lib.write_bytes(b"an older build")
    long_ago = time.time() - (cwalk.STALE_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    path = cwalk.build()
    assert sorted(fresh.iterdir()) == sorted([path, recent])


def test_built_by_many_at_once(walk, fresh):
    """Processes and threads building at once: each gets a whole library, none is left
    half-written."""
    paths, errors = [], []

    def one():
        try:
            paths.append(cwalk.build())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(paths)) == 1
    assert [p.name for p in fresh.iterdir()] == [paths[0].name]
    assert cwalk.walker() is not None


def test_no_compiler_means_the_python_walk(fresh, monkeypatch):
    monkeypatch.setattr(cwalk, "compiler", lambda: None)
    assert cwalk.walker() is None
    assert "no C compiler" in cwalk.status()
    assert CaptureReader("t", columns=True)._cwalk is None


def test_a_failing_compiler_means_the_python_walk(fresh, monkeypatch):
    monkeypatch.setenv("CC", "false")
    assert cwalk.walker() is None
    assert "Python record walk" in cwalk.status() and "false failed" in cwalk.status()
    assert not fresh.exists() or not any(fresh.iterdir())  # no temporary file left


def test_an_unwritable_cache_means_the_python_walk(fresh, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/dev/null/cache")
    assert cwalk.walker() is None
    assert "Python record walk" in cwalk.status()


def test_a_cache_others_may_write(walk, fresh):
    """A library others could have written is never loaded: built anew; a cache
    directory of this user's that others may write to is made this user's alone."""
    assert cwalk.walker() is not None
    lib = next(fresh.iterdir())
    fresh.chmod(0o777)
    lib.chmod(0o777)
    cwalk._loaded = False
    assert cwalk.walker() is not None
    assert fresh.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in fresh.iterdir()] == [lib.name]
    assert lib.stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the cache to another user needs root")
def test_another_users_cache_means_the_python_walk(walk, fresh):
    assert cwalk.walker() is not None
    os.chown(fresh, 65534, -1)
    cwalk._loaded = False
    assert cwalk.walker() is None
    assert "belongs to another user" in cwalk.status()


def test_the_environment_forces_the_python_walk(walk, monkeypatch):
    monkeypatch.setenv(cwalk.ENV_OFF, "1")
    assert cwalk.walker() is None
    assert CaptureReader("t", columns=True)._cwalk is None
    assert cwalk.ENV_OFF in cwalk.status()
    monkeypatch.setenv(cwalk.ENV_OFF, "0")
    assert cwalk.walker() is walk


def test_the_module_says_which_walk(walk):
    done = subprocess.run([sys.executable, "-m", "tuimon.capture.cwalk"], capture_output=True,
                          text=True, timeout=120, env={**_env(), cwalk.ENV_OFF: ""})
    assert done.returncode == 0 and done.stdout.startswith("tuimon: compiled record walk (")
    done = subprocess.run([sys.executable, "-m", "tuimon.capture.cwalk"], capture_output=True,
                          text=True, timeout=120, env={**_env(), cwalk.ENV_OFF: "1"})
    assert done.returncode == 0 and "TUIMON_NO_CWALK is set" in done.stdout


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).parent.parent.parent)
    return env


# -- the fast rows in C (walk.c's tuimon_fast_rows) against vector.py's numpy ---------------

def _batches(data: bytes, compiled, steps=(1 << 20,)) -> list:
    reader = CaptureReader("t", columns=True, own_mac=pb.MAC_A)
    reader._cwalk = compiled
    return feed(reader, data, steps)


def _same_batches(a: list, b: list) -> int:
    """Assert two readings' batches are equal, column by column; how many fast rows."""
    assert len(a) == len(b)
    fast = 0
    for x, y in zip(a, b):
        assert type(x) is type(y)
        if isinstance(x, PacketColumns):
            assert x.cols.keys() == y.cols.keys()
            for name in x.cols:
                assert x.cols[name].dtype == y.cols[name].dtype, name
                assert np.array_equal(x.cols[name], y.cols[name]), name
            assert np.array_equal(x.slow_rows, y.slow_rows) and x.slow_recs == y.slow_recs
            fast += int(x.cols["fast"].sum())
        else:
            assert x == y
    return fast


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_compiled_fast_rows_are_numpys(walk, path):
    data = path.read_bytes()
    _same_batches(_batches(data, walk), _batches(data, None))


def test_compiled_fast_rows_are_numpys_on_damaged_frames(walk):
    """Every header field of the frames the fast rows read, changed at random: both paths
    keep the same rows fast and read the same values from them."""
    from tests.unit.test_columns import _mixed

    rng = random.Random(5)
    path = Path(tempfile.mkdtemp()) / "m.pcapng"
    pb.write_pcapng(path, [{"linktype": 1, "name": "eth0"}, {"linktype": 101, "name": "tun0"}],
                    _mixed(rng, 300))
    clean = path.read_bytes()
    fast = 0
    for _ in range(60):
        data = bytearray(clean)
        for _ in range(40):  # bytes of the frames (block bodies), not of the block headers
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256)
        try:
            numpy_way = _batches(bytes(data), None, (777, 1 << 16))
        except Exception as e:  # noqa: BLE001 -- a damaged file: both must fail alike
            with pytest.raises(type(e)):
                _batches(bytes(data), walk, (777, 1 << 16))
            continue
        fast += _same_batches(_batches(bytes(data), walk, (777, 1 << 16)), numpy_way)
    assert fast > 1000  # not vacuous: most rows stayed fast rows


def _total(p: bytes, total: int) -> bytes:
    return p[:2] + struct.pack("!H", total) + p[4:]


def test_compiled_fast_rows_are_numpys_at_the_edges(walk, tmp_path):
    """Frames at each check's edge (lengths equal to the header, zero, short; tags; IPv6
    extension headers; transport headers cut at their last byte): the same rows fast."""
    a, b = "10.0.0.1", "10.0.0.2"
    seg = pb.tcp(80, 40000, 0x18, b"x" * 6)
    ip = [pb.ipv4(a, b, 6, seg), pb.ipv4(a, b, 17, pb.udp(53, 53, b"q")),
          pb.ipv4(a, b, 1, b"\x08\0" + b"\0" * 10), pb.ipv4(a, b, 47, b"g" * 8)]
    frames = []
    for p in ip:
        for total in (0, 19, 20, 21, 33, 34, 35, len(p), len(p) + 9):
            frames.append(pb.eth(_total(p, total)))
        for cut in (14 + 19, 14 + 20, 14 + 23, 14 + 24, 14 + 33, 14 + 34):
            frames.append(pb.eth(p)[:cut])
        frames.append(pb.eth(pb.ipv4(a, b, p[9], p[20:], ihl=6)))
        frames.append(pb.eth(pb.ipv4(a, b, p[9], p[20:], frag=8)))
        frames.append(pb.eth(bytes([0x44]) + p[1:]))  # IHL 4
        frames.append(pb.eth(bytes([0x55]) + p[1:]))  # version 5
        for tags in (((0x8100, 1),), ((0x88A8, 1), (0x8100, 2)), ((0x9100, 1), (0x9200, 2)),
                     ((0x8100, 1), (0x8100, 2), (0x8100, 3))):
            frames.append(pb.eth(p, vlans=tags))
    for nh, body in ((6, seg), (17, pb.udp(547, 546, b"v")), (58, b"\x80\0" + b"\0" * 6),
                     (0, pb.v6_ext(17) + pb.udp(1, 2)), (44, b"\0" * 8), (43, b"\0" * 8)):
        p = pb.ipv6("fe80::1", "fe80::2", nh, body)
        frames += [pb.eth(p, ethertype=0x86DD), pb.eth(p, ethertype=0x86DD)[:14 + 40],
                   pb.eth(p, ethertype=0x86DD)[:14 + 43],
                   pb.eth(p[:4] + b"\0\0" + p[6:], ethertype=0x86DD),
                   pb.eth(p, ethertype=0x86DD, vlans=((0x8100, 5),))]
    packets = [(0, 1_700_000_000_000_000 + i, f, len(f) + 4) for i, f in enumerate(frames)]
    pb.write_pcapng(tmp_path / "e.pcapng", [{"linktype": 1, "name": "eth0"}], packets)
    data = (tmp_path / "e.pcapng").read_bytes()
    assert _same_batches(_batches(data, walk), _batches(data, None)) > len(frames) // 3


# -- the grouping in C (walk.c's tuimon_group) against core/grouping.py's numpy -------------

def _same_groups(batch: PacketColumns, walk) -> int:
    """The compiled grouping of ``batch`` is numpy's, field for field, each group's rows
    too; how many groups."""
    from tuimon.core.grouping import conversations

    ref, got = conversations(batch.cols), conversations(batch.cols, walk)
    assert got.keys == ref.keys
    for name in ("words", "first_fwd", "first_ts", "lo_packets", "lo_bytes", "hi_packets",
                 "hi_bytes", "lo_flags", "hi_flags", "last", "first_row"):
        assert getattr(got, name).tolist() == getattr(ref, name).tolist(), name
    assert all(type(a) is type(b) for k, r in zip(got.keys, ref.keys) for a, b in zip(k, r))
    for gi, ri in zip(got.group.tolist(), ref.group.tolist()):  # entry by entry: the same rows, in order
        assert got.rows[got.at[gi]:got.at[gi + 1]].tolist() == \
            ref.rows[ref.at[ri]:ref.at[ri + 1]].tolist()
    assert len(got.rows) == len(ref.rows) == int(batch.cols["fast"].sum())
    return len(got.keys)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_compiled_groups_are_numpys(walk, path):
    batches = [b for b in _batches(path.read_bytes(), walk, (1 << 16,))
               if isinstance(b, PacketColumns)]
    assert all(b.grouper is walk for b in batches)
    assert all(b.grouper is None for b in _batches(path.read_bytes(), None, (1 << 16,))
               if isinstance(b, PacketColumns))
    for b in batches:
        if b.cols["fast"].any():
            _same_groups(b, walk)


def test_compiled_groups_at_the_edges(walk):
    """Equal addresses (ports decide, or not: no ports), IPv6 addresses equal in one word
    only, IPv4 and IPv6 in one batch, the same key from either end, a table near full
    (every row its own conversation), and a batch of one row."""
    rng = random.Random(11)
    n = 3000
    cols = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
    cols["fast"][:] = True
    cols["fast"][rng.sample(range(n), 200)] = False
    six = np.array([rng.random() < 0.4 for _ in range(n)])
    cols["kind"][:] = np.where(six, IPV6, IPV4)
    cols["proto"][:] = [rng.choice((6, 17, 1, 58)) for _ in range(n)]
    cols["ported"][:] = [p in (6, 17) and rng.random() < 0.9 for p in cols["proto"]]
    small = lambda: rng.choice((1, 2, 3))  # noqa: E731 -- few values: many equal keys
    for name in ("src", "dst", "src_hi", "dst_hi"):
        cols[name][:] = [small() for _ in range(n)]
    cols["src_hi"][~six] = cols["dst_hi"][~six] = 0
    cols["sport"][:] = [rng.choice((53, 80, 443)) for _ in range(n)]
    cols["dport"][:] = [rng.choice((53, 80, 443)) for _ in range(n)]
    cols["sport"][~cols["ported"]] = cols["dport"][~cols["ported"]] = 0
    cols["flags"][:] = [rng.randrange(512) for _ in range(n)]
    cols["wlen"][:] = [rng.randrange(60, 1515) for _ in range(n)]
    cols["ts"][:] = sorted(rng.uniform(0, 10) for _ in range(n))
    batch = PacketColumns(b"", cols, np.empty(0, dtype=np.int64), [])
    assert _same_groups(batch, walk) < n // 3  # many rows per conversation
    every = {k: v.copy() for k, v in cols.items()}
    every["src"][:] = np.arange(n, dtype=np.uint64) + 7  # every row a conversation
    assert _same_groups(PacketColumns(b"", every, batch.slow_rows, []), walk) == \
        int(every["fast"].sum())
    one = {k: v[5:6].copy() for k, v in cols.items()}
    one["fast"][:] = True
    assert _same_groups(PacketColumns(b"", one, batch.slow_rows, []), walk) == 1


@pytest.mark.parametrize("word", ["src", "src_hi", "dst", "dst_hi", "sport", "dport",
                                  "proto"])
def test_compiled_groups_of_keys_apart_in_one_word(walk, word):
    """3,000 conversations alike but for one field: in a table of 8,192 slots many of them
    share a slot, so every word of the key is compared, not only the hash."""
    n = 3000
    cols = {name: np.zeros(n, dtype=dtype) for name, dtype in COLUMNS.items()}
    cols["fast"][:] = cols["ported"][:] = True
    cols["kind"][:] = IPV6
    cols["proto"][:] = 17
    cols["src"][:], cols["dst"][:] = 5, 9
    cols["src_hi"][:], cols["dst_hi"][:] = 1, 2
    cols["sport"][:], cols["dport"][:] = 1000, 2000
    cols["wlen"][:] = 100
    cols["ts"][:] = np.arange(n, dtype=np.float64)
    values = np.arange(n) + (3 if word in ("sport", "dport") else 10)
    cols[word][:] = values % 250 if word == "proto" else values
    expect = 250 if word == "proto" else n
    assert _same_groups(PacketColumns(b"", cols, np.empty(0, dtype=np.int64), []), walk) == \
        expect
