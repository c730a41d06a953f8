"""``TerminalSafe`` lets plain ASCII through untouched (the fast check, ``_plain``) and escapes
every control character as the regular expression says, whatever the text and piece size."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from dissector.boundary import _CONTROL, TerminalSafe, _plain

_CHARS = st.sampled_from(
    ["a", " ", "~", "\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9f", "\xa0", "é", "€"]
)


@given(st.lists(_CHARS | st.characters(max_codepoint=0x2FF), max_size=60).map("".join), st.integers(1, 9))
def test_plain_is_the_expression_s_verdict(text: str, piece: int) -> None:
    assert _plain(text, piece) == (text.isascii() and _CONTROL.search(text) is None)
    out = io.StringIO()
    TerminalSafe(out).write(text)
    assert out.getvalue() == _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
