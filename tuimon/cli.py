"""Command line entry point: ``tuimon [IFACE ...] | -r FILE`` with or without the UI."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from tuimon.errors import TuimonError
from tuimon.text import printable


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tuimon",
        description="Interactive terminal network-traffic monitor.",
        epilog="Examples: tuimon eth0 | tuimon -r trace.pcap | "
               "tuimon -r trace.pcap --no-ui --csv out/",
    )
    p.add_argument("interfaces", nargs="*", metavar="IFACE",
                   help="interfaces to capture on ('any' for all); default: the first busy one")
    p.add_argument("-r", "--read", metavar="FILE",
                   help="play back a pcap/pcapng file (.gz too, '-' for standard input)")
    p.add_argument("-f", "--filter", metavar="EXPR",
                   help="BPF capture filter, e.g. 'tcp port 443' (live, or -r through tcpdump)")
    p.add_argument("--speed", type=_speed, metavar="X",
                   help="playback speed: a multiple of the recorded pace (0.5, 2, 10 ...), "
                        "0 = as fast as possible (default 1 in the app; --no-ui: as fast as "
                        "possible unless given)")
    p.add_argument("--max-gap", type=_max_gap, default=5.0, metavar="SECS",
                   help="playback skips quiet gaps longer than SECS seconds (default 5)")
    p.add_argument("--no-ui", action="store_true", help="count without the interface, then report")
    p.add_argument("--csv", metavar="DIR", help="write the session's CSV files into DIR")
    p.add_argument("--duration", type=float, metavar="SECS",
                   help="stop a live capture after SECS seconds")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECS",
                   help="table refresh interval in the UI (default 1)")
    p.add_argument("--ring", type=float, default=64.0, metavar="MB",
                   help="live capture in the UI: keep this much recent traffic on disk for "
                        "drill-down (default 64, 0 for none)")
    p.add_argument("--flow-timeout", type=_seconds, metavar="SECS",
                   help="a conversation idle for SECS seconds of capture time leaves the table "
                        "(default: TCP 300, others 180; TCP 10 after RST or FIN both ways; "
                        "0: never)")
    p.add_argument("--max-flows", type=_count, default=1_000_000, metavar="N",
                   help="keep at most N conversations, the longest idle leave first "
                        "(default 1000000; 0: no bound)")
    p.add_argument("--dissect-packets", type=_packets, default=10, metavar="N",
                   help="hand the first N packets of each TCP/UDP conversation to tshark to "
                        "name its application protocol (default 10; 0: guess from ports only)")
    p.add_argument("--list-interfaces", action="store_true",
                   help="list the interfaces dumpcap can capture on, and exit")
    return p


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{what} must be 0 or more, not {text!r}")
    return value


def _speed(text: str) -> float:
    return _number(text, "the speed")


def _max_gap(text: str) -> float:
    value = _number(text, "the gap")
    if value == 0:
        raise argparse.ArgumentTypeError("the gap must be more than 0 seconds")
    return value


def _seconds(text: str) -> float:
    return _number(text, "the flow timeout")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return value


def _packets(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of packets: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list_interfaces:
            from tuimon.capture.interfaces import list_interfaces

            print(list_interfaces())
            return 0
        if args.read and args.interfaces:
            raise TuimonError("give either interfaces to capture on or -r FILE, not both")
        if args.ring < 0:
            raise TuimonError("--ring MB cannot be negative")
        if args.no_ui:
            return run_headless(args)
        from tuimon.ui.app import run_app  # only the UI loads textual

        return run_app(args)
    except TuimonError as err:
        # A path or an interface name can carry escape sequences too: shown, never obeyed.
        print(f"tuimon: {printable(str(err), 1000)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the summary's reader went away (tuimon ... | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


_headless_done = False  # set when run_headless has written everything


def entry() -> None:
    """The ``tuimon`` command (and ``python -m tuimon``): :func:`main`, then the process
    ends. After a headless run every file is written, closed and synced and tshark is
    gone, so it ends at once (``os._exit``) rather than have the interpreter free a
    million conversation records one by one, which took a tenth of a large file's run."""
    code = main()
    if _headless_done:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed or broken pipe: nothing more to say anyway
        os._exit(code)
    raise SystemExit(code)


def open_source(args):
    if args.read:
        from tuimon.capture.file import FileSource

        return FileSource(args.read, capture_filter=args.filter,
                          stdin=getattr(args, "stdin", None))
    from tuimon.capture.interfaces import default_interface
    from tuimon.capture.live import LiveSource

    # The ring of recent traffic serves drill-down, which only the interface has.
    ring = 0.0 if getattr(args, "no_ui", False) else getattr(args, "ring", 64.0) or 0.0
    source = LiveSource(args.interfaces or [default_interface()], capture_filter=args.filter,
                        ring_size=int(max(0.0, ring) * (1 << 20)))
    if args.no_ui:  # dumpcap is capturing once LiveSource returns
        print(f"tuimon: capturing on {source.name}", file=sys.stderr, flush=True)
    return source


