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


SESSION = r"""
import json, sys
from tuimon.config import Config
from tuimon.server.protocol import Query, ResetCounters
from tuimon.server.service import EngineService
svc = EngineService(Config(interfaces=(sys.argv[1],), no_ui=True, no_history=True))
status = svc.open()
page = svc.answer(Query(view="counters", sort="name", descending=False, limit=50))
shown = [[r.name, r.expression, r.packets, r.bytes] for r in page.rows]
reset = svc.reset_counters(ResetCounters((sys.argv[2],)))
after = svc.answer(Query(view="counters", sort="name", descending=False, limit=50))
print(json.dumps([status.kernel_counters, shown, [[r.name, r.packets, r.bytes] for r in reset.rows],
                  reset.error, [[r.name, r.packets, r.bytes, r.total_bytes] for r in after.rows]]))
svc.close()
"""


def test_a_live_session_shows_saves_and_resets_the_kernels_counters(netns, tmp_path):
    """tuimon capturing in namespace a lists its nft and nfacct counters beside its own
    (the Counters view's rows, counters.csv of a headless save), and ``z`` through the
    session reads and zeroes one in the kernel."""
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
    sizes = [10, 200, 1400, 7]
    r = netns.run(netns.b, sys.executable, "-c",
                  "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  f"for n in {sizes}: s.sendto(b'x' * n, ('{netns.addr_a()}', 9))")
    assert r.returncode == 0, r.stderr
    probe = [len(sizes), sum(sizes) + len(sizes) * 28]  # IP bytes: the kernel's
    out = tmp_path / "out"
    proc = netns.tuimon(netns.veth_a(), "--no-ui", "--duration", "2", "--csv", str(out),
                        "--no-history", "--counter", "udp9=proto udp and port 9")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    import csv

    with open(out / "counters.csv") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert [rows["nft:ip/tmc/probe"][k] for k in ("expression", "packets", "bytes")] == \
        ["kernel nft", *map(str, probe)]
    assert [rows["nfacct:tm-probe"][k] for k in ("packets", "bytes")] == ["0", "0"]
    assert rows["udp9"]["packets"] == "0"  # tuimon's own: nothing captured in those 2 s
    session = netns.python(netns.a, SESSION, netns.veth_a(), "nft:ip/tmc/probe")
    out_text, err = session.communicate(timeout=60)
    assert session.returncode == 0, err
    found, shown, reset, error, after = json.loads(out_text)
    assert found >= 2 and error is None
    assert ["nft:ip/tmc/probe", "kernel nft", *probe] in shown
    assert reset == [["nft:ip/tmc/probe", *probe]]
    assert ["nft:ip/tmc/probe", 0, 0, probe[1]] in after
    r = netns.run(netns.a, "nft", "-j", "list", "counters")
    kernel = [i["counter"] for i in json.loads(r.stdout)["nftables"] if "counter" in i]
    assert [(c["name"], c["packets"], c["bytes"]) for c in kernel] == [("probe", 0, 0)]
