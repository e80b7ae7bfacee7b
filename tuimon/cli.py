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


SUBCOMMANDS = ("serve", "attach", "web", "ctl")  # argv[0]; an interface of that name: '--' first


def build_parser(serve: bool = False) -> argparse.ArgumentParser:
    """The usual command line; ``serve``: ``tuimon serve``'s (the same, plus the socket)."""
    p = argparse.ArgumentParser(
        prog="tuimon serve" if serve else "tuimon",
        description="Count as a daemon, serving a control socket (docs/fleet.md)." if serve
        else "Interactive terminal network-traffic monitor.",
        epilog="Examples: tuimon serve eth0 --csv /var/lib/tuimon | tuimon attach" if serve
        else "Examples: tuimon eth0 | tuimon -r trace.pcap | "
             "tuimon -r trace.pcap --no-ui --csv out/ | tuimon serve eth0 | tuimon attach | "
             "tuimon web | tuimon ctl counters --reset NAME",
    )
    if serve:
        p.add_argument("--control", metavar="PATH",
                       help="the control socket (default /run/tuimon/NAME.sock as root, "
                            "else $XDG_RUNTIME_DIR/tuimon/NAME.sock)")
        p.add_argument("--control-group", metavar="GROUP",
                       help="the control socket's group (mode 0660): who may attach")
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
    p.add_argument("--duration", type=_duration, metavar="SECS",
                   help="stop a live capture after SECS seconds (a file plays to its end)")
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
    p.add_argument("--alert", action="append", default=[], metavar="EXPR",
                   help="raise an alert once per crossing (repeatable): 'host ADDR > RATE', "
                        "'iface NAME > RATE', 'iface NAME > PCT%%', 'new-host' "
                        "(RATE: 50Mb/s); listed in alerts.csv")
    p.add_argument("--resolve", action="store_true",
                   help="reverse DNS names for addresses (the app starts with n on; "
                        "hosts.csv gets them)")
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


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"the duration must be a number of seconds above 0, "
                                         f"not {text!r}")
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
    if not path and not given:
        return ()  # the filter language (and its modules) not loaded for nothing
    from tuimon.server.counterspec import compile_all, read_counters, split_counter

    pairs = read_counters(path) if path else []
    pairs += [split_counter(text) for text in given]
    compile_all(pairs)
    return tuple(pairs)


def _bind(text: str) -> tuple[str, int]:
    """ADDR:PORT ([::1]:PORT for IPv6; :PORT or PORT alone: 127.0.0.1)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not ADDR:PORT: {text!r}") from None
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {port!r}")
    return host, number


def client_parser(command: str) -> argparse.ArgumentParser:
    """``tuimon attach``, ``tuimon web`` and ``tuimon ctl``: clients of a daemon's socket."""
    socket_help = ("the daemon's control socket (default: the only one in /run/tuimon as "
                   "root, else in $XDG_RUNTIME_DIR/tuimon)")
    top = p = argparse.ArgumentParser(prog=f"tuimon {command}")
    if command == "attach":
        p.description = "The monitor on a running tuimon serve; q leaves it counting."
    elif command == "web":
        p.description = "The monitor attached to tuimon serve, in a browser (textual-serve)."
        p.add_argument("--web-bind", type=_bind, default=("127.0.0.1", 8080),
                       metavar="ADDR:PORT", help="where the web server listens (default "
                       "127.0.0.1:8080; it has no authentication: see docs/fleet.md)")
        p.add_argument("--web-public-url", metavar="URL",
                       help="the URL browsers use, behind a proxy (default http://ADDR:PORT)")
    else:
        p.description = "One request to a running tuimon serve."
        sub = p.add_subparsers(dest="what", required=True, metavar="counters")
        p = sub.add_parser("counters", prog="tuimon ctl counters",
                           help="the named counters; --reset: read and zero at once")
        p.add_argument("--reset", action="append", default=[], metavar="NAME",
                       help="read and zero this counter atomically (repeatable)")
        p.add_argument("--reset-all", action="store_true",
                       help="read and zero every counter atomically")
    if command in ("attach", "web"):
        p.add_argument("--interval", type=float, default=1.0, metavar="SECS",
                       help="table refresh interval (default 1)")
    p.add_argument("socket", nargs="?", metavar="SOCKET", help=socket_help)
    return top


