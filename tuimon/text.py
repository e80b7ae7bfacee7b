"""Neutralise text that came from a packet or a file before anyone shows or stores it."""

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Beyond C0/C1: format characters (bidirectional overrides such as U+202E, zero-width
# characters), line and paragraph separators, surrogates and private-use code points.
# None moves the cursor, but they can make a name read as another one or break a line.
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def printable(text: str, limit: int = 200) -> str:
    """Return ``text`` with control characters (escape sequences included) as ``\\xNN`` and
    invisible or direction-changing Unicode characters as ``\\uNNNN``.

    What is left can be written to a terminal without being interpreted. Long text is cut.
    """
    text = _CONTROL.sub(lambda m: _escape(m.group()), text)
    if not text.isascii():
        text = "".join(_escape(c) if c > "\x7f" and unicodedata.category(c) in _HIDDEN else c
                       for c in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
