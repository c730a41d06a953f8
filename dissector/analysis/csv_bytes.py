"""A table's csv rows built as bytes by numpy: each column a matrix of its cells, padded with NULs.

Why: joining a million rows of twenty Python strings, and formatting each float with ``%.9f``,
is most of ``ghrm transactions --format csv`` (~3 s at 1M rows). Here a column becomes a
``(rows, width)`` uint8 matrix whose row is the cell's UTF-8 bytes with NUL bytes anywhere
around them (digits computed by integer arithmetic, category texts looked up by code); the
matrices, a separator column between them, are laid side by side, and dropping every NUL of
the whole block in row-major order (one boolean mask) leaves exactly the csv text of those
rows. No cell may hold a NUL itself: the caller checks (``column_matrix`` returns None for a
column it cannot write this way, and the writer then takes the per-string path).

Floats are written as ``%.9f`` would, from integers: a float ``v`` that is exactly the double
nearest ``c / 1e9`` for an integer ``c`` (as every time and latency of the tables is: ns / 1e9),
with ``|v| < 2**22``, lies within half an ulp (< 2.4e-10) of ``c * 1e-9``, so ``%.9f`` (correctly
rounded) prints ``c`` with the point nine digits from the right. Other floats (checked bit for
bit per value) go through Python's ``format``.
"""

from __future__ import annotations

import numpy as np

_DIGIT = ord("0")
_FIXED_LIMIT = 2.0**22  # below it, a double is within half a nanosecond of c / 1e9 (module docstring)
_INT64_MIN = np.iinfo(np.int64).min


PADDING_LIMIT = 1 << 24  # bytes of NUL padding a matrix may add beyond 3x its text (see from_strings)


def from_strings(texts: list[str]) -> np.ndarray | None:
    """Cells given as Python strings (None if one holds a NUL, which the layout cannot carry, or
    if one is so much longer than the rest that every row's padding to it would dwarf the text:
    the findings of a refusal storm name 380k frames in one cell of 5k rows, 27 GB as a matrix)."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]  # a file name's undecodable bytes
    if any(b"\0" in t for t in encoded):
        return None
    if _too_padded(max(map(len, encoded), default=0), len(encoded), sum(map(len, encoded))):
        return None
    return as_matrix(np.array(encoded, dtype=bytes) if encoded else np.empty(0, "S1"))


def _too_padded(widest: int, rows: int, text: int) -> bool:
    """Would ``rows`` cells padded to ``widest`` bytes dwarf their ``text`` bytes?"""
    return widest * rows > 4 * text + PADDING_LIMIT


def as_matrix(fixed: np.ndarray) -> np.ndarray:
    """A numpy bytes array (``S<n>``) as its ``(rows, n)`` uint8 matrix (no copy)."""
    width = max(fixed.dtype.itemsize, 1)
    if fixed.dtype.itemsize == 0:
        return np.zeros((len(fixed), 1), np.uint8)
    return np.ascontiguousarray(fixed).view(np.uint8).reshape(len(fixed), width)


def lookup(texts: list[str], codes: np.ndarray) -> np.ndarray | None:
    """Cells chosen by ``codes`` among ``texts`` (code -1: an empty cell); None for a NUL, or
    when the chosen cells padded to the widest would dwarf their text (``from_strings``' rule,
    over the rows: one long category among many rows)."""
    table = from_strings([*texts, ""])
    if table is None:
        return None
    chosen = np.where(codes < 0, len(texts), codes)
    text = int(np.count_nonzero(table, axis=1)[chosen].sum())  # no NUL in a cell: its length
    if _too_padded(table.shape[1], len(chosen), text):
        return None
    return table[chosen]


def integers(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray | None:
    """Decimal cells of int64 ``values`` (``str`` of each), empty where ``missing``; None when
    a value has no negation in int64."""
    values = values.astype(np.int64, copy=False)
    if len(values) and values.min() == _INT64_MIN:
        return None
    negative = values < 0
    magnitude = np.abs(values)
    return _digits(magnitude, negative, 0, missing)


def fixed_point(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cells, other)``: ``%.9f`` cells of float64 ``values`` (NaN: empty), and the rows whose
    value is not an exact ``c / 1e9`` below 2**22, left empty for the caller to format."""
    values = values.astype(np.float64, copy=False)
    nan = np.isnan(values)
    safe = np.where(nan | ~(np.abs(values) < _FIXED_LIMIT), 0.0, values)
    nanos = np.rint(safe * 1e9).astype(np.int64)
    exact = (nanos / 1e9).view(np.int64) == values.view(np.int64)
    other = ~exact & ~nan
    cells = _digits(np.abs(nanos), np.signbit(values) & exact, 9, nan | other)
    return cells, other


