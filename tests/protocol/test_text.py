"""``printable``: the one rule for ``<name>_text`` fields, byte by byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dissector.protocol.text import printable


def _rule(b: int) -> str:
    if b in (0x5C, 0x0A, 0x0D, 0x09):
        return {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}[b]
    return chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}"


@given(st.binary(max_size=300))
def test_every_byte_follows_the_rule(data: bytes) -> None:
    assert printable(data) == "".join(_rule(b) for b in data)


def test_all_bytes_and_buffer_types() -> None:
    every = bytes(range(256))
    expected = "".join(_rule(b) for b in every)
    assert printable(every) == printable(bytearray(every)) == printable(memoryview(every)) == expected
    assert printable(b'ok "\\"\n') == 'ok "\\\\"\\n'
