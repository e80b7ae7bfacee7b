"""The messages between the UI and the engine worker process (see :mod:`tuimon.server.worker`),
and the states a capture goes through. Plain picklable dataclasses; nothing here counts."""

from __future__ import annotations

from dataclasses import dataclass, field

STARTING, PLAYING, CAPTURING, FINISHED, ERROR = "starting", "playing", "capturing", "finished", "error"


@dataclass
class Status:
    state: str
    message: str = ""
    source: str = ""
    opened: bool = False  # the source was opened (False with ERROR: it never was)
    note: str = ""  # something to tell the user once (e.g. which interface was picked)


@dataclass
class Save:
    folder: str | None = None  # None: a new tuimon-YYYYmmdd-HHMMSS/ in the current directory
    seq: int = 0
    final: bool = False  # the user quits: a live capture is stopped first, so the files
    #                      hold everything, dumpcap's drop counts included


@dataclass
class Saved:
    seq: int
    folder: str
    paths: list = field(default_factory=list)
    error: str | None = None


@dataclass
class Ping:
    seq: int = 0


@dataclass
class Pong:
    seq: int
    pid: int
    modules: list


@dataclass
class Speed:
    step: int = 1  # +1: the next faster speed, -1: the next slower one


@dataclass
class Hold:
    paused: bool = True  # pause (True) or resume (False) a playback


@dataclass
class Stop:
    pass


class PassFd:
    """A file descriptor handed to the worker process ("spawn" keeps only the descriptors
    it is told of): the capture read from standard input while fd 0 serves the terminal."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        from multiprocessing import reduction

        return _rebuild_fd, (reduction.DupFd(self.fd),)


def _rebuild_fd(dup) -> PassFd:
    return PassFd(dup.detach())


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