def _digits(
    magnitude: np.ndarray, negative: np.ndarray, point: int, missing: np.ndarray | None
) -> np.ndarray:
    """Cells of ``magnitude`` (>= 0) with a ``-`` where ``negative`` and a decimal point ``point``
    digits from the right (at least one digit before it); all NUL where ``missing``."""
    n = len(magnitude)
    top = int(magnitude.max()) if n else 0
    ndigits = max(len(str(top)), point + 1)
    width = ndigits + (1 if point else 0) + 1  # a sign column first
    out = np.zeros((n, width), np.uint8)
    # digits right-aligned; leading zeros of the whole part become NUL (one digit always stays)
    count = np.ones(n, np.int64)
    rest = magnitude.copy()
    column = width - 1
    for k in range(ndigits):
        if point and k == point:
            out[:, column] = ord(".")
            column -= 1
        quotient = rest // 10  # numpy divides by a constant fast; its % is several times slower
        digit = rest - quotient * 10
        if k <= point:
            out[:, column] = _DIGIT + digit
        else:
            shown = rest > 0
            out[:, column] = np.where(shown, _DIGIT + digit, 0)
            count += shown
        rest = quotient
        column -= 1
    sign_at = width - 1 - count - (point + 1 if point else 0)
    rows = np.flatnonzero(negative)
    out[rows, sign_at[rows]] = ord("-")
    if missing is not None:
        out[missing] = 0
    return out


def utc_datetimes(ns: np.ndarray, unit: np.ndarray, nat: np.ndarray) -> np.ndarray:
    """Cells of UTC datetimes (int64 ns) as pandas writes them: the date and time to the second,
    the fraction to ``unit`` (per row: 0 none, 1 ms, 2 us, 3 ns), then ``+00:00``; NaT empty."""
    seconds = np.where(nat, 0, ns // 1_000_000_000)
    fraction = ns - seconds * 1_000_000_000
    codes, uniques = _factorize(seconds)
    text = np.datetime_as_string(uniques.view("datetime64[s]"), "s")
    prefix = as_matrix(np.char.replace(text, "T", " ").astype(bytes))[codes]
    shown = np.array([0, 3, 6, 9], np.int64)[unit]
    part = np.zeros((len(ns), 10), np.uint8)
    part[:, 0] = np.where(shown > 0, ord("."), 0)
    for k in range(9):  # digit k of the nine-digit fraction, shown when the unit reaches it
        digit = fraction // 10 ** (8 - k) % 10
        part[:, 1 + k] = np.where(shown > k, _DIGIT + digit, 0)
    suffix = np.broadcast_to(np.frombuffer(b"+00:00", np.uint8), (len(ns), 6))
    out = np.hstack([prefix, part, suffix])
    out[nat] = 0
    return out


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques)


ROWS_AT_ONCE = 4096  # rows laid out at a time: a block of ~1 MB stays in the cache (2-4x faster)


def rows_text(cells: list[np.ndarray]) -> str:
    """The csv lines (each ending with a newline) of columns given as cell matrices."""
    n = len(cells[0])
    if n <= ROWS_AT_ONCE:
        return _rows_text(cells)
    return "".join(_rows_text([c[at : at + ROWS_AT_ONCE] for c in cells]) for at in range(0, n, ROWS_AT_ONCE))


def _rows_text(cells: list[np.ndarray]) -> str:
    n = len(cells[0])
    widths = [c.shape[1] for c in cells]
    block = np.empty((n, sum(widths) + len(cells)), np.uint8)  # every byte is written below
    at = 0
    for i, c in enumerate(cells):
        block[:, at : at + widths[i]] = c
        at += widths[i]
        block[:, at] = ord("\n") if i == len(cells) - 1 else ord(",")
        at += 1
    return (
        block.tobytes().translate(None, b"\0").decode("utf-8", "surrogatepass")
    )  # a C loop: 10x numpy's mask
