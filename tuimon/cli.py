"""Command line entry point: argv -> one frozen :class:`~tuimon.config.Config`, then the app
or headless mode. Nothing else reads the command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from tuimon.config import SNAPLEN, Config
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
    p.add_argument("--max-hosts", type=_count, default=200_000, metavar="N",
                   help="keep at most N hosts: the least recently seen without a conversation "
                        "in the table fold into one '(other hosts)' row, totals exact "
                        "(default 200000; 0: no bound)")
    p.add_argument("--dissect-packets", type=_packets, default=10, metavar="N",
                   help="hand the first N packets of each TCP/UDP conversation to tshark to "
                        "name its application protocol (default 10; 0: guess from ports only)")
    p.add_argument("--snaplen", type=_snaplen, default=SNAPLEN, metavar="BYTES",
                   help=f"live: bytes kept of each packet (default {SNAPLEN}; 0: all); "
                        "counts use the length on the wire either way")
    p.add_argument("--list-interfaces", action="store_true",
                   help="list the interfaces dumpcap can capture on, and exit")
    p.add_argument("--source", choices=("capture", "conntrack"), default="capture",
                   help="capture: count captured packets (default); conntrack: count the "
                        "kernel's connection-tracking flows (IP bytes, no packet copied; "
                        "needs CAP_NET_ADMIN and net.netfilter.nf_conntrack_acct=1)")
    p.add_argument("--enable-acct", action="store_true",
                   help="with --source conntrack: turn net.netfilter.nf_conntrack_acct on")
    p.add_argument("--history", metavar="PATH",
                   help="record traffic per minute, hour and day into this SQLite file "
                        "(default for a live capture: $XDG_DATA_HOME/tuimon/history.sqlite; "
                        "a playback records only when given)")
    p.add_argument("--no-history", action="store_true", help="record no history")
    p.add_argument("--history-conversations", action="store_true",
                   help="record a row per conversation in the history too (costly at a "
                        "busy gateway: see docs/history.md)")
    p.add_argument("--billing-day", type=_billing_day, default=1, metavar="N",
                   help="the accounting period's totals start on day N (1-28) of each "
                        "month (default 1)")
    p.add_argument("--history-keep", action="append", default=[], type=_keep,
                   metavar="GRAIN=AGE",
                   help="how long the history keeps a grain (minutes, hours, days, "
                        "conversations) before deleting it: AGE like 14d, 36h, 2w, 2y or "
                        "forever (default minutes=7d hours=1y days=forever "
                        "conversations=7d); repeatable")
    p.add_argument("--counter", action="append", default=[], metavar="NAME=EXPR",
                   help="a named counter: the packets and bytes EXPR picks (filter language: "
                        "host, net, port, proto, and/or/not), e.g. web='port 443'; repeatable")
    p.add_argument("--counters", metavar="FILE",
                   help="named counters from FILE, one NAME = EXPR a line, # comments")
    p.add_argument("--quota", action="append", default=[], metavar="NAME=SIZE/PERIOD",
                   help="warn when counter NAME reaches 80 %% and 100 %% of SIZE a PERIOD "
                        "(day, week, month from --billing-day), e.g. web=50GB/month; "
                        "repeatable")
    p.add_argument("--metrics", metavar="[ADDR:]PORT",
                   help="serve Prometheus metrics on http://ADDR:PORT/metrics (ADDR default "
                        "127.0.0.1; docs/fleet.md)")
    p.add_argument("--metrics-top-hosts", type=_count, default=0, metavar="N",
                   help="with --metrics: the N hosts with the most bytes get series of their "
                        "own, with an address label (default 0: none)")
    p.add_argument("--metrics-linger", type=_linger, default=0.0, metavar="SECS",
                   help="with --metrics and --no-ui: after the report is written, keep "
                        "serving the final figures for SECS seconds (default 0)")
    p.add_argument("--ipfix", metavar="HOST:PORT",
                   help="export every conversation over UDP to this IPFIX collector "
                        "(nfcapd, pmacct, goflow2 ...) when it leaves the table, at the "
                        "active timeout and at the end; [ADDR]:PORT for IPv6")
    p.add_argument("--ipfix-active", type=_active, metavar="SECS",
                   help="with --ipfix: a conversation still going sends a record every SECS "
                        "seconds of capture time (default 60; 0: only when it leaves)")
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


def _snaplen(text: str) -> int:
    value = _count(text)
    if 0 < value < 64:
        raise argparse.ArgumentTypeError("a snapshot length must be 0 (all) or at least 64 bytes")
    return value


def _packets(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of packets: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _linger(text: str) -> float:
    return _number(text, "the linger")


def _metrics(args: argparse.Namespace) -> str | None:
    """--metrics and its companions, checked here: a bad one is one line, exit 2."""
    if args.metrics is None:
        if args.metrics_top_hosts or args.metrics_linger:
            raise TuimonError("--metrics-top-hosts and --metrics-linger go with --metrics")
        return None
    from tuimon.server.metrics_server import parse_address

    parse_address(args.metrics)
    if args.metrics_linger and not args.no_ui:
        raise TuimonError("--metrics-linger goes with --no-ui (the app serves until it quits)")
    return args.metrics


def _billing_day(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day of the month: {text!r}") from None
    if not 1 <= value <= 28:
        raise argparse.ArgumentTypeError("the billing day must be 1 to 28")
    return value


_AGE_UNITS = {"s": 1, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_KEEP_GRAINS = ("minutes", "hours", "days", "conversations")


def _keep(text: str) -> tuple[str, int | None]:
    """``GRAIN=AGE`` of --history-keep: (grain, seconds or None for ever)."""
    grain, eq, age = text.partition("=")
    grain, age = grain.strip(), age.strip().lower()
    if not eq or grain not in _KEEP_GRAINS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give GRAIN=AGE with GRAIN one of {', '.join(_KEEP_GRAINS)}")
    if age == "forever":
        return grain, None
    unit = _AGE_UNITS.get(age[-1:])
    try:
        value = float(age[:-1]) if unit else None
    except ValueError:
        value = None
    if unit is None or value is None or not 0 < value < 10_000 or value * unit < 60:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the age must be like 14d, 36h, 2w, 2y or forever (a minute at least)")
    return grain, int(value * unit)
def _active(text: str) -> float:
    return _number(text, "the active timeout")


def _ipfix(address: str | None) -> str | None:
    """--ipfix HOST:PORT, checked here (a bad one is one line, exit 2)."""
    if address is not None:
        from tuimon.sinks.ipfix_export import resolve

        resolve(address)
    return address


def _counters(path: str | None, given: list[str]) -> tuple[tuple[str, str], ...]:
    """--counters FILE then every --counter, checked here: a bad one is one line, exit 2,
    before anything starts."""
    from tuimon.server.counterspec import compile_all, read_counters, split_counter

    pairs = read_counters(path) if path else []
    pairs += [split_counter(text) for text in given]
    compile_all(pairs)
    return tuple(pairs)


def config_from(args: argparse.Namespace) -> Config:
    """The one place the parsed command line becomes a Config."""
    from tuimon.server.quota import parse_quota

    if args.read and args.interfaces:
        raise TuimonError("give either interfaces to capture on or -r FILE, not both")
    if args.source == "conntrack" and (args.read or args.interfaces or args.filter):
        raise TuimonError("--source conntrack reads the kernel's flow table: it takes no "
                          "interfaces, -r FILE or -f filter")
    if args.enable_acct and args.source != "conntrack":
        raise TuimonError("--enable-acct goes with --source conntrack")
    if args.source == "conntrack" and (args.counter or args.counters):
        raise TuimonError("named counters count captured packets: --counter and --counters "
                          "do not go with --source conntrack (its flows have no packets "
                          "of their own to match)")
    if args.ipfix_active is not None and args.ipfix is None:
        raise TuimonError("--ipfix-active goes with --ipfix HOST:PORT")
    if args.ring < 0:
        raise TuimonError("--ring MB cannot be negative")
    if args.csv is not None and printable(args.csv, len(args.csv) + 1) != args.csv:
        raise TuimonError(f"--csv: a folder name with control characters is refused: "
                          f"{printable(args.csv)}")
    counters = _counters(args.counters, args.counter)
    quotas = tuple(parse_quota(q, tuple(name for name, _ in counters)) for q in args.quota)
    return Config(counters=counters, quotas=quotas,
                  interfaces=tuple(args.interfaces), read=args.read,
                  capture_filter=args.filter, speed=args.speed, max_gap=args.max_gap,
                  no_ui=args.no_ui, csv=args.csv, duration=args.duration,
                  interval=args.interval if args.interval and args.interval > 0 else 1.0,
                  ring_mb=args.ring, snaplen=args.snaplen, flow_timeout=args.flow_timeout,
                  max_flows=args.max_flows, max_hosts=args.max_hosts,
                  dissect_packets=args.dissect_packets,
                  list_interfaces=args.list_interfaces,
                  history=args.history, no_history=args.no_history,
                  history_conversations=args.history_conversations,
                  history_keep=tuple(dict(args.history_keep).items()),
                  billing_day=args.billing_day, source=args.source,
                  enable_acct=args.enable_acct, metrics=_metrics(args),
                  metrics_top_hosts=args.metrics_top_hosts,
                  metrics_linger=args.metrics_linger, ipfix=_ipfix(args.ipfix),
                  ipfix_active=60.0 if args.ipfix_active is None else args.ipfix_active)


def main(argv: list[str] | None = None) -> int:
    """Run tuimon with ``argv``; return the exit status."""
    return run(argv)[0]


def run(argv: list[str] | None = None) -> tuple[int, bool]:
    """Run tuimon with ``argv``: (exit status, whether the process may end at once -- a
    headless run that has written, closed and synced everything)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        from tuimon.sinks.report import main as report

        return report(argv[1:]), False
    args = build_parser().parse_args(argv)
    try:
        config = config_from(args)
        if config.list_interfaces:
            from tuimon.capture.interfaces import list_interfaces

            print(list_interfaces())
            return 0, False
        if config.no_ui:
            from tuimon.server.headless import run_headless

            code, at_once = run_headless(config)
            return code, at_once
        return run_app(config), False
    except TuimonError as err:
        # A path or an interface name can carry escape sequences too: shown, never obeyed.
        print(f"tuimon: {printable(str(err), 1000)}", file=sys.stderr)
        return err.exit_code, False
    except KeyboardInterrupt:
        return 130, False
    except BrokenPipeError:  # the summary's reader went away (tuimon ... | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE, False


def run_app(config: Config) -> int:
    """The app, with its engine in a process of its own."""
    if config.csv:
        from tuimon.sinks.csv import check_folder

        check_folder(config.csv)  # before the screen is taken, as headless
    from tuimon.server.client import ProcessClient
    from tuimon.ui.app import run_app as run_monitor  # only the UI loads textual

    def connect(config: Config, stdin) -> ProcessClient:
        client = ProcessClient(config, stdin=stdin)
        client.launch()
        return client

    return run_monitor(config, connect)


def entry() -> None:
    """The ``tuimon`` command (and ``python -m tuimon``): :func:`run`, then the process
    ends. After a headless run every file is written, closed and synced and tshark is
    gone, so it ends at once (``os._exit``) rather than have the interpreter free a
    million conversation records one by one, which took a tenth of a large file's run."""
    code, at_once = run()
    if at_once:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed or broken pipe: nothing more to say anyway
        os._exit(code)
    raise SystemExit(code)
