"""Helpers shared by the tests, from test_oracle.py."""

from __future__ import annotations

import csv
from pathlib import Path
from tests.support import oracle
from tuimon.cli import main


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def our_figures(capture: Path, out: Path, *options: str) -> dict:
    """Our CSV figures for ``capture`` (the CLI in this process; application labels are
    not compared here, so tshark's labeller is not started unless ``options`` ask)."""
    if "--dissect-packets" not in options:
        options = ("--dissect-packets", "0", *options)
    assert main(["-r", str(capture), "--no-ui", "--csv", str(out), *options]) == 0
    interfaces = {i: [int(r["packets"]), int(r["bytes"])]
                  for i, r in enumerate(read_csv(out / "interfaces.csv")) if int(r["packets"])}
    hosts = {r["address"]: [int(r[k]) for k in ("packets", "bytes", "tx_packets", "tx_bytes",
                                                  "rx_packets", "rx_bytes")]
             for r in read_csv(out / "hosts.csv")}
    convs = {(r["protocol"], r["address_a"], int(r["port_a"]), r["address_b"], int(r["port_b"])):
             [int(r[k]) for k in ("packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")]
             for r in read_csv(out / "conversations.csv")
             if r["protocol"] in ("tcp", "udp") and r["port_a"] != ""}
    pairs = {(r["address_a"], r["address_b"]):
             [int(r[k]) for k in ("packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")]
             for r in read_csv(out / "pairs.csv")}
    return {"interfaces": interfaces, "hosts": hosts, "conversations": convs, "pairs": pairs}


def assert_same(capture: Path, out: Path) -> None:
    """tshark never expires a conversation, so the conversations are compared without
    expiry (``--flow-timeout 0 --max-flows 0``); the interface and host totals must be
    tshark's with the default expiry too (its CSV files are left in ``out``), and with a
    table bounded to 3 conversations."""
    theirs = oracle.figures(str(capture))
    assert theirs["interfaces"], "tshark read no frames"
    ours = our_figures(capture, out.with_name(out.name + "-unbounded"),
                       "--flow-timeout", "0", "--max-flows", "0")
    for table in ("interfaces", "hosts", "conversations", "pairs"):
        assert ours[table] == theirs[table], f"{capture.name}: {table} differ from tshark"
    for folder, options in ((out.with_name(out.name + "-bounded"),
                             ("--max-flows", "3", "--flow-timeout", "1")), (out, ())):
        ours = our_figures(capture, folder, *options)
        for table in ("interfaces", "hosts"):
            assert ours[table] == theirs[table], f"{capture.name} {options}: {table} differ from tshark"
