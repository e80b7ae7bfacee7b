"""Wireshark as the oracle: per-interface, per-host and per-conversation figures from tshark.

tshark dissects the file with reassembly off; for each frame we take its length, the
first network layer in ``frame.protocols`` (``ip`` or ``ipv6``: the outermost IP header),
that header's addresses (an IPv4 ethertype whose header says version 6 is the IPv6 header
Wireshark dissects it as), and -- when the layer right above it (IPv6 extension headers
skipped) is ``tcp`` or ``udp`` -- the first occurrence of that protocol's ports.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import subprocess
from collections import defaultdict

FIELDS = ["frame.interface_id", "frame.len", "frame.protocols", "ip.src", "ip.dst",
          "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]
PREFS = ["ip.defragment:FALSE", "ipv6.defragment:FALSE", "tcp.desegment_tcp_streams:FALSE",
         "udp.process_info:FALSE"]


def tshark_lines(path: str, display_filter: str | None = None) -> list[list[str]]:
    """Each frame's FIELDS (first occurrences), as tshark prints them."""
    if display_filter is None:  # the whole file: from the pass views() shares
        return [[cell.split(",", 1)[0] for cell in row[:len(FIELDS)]]
                for row in _one_pass(path)[0]]
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=f", "-E", "separator=/t"]
    cmd += ["-Y", display_filter]
    for pref in PREFS:
        cmd += ["-o", pref]
    for field in FIELDS:
        cmd += ["-e", field]
    out = _cached(cmd, path)
    return [line.split("\t") for line in out.splitlines()]


def filter_counts(path: str, filters: list[str]) -> list[tuple[int, int]]:
    """Frames and summed frame lengths each display filter picks in ``path``, in one tshark
    pass (``-z io,stat,0,F1,F2,...``: one interval, a Frames and a Bytes column a filter)
    instead of a pass per filter."""
    if any("," in f for f in filters):
        raise ValueError("io,stat splits its filters on commas")
    cmd = ["tshark", "-n", "-r", path, "-q", "-z", "io,stat,0," + ",".join(filters)]
    for pref in PREFS:
        cmd += ["-o", pref]
    totals = [[0, 0] for _ in filters]
    rows = 0
    for line in _cached(cmd, path).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 1 + 2 * len(filters) or "<>" not in cells[0]:
            continue
        rows += 1
        for i in range(len(filters)):
            totals[i][0] += int(cells[1 + 2 * i])
            totals[i][1] += int(cells[2 + 2 * i])
    if not rows:
        raise RuntimeError(f"tshark io,stat gave no interval for {path}")
    return [tuple(t) for t in totals]


