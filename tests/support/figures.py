"""Helpers shared by the tests, from test_oracle.py."""

from __future__ import annotations

import csv
from pathlib import Path
from tests.support import oracle
from tuimon.cli import main


MAX_SNAPLEN = 262144  # Wireshark's longest frame of a real capture


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
    ports = {(r["protocol"], int(r["port"])): [int(r["packets"]), int(r["bytes"])]
             for r in read_csv(out / "ports.csv")}
    pairs = {(r["address_a"], r["address_b"]):
             [int(r[k]) for k in ("packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a")]
             for r in read_csv(out / "pairs.csv")}
    return {"interfaces": interfaces, "hosts": hosts, "conversations": convs, "ports": ports,
            "pairs": pairs}


def our_views(out: Path) -> dict:
    """The Stations, Sizes and Ports views' CSV files in ``out``, in oracle.views()' and
    oracle.figures()' shapes (sizes by interface index: the order of interfaces.csv)."""
    index = {r["interface"]: i for i, r in enumerate(read_csv(out / "interfaces.csv"))}
    stations = {r["mac"]: [int(r[k]) for k in ("packets", "bytes", "tx_packets", "tx_bytes",
                                                "rx_packets", "rx_bytes")]
                for r in read_csv(out / "stations.csv")}
    vlans = {r["mac"]: {int(v) for v in r["vlans"].split()}
             for r in read_csv(out / "stations.csv") if r["vlans"]}
    sizes: dict = {}
    labels: list = []
    for r in read_csv(out / "sizes.csv"):
        buckets = sizes.setdefault(index[r["interface"]], [])
        buckets.append([int(r["packets"]), int(r["bytes"])])
        if len(sizes) == 1:
            labels.append(f"{r['min_length']}-{r['max_length']}" if r["max_length"]
                          else f"{r['min_length']} and greater")
    ports = {(r["protocol"], int(r["port"])): [int(r["packets"]), int(r["bytes"])]
             for r in read_csv(out / "ports.csv")}
    link = {r["protocol"]: [int(r["packets"]), int(r["bytes"])]
            for r in read_csv(out / "protocols.csv") if r["layer"] == "link"}
    vlan_frames = {int(name[5:]): v for name, v in link.items() if name.startswith("vlan ")}
    return {"stations": stations, "vlans": vlans, "sizes": sizes, "labels": labels,
            "ports": ports, "vlan_frames": vlan_frames, "tagged": link.get("vlan", [0, 0])}


def assert_views_same(capture: Path, out: Path, theirs: dict) -> None:
    """stations.csv is tshark's -z endpoints,eth (VXLAN's inner frames not dissected), and the
    sums of each frame's eth.src, eth.dst and frame.len (they are the same but for frames
    longer than any snapshot length, forged: tshark's endpoints table shows 60 bytes for four
    frames of 2 GiB and its plen,tree one of three in its last bucket, overflowing a 32-bit
    sum; its frame.len gives their lengths, which we count), with
    the VLAN ids of vlan.id; sizes.csv its -z plen,tree per interface (bucket labels,
    counts; bytes from frame.len); ports.csv the per-port sums of ``theirs``
    (oracle.figures); protocols.csv's ``vlan`` rows the frames with vlan.id or
    ieee8021ad.id. ``out``: a folder tuimon wrote."""
    ours, views = our_views(out), oracle.views(str(capture))
    name = capture.name
    assert ours["stations"] == views["stations_by_frames"], f"{name}: stations differ from tshark"
    if views["longest"] <= MAX_SNAPLEN:
        assert views["stations_by_frames"] == views["stations"], f"{name}: endpoints,eth differs"
    else:  # tshark's endpoints table does not add up frames of forged 2 GiB lengths
        assert {m: v[0] for m, v in ours["stations"].items()} == \
            {m: v[0] for m, v in views["stations"].items()}, f"{name}: stations' frames differ"
    assert ours["vlans"] == views["vlans"], f"{name}: the stations' VLAN ids differ"
    assert ours["sizes"] == views["sizes"], f"{name}: packet sizes differ from tshark"
    assert ours["labels"] == [label for label, _ in views["plen"]], f"{name}: buckets differ"
    together = [sum(b[k][0] for b in ours["sizes"].values()) for k in range(len(views["plen"]))]
    if views["longest"] <= MAX_SNAPLEN:  # (plen,tree puts forged 2 GiB frames in no bucket)
        assert together == [count for _, count in views["plen"]], f"{name}: plen,tree differs"
    assert ours["ports"] == theirs["ports"], f"{name}: ports differ from tshark's sums"
    assert ours["tagged"] == views["tagged"], f"{name}: the vlan protocol row differs"
    assert ours["vlan_frames"] == views["vlan_frames"], f"{name}: the vlan ID rows differ"


def assert_same(capture: Path, out: Path) -> None:
    """tshark never expires a conversation, so the conversations are compared without
    expiry (``--flow-timeout 0 --max-flows 0``); the interface and host totals must be
    tshark's with the default expiry too (its CSV files are left in ``out``), and with a
    table bounded to 3 conversations; so must the Stations, Sizes and Ports views'
    files, both ways (:func:`assert_views_same`)."""
    theirs = oracle.figures(str(capture))
    assert theirs["interfaces"], "tshark read no frames"
    ours = our_figures(capture, out.with_name(out.name + "-unbounded"),
                       "--flow-timeout", "0", "--max-flows", "0")
    for table in ("interfaces", "hosts", "conversations", "ports", "pairs"):
        assert ours[table] == theirs[table], f"{capture.name}: {table} differ from tshark"
    for folder, options in ((out.with_name(out.name + "-bounded"),
                             ("--max-flows", "3", "--flow-timeout", "1")), (out, ())):
        ours = our_figures(capture, folder, *options)
        for table in ("interfaces", "hosts"):
            assert ours[table] == theirs[table], f"{capture.name} {options}: {table} differ from tshark"
        # the views with expiry (ports are folded before a conversation leaves) and without
        assert_views_same(capture, folder, theirs)
