"""The background resolver (server/resolver.py) with a fake lookup and a fake clock: it
never waits, caches names and failures with their TTLs, keeps a bounded queue and cache,
refuses what is no host name; and the service's pages and hosts.csv with names."""

from __future__ import annotations

import csv
import threading

from tests.support.app import args_for
from tuimon.server.protocol import Query, Save
from tuimon.server.resolver import Resolver, clean
from tuimon.server.service import EngineService


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeDNS:
    """Answers from a table; records what it was asked; may be held (a slow server)."""

    def __init__(self, table: dict, hold: bool = False) -> None:
        self.table, self.asked = table, []
        self.open = threading.Event()
        if not hold:
            self.open.set()

    def __call__(self, address: str):
        self.open.wait(5)
        self.asked.append(address)
        answer = self.table.get(address)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_names_come_from_the_cache_and_lookups_happen_in_the_background():
    dns, clock = FakeDNS({"10.0.0.1": "gw.example", "10.0.0.2": None}, hold=True), Clock()
    r = Resolver(dns, clock, workers=1, ttl=100, negative_ttl=10)
    try:
        assert r.names(["10.0.0.1", "10.0.0.2"]) == {}  # never waits for the lookup
        assert r.names(["10.0.0.1"]) == {} and r.pending() == 2  # asked once, not twice
        dns.open.set()
        assert r.wait(5)
        assert r.names(["10.0.0.1", "10.0.0.2"]) == {"10.0.0.1": "gw.example"}
        assert sorted(dns.asked) == ["10.0.0.1", "10.0.0.2"]
        clock.now = 11  # the failure's negative entry has expired, the name's has not
        r.names(["10.0.0.1", "10.0.0.2"])
        assert r.wait(5) and sorted(dns.asked) == ["10.0.0.1", "10.0.0.2", "10.0.0.2"]
        clock.now = 101  # the name's too
        dns.table["10.0.0.1"] = "gw2.example"
        assert r.names(["10.0.0.1"]) == {}
        assert r.wait(5) and r.names(["10.0.0.1"]) == {"10.0.0.1": "gw2.example"}
        assert r.known(["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == {"10.0.0.1": "gw2.example"}
    finally:
        r.close()


def test_the_queue_and_the_cache_are_bounded():
    dns = FakeDNS({}, hold=True)
    r = Resolver(dns, Clock(), workers=1, queue_size=4)
    try:
        addresses = [f"10.0.1.{i}" for i in range(20)]
        r.names(addresses)
        assert r.pending() <= 5  # the queue's 4 and the one a worker holds
        dns.open.set()
        assert r.wait(5)
        for _ in range(10):  # what did not fit is asked again by later calls
            r.names(addresses)
            r.wait(5)
        assert set(dns.asked) == set(addresses)
        assert len(dns.asked) == len(addresses)  # each once: the cache remembers
    finally:
        r.close()
    r = Resolver(FakeDNS({}), Clock(), cache_size=3)
    try:
        for address in addresses:
            r.names([address])
            assert r.wait(5)
        assert list(r._cache) == addresses[-3:]  # the oldest went first
    finally:
        r.close()


def test_a_failing_lookup_is_a_negative_answer_and_odd_names_are_refused():
    dns = FakeDNS({"10.0.0.1": OSError("boom"), "10.0.0.2": "\x1b]0;pwned\x07",
                   "10.0.0.3": "=cmd|calc", "10.0.0.4": "host.example.", "10.0.0.5": "10.0.0.5"})
    r = Resolver(dns, Clock())
    try:
        r.names(dns.table)
        assert r.wait(5)
        assert r.names(dns.table) == {"10.0.0.4": "host.example"}
    finally:
        r.close()
    assert clean("a" * 254, "x") is None and clean("-x.example", "x") is None


def test_pages_carry_names_only_when_asked_and_saves_write_them(tmp_path):
    names = {"192.168.2.126": "laptop.lan", "161.117.13.29": "cdn.example"}
    dns = FakeDNS(names)
    svc = EngineService(args_for(), clock=lambda: 50.0, wallclock=lambda: 1700000000.0,
                        resolve=dns)
    svc.run_all()
    try:
        page = svc.answer(Query(view="hosts", limit=10))
        assert page.names == {} and svc.resolver is None  # off: nothing looked up
        svc.answer(Query(view="conversations", limit=10, names=True))
        assert svc.resolver.wait(5)
        page = svc.answer(Query(view="conversations", limit=10, names=True))
        shown = {a for row in page.rows for a in (row.address_a, row.address_b)}
        assert page.names == {a: n for a, n in names.items() if a in shown} and page.names
        assert len(set(dns.asked)) == len(dns.asked)  # each address once
        assert "192.168.2.126" in dns.asked  # the busiest host, on the page or not
        svc.save(Save(str(tmp_path)))
        with open(tmp_path / "hosts.csv", newline="") as f:
            saved = {r["address"]: r["name"] for r in csv.DictReader(f)}
        assert {a: n for a, n in saved.items() if n} == {
            a: n for a, n in names.items() if a in dns.asked}
    finally:
        svc.close()
