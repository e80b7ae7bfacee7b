"""Waiting on a process started by a test for what it has done, not for a fixed time: that it
catches a signal (its handler is installed, /proc/PID/status ``SigCgt``), that it has read
everything a pipe held (``FIONREAD``), that it has done all it can with it (every thread
asleep, no CPU time used for a while). A fixed sleep before a signal was too short on a busy
machine (the signal came before the handler: killed, exit status 130 or -1) and longer
than needed on an idle one."""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time


def _status(pid: int, key: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` has a handler of its own for ``signum`` (neither default nor ignored)."""
    return bool(int(_status(pid, "SigCgt") or "0", 16) >> (signum - 1) & 1)


def wait_catching(proc, *signums: int, timeout: float = 30.0) -> None:
    """Until ``proc`` catches every one of ``signums``; fails if it ends or the time is up."""
    deadline = time.monotonic() + timeout
    while not all(catches(proc.pid, s) for s in signums):
        if proc.poll() is not None:
            raise AssertionError(f"ended ({proc.returncode}) before it caught {signums}")
        if time.monotonic() > deadline:
            raise AssertionError(f"did not catch {signums} within {timeout} s")
        time.sleep(0.02)


def unread(fd: int) -> int:
    """Bytes a pipe holds that its reader has not read yet (either end's descriptor)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _threads(pid: int) -> tuple[str, int]:
    """Each thread's state letter, and the process's CPU time in clock ticks."""
    states, ticks = "", 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that has just ended
            continue
        states += fields[0]
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return states, ticks


def wait_drained(proc, fd: int, quiet: float = 0.3, timeout: float = 30.0) -> None:
    """Until ``proc`` has read all the pipe ``fd`` holds and has then been idle for
    ``quiet`` seconds: every thread asleep and no CPU time used (what it read is dealt
    with; a thread that is runnable but not given a core counts as busy)."""
    deadline = time.monotonic() + timeout
    since, last = None, None
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"ended ({proc.returncode}) while reading its input")
        if time.monotonic() > deadline:
            raise AssertionError(f"still reading or busy after {timeout} s")
        states, ticks = _threads(proc.pid)
        idle = unread(fd) == 0 and set(states) <= {"S", "D"} and ticks == last
        now = time.monotonic()
        if not idle:
            since = None
        elif since is None:
            since = now
        elif now - since >= quiet:
            return
        last = ticks
        time.sleep(0.05)
