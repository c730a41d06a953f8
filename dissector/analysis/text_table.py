"""Tables as aligned text, and the empty result (shared by every table CLI).

Why apart from ``output``: printing text needs neither numpy nor pandas, and ``ghrm stats``
prints its table without importing pandas (its import is ~0.5 s of a command meant to finish
in about a second).
"""

from __future__ import annotations

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


def _wrapped(text: str, width: int) -> list[str]:
    """``textwrap.wrap(text, width) or [""]``; a text that fits as it is (most cells) without
    textwrap's splitting (thousands of rows per table)."""
    if 0 < len(text) <= width and text.strip() == text and _SPACES.isdisjoint(text):
        return [text]
    return textwrap.wrap(text, width) or [""]
