"""``dissector.analysis.text_table``: aligned text tables."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st


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


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "bc",
                "word",
                "LOAD>INIT>READY>RUNNING>EXITED>RESETTING>RESET,",
                "abcdefghijklmnopq",
                " ",
                " ",
                "  ",
                "-",
                "(-",
                "x-y",
                "ab-cd",
                "--",
                "é",
                "\xa0",
                "\u3000",
                "\x1c",
                "\x85",
                "_",
                "0x1f",
                "-ENODEV",
                "(RM",
                "\t",
                "ü-ß",
                "1-2",
                ",",
                ")",
            ]
        ),
        max_size=40,
    ).map("".join),
    st.integers(1, 30),
)
def test_words_wrap_as_textwrap_does(text: str, width: int) -> None:
    """The shortcut for single-spaced words (a finding's text) is ``textwrap.wrap``'s answer."""
    import textwrap

    from dissector.analysis.text_table import _wrapped

    assert _wrapped(text, width) == (textwrap.wrap(text, width) or [""])
