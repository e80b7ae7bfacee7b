"""Two network namespaces joined by veth pairs, for live-capture tests that need no network.

``Netns(pairs=2)`` creates namespaces ``tm-<pid>-<n>-a`` and ``...-b``; pair ``i`` is
``tma<i>`` (in a, 10.199.<i+1>.1/30) <-> ``tmb<i>`` (in b, 10.199.<i+1>.2/30), with fixed MAC
addresses, permanent neighbour entries and IPv6 off: no ARP, ND or MLD, so the only frames on
the link are the ones a test sends. The namespaces are deleted on exit, whatever happened.
Use it as a context manager or through the ``netns`` fixture (skips when not root, or when
``ip netns`` or dumpcap is missing).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUIMON = str(ROOT / ".venv" / "bin" / "tuimon")
_serial = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def skip_reason() -> str | None:
    """Why live tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "live capture tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if shutil.which("dumpcap") is None:
        return "dumpcap is not installed (apt-get install tshark)"
    return None


class Netns:
    def __init__(self, pairs: int = 1) -> None:
        base = f"tm-{os.getpid()}-{next(_serial)}"
        self.a, self.b = f"{base}-a", f"{base}-b"
        self.pairs = pairs

    # addresses of pair i
    def veth_a(self, i: int = 0) -> str:
        return f"tma{i}"

    def veth_b(self, i: int = 0) -> str:
        return f"tmb{i}"

    def addr_a(self, i: int = 0) -> str:
        return f"10.199.{i + 1}.1"

    def addr_b(self, i: int = 0) -> str:
        return f"10.199.{i + 1}.2"

    def __enter__(self) -> Netns:
        try:
            self._create()
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.delete()

    def _create(self) -> None:
        for ns in (self.a, self.b):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # Links created afterwards inherit "default": no IPv6, hence no ND/MLD/RS.
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"],
                           capture_output=True, timeout=30)
        for i in range(self.pairs):
            va, vb = self.veth_a(i), self.veth_b(i)
            mac_a, mac_b = f"02:00:00:c7:{i + 1:02x}:01", f"02:00:00:c7:{i + 1:02x}:02"
            _ip("-n", self.a, "link", "add", va, "address", mac_a, "type", "veth",
                "peer", "name", vb, "address", mac_b, "netns", self.b)
            ends = ((self.a, va, self.addr_a(i), self.addr_b(i), mac_b),
                    (self.b, vb, self.addr_b(i), self.addr_a(i), mac_a))
            for ns, dev, addr, peer, peer_mac in ends:
                _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
                _ip("-n", ns, "neigh", "replace", peer, "lladdr", peer_mac, "dev", dev,
                    "nud", "permanent")
                _ip("-n", ns, "link", "set", dev, "up")

    def delete(self) -> None:
        """Kill what still runs inside (test processes only), then delete both namespaces."""
        for ns in (self.a, self.b):
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns, check=False)

    # running things inside
    def cmd(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def popen(self, ns: str, *argv: str, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.cmd(ns, *argv), text=True, **kw)

    def run(self, ns: str, *argv: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(ns, *argv), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def python(self, ns: str, code: str, *args: str, **kw) -> subprocess.Popen:
        return self.popen(ns, sys.executable, "-c", code, *args, cwd=str(ROOT), **kw)

    def tuimon(self, *args: str, **kw) -> subprocess.Popen:
        """``tuimon ARGS`` run in namespace a."""
        return self.popen(self.a, TUIMON, *args, cwd=str(ROOT), **kw)


def wait_line(proc: subprocess.Popen, startswith: str, timeout: float = 15) -> str:
    """Read ``proc.stderr`` up to a line starting with ``startswith`` (e.g. tuimon's
    'tuimon: capturing on'); fail with everything it said if it exits first."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(startswith):
            return line
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"no {startswith!r} line; stderr: {''.join(seen) + err!r}; stdout: {out!r}")


@pytest.fixture
def netns():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        ns = Netns(pairs=2)
        ns.__enter__()
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot create network namespaces: {(err.stderr or '').strip() or err}")
    try:
        yield ns
    finally:
        ns.__exit__(None, None, None)
