"""The kernel's named counters (tuimon.capture.kernel_counters) on the tools' real output
formats, with a stand-in for running them: nfacct's and nft's lines parsed, reset asks for
the atomic read-and-zero, a refusal is one line."""

from __future__ import annotations

import subprocess

import pytest

from tuimon.capture import kernel_counters as kc
from tuimon.errors import TuimonError

NFACCT = ("{ pkts = 00000000000000000012, bytes = 00000000000000003456 } = http;\n"
          "{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = two words;\n")
NFT = ('{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, '
       '{"counter": {"family": "inet", "name": "dns", "table": "filter", "handle": 3, '
       '"packets": 7, "bytes": 560}}]}')


def runner(answers: dict, calls: list):
    def run(argv):
        calls.append(argv[1:])
        out, code, err = answers[tuple(argv[1:])]
        return subprocess.CompletedProcess(argv, code, out, err)
    return run


@pytest.fixture(autouse=True)
def tools(monkeypatch):
    monkeypatch.setattr(kc, "_tool", lambda name: f"/usr/sbin/{name}")


def test_list_reads_both_tools():
    calls: list = []
    run = runner({("list",): (NFACCT, 0, ""), ("-j", "list", "counters"): (NFT, 0, "")}, calls)
    assert kc.list_counters(run) == [("nfacct:http", 12, 3456), ("nfacct:two words", 0, 0),
                                     ("nft:inet/filter/dns", 7, 560)]


def test_reset_is_the_tools_atomic_read_and_zero():
    calls: list = []
    run = runner({("get", "http", "reset"): (NFACCT.splitlines()[0], 0, ""),
                  ("-j", "reset", "counter", "inet", "filter", "dns"): (NFT, 0, "")}, calls)
    assert kc.reset_counter("nfacct:http", run) == ("nfacct:http", 12, 3456)
    assert kc.reset_counter("nft:inet/filter/dns", run) == ("nft:inet/filter/dns", 7, 560)
    assert calls == [["get", "http", "reset"], ["-j", "reset", "counter", "inet", "filter", "dns"]]


def test_unknown_names_and_refusals_are_one_line():
    with pytest.raises(TuimonError, match="no such kernel counter: bogus"):
        kc.reset_counter("bogus", runner({}, []))
    run = runner({("list",): ("", 1, "nfacct: netlink error: Operation not permitted\n")}, [])
    with pytest.raises(TuimonError, match="needs CAP_NET_ADMIN") as err:
        kc.list_counters(run)
    assert "\n" not in str(err.value)


def test_a_missing_tool_contributes_nothing(monkeypatch):
    monkeypatch.setattr(kc, "_tool", lambda name: None)
    assert kc.list_counters(runner({}, [])) == []
