"""The kernel's named counters for real, in a network namespace: an nft named counter fed
by known UDP datagrams and an nfacct object appear with the kernel's figures, and a reset
returns them and leaves zero (tuimon.capture.kernel_counters, run inside namespace a)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

SCRIPT = r"""
import json, sys
from tuimon.capture.kernel_counters import list_counters, reset_counter
before = list_counters()
reset = [reset_counter(name) for name in sys.argv[1:]]
print(json.dumps([before, reset, list_counters()]))
"""


def test_nft_and_nfacct_counters_read_and_reset(netns):
    if shutil.which("nft") is None or shutil.which("nfacct") is None:
        pytest.skip("nft or nfacct is not installed (apt-get install nftables nfacct)")
    for cmd in (["nft", "add", "table", "ip", "tmc"],
                ["nft", "add", "counter", "ip", "tmc", "probe"],
                ["nft", "add", "chain", "ip", "tmc", "in",
                 "{ type filter hook input priority 0; }"],
                ["nft", "add", "rule", "ip", "tmc", "in", "udp", "dport", "9", "counter",
                 "name", "probe"],
                ["nfacct", "add", "tm-probe"]):
        r = netns.run(netns.a, *cmd)
        if r.returncode != 0:
            pytest.skip(f"{' '.join(cmd)}: {r.stderr.strip()}")
    sizes = [1, 100, 1000]
    r = netns.run(netns.b, sys.executable, "-c",
                  "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  f"for n in {sizes}: s.sendto(b'x' * n, ('{netns.addr_a()}', 9))")
    assert r.returncode == 0, r.stderr
    names = ["nft:ip/tmc/probe", "nfacct:tm-probe"]
    r = netns.python(netns.a, SCRIPT, *names)
    out, err = r.communicate(timeout=30)
    assert r.returncode == 0, err
    before, reset, after = json.loads(out)
    expected = {"nft:ip/tmc/probe": [3, sum(sizes) + 3 * 28], "nfacct:tm-probe": [0, 0]}
    assert {n: [p, b] for n, p, b in before if n in expected} == expected
    assert {n: [p, b] for n, p, b in reset} == expected
    assert {n: [p, b] for n, p, b in after if n in expected} == {n: [0, 0] for n in expected}
