"""The CSV files of a session: interfaces, hosts, protocols, conversations, counters,
alerts, stations, sizes, ports, pairs, processes.

Each file is written to a temporary name in the target folder and renamed into place, so a
reader never sees half a file and a failed save leaves the previous files intact. Cells
that a spreadsheet would run as a formula are escaped. The temporary names carry the
process id (``.conversations.csv.PID.xxxxxxxx.tmp``): a save first removes those a killed
tuimon left in the folder (:func:`tuimon.scratch.sweep_files`).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from operator import attrgetter

from tuimon.capture.cwalk import walker
from tuimon.core.conversation import tcp_flags_text
from tuimon.core.model import ProtocolRow, Snapshot
from tuimon.core.rows import EndpointTexts
from tuimon.errors import ExportFailed
from tuimon.scratch import sweep_files
from tuimon.sinks.csvlines import TextTable, write_lines
from tuimon.sinks.part import start_part
from tuimon.timefmt import iso_second, iso_utc

INTERFACE_COLUMNS = ["interface", "packets", "bytes", "link", "ipv4_packets", "ipv6_packets",
                     "non_ip_packets", "undecoded_packets", "first_seen", "last_seen", "drops",
                     "skipped_records", "skipped_reasons",
                     # direction, then the kernel's own counters (live capture)
                     "in_packets", "in_bytes", "out_packets", "out_bytes",
                     "kernel_in_packets", "kernel_in_bytes", "kernel_out_packets",
                     "kernel_out_bytes", "kernel_errors_in", "kernel_errors_out",
                     "kernel_drops_in", "kernel_drops_out", "link_speed", "utilisation",
                     "missed_packets", "peak_rate"]
HOST_COLUMNS = ["address", "packets", "bytes", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes",
                "first_seen", "last_seen", "app_protocols", "peak_rate", "name"]
PROTOCOL_COLUMNS = ["protocol", "packets", "bytes", "layer"]
CONVERSATION_COLUMNS = ["protocol", "address_a", "port_a", "address_b", "port_b",
                        "packets_a_to_b", "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a",
                        "first_seen", "last_seen", "tcp_flags", "service", "app_protocol",
                        "app_source", "state"]

COUNTER_COLUMNS = ["name", "expression", "packets", "bytes", "since", "total_packets",
                   "total_bytes", "resets", "quota", "quota_period", "quota_used"]
ALERT_COLUMNS = ["time", "alert", "subject", "value", "threshold", "unit"]

STATION_COLUMNS = ["mac", "vendor", "packets", "bytes", "tx_packets", "tx_bytes", "rx_packets",
                   "rx_bytes", "vlans", "addresses"]
SIZE_COLUMNS = ["interface", "min_length", "max_length", "packets", "bytes"]
PORT_COLUMNS = ["protocol", "port", "service", "packets", "bytes"]

PAIR_COLUMNS = ["protocol", "address_a", "port_a", "address_b", "port_b", "packets_a_to_b",
                "bytes_a_to_b", "packets_b_to_a", "bytes_b_to_a", "peak_a_to_b", "peak_b_to_a",
                "conversations", "first_seen", "last_seen"]

PROCESS_COLUMNS = ["pid", "name", "packets_sent", "bytes_sent", "packets_received",
                   "bytes_received", "packets", "bytes", "conversations", "first_seen",
                   "last_seen"]

FILES = {
    "interfaces.csv": ("interfaces", INTERFACE_COLUMNS),
    "hosts.csv": ("hosts", HOST_COLUMNS),
    "protocols.csv": ("protocols", PROTOCOL_COLUMNS),
    "conversations.csv": ("conversations", CONVERSATION_COLUMNS),
    "counters.csv": ("counters", COUNTER_COLUMNS),
    "alerts.csv": ("alerts", ALERT_COLUMNS),
    "stations.csv": ("stations", STATION_COLUMNS),
    "sizes.csv": ("sizes", SIZE_COLUMNS),
    "ports.csv": ("ports", PORT_COLUMNS),
    "pairs.csv": ("pairs", PAIR_COLUMNS),
    "processes.csv": ("processes", PROCESS_COLUMNS),
}

_TABLES = [table for table, _ in FILES.values()]
# Tables a child writes beside the parent's conversations.csv (export_engine with the
# compiled stage): about as much as the parent has left (hosts.csv and the others)
CHILD_TABLES = ("stations", "pairs")
_CHILD_FILES = tuple(name for name, (table, _) in FILES.items() if table in CHILD_TABLES)

LAYERS = ["link", "network", "transport", "application"]
_TIME_COLUMNS = {"first_seen", "last_seen", "since", "time"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a save's temporary files (this module's ".tmp", sinks/part.py's ".part"): "." + the file's
# name + "." + the pid of the tuimon saving + "." + mkstemp's 8 characters + the suffix
SCRATCH_NAMES = re.compile(r"\.(?:interfaces|hosts|protocols|conversations|counters|alerts|stations|sizes|ports|pairs|processes)\.csv\."
                           r"(?P<pid>[0-9]{1,10})\.[a-z0-9_]{8}\.(?:tmp|part)")
PART_SHARE = 0.7  # of conversations.csv the child writes (the parent has the other files too)


_iso_second = iso_second  # the UTC second's text, any second (tuimon.timefmt)
iso_time = iso_utc  # ISO 8601 UTC with microseconds: ``2024-01-31T12:00:00.123456Z``


def cell(value) -> str | int | float:
    """A CSV cell: text a spreadsheet would evaluate as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# Text the engine writes itself (addresses, our protocol names, flags): never a formula.