def _cached(cmd: list[str], path: str) -> str:
    """tshark's output for ``cmd`` on ``path``, run once per test session: the answers are
    kept in TUIMON_TSHARK_CACHE (a folder tests/conftest.py makes for the session and the
    xdist workers share), keyed by the command and the file's content."""
    def run() -> tuple[bytes, bool]:
        return subprocess.run(cmd, capture_output=True, check=False).stdout, True

    folder = os.environ.get("TUIMON_TSHARK_CACHE")
    if not folder:
        return _text(run()[0])
    digest = hashlib.sha256(json.dumps(cmd).encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return _text(cached(os.path.join(folder, digest.hexdigest()), run))


def _text(out: bytes) -> str:
    """tshark's output as text, newlines as a text-mode read gives them."""
    return out.decode().replace("\r\n", "\n").replace("\r", "\n")


def cached(entry: str, produce) -> bytes:
    """The bytes kept at ``entry`` (a file of the session's cache folder), made by
    ``produce()`` the first time. One worker runs tshark for an entry; the others wait for
    its answer on the entry's lock instead of running the same tshark beside it (a sixth of
    the runs did, at the start of a session, when every worker asks for the same captures
    at once). ``produce`` returns the bytes and whether to keep them (not when tshark
    failed: the answer is given once, and the next asking runs tshark again)."""
    with open(f"{entry}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(entry, "rb") as f:
                return f.read()
        except OSError:
            pass
        out, keep = produce()
        if not keep:
            return out
        temp = f"{entry}.{os.getpid()}"
        with open(temp, "wb") as f:
            f.write(out)
        os.replace(temp, entry)
        return out


def _transport(layers: list[str], net: int) -> str | None:
    for layer in layers[net + 1:]:
        if layer.startswith("ipv6.") or (layer == "ah" and layers[net] == "ipv6"):
            continue
        return layer
    return None


def _addr(text: str) -> str:
    return str(ipaddress.ip_address(text))


def figures(path: str, display_filter: str | None = None) -> dict:
    """``interfaces``: {id: [packets, bytes]}, ``hosts``: {addr: [p, b, txp, txb, rxp, rxb]},
    ``conversations``: {(proto, a, pa, b, pb): [p_ab, b_ab, p_ba, b_ba]} with A the sender of
    the conversation's first frame, ``ports``: {(proto, port): [packets, bytes]}, a frame
    counted under its outermost TCP/UDP header's source and destination port (once when
    they are equal); ``pairs``: {(a, b): [p_ab, b_ab, p_ba, b_ba]}, the same per pair of
    addresses (A: the sender of the pair's first frame). ``display_filter``: only the
    frames it selects."""
    interfaces: dict = defaultdict(lambda: [0, 0])
    hosts: dict = defaultdict(lambda: [0] * 6)
    convs: dict = {}
    by_port: dict = defaultdict(lambda: [0, 0])
    pairs: dict = {}
    for row in tshark_lines(path, display_filter):
        row += [""] * (len(FIELDS) - len(row))
        iface, flen, protos, s4, d4, s6, d6, tsp, tdp, usp, udp_ = row
        flen = int(flen)
        counters = interfaces[int(iface or 0)]
        counters[0] += 1
        counters[1] += flen
        layers = protos.split(":")
        net = next((i for i, layer in enumerate(layers) if layer in ("ip", "ipv6")), None)
        if net is None:
            continue
        if layers[net] == "ip" and not s4 and layers[net + 1:net + 2] == ["ipv6"]:
            # Ethertype IPv4, version 6: Wireshark flags "Bogus IPv4 version" and dissects
            # the header as IPv6; its endpoint statistics count those addresses, and so do we.
            net += 1
        src, dst = (s4, d4) if layers[net] == "ip" else (s6, d6)
        if not src or not dst:
            continue
        src, dst = _addr(src), _addr(dst)
        h = hosts[src]
        h[0] += 1
        h[1] += flen
        h[2] += 1
        h[3] += flen
        h = hosts[dst]
        if dst != src:
            h[0] += 1
            h[1] += flen
        h[4] += 1
        h[5] += flen
        if (src, dst) in pairs:
            pair = pairs[src, dst]
            pair[0] += 1
            pair[1] += flen
        elif (dst, src) in pairs:
            pair = pairs[dst, src]
            pair[2] += 1
            pair[3] += flen
        else:
            pairs[src, dst] = [1, flen, 0, 0]
        transport = _transport(layers, net)
        ports = {"tcp": (tsp, tdp), "udp": (usp, udp_)}.get(transport)
        if not ports or not ports[0] or not ports[1]:
            continue
        sport, dport = int(ports[0]), int(ports[1])
        for port in {sport, dport}:  # what -Y 'tcp.port == N' picks, of this header
            p = by_port[(transport, port)]
            p[0] += 1
            p[1] += flen
        forward = (transport, src, sport, dst, dport)
        backward = (transport, dst, dport, src, sport)
        if forward in convs:
            c = convs[forward]
            c[0] += 1
            c[1] += flen
        elif backward in convs:
            c = convs[backward]
            c[2] += 1
            c[3] += flen
        else:
            convs[forward] = [1, flen, 0, 0]
    return {"interfaces": dict(interfaces), "hosts": dict(hosts), "conversations": convs,
            "ports": dict(by_port), "pairs": pairs}


def application_layer(layers: list[str], transport_at: int) -> str | None:
    """Wireshark's application protocol of one frame: the layer right above its TCP/UDP
    layer in ``frame.protocols``; ``data`` (undissected bytes) and ``_ws.*`` (malformed,
    short ...) are not protocols."""
    above = layers[transport_at + 1] if transport_at + 1 < len(layers) else ""
    if not above or above == "data" or above.startswith("_ws."):
        return None
    return above


def tcp_udp_frame(row: list[str]):
    """``(frame length, layers, index of the IP layer, (transport, src, sport, dst, dport))``
    of a TCP/UDP frame's tshark row (outermost IP header), or None for any other frame."""
    row = row + [""] * (len(FIELDS) - len(row))
    _, flen, protos, s4, d4, s6, d6, tsp, tdp, usp, udp_ = row
    layers = protos.split(":")
    net = next((i for i, layer in enumerate(layers) if layer in ("ip", "ipv6")), None)
    if net is None:
        return None
    src, dst = (s4, d4) if layers[net] == "ip" else (s6, d6)
    transport = _transport(layers, net)
    ports = {"tcp": (tsp, tdp), "udp": (usp, udp_)}.get(transport)
    if not src or not dst or not ports or not ports[0] or not ports[1]:
        return None
    return (int(flen), layers, net,
            (transport, _addr(src), int(ports[0]), _addr(dst), int(ports[1])))


def app_verdicts(path: str, first: int = 10) -> dict:
    """{(proto, a, pa, b, pb): app or None}: per TCP/UDP conversation (A sent its first
    frame), the application protocol of the first of its first ``first`` frames that has
    one, from tshark's dissection of the whole file."""
    verdicts: dict = {}
    seen: dict = {}
    for row in tshark_lines(path):
        frame = tcp_udp_frame(row)
        if frame is None:
            continue
        _, layers, net, (transport, src, sport, dst, dport) = frame
        key = (transport, src, sport, dst, dport)
        if key not in seen:
            key = (transport, dst, dport, src, sport)
            if key not in seen:
                key = (transport, src, sport, dst, dport)
                seen[key] = 0
                verdicts[key] = None
        seen[key] += 1
        if seen[key] <= first and verdicts[key] is None:
            verdicts[key] = application_layer(layers, layers.index(transport, net))
    return verdicts


# The Stations and Sizes views' pass: the link's own Ethernet header, every VLAN id, each
# frame's interface and length; then tshark's own tables. Ethernet inside a tunnel (VXLAN,
# GRE, ERSPAN, FabricPath) is no station of the link, and Ethernet behind a PPI or PKTAP
# header is not looked for: those dissectors are off, so -z endpoints,eth holds the link
# layer's own Ethernet addresses only, as tuimon counts them. A file none of whose frames
# reaches one of those dissectors (none in its frame.protocols) is read from the pass
# figures() makes (_one_pass): turning them off would change nothing there. Checked on
# the 118 captures the oracle tier reads (tests/data, every link type and wrap, the damaged
# and crafted ones): figures, views, rows and verdicts the same as with two passes.
TUNNELS = ("vxlan", "gre", "erspan", "cfp", "ppi", "pktap")
TUNNELS_SET = frozenset(TUNNELS)
VIEW_FIELDS = ["frame.interface_id", "frame.len", "eth.src", "eth.dst", "vlan.id",
               "ieee8021ad.id"]
PLEN_EDGES = (0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120)


def _tables_cmd(path: str, fields, disabled=()) -> list[str]:
    """tshark printing every occurrence of ``fields`` per frame, then the ``-z
    endpoints,eth`` and ``-z plen,tree`` tables; the protocols ``disabled`` turned off."""
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E",
           "separator=/t", "-z", "endpoints,eth", "-z", "plen,tree"]
    for proto in disabled:
        cmd += ["--disable-protocol", proto]
    for pref in PREFS:
        cmd += ["-o", pref]
    for field in fields:
        cmd += ["-e", field]
    return cmd


def _one_pass(path: str) -> tuple[list[list[str]], list[str]]:
    """One tshark run for the whole file that figures(), app_verdicts() and (when no frame
    has a tunnel's dissector in its ``frame.protocols``) views() all read: FIELDS then
    VIEW_FIELDS' Ethernet and VLAN fields, every occurrence of each (a field's first
    occurrence is what ``-E occurrence=f`` prints; views() takes them all), and the ``-z
    endpoints,eth`` and ``-z plen,tree`` tables. Returns the frames' rows (all the columns,
    padded) and the lines of the tables. Two runs (figures' and views') were one tshark
    start-up too many for every capture the oracle tier checks both ways; the start-up
    is most of what tshark costs on these captures (0.25 CPU-seconds of 0.3)."""
    fields = FIELDS + VIEW_FIELDS[2:]  # (frame.interface_id and frame.len are FIELDS' first)
    lines = _cached(_tables_cmd(path, fields), path).splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("=====")), len(lines))
    rows = [(line.split("\t") + [""] * len(fields))[:len(fields)] for line in lines[:at] if line]
    return rows, lines[at:]


