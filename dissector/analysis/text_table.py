"""Tables as aligned text, and the empty result (shared by every table CLI).

Why apart from ``output``: printing text needs neither numpy nor pandas, and ``ghrm stats``
prints its table without importing pandas (its import is ~0.5 s of a command meant to finish
in about a second).
"""

from __future__ import annotations

import re
import textwrap
from typing import TextIO

from dissector.errors import EXIT_OK

WIDTH = 120


def write_empty(sentence: str, fmt: str, out: TextIO, err: TextIO, columns: list[str]) -> int:
    """An empty result: the sentence for a person; for json/csv a valid empty document on stdout
    and the sentence on stderr, so scripts still parse the output."""
    if fmt == "json":
        out.write("[]\n")
        err.write(sentence + "\n")
    elif fmt == "csv":
        out.write(",".join(columns) + "\n")
        err.write(sentence + "\n")
    else:
        out.write(sentence + "\n")
    return EXIT_OK


def render(rows: list[list[str]], header: list[str], right: set[int], width: int = WIDTH) -> str:
    """Aligned columns; the last column wraps (hanging indent) so no line exceeds ``width``."""
    cols = len(header)
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(cols - 1)]
    lead = sum(widths) + 2 * (cols - 1)
    room = max(width - lead, 12)
    lines = []
    for r in [header, *rows]:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(cols - 1)]
        last = _wrapped(r[-1], room)
        lines.append(("  ".join([*cells, last[0]])).rstrip())
        lines.extend(" " * lead + more for more in last[1:])
    return "\n".join(lines) + "\n"


_SPACES = frozenset("\t\n\x0b\x0c\r")
# what str.strip takes for a space, textwrap's chunking not (it drops a piece of a word made of them)
_STRIPPED = frozenset("\x1c\x1d\x1e\x1f")
# a hyphen where textwrap may break a word (after a letter) or an em-dash ("--"): its own rules
_HYPHEN_BREAK = re.compile(r"[^ (]-")


def _wrapped(text: str, width: int) -> list[str]:
    """``textwrap.wrap(text, width) or [""]``; a text that fits as it is (most cells), or ASCII
    words separated by single spaces with no hyphen textwrap could break at (thousands of
    findings' texts), without textwrap's chunking (``_words_wrapped``)."""
    if text.strip() != text or not _SPACES.isdisjoint(text):
        return textwrap.wrap(text, width) or [""]
    if len(text) <= width:
        return [text] if text else [""]
    if "  " in text or _HYPHEN_BREAK.search(text) or not text.isascii() or not _STRIPPED.isdisjoint(text):
        return textwrap.wrap(text, width)
    if "-" in text and any(len(w) > width and "-" in w for w in text.split(" ")):
        return textwrap.wrap(text, width)  # it may break a wide word at a hyphen
    return _words_wrapped(text, width)


def _words_wrapped(text: str, width: int) -> list[str]:
    """``textwrap.wrap`` of words separated by single spaces, with no hyphen in a word wider than
    the line nor any textwrap breaks a line at.

    Why it is textwrap's answer: textwrap cuts such a text into its words and the single spaces
    between them, fills each line with the whole pieces that fit (up to the last space at or
    before ``start + width``: ``cut``), drops the space at each end of a line, and fills what is
    left of a line with the start of a word wider than a line (leaving the space before it when
    nothing is left: an empty piece is what it drops then)."""
    lines: list[str] = []
    start, n = 0, len(text)
    while n - start > width:
        cut = text.rfind(" ", start, start + width + 1)
        if cut < 0:  # the rest of a word wider than the line
            lines.append(text[start : start + width])
            start += width
            continue
        if cut == start + width:  # the line ends with a word, the space after it starts the next
            lines.append(text[start:cut])
            start = cut + 1
            continue
        after = text.find(" ", cut + 1)
        word = (n if after < 0 else after) - cut - 1
        if word <= width:  # the next word goes to the next line whole
            lines.append(text[start:cut])
        elif cut + 1 == start + width:  # no room left for a piece of it: the space stays
            lines.append(text[start : cut + 1])
        else:  # a piece of the wide word fills the line
            lines.append(text[start : start + width])
            start += width
            continue
        start = cut + 1
    lines.append(text[start:])
    return lines