_SAFE_TEXT = {"address", "address_a", "address_b", "protocol", "layer", "tcp_flags", "link",
              "mac", "vlans", "addresses"}


def _rows(rows, columns):
    get = attrgetter(*columns)
    times = [i for i, name in enumerate(columns) if name in _TIME_COLUMNS]
    texts = [i for i, name in enumerate(columns)
             if name not in _TIME_COLUMNS and name not in _SAFE_TEXT]
    single = len(columns) == 1
    for row in rows:
        out = [get(row)] if single else list(get(row))
        for i in texts:  # None is written as an empty cell by the csv module itself
            value = out[i]
            if value.__class__ is str and value.startswith(_FORMULA_START):
                out[i] = "'" + value
        for i in times:
            value = out[i]
            if value is not None:
                sec, micro = divmod(round(value * 1_000_000), 1_000_000)
                out[i] = f"{_iso_second(sec)}.{micro:06d}Z"
        yield out


_QUOTED = re.compile('[,"\r\n]')  # a character the csv module would quote


def _plain(text: str) -> bool:
    """Text the csv module would write as it is, and no spreadsheet formula."""
    return not (text.startswith(_FORMULA_START) or _QUOTED.search(text))


class _ConversationLines:
    """conversations.csv's lines as the csv module writes them, formatted at once into
    ``f`` (a million rows): each protocol, service and application text checked once,
    each second's time text made once."""

    def __init__(self, f, state: str) -> None:
        self.f = f
        self.out: list[str] = []
        self.seconds: dict[str, str] = {}
        self.plain: dict[str, bool] = {"": True}
        self.end = f",{state}\r\n"

    def line(self, proto, a, pa, b, pb, p1, b1, p2, b2, first, last, flags, service, app,
             app_src) -> bool:
        """Add one row's line; False (and what came before written) for a row only the
        csv module may write: unusual text, or a time before 1 s (_stamp's digits)."""
        plain = self.plain
        ok = plain.get(proto)
        if ok is None:
            ok = plain[proto] = _plain(proto)
        if ok:
            ok = plain.get(service)
            if ok is None:
                ok = plain[service] = _plain(service)
        if ok:
            ok = plain.get(app)
            if ok is None:
                ok = plain[app] = _plain(app)
        out = self.out
        if not ok or first < 1.0:
            self.flush()
            return False
        seconds = self.seconds
        t1 = _stamp(seconds, first)
        t2 = t1 if last == first else _stamp(seconds, last)
        out.append(f"{proto},{a},{'' if pa is None else pa},{b},{'' if pb is None else pb},"
                   f"{p1},{b1},{p2},{b2},{t1},{t2},{flags},{service},{app},{app_src}{self.end}")
        if len(out) >= 4096:
            self.flush()
        return True

    def flush(self) -> None:
        self.f.writelines(self.out)
        self.out.clear()


