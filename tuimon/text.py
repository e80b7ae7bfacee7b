"""Neutralise text that came from a packet or a file before anyone shows or stores it."""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, limit: int = 200) -> str:
    """Return ``text`` with control characters (escape sequences included) as ``\\xNN``.

    What is left can be written to a terminal without being interpreted. Long text is cut.
    """
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
