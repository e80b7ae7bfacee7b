"""Wireshark's manufacturer file read once per process, for the Stations view's vendors
(:class:`tuimon.core.vendors.Vendors`). A missing or unreadable file: no vendor names."""

from __future__ import annotations

from functools import lru_cache

from tuimon.core.vendors import Vendors

MANUF = "/usr/share/wireshark/manuf"


@lru_cache(maxsize=4)
def load_vendors(path: str = MANUF) -> Vendors:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return Vendors(f)
    except OSError:
        return Vendors()