def write_conversations(f, writer, rows, state: str = "active") -> None:
    """conversations.csv, possibly a million rows: lines formatted at once (what the csv
    module would write); a row with unusual text goes through the csv module. ``state``
    fills the last column: ``active`` (in the engine's table) or ``expired`` (it left)."""
    lines = _ConversationLines(f, state)
    line = lines.line
    for row in rows:
        (proto, a, pa, b, pb, p1, b1, p2, b2, first, last, flags, service, _, _, _, app, app_src,
         _nat) = row
        if not line(proto, a, pa, b, pb, p1, b1, p2, b2, first, last, flags, service, app,
                    app_src):
            writer.writerows([*cells, state] for cells in _rows((row,), CONVERSATION_COLUMNS[:-1]))
    lines.flush()


def write_engine_conversations(f, writer, engine, conversations, state: str = "active") -> None:
    """What ``write_conversations(f, writer, engine.conversation_rows(...), state)`` writes
    of ``conversations`` (:meth:`Engine.conversation_columns`: the engine's columns, read a
    chunk at a time), without rows: a headless save writes a million of them. A
    conversation with unusual text or an early time goes through write_conversations."""
    walk = walker()
    if walk is not None:  # the compiled stage writes the lines (sinks/csvlines.py)
        table = TextTable(engine.names.ip_protocol, conversations.store.names, state, cell)

        def fallback(i: int) -> None:
            write_conversations(f, writer, engine.conversation_rows(
                (conversations.conversation(i),), with_rates=False), state)

        write_lines(f, walk, table, conversations, fallback)
        return
    endpoints = EndpointTexts(engine.names)
    flag_texts: dict[int, str] = {}
    lines = _ConversationLines(f, state)
    line = lines.line
    at = 0
    for chunk in conversations.chunks():
        for i, (key, fwd, ab_p, ab_b, ba_p, ba_b, first, last, flags, service, app,
                app_src) in enumerate(zip(*chunk), at):
            proto, name, a, plo, b, phi = endpoints(key, fwd)
            if proto == 6:
                flags_text = flag_texts.get(flags)
                if flags_text is None:
                    flags_text = flag_texts[flags] = tcp_flags_text(flags)
            else:
                flags_text = ""
            if not line(name, a, plo, b, phi, ab_p, ab_b, ba_p, ba_b, first, last, flags_text,
                        service or "", app or "", app_src):
                write_conversations(f, writer, engine.conversation_rows(
                    (conversations.conversation(i),), with_rates=False), state)
        at += len(chunk[0])
    lines.flush()


def _stamp(seconds: dict, ts: float) -> str:
    """iso_time(ts) for ts >= 1 s, the text of its second made once (``seconds``)."""
    u = str(round(ts * 1_000_000))
    head = seconds.get(u[:-6])
    if head is None:
        head = seconds[u[:-6]] = _iso_second(int(u[:-6])) + "."
    return f"{head}{u[-6:]}Z"


def bits(rate: float | None) -> int | None:
    """A rate in bytes per second as the CSV files write it: bits per second, whole."""
    return None if rate is None else round(rate * 8)


