"""MAC address -> manufacturer, from Wireshark's manufacturer file (``manuf``).

The file's lines are ``PREFIX<TAB>SHORT[<TAB>LONG NAME]`` where PREFIX is 3 to 6 octets
(``00:00:0C``, ``00-1B-C5-00-00-00``), optionally with ``/BITS`` (an IEEE MA-M or MA-S
block: ``00:1B:C5:00:00:00/36``). The longest matching prefix wins; the long name is
shown when there is one. Parsing text is pure; reading the file is the caller's
(:func:`tuimon.server.manuf.load_vendors`), and without it every vendor is "".
"""

from __future__ import annotations

from collections.abc import Iterable


class Vendors:
    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.by_bits: dict[int, dict[int, str]] = {}
        for line in lines:
            self._add(line)
        self._order = sorted(self.by_bits, reverse=True)
        self._cache: dict[int, str] = {}

    def _add(self, line: str) -> None:
        line = line.split("#", 1)[0].strip()
        if not line:
            return
        fields = line.split("\t") if "\t" in line else line.split(None, 1)
        if len(fields) < 2:
            return
        prefix, _, bits_text = fields[0].strip().partition("/")
        octets = prefix.replace("-", ":").replace(".", ":").split(":")
        try:
            value = bytes(int(o, 16) for o in octets)
        except ValueError:
            return
        if not 1 <= len(value) <= 6:
            return
        bits = int(bits_text) if bits_text.isdigit() else 8 * len(value)
        if not 1 <= bits <= 48:
            return
        mac = int.from_bytes(value.ljust(6, b"\0"), "big")
        name = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
        self.by_bits.setdefault(bits, {}).setdefault(mac >> (48 - bits), name)

    def __call__(self, mac: int) -> str:
        """The manufacturer of ``mac`` (48-bit int), "" when unknown."""
        name = self._cache.get(mac)
        if name is None:
            name = ""
            for bits in self._order:
                found = self.by_bits[bits].get(mac >> (48 - bits))
                if found is not None:
                    name = found
                    break
            if len(self._cache) < 100_000:
                self._cache[mac] = name
        return name
