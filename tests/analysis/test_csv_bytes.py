"""``csv_bytes``: the byte-matrix cells are the strings Python formats, value for value.

The fast path of ``output.write_csv`` rests on these; ``test_output`` compares whole tables
with pandas' ``to_csv``. Here the formatting itself, over the whole input space by hypothesis:
integers of every size and sign, floats that are exact nanoseconds and floats that are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis import csv_bytes
from dissector.analysis.output import _units, _utc_cells


def texts(matrix: np.ndarray) -> list[str]:
    return [bytes(row[row != 0]).decode() for row in matrix]


int64s = st.integers(-(2**63) + 1, 2**63 - 1)


@given(st.lists(int64s, max_size=40), st.data())
def test_integers_are_str_of_each_value(values: list[int], data: st.DataObject) -> None:
    missing = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))), bool)
    cells = csv_bytes.integers(np.array(values, np.int64), missing)
    assert cells is not None
    assert texts(cells) == ["" if m else str(v) for v, m in zip(values, missing.tolist(), strict=True)]


def test_int64_min_is_left_to_python() -> None:
    assert csv_bytes.integers(np.array([np.iinfo(np.int64).min], np.int64)) is None


nanos = st.integers(-(2**53), 2**53)
finite = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300)
@given(st.lists(st.one_of(nanos.map(lambda c: c / 1e9), nanos.map(lambda c: c / 1e6), finite), max_size=40))
def test_fixed_point_is_format_9f_or_left_to_python(values: list[float]) -> None:
    array = np.array(values, np.float64)
    cells, other = csv_bytes.fixed_point(array)
    got = texts(cells)
    for v, text, left in zip(values, got, other.tolist(), strict=True):
        if v != v:
            assert text == "" and not left
        elif left:
            assert text == ""
        else:
            assert text == f"{v:.9f}", v


def test_times_and_latencies_take_the_fast_path() -> None:
    c = np.array([0, 1, -1, 999_999_999, 4_194_303_999_999_999, 123_456_789_012], np.int64)
    cells, other = csv_bytes.fixed_point(c / 1e9)
    assert not other.any()
    assert texts(cells) == [f"{v:.9f}" for v in (c / 1e9).tolist()]
    _, other = csv_bytes.fixed_point(np.array([-0.0, 2.0**22, 0.1 + 0.2]))
    assert other.tolist() == [True, True, True]


@given(
    st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=1, max_size=60), st.integers(1, 25)
)
def test_utc_datetimes_as_pandas_writes_them(values: list[int | None], block: int) -> None:
    ns = np.array(
        [np.iinfo(np.int64).min if v is None else v // 10 ** (abs(v) % 4 * 3) for v in values], np.int64
    )
    series = pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")
    nat = ns == np.iinfo(np.int64).min
    assert texts(csv_bytes.utc_datetimes(ns, _units(ns, nat, block), nat)) == _utc_cells(series, block)


@given(
    st.lists(
        st.lists(st.text(st.characters(exclude_characters="\0"), max_size=5), min_size=3, max_size=3),
        min_size=1,
        max_size=20,
    )
)
def test_rows_text_joins_cells(rows: list[list[str]]) -> None:
    columns = [csv_bytes.from_strings([r[k] for r in rows]) for k in range(3)]
    assert all(c is not None for c in columns)
    assert csv_bytes.rows_text(columns) == "".join(",".join(r) + "\n" for r in rows)  # type: ignore[arg-type]


def test_a_nul_is_refused() -> None:
    assert csv_bytes.from_strings(["a", "b\0c"]) is None
    assert csv_bytes.lookup(["x\0"], np.array([0])) is None


def test_rows_text_in_blocks_is_one_block() -> None:
    """Rows are laid out ``ROWS_AT_ONCE`` at a time: block boundaries change nothing."""
    n = 3 * csv_bytes.ROWS_AT_ONCE + 17
    values = np.arange(n, dtype=np.int64) * 7919 - n
    columns = [csv_bytes.integers(values), csv_bytes.fixed_point(values / 1e9)[0]]
    assert all(c is not None for c in columns)
    want = "".join(f"{v},{v / 1e9:.9f}\n" for v in values.tolist())
    assert csv_bytes.rows_text(columns) == want  # type: ignore[arg-type]


def test_one_cell_far_wider_than_the_rest_is_refused() -> None:
    """Every row is padded to the widest cell: one huge cell among many rows (the frames of a
    refusal storm's finding) would make a matrix of gigabytes, so the strings path takes it."""
    assert csv_bytes.from_strings(["x" * 100, "y"] * 4) is not None
    wide = ["7"] * 5000 + ["1 2 3 " * 500_000]
    assert csv_bytes.from_strings(wide) is None


def test_one_long_category_over_many_rows_is_refused() -> None:
    """A category padded once is small, but looked up by every row it is the same gigabytes."""
    codes = np.r_[np.zeros(200_000, np.int64), 1, -1]
    assert csv_bytes.lookup(["7", "x" * 200], codes[50_000:]) is None  # 200 B a row for 1 B of text
    assert csv_bytes.lookup(["7", "x" * 200], codes[:50_000]) is not None  # within the allowance
    assert csv_bytes.lookup(["7", "x" * 2000], np.r_[np.zeros(9, np.int64), 1]) is not None
    got = csv_bytes.lookup(["ab", "c"], np.array([0, 1, -1, 1]))
    assert got is not None and csv_bytes.rows_text([got]) == "ab\nc\n\nc\n"