def views(path: str) -> dict:
    """``stations``: {mac: [packets, bytes, tx_p, tx_b, rx_p, rx_b]} as ``-z endpoints,eth``
    prints them; ``stations_by_frames``: the same summed from each frame's ``eth.src``,
    ``eth.dst`` and ``frame.len`` (``longest``: the longest frame.len); ``vlans``: {mac: {ids}} from ``vlan.id`` of the frames each address sent or
    received (802.1Q's and 802.1ad's, ``ieee8021ad.id``); ``plen``: ``-z plen,tree``'s buckets, (label, packets) each (the whole file);
    ``sizes``: {interface id: [[packets, bytes] per bucket]} from each frame's length;
    ``tagged``: [frames, bytes] with a VLAN tag, ``vlan_frames``: {id: [frames, bytes]}
    carrying that id (the Protocols hierarchy's ``vlan`` rows)."""
    rows, tables = _one_pass(path)
    if any(TUNNELS_SET.intersection(row[2].split(":")) for row in rows):
        lines = _cached(_tables_cmd(path, VIEW_FIELDS, TUNNELS), path).splitlines()
    else:  # no frame reaches a tunnel's dissector: turning them off would change nothing
        at = len(FIELDS)
        lines = ["\t".join(row[:2] + row[at:]) for row in rows] + [""] + tables
    if not any(line.startswith("Packet Lengths:") for line in lines):
        raise RuntimeError(f"tshark gave no plen,tree for {path}")
    vlans: dict = defaultdict(set)
    vlan_frames: dict = defaultdict(lambda: [0, 0])
    tagged = [0, 0]
    sizes: dict = {}
    stations: dict = {}
    by_frames: dict = defaultdict(lambda: [0] * 6)
    longest = 0
    plen: list = []
    at = 0
    while at < len(lines) and not lines[at].startswith("====="):
        iface, flen, src, dst, ids, s_ids = (lines[at].split("\t") + [""] * 6)[:6]
        ids = ",".join(i for i in (ids, s_ids) if i)
        at += 1
        if not flen:
            continue  # the blank line before the tables
        flen = int(flen)
        longest = max(longest, flen)
        if src and dst:  # the link's own Ethernet header (tunnels are not dissected)
            s, d = by_frames[src.split(",")[0]], by_frames[dst.split(",")[0]]
            s[0] += 1
            s[1] += flen
            s[2] += 1
            s[3] += flen
            d[0] += 1
            d[1] += flen
            d[4] += 1
            d[5] += flen
        bucket = sum(flen >= edge for edge in PLEN_EDGES) - 1
        entry = sizes.setdefault(int(iface or 0), [[0, 0] for _ in PLEN_EDGES])[bucket]
        entry[0] += 1
        entry[1] += flen
        if ids and src:
            tags = {int(i) for i in ids.split(",")}
            for mac in {src, dst}:
                vlans[mac].update(tags)
            tagged[0] += 1
            tagged[1] += flen
            for vid in tags:
                vlan_frames[vid][0] += 1
                vlan_frames[vid][1] += flen
    section = None
    for line in lines[at:]:
        if line.startswith("Packet Lengths:"):
            section = "plen"
        elif line.startswith("Ethernet Endpoints"):
            section = "eth"
        cells = line.split()
        if section == "plen" and cells and cells[0][:1].isdigit():
            if cells[1] == "and":
                plen.append((" ".join(cells[:3]), int(cells[3])))
            else:
                plen.append((cells[0], int(cells[1])))
        elif section == "eth" and len(cells) == 7 and cells[0].count(":") == 5:
            stations[cells[0]] = [int(c) for c in cells[1:]]
    return {"stations": stations, "vlans": dict(vlans), "plen": plen, "sizes": sizes,
            "vlan_frames": dict(vlan_frames), "tagged": tagged,
            "stations_by_frames": dict(by_frames), "longest": longest}