def write_hosts(f, writer, rows, names: dict | None = None) -> None:
    """hosts.csv: lines formatted at once, as write_conversations does (tens of thousands
    of hosts); a row with unusual text goes through the csv module. ``names``: address
    text -> its resolved name (--resolve), else the rows' own."""
    seconds: dict[str, str] = {}
    plain: dict[str, bool] = {"": True}  # application lists and names: few distinct
    out = []
    append = out.append
    for row in rows:
        address, p, b, tx_p, tx_b, rx_p, rx_b, first, last, _, _, _, apps, peak, name = row
        if names is not None:
            name = names.get(address, "")
        ok = first is not None and last is not None and not (first < 1.0 or last < 1.0) \
            and _plain(address)
        if ok:
            ok = plain.get(apps)
            if ok is None:
                ok = plain[apps] = _plain(apps)
        if ok:
            ok = plain.get(name)
            if ok is None:
                ok = plain[name] = _plain(name)
        if not ok:
            f.writelines(out)
            out.clear()
            writer.writerows(_rows((row._replace(peak_rate=bits(peak), name=name),), HOST_COLUMNS))
            continue
        append(f"{address},{p},{b},{tx_p},{tx_b},{rx_p},{rx_b},{_stamp(seconds, first)},"
               f"{_stamp(seconds, last)},{apps},{'' if peak is None else round(peak * 8)},"
               f"{name}\r\n")
    f.writelines(out)


def write_pairs(f, writer, rows) -> None:
    """pairs.csv: lines formatted at once, as write_hosts does (tens of thousands of
    pairs); a row with unusual text or times goes through the csv module. The numbers are
    written as the csv module writes them: ints and floats as ``str`` gives them, None
    empty."""
    seconds: dict[str, str] = {}
    plain: dict[str, bool] = {"": True}  # protocols and addresses (which repeat)
    out = []
    append = out.append
    for row in rows:
        (proto, a, pa, b, pb, p1, b1, p2, b2, _, _, _, _, _, _, peak1, peak2, convs, first,
         last) = row
        ok = first is not None and last is not None and not (first < 1.0 or last < 1.0)
        for text in (proto, a, b):
            if ok:
                ok = plain.get(text)
                if ok is None:
                    ok = plain[text] = _plain(text)
        if not ok:
            f.writelines(out)
            out.clear()
            writer.writerows(_rows((row,), PAIR_COLUMNS))
            continue
        append(f"{proto},{a},{'' if pa is None else pa},{b},{'' if pb is None else pb},"
               f"{p1},{b1},{p2},{b2},{'' if peak1 is None else peak1},"
               f"{'' if peak2 is None else peak2},{convs},{_stamp(seconds, first)},"
               f"{_stamp(seconds, last)}\r\n")
    f.writelines(out)


def _write_temp(path: str, columns: list[str], rows, expired=None, part=None,
                names: dict | None = None, engine=None) -> str:
    """Write one CSV file under a temporary name beside ``path``; return that name.
    ``expired``: a :class:`~tuimon.sinks.flowlog.FlowLog` whose rows follow (conversations);
    ``part``: a :class:`~tuimon.sinks.part.Part` writing the rows after ``rows``;
    ``engine``: ``rows`` are its conversations themselves (write_engine_conversations)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            _fill(f, columns, rows, expired, part, names, engine)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _fill(f, columns: list[str], rows, expired=None, part=None, names: dict | None = None,
          engine=None) -> None:
    """One CSV file's whole text into the new file ``f`` (see :func:`_write_temp`)."""
    os.fchmod(f.fileno(), 0o666 & ~_umask())  # as any new file (mkstemp makes it 0600)
    writer = csv.writer(f)
    writer.writerow(columns)
    if columns == CONVERSATION_COLUMNS:
        if engine is not None:
            write_engine_conversations(f, writer, engine, rows)
        else:
            write_conversations(f, writer, rows)
        if part is not None:
            part.append_to(f)
        if expired is not None:
            expired.copy_to(f)
    elif columns == HOST_COLUMNS:
        write_hosts(f, writer, rows, names)
    elif columns == PAIR_COLUMNS:
        write_pairs(f, writer, rows)
    else:
        writer.writerows(_rows(rows, columns))


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting it back."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_csv(path: str, columns: list[str], rows) -> None:
    """Write one CSV file atomically."""
    tmp = _write_temp(path, columns, rows)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def check_folder(folder: str) -> None:
    """Fail now, before anything is counted, if ``folder`` cannot be made or written: the
    nearest existing part of the path must be a folder this process may write into, on a
    file system mounted read-write. (A disk that fills later is only found when saving.)"""
    path = os.path.abspath(folder)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    reason = None
    if not os.path.isdir(path):
        reason = f"{path} is not a folder"
    elif _read_only(path):
        reason = "Read-only file system"
    elif not os.access(path, os.W_OK | os.X_OK):
        reason = "Permission denied"
    else:
        reason = _probe(path)  # what access() cannot tell: /proc, /sys, root on a share
    if reason:
        raise ExportFailed(f"cannot save CSV into {folder}: {reason}")