class _Stop:
    """Set by SIGINT/SIGTERM/SIGHUP or the --duration deadline; the counted data is kept."""

    def __init__(self, duration: float | None) -> None:
        self.deadline = time.monotonic() + duration if duration else None
        self.signalled = False

    def __call__(self) -> bool:
        return self.signalled or (self.deadline is not None and time.monotonic() >= self.deadline)

    def handler(self, signum, frame) -> None:
        self.signalled = True


class _Ended:
    """Says once, on stderr, each live capture that ended on its own (not asked to stop):
    ``tuimon: capture on IFACE ended: REASON``."""

    def __init__(self, source) -> None:
        self.source = source
        self.said: set[int] = set()
        self.down: dict[int, str] = {}  # what was said about interfaces being down

    def __call__(self) -> None:
        self._links()
        ended = getattr(self.source, "ended", None)
        if not ended:
            return
        names = {iface.index: iface.name for iface in self.source.interfaces}
        for index, reason in list(ended.items()):
            if index not in self.said and reason != "stopped":
                self.said.add(index)
                print(f"tuimon: capture on {names.get(index, f'interface {index}')} ended: "
                      f"{reason}", file=sys.stderr, flush=True)


    def _links(self) -> None:
        """``tuimon: IFACE is down ...`` when an interface goes down, ``... is up again``
        when it comes back (the capture goes on meanwhile)."""
        down = dict(getattr(self.source, "down", None) or {})
        if down == self.down:
            return
        names = {iface.index: iface.name for iface in self.source.interfaces}
        for index in sorted(set(down) | set(self.down)):
            if index in self.said:
                continue
            name = names.get(index, f"interface {index}")
            if index in down and self.down.get(index) != down[index]:
                print(f"tuimon: {name} is {down[index]}: nothing to capture until it is "
                      f"up again", file=sys.stderr, flush=True)
            elif index not in down:
                print(f"tuimon: {name} is up again", file=sys.stderr, flush=True)
        self.down = down


def run_headless(args) -> int:
    """Count, then write the CSV files or print the summary. Exit status 0, or 1 when a live
    capture ended on its own (what was counted is still written). A CSV folder that cannot
    be written is an error before counting starts; one that fails when saving (disk full)
    still gets the summary printed, then the error."""
    from tuimon.capture.kernel import for_source
    from tuimon.core.engine import engine_for
    from tuimon.server.session import Session, tune_gc
    from tuimon.errors import ExportFailed
    from tuimon.sinks.csv import check_folder, export_engine
    from tuimon.sinks.flowlog import FlowLog
    from tuimon.sinks.summary import render_summary

    if args.csv:
        check_folder(args.csv)  # an hour's capture must not end in "cannot save"
    tune_gc()
    source = open_source(args)
    stop = _Stop(args.duration if args.read is None else None)
    ended = _Ended(source)
    pacer = batches = None
    if args.read and args.speed:  # --no-ui reads as fast as possible unless --speed is given
        from tuimon.server.pacer import Pacer
        from tuimon.server.playback import paced

        pacer = Pacer(source.batches(), speed=args.speed, max_gap=args.max_gap)
        batches = paced(pacer)

    def should_stop() -> bool:
        ended()
        return stop()

    previous = {s: signal.signal(s, stop.handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    session = None
    try:
        # neither the CSV files nor the summary show rates: no rate histories to keep
        engine = engine_for(args, rates=False)
        expired = FlowLog.attach(engine) if args.csv else None  # the report lists them too
        session = Session(source, engine, kernel=for_source(source),
                          dissect_packets=args.dissect_packets)
        note = session.labeler.note
        if note:  # tshark missing: port guesses only
            print(f"tuimon: {note}", file=sys.stderr, flush=True)
        session.run(stop=should_stop, batches=batches)
        if session.labeler.note != note:  # tshark died on the way
            print(f"tuimon: {session.labeler.note}", file=sys.stderr, flush=True)
    finally:
        source.close()
        if session is not None:
            session.close()
        for s, h in previous.items():
            signal.signal(s, h)
    ended()
    if pacer is not None and pacer.gaps:
        print(f"tuimon: skipped {len(pacer.gaps)} gaps longer than {args.max_gap:g} s "
              f"({sum(g for _, g in pacer.gaps):.0f} s of capture time)", file=sys.stderr)
    engine = session.engine  # neither the CSV files nor the summary show rates
    if args.csv:
        try:
            export_engine(engine, args.csv, expired)  # on both cores
            if expired.lost:
                print(f"tuimon: {expired.lost} expired conversations are missing from "
                      "conversations.csv (their spool was full)", file=sys.stderr)
        except ExportFailed:  # the disk filled: what was counted is not lost
            print(render_summary(engine.snapshot(with_rates=False)))
            raise
    else:
        print(render_summary(engine.snapshot(with_rates=False)))
    global _headless_done
    _headless_done = True
    return 1 if ended.said else 0
