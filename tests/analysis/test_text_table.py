"""``dissector.analysis.text_table``: aligned text tables."""

from __future__ import annotations


def test_cells_wrap_as_textwrap_does() -> None:
    """``render``'s last column: the shortcut for cells that fit is ``textwrap.wrap``'s answer."""
    import random
    import textwrap

    from dissector.analysis.text_table import _wrapped

    rnd = random.Random(1)
    alphabet = ["a", "b", " ", "  ", "\t", "\n", "\xa0", "-", "x-y", "\u3000", "é", "\r", "\x0b", "word"]
    for _ in range(20_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        width = rnd.randint(1, 20)
        assert _wrapped(text, width) == (textwrap.wrap(text, width) or [""]), (text, width)
