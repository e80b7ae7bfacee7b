"""dumpcap, the privileged capturer: finding it, its arguments, starting it, checking an
interface and a filter with ``dumpcap -d``, and its error text mapped to typed errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

from tuimon.errors import (BadCaptureFilter, CaptureFailed, CapturePermissionDenied,
                           CaptureToolMissing, TuimonError, UnknownInterface)
from tuimon.text import printable

# The kernel's capture buffer (dumpcap -B, MiB; its default is 2): a burst at gateway
# rates, or a moment when tuimon is busy folding, is absorbed here instead of dropped.
BUFFER_MIB = 64
START_TIMEOUT = 10.0  # for dumpcap to open the interface and write its header

MISSING = "dumpcap not found: install the tshark package (apt-get install tshark)"
PERMISSION = ("no permission to capture on {iface}: run tuimon as root, or let your user "
              "capture: sudo dpkg-reconfigure wireshark-common (answer Yes), "
              "sudo usermod -a -G wireshark $USER, then log in again")


def find_dumpcap(dumpcap: str = "dumpcap", iface: str = "any interface") -> str:
    """The path of the dumpcap executable, or :class:`CaptureToolMissing`; a dumpcap this user
    may not run (Debian's is ``root:wireshark``, mode 754) is :class:`CapturePermissionDenied`."""
    path = shutil.which(dumpcap)
    if path is None:
        if shutil.which(dumpcap, mode=os.F_OK) is not None:
            raise CapturePermissionDenied(PERMISSION.format(iface=printable(iface)))
        raise CaptureToolMissing(MISSING)
    return path


def dumpcap_args(dumpcap: str, iface: str, capture_filter: str | None = None,
                 check: bool = False, snaplen: int = 0) -> list[str]:
    """dumpcap's argument list: capture pcapng to stdout, keeping at most ``snaplen``
    bytes of each packet (0: all of it), or (``check``) only compile the filter."""
    args = [dumpcap, "-i", iface]
    if capture_filter:
        args += ["-f", capture_filter]
    if check:
        return args + ["-d"]
    if snaplen:
        args += ["-s", str(snaplen)]
    return args + ["-B", str(BUFFER_MIB), "-n", "-w", "-", "-q"]


def _dumpcap_line(stderr: str) -> str | None:
    """dumpcap's own error line (``dumpcap: ...``) without the prefix."""
    for line in stderr.splitlines():
        if line.startswith("dumpcap: "):
            return line[len("dumpcap: "):].strip()
    return None


def dumpcap_error(stderr: str, iface: str, capture_filter: str | None = None) -> TuimonError | None:
    """The typed error that dumpcap's stderr describes, or None when it reports no error."""
    line = _dumpcap_line(stderr)
    if line is None:
        return None
    name = printable(iface)
    text = stderr.lower()
    if "there is no device named" in text or "no such device" in text:
        return UnknownInterface(f"no such interface: {name} (see tuimon --list-interfaces)")
    if "permission" in text or "operation not permitted" in text:
        return CapturePermissionDenied(PERMISSION.format(iface=name))
    if "invalid capture filter" in text:
        found = re.search(r"valid capture filter \((.*)\)", stderr)
        reason = found.group(1) if found else line
        return BadCaptureFilter(f"bad capture filter {printable(capture_filter or '')!r}: "
                                f"{printable(reason)}")
    if "is not up" in text:
        return CaptureFailed(f"interface {name} is down: bring it up first (ip link set {name} up)")
    return CaptureFailed(f"dumpcap cannot capture on {name}: {printable(line)}")


def spawn(args: list[str], iface: str, **kw) -> subprocess.Popen:
    """Start dumpcap; the ways exec itself can fail become typed errors. EPERM: dumpcap
    carries file capabilities (cap_net_raw, cap_net_admin) that this process may not pass
    on -- a container or a service started without them."""
    try:
        return subprocess.Popen(args, **kw)
    except PermissionError:
        raise CapturePermissionDenied(
            f"no permission to capture on {printable(iface)}: this process may not run "
            f"{args[0]} (it needs the capabilities cap_net_raw and cap_net_admin, which "
            f"this container or service does not grant)") from None
    except FileNotFoundError:
        raise CaptureToolMissing(MISSING) from None
    except OSError as err:
        raise CaptureFailed(f"cannot start {args[0]}: {err.strerror or err}") from None


def ended_reason(stderr: str, returncode: int | None) -> str:
    """Why a capture ended on its own, in a few words for the interface table."""
    line = _dumpcap_line(stderr)
    if line and "no longer attached" in line:
        return "interface removed"
    if line:
        return printable(line)
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"dumpcap was killed ({name})"
    return f"dumpcap exited (status {returncode})"


def check_capture(dumpcap: str, interfaces: list[str], capture_filter: str | None) -> None:
    """Raise the typed error for the first interface dumpcap cannot capture on with this
    filter. ``dumpcap -d`` opens the interface and compiles the filter, but captures nothing."""
    procs = []
    try:
        for iface in interfaces:
            procs.append(spawn(dumpcap_args(dumpcap, iface, capture_filter, check=True), iface,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE))
    except TuimonError:
        for proc in procs:
            proc.kill()
            proc.communicate()
        raise
    errors = []
    for iface, proc in zip(interfaces, procs):
        try:
            _, err = proc.communicate(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            errors.append(CaptureFailed(f"dumpcap did not answer for {printable(iface)}"))
            continue
        error = dumpcap_error(err.decode("utf-8", "replace"), iface, capture_filter)
        if error is None and proc.returncode:
            error = CaptureFailed(f"dumpcap cannot capture on {printable(iface)} "
                                  f"(status {proc.returncode})")
        if error is not None:
            errors.append(error)
    if errors:
        raise errors[0]
