"""The kernel's named counters, read-only: nfacct objects and nftables named counters.

An admin names these counters in the firewall (``nfacct add http``, ``nft add counter inet
filter http``) and says which traffic feeds them. :func:`list_counters` reads them all, in
this network namespace, through the ``nfacct`` and ``nft`` tools (argument lists, never a
shell); :func:`reset_counter` reads one and zeroes it in the same kernel operation (``nfacct
get NAME reset``, ``nft reset counter``), so nothing counted in between is lost or counted
twice. Each counter is a :class:`KernelCounter` ``(name, packets, bytes)``, its name
prefixed by where it lives: ``nfacct:NAME``, ``nft:FAMILY/TABLE/NAME``. Their bytes are
the kernel's, IP bytes. A tool that is missing contributes nothing; one that refuses
(no CAP_NET_ADMIN) is one line (:class:`~tuimon.errors.TuimonError`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import NamedTuple

from tuimon.errors import TuimonError

_NFACCT_LINE = re.compile(r"^\{ pkts = (\d+), bytes = (\d+) \} = (.*);$")
TIMEOUT = 10.0


class KernelCounter(NamedTuple):
    name: str  # "nfacct:NAME" or "nft:FAMILY/TABLE/NAME"
    packets: int
    bytes: int


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)


def _checked(argv: list[str], run: Callable) -> str:
    r = run(argv)
    if r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()
        text = why[-1] if why else f"exit status {r.returncode}"
        if "ermission" in text or "not permitted" in text:
            raise TuimonError(f"{argv[0]}: reading the kernel's counters needs CAP_NET_ADMIN "
                              f"(run as root): {text}")
        raise TuimonError(f"{' '.join(argv)}: {text}")
    return r.stdout


def parse_nfacct(text: str) -> list[KernelCounter]:
    """``nfacct list`` (or ``nfacct get NAME``) output -> counters."""
    out = []
    for line in text.splitlines():
        m = _NFACCT_LINE.match(line.strip())
        if m:
            out.append(KernelCounter(f"nfacct:{m.group(3)}", int(m.group(1)), int(m.group(2))))
    return out


def parse_nft(text: str) -> list[KernelCounter]:
    """``nft -j list counters`` (or ``nft -j reset counter ...``) output -> counters."""
    out = []
    for item in json.loads(text or "{}").get("nftables", []):
        c = item.get("counter")
        if c is not None:
            out.append(KernelCounter(f"nft:{c['family']}/{c['table']}/{c['name']}",
                                     int(c.get("packets", 0)), int(c.get("bytes", 0))))
    return out


def list_counters(run: Callable = _run) -> list[KernelCounter]:
    """Every nfacct object and nftables named counter of this namespace, by name."""
    out: list[KernelCounter] = []
    nfacct = _tool("nfacct")
    if nfacct:
        out += parse_nfacct(_checked([nfacct, "list"], run))
    nft = _tool("nft")
    if nft:
        out += parse_nft(_checked([nft, "-j", "list", "counters"], run))
    return sorted(out)


def reset_counter(name: str, run: Callable = _run) -> KernelCounter:
    """Read counter ``name`` (as :func:`list_counters` names it) and zero it atomically:
    the figures returned are those at the instant of the reset."""
    kind, _, rest = name.partition(":")
    if kind == "nfacct" and rest and (tool := _tool("nfacct")):
        found = parse_nfacct(_checked([tool, "get", rest, "reset"], run))
    elif kind == "nft" and rest.count("/") == 2 and (tool := _tool("nft")):
        family, table, counter = rest.split("/")
        found = parse_nft(_checked([tool, "-j", "reset", "counter", family, table, counter],
                                   run))
    else:
        raise TuimonError(f"no such kernel counter: {name}")
    found = [c for c in found if c.name == name]
    if not found:
        raise TuimonError(f"no such kernel counter: {name}")
    return found[0]


def reset_all(run: Callable = _run) -> list[KernelCounter]:
    """Every counter read and zeroed (each atomically), as :func:`reset_counter`."""
    return [reset_counter(c.name, run) for c in list_counters(run)]
