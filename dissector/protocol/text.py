"""Bytes shown as text: the rule of every ``<name>_text`` field (jsonl, ``-V``, the Lua plugin).

Why here: the Scapy view, the compiled decoder and the Lua generator all render byte arrays
this way; the rule is part of what a field means, so it sits with the protocol, below them all.
"""

from __future__ import annotations

ESCAPES = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_SHOWN = [ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256)]
_TRANSLATE = dict(enumerate(_SHOWN))  # code point (a latin-1 decoded byte) -> its text


def printable(data: bytes) -> str:
    """Bytes as text a terminal shows safely and a reader can map back to the bytes: printable
    ASCII as itself, ``\\`` ``\\n`` ``\\r`` ``\\t``, every other byte as ``\\xNN``. The Lua
    plugin renders ``<name>_text`` with the same rule."""
    return bytes(data).decode("latin-1").translate(_TRANSLATE)  # one C loop, not a join per byte