def _probe(folder: str) -> str | None:
    """Make and remove an empty file in ``folder``: None, or why it cannot be done."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".tuimon-probe.{os.getpid()}.")
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    _unlink(name)
    return None


def _read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def protocol_totals(rows: list[ProtocolRow]) -> list[ProtocolRow]:
    """One row per (layer, protocol): the hierarchy's rows of one name added up (``tcp``
    over IPv4 and over IPv6 is one ``tcp`` row)."""
    totals: dict[tuple, list] = {}
    for r in rows:
        entry = totals.setdefault((r.layer, r.protocol), [0, 0])
        entry[0] += r.packets
        entry[1] += r.bytes
    return [ProtocolRow(name, p, b, layer) for (layer, name), (p, b) in totals.items()]


def _sorted(table: str, rows):
    """A table's rows in the order of its file."""
    if table == "hosts":
        return sorted(rows, key=lambda r: (-r.bytes, r.address))
    if table == "conversations":
        # bytes, largest first, then first_seen: two stable sorts (cheap keys)
        rows = sorted(rows, key=attrgetter("first_seen"))
        rows.sort(key=lambda r: r.bytes_a_to_b + r.bytes_b_to_a, reverse=True)
        return rows
    if table == "stations":
        return sorted(rows, key=lambda r: (-r.bytes, r.mac))
    if table == "ports":
        return sorted(rows, key=lambda r: (-r.bytes, r.protocol, r.port))
    if table == "pairs":  # bytes, largest first, then the first packet, then the addresses
        return sorted(rows, key=lambda r: (-(r.bytes_a_to_b + r.bytes_b_to_a), r.first_seen,
                                           r.address_a, r.address_b, r.port_a or 0,
                                           r.port_b or 0))
    if table == "processes":  # bytes, largest first; the unattributed row among them
        return sorted(rows, key=lambda r: (-r.bytes, r.name, r.pid or 0))
    if table == "protocols":
        return sorted(protocol_totals(rows),
                      key=lambda r: (LAYERS.index(r.layer), -r.bytes, r.protocol))
    if table == "interfaces":
        return [r._replace(peak_rate=bits(r.peak_rate)) for r in rows]
    return rows


def export_snapshot(snapshot: Snapshot, folder: str, expired=None, alerts=(),
                    names: dict | None = None) -> list[str]:
    """Write every file of FILES into ``folder`` (created if needed); return their paths.
    ``expired``: the conversations that left the engine's table
    (:class:`~tuimon.sinks.flowlog.FlowLog`), written after the ones still in it.
    ``alerts``: the session's alerts (:class:`tuimon.server.alerts.Alert`), for alerts.csv;
    ``names``: address text -> name (--resolve), for hosts.csv's ``name``.

    All are written under temporary names first and renamed into place only when every
    one is complete: a save that fails (disk full, read-only) leaves the previous files as
    they were, never a mix of old and new."""
    _make(folder)
    return _export(snapshot, folder, expired, _sorted("conversations", snapshot.conversations),
                   alerts=alerts, names=names)


