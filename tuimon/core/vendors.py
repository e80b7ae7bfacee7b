"""MAC address -> manufacturer, from Wireshark's manufacturer file (``manuf``).

The file's lines are ``PREFIX<TAB>SHORT[<TAB>LONG NAME]`` where PREFIX is 3 to 6 octets
(``00:00:0C``, ``00-1B-C5-00-00-00``), optionally with ``/BITS`` (an IEEE MA-M or MA-S
block: ``00:1B:C5:00:00:00/36``). The longest matching prefix wins; the long name is
shown when there is one.

The file has 50,000 lines and a capture a few dozen stations: the lines are only filed
under their first three octets at first, and the few filed under a station's are parsed
when it is looked up (the whole file parsed would take a headless run 0.15 s). Reading
the file is the caller's (:func:`tuimon.server.manuf.load_vendors`); without it every
vendor is "".
"""

from __future__ import annotations

from collections.abc import Iterable


def parse_line(line: str) -> tuple[int, int, str] | None:
    """``(bits, prefix >> (48 - bits), name)`` of one line, or None (comments, junk)."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    fields = line.split("\t") if "\t" in line else line.split(None, 1)
    if len(fields) < 2:
        return None
    prefix, _, bits_text = fields[0].strip().partition("/")
    octets = prefix.replace("-", ":").replace(".", ":").split(":")
    try:
        value = bytes(int(o, 16) for o in octets)
    except ValueError:
        return None
    if not 1 <= len(value) <= 6:
        return None
    bits = int(bits_text) if bits_text.isdigit() else 8 * len(value)
    if not 1 <= bits <= 48:
        return None
    mac = int.from_bytes(value.ljust(6, b"\0"), "big")
    name = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
    return bits, mac >> (48 - bits), name


class Vendors:
    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._lines: dict[str, list[str]] = {}  # "00:1B:C5" -> its lines, not parsed
        for line in lines:
            if line[:1] != "#":
                key = line[:8].replace("-", ":").upper()
                entry = self._lines.get(key)
                if entry is None:
                    self._lines[key] = [line]
                else:
                    entry.append(line)
        self._cache: dict[int, str] = {}

    def __call__(self, mac: int) -> str:
        """The manufacturer of ``mac`` (48-bit int), "" when unknown."""
        name = self._cache.get(mac)
        if name is None:
            name, longest = "", 0
            b = mac.to_bytes(6, "big")
            for line in self._lines.get(f"{b[0]:02X}:{b[1]:02X}:{b[2]:02X}", ()):
                entry = parse_line(line)
                if entry is not None:
                    bits, prefix, text = entry
                    if bits > longest and mac >> (48 - bits) == prefix:
                        name, longest = text, bits
            if len(self._cache) < 100_000:
                self._cache[mac] = name
        return name
