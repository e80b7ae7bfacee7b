"""The kernel's connection tracking as a source (``--source conntrack``): flows, not packets.

Linux's conntrack table (the one every stateful firewall and NAT keeps) counts each flow's
packets and bytes both ways when ``net.netfilter.nf_conntrack_acct`` is 1. This source
reads it over netlink (``NETLINK_NETFILTER``: requests built by pyroute2, replies decoded
by :mod:`tuimon.capture.ctnetlink`) in the process's own network namespace, and copies no
packet:

* a dump of the whole table at the start (the baseline: what flows older than tuimon had
  counted is not claimed, see :mod:`tuimon.core.flows`), then one every ``interval``
  seconds (the kernel sends counters only in dumps and in destroy events);
* the destroy events (``NFNLGRP_CONNTRACK_DESTROY``): each flow's final counts as it
  leaves the table, so a flow that lives less than a second is counted too.

Records are :class:`tuimon.capture.flowrecord.FlowRecord` tuples (its ``ts`` is this machine's
clock when they were read). Reading the table needs CAP_NET_ADMIN; without it, or with
accounting off, opening says so in one line (:class:`~tuimon.errors.TuimonError`).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from tuimon.capture.ctnetlink import flow_record, messages
from tuimon.capture.reader import Interface
from tuimon.capture.source import Source
from tuimon.capture.flowrecord import DESTROYED, DUMPED, INITIAL, dump_end
from tuimon.errors import TuimonError

ACCT = "/proc/sys/net/netfilter/nf_conntrack_acct"
NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 0, 1, 2
NFNLGRP_CONNTRACK_DESTROY = 3
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
LINKTYPE_RAW = 101
RCVBUF = 8 << 20  # the destroy events of a burst of short flows wait here


@dataclass
class FlowInterface(Interface):
    """The one pseudo-interface every flow counts on: its link says what is counted."""

    @property
    def link(self) -> str:
        return "kernel conntrack (IP bytes)"


def accounting_state() -> str | None:
    """``"1"``/``"0"``: the namespace's ``nf_conntrack_acct``; None: no conntrack here."""
    try:
        with open(ACCT) as f:
            return f.read().strip()
    except OSError:
        return None


def check_accounting(enable: bool) -> None:
    """Conntrack accounting must be on; ``enable`` turns it on (it needs root)."""
    state = accounting_state()
    if state is None:
        raise TuimonError("connection tracking is not loaded in this network namespace "
                          "(no net.netfilter.nf_conntrack_acct): load it with 'modprobe "
                          "nf_conntrack' and a firewall rule that tracks connections")
    if state == "1":
        return
    if not enable:
        raise TuimonError("conntrack accounting is off (net.netfilter.nf_conntrack_acct = 0):"
                          " turn it on with 'sysctl -w net.netfilter.nf_conntrack_acct=1' or "
                          "run with --enable-acct (flows already tracked stay uncounted)")
    try:
        with open(ACCT, "w") as f:
            f.write("1\n")
    except OSError as err:
        raise TuimonError(f"--enable-acct: cannot turn conntrack accounting on "
                          f"({err.strerror}): it needs root (CAP_NET_ADMIN)") from None


def _no_privilege() -> TuimonError:
    return TuimonError("reading the kernel's conntrack table needs CAP_NET_ADMIN: run as root"
                       " or give tuimon's Python that capability")


class ConntrackSource(Source):
    """Flow records of this network namespace's conntrack table (see the module)."""

    kind = "live"
    name = "conntrack (kernel flow accounting, IP bytes)"

    def __init__(self, interval: float = 1.0, enable_acct: bool = False,
                 clock=time.time) -> None:
        self.interval = interval
        self.clock = clock
        self.lost_events = 0  # destroy events the kernel dropped (we were behind)
        self._wake: int | None = None
        self._seq = 0
        self.interfaces = [FlowInterface(0, LINKTYPE_RAW, "conntrack")]
        self._events = self._dumps = None
        try:
            self._events = self._socket(1 << (NFNLGRP_CONNTRACK_DESTROY - 1))
            self._dumps = self._socket(0)
            check_accounting(enable_acct)
            self._first = self._dump(INITIAL)  # the baseline
        except BaseException:
            self.close()
            raise

    def _socket(self, groups: int) -> socket.socket:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, RCVBUF)  # SO_RCVBUFFORCE (root)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        try:
            s.bind((0, groups))
        except PermissionError:
            s.close()
            raise _no_privilege() from None
        return s

    def _dump(self, kind: int) -> list:
        """The whole table, as records of ``kind``, and the end marker."""
        from pyroute2.netlink.nfnetlink import nfctsocket

        self._seq += 1
        req = nfctsocket.nfct_msg()
        req["header"]["type"] = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
        req["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
        req["header"]["sequence_number"] = self._seq
        req["nfgen_family"] = socket.AF_UNSPEC  # IPv4 and IPv6
        req.encode()
        self._dumps.send(req.data)
        ts = self.clock()
        out = []
        while True:
            data = self._dumps.recv(1 << 20)
            for mtype, seq, off, end in messages(data):
                if seq != self._seq:
                    continue
                if mtype == NLMSG_DONE:
                    out.append(dump_end(ts))
                    return out
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, off)[0]
                    if code == errno.EPERM:
                        raise _no_privilege()
                    if code:
                        raise TuimonError(f"conntrack: the kernel refused the dump: "
                                          f"{os.strerror(code)}")
                    continue
                rec = flow_record(data, off, end, kind, ts)
                if rec is not None:
                    out.append(rec)

    def _read_events(self) -> list:
        out = []
        ts = self.clock()
        while True:
            try:
                data = self._events.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as err:
                if err.errno == errno.ENOBUFS:  # the kernel dropped some: dumps catch up
                    self.lost_events += 1
                    continue
                raise
            for mtype, _, off, end in messages(data):
                if mtype == NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE:
                    rec = flow_record(data, off, end, DESTROYED, ts)
                    if rec is not None:
                        out.append(rec)

    def wake_on(self, fd: int) -> None:
        self._wake = fd

    def batches(self) -> Iterator[list]:
        first, self._first = self._first, []
        yield first + self._read_events()
        next_dump = time.monotonic() + self.interval
        fds = [self._events.fileno()] + ([self._wake] if self._wake is not None else [])
        while not self.stopping:
            wait = max(0.0, min(0.25, next_dump - time.monotonic()))
            try:
                select.select(fds, [], [], wait)
            except InterruptedError:
                pass
            batch = self._read_events()
            if time.monotonic() >= next_dump:
                next_dump = time.monotonic() + self.interval
                batch += self._dump(DUMPED)
            yield batch
        # stopped: the last events, then a last dump, so the final second is counted too
        yield self._read_events() + self._dump(DUMPED)

    def close(self) -> None:
        for s in (self._events, self._dumps):
            if s is not None:
                s.close()
        self._events = self._dumps = None