def client_config(command: str, argv: list[str]) -> Config:
    """``tuimon attach|web|ctl ...`` -> Config."""
    parser = client_parser(command)
    args = parser.parse_args(argv)
    if command == "ctl":
        return Config(subcommand="ctl", control=args.socket, ctl_reset=tuple(args.reset),
                      ctl_reset_all=args.reset_all)
    interval = args.interval if args.interval and args.interval > 0 else 1.0
    if command == "web":
        return Config(subcommand="web", control=args.socket, interval=interval,
                      web_bind=args.web_bind, web_public_url=args.web_public_url)
    return Config(subcommand="attach", control=args.socket, interval=interval)


def serve_config(args: argparse.Namespace) -> Config:
    """``tuimon serve ...`` -> Config: the usual options, the daemon's socket."""
    if args.no_ui:
        raise TuimonError("tuimon serve has no interface anyway: drop --no-ui")
    if args.list_interfaces:
        raise TuimonError("--list-interfaces goes with tuimon, not tuimon serve")
    return config_from(args).but(subcommand="serve", control=args.control,
                                 control_group=args.control_group)


def config_from(args: argparse.Namespace) -> Config:
    """The one place the parsed command line becomes a Config."""
    if args.read and args.interfaces:
        raise TuimonError("give either interfaces to capture on or -r FILE, not both")
    if "any" in args.interfaces and len(args.interfaces) > 1:
        others = ", ".join(i for i in args.interfaces if i != "any")
        raise TuimonError(f"'any' already captures every interface: with {others} beside it, "
                          f"their frames would be counted twice; give 'any' alone, or the "
                          f"interfaces without it")
    if len(set(args.interfaces)) < len(args.interfaces):
        raise TuimonError("an interface is named twice: its frames would be counted twice")
    if args.read and args.duration is not None:
        raise TuimonError("--duration stops a live capture; a file (-r) is read to its end "
                          "(cut it first: editcap -A/-B, or tcpdump -r FILE -w OUT -c N)")
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
    quotas = alerts = ()  # their modules loaded only when they are given
    if args.quota:
        from tuimon.server.quota import parse_quota

        quotas = tuple(parse_quota(q, tuple(name for name, _ in counters)) for q in args.quota)
    if args.alert:
        from tuimon.server.alertspec import parse_alert

        alerts = tuple(parse_alert(text).text for text in args.alert)  # a bad one: exit 2
    return Config(counters=counters, quotas=quotas, alerts=alerts, resolve=args.resolve,
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
    command = argv[0] if argv[:1] and argv[0] in SUBCOMMANDS else None
    if command in (None, "serve"):
        args = build_parser(serve=command == "serve").parse_args(argv[1:] if command else argv)
    try:
        if command is None:
            config = config_from(args)
        elif command == "serve":
            config = serve_config(args)
        else:
            config = client_config(command, argv[1:])
        if config.subcommand is not None:
            return run_subcommand(config)
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


def run_subcommand(config: Config) -> tuple[int, bool]:
    """``tuimon serve``, ``attach``, ``web``, ``ctl`` (docs/fleet.md)."""
    if config.serve:
        from tuimon.server.daemon import run_serve

        code, at_once = run_serve(config)
        return code, at_once
    from tuimon.server.control import find_socket

    path = find_socket(config.control)
    if config.subcommand == "ctl":
        from tuimon.server.ctl import run_ctl

        return run_ctl(config.but(control=path)), False
    if config.subcommand == "web":
        from tuimon.server.attach_client import SocketClient
        from tuimon.ui.web import run_web

        probe = SocketClient(path)  # a daemon answers there: one line now if not, rather
        probe.launch()  # than a page that fails in every browser
        probe.close()
        host, port = config.web_bind
        return run_web(path, host, port, config.interval, config.web_public_url), False
    return run_attach(path, config), False


def run_attach(path: str, config: Config) -> int:
    """The app on the daemon at ``path``: its tabs and columns as the daemon counts; q
    detaches, the daemon counts on."""
    from tuimon.server.attach_client import SocketClient
    from tuimon.ui.app import run_app as run_monitor  # only the UI loads textual

    client = SocketClient(path)
    client.launch()
    served = client.served
    shown = Config(counters=served.counters, source="conntrack" if served.conntrack
                   else "capture", interval=config.interval)
    try:
        return run_monitor(shown, lambda config, stdin: client,
                           hint="tuimon ctl counters reads a daemon without one, and its "
                                "--csv DIR gets the report")
    finally:
        client.close()  # (refused before the app: the connection goes; idempotent)


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
