"""Typed errors: each one becomes a single clear line for the user (exit code 2)."""


class TuimonError(Exception):
    """An error the user can act on. ``str(err)`` is the whole message."""

    exit_code = 2


class BadCaptureFile(TuimonError):
    """The file is missing, unreadable, or not a pcap/pcapng capture."""


class CaptureToolMissing(TuimonError):
    """dumpcap or tshark is not installed."""


class CapturePermissionDenied(TuimonError):
    """The capture tool may not open the interface."""


class UnknownInterface(TuimonError):
    """The named interface does not exist."""


class BadCaptureFilter(TuimonError):
    """A BPF capture filter that does not compile."""


class CaptureFailed(TuimonError):
    """The live capture tool stopped for another reason."""


class ExportFailed(TuimonError):
    """Writing the CSV files failed (no space, no permission...)."""


class BadAlert(TuimonError):
    """An --alert expression that does not parse."""