def export_engine(engine, folder: str, expired=None, parallel: bool = True, alerts=(),
                  names: dict | None = None) -> list[str]:
    """What ``export_snapshot(engine.snapshot(), ...)`` writes (the files show no current
    rates), conversations.csv from the engine's columns: a headless run's one save, and
    the app's saves (``parallel`` False). With ``parallel`` a child process writes some of
    it meanwhile, on the other core (:mod:`tuimon.sinks.part`; only in a process without
    other threads): stations.csv and pairs.csv where the compiled stage writes the
    conversations' lines, else the last ``PART_SHARE`` of the conversations."""
    _make(folder)
    engine.fold()
    # the file's order (bytes, largest first, then first_seen), of the engine's columns
    conversations = engine.conversation_columns().report_order()
    part = None
    if parallel and walker() is not None:  # conversations.csv takes little: other files
        return _export_beside(engine, folder, expired, conversations, alerts, names)
    if parallel:
        cut = len(conversations) - int(len(conversations) * PART_SHARE)
        tail = conversations.take(slice(cut, None))

        def write_tail(f) -> None:
            write_engine_conversations(f, csv.writer(f), engine, tail)

        try:
            part = start_part(folder, len(tail), write_tail)
        except OSError as err:
            raise _failed(folder, err) from None
        if part is not None:
            conversations = conversations.take(slice(None, cut))
    try:  # (the conversations are written from the records: no rows in the snapshot)
        snapshot = engine.snapshot(with_rates=False, conversations=[])
        return _export(snapshot, folder, expired, conversations, part, alerts, names, engine)
    finally:
        if part is not None:
            part.abandon()


def _export_beside(engine, folder: str, expired, conversations, alerts, names) -> list[str]:
    """export_engine where the compiled stage writes conversations.csv: a child process
    writes the files of CHILD_TABLES meanwhile (their rows made there), the parent the
    others; all are renamed into place together, as ever."""
    def write_tables(*files) -> None:
        snap = engine.snapshot(with_rates=False, conversations=[], tables=CHILD_TABLES)
        for f, name in zip(files, _CHILD_FILES):
            table, columns = FILES[name]
            _fill(f, columns, _sorted(table, getattr(snap, table)), names=names)

    try:
        part = start_part(folder, len(conversations), write_tables, _CHILD_FILES)
    except OSError as err:
        raise _failed(folder, err) from None
    try:
        tables = None if part is None else [t for t in _TABLES if t not in CHILD_TABLES]
        snapshot = engine.snapshot(with_rates=False, conversations=[], tables=tables)
        return _export(snapshot, folder, expired, conversations, None, alerts, names, engine,
                       beside=part)
    finally:
        if part is not None:
            part.abandon()


def _failed(folder: str, err: OSError) -> ExportFailed:
    return ExportFailed(f"cannot save CSV into {folder}: {err.strerror or err}")


def _make(folder: str) -> None:
    """Make ``folder`` if needed, and remove the temporary files a killed tuimon left in it."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise _failed(folder, err) from None
    sweep_files(folder, SCRATCH_NAMES)


def _export(snapshot: Snapshot, folder: str, expired, conversations, part=None, alerts=(),
            names: dict | None = None, engine=None, beside=None) -> list[str]:
    """Every file of FILES, conversations.csv from ``conversations`` (rows in the file's order;
    with ``engine``, its conversations themselves) then what ``part`` wrote and the
    ``expired`` ones; renamed into place when all are written. ``beside``: a child's
    :class:`~tuimon.sinks.part.Part` writing the files of CHILD_TABLES whole."""
    temps: list[tuple[str, str]] = []
    theirs = () if beside is None else _CHILD_FILES
    try:
        for filename, (table, columns) in FILES.items():
            path = os.path.join(folder, filename)
            if filename in theirs:
                continue
            if table == "conversations":
                tmp = _write_temp(path, columns, conversations, expired, part, engine=engine)
            elif table == "alerts":
                tmp = _write_temp(path, columns, alerts)
            elif table == "hosts":
                tmp = _write_temp(path, columns, _sorted(table, snapshot.hosts), names=names)
            else:
                tmp = _write_temp(path, columns, _sorted(table, getattr(snapshot, table)))
            temps.append((tmp, path))
        if beside is not None:  # their files, complete, become ours
            temps.extend(zip(beside.wait(), (os.path.join(folder, n) for n in theirs)))
        for tmp, path in temps:
            os.replace(tmp, path)
        return [os.path.join(folder, filename) for filename in FILES]
    except OSError as err:
        raise _failed(folder, err) from None
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                _unlink(tmp)
