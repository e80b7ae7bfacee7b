"""The hosts bound against tshark: without a bound (``--max-hosts 0``, and the default,
far above these captures' hosts) every host is tshark's; with a tiny one the rows that
stay are never more than tshark's figures and the ``(other hosts)`` row makes the sum
over hosts tshark's exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support.figures import our_figures
from tuimon.core.names import OTHER_HOSTS_TEXT

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = ["1kxun.pcap", "teams.pcap"]

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def column_sums(hosts: dict) -> list[int]:
    return [sum(v[i] for v in hosts.values()) for i in range(6)]


@needs_tshark
@pytest.mark.parametrize("name", CAPTURES)
def test_without_a_bound_the_hosts_are_tsharks(name, tmp_path):
    theirs = oracle.figures(str(DATA / name))["hosts"]
    for folder, options in (("none", ("--max-hosts", "0")), ("default", ())):
        ours = our_figures(DATA / name, tmp_path / folder, "--flow-timeout", "1",
                           "--max-flows", "3", *options)["hosts"]
        assert ours == theirs, f"{name} {options}: hosts differ from tshark"


@needs_tshark
@pytest.mark.parametrize("name", CAPTURES)
def test_a_tiny_bound_folds_hosts_and_the_sum_stays_tsharks(name, tmp_path):
    theirs = oracle.figures(str(DATA / name))["hosts"]
    ours = our_figures(DATA / name, tmp_path, "--flow-timeout", "1", "--max-flows", "3",
                       "--max-hosts", "5")["hosts"]
    assert OTHER_HOSTS_TEXT in ours and len(theirs) > 20
    assert len(ours) <= 1 + 5 + 2 * 3  # the bound, or the hosts of the table's conversations
    assert column_sums(ours) == column_sums(theirs)
    for address, figures in ours.items():
        if address != OTHER_HOSTS_TEXT:  # a host seen again after it folded counts anew
            assert all(a <= b for a, b in zip(figures, theirs[address])), address
