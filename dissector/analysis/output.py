"""Tables on a terminal and for scripts: aligned text, json and csv (shared by every table CLI).

Why its own module: ``analysis/cli.py`` registers the fleet options and ``fleet/cli.py``
prints with these; with them in ``analysis/cli.py`` the two modules imported each other.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, TextIO

import numpy as np
import pandas as pd

from . import csv_bytes
from .text_table import WIDTH as WIDTH  # re-exported: the CLIs import them from here
from .text_table import render as render
from .text_table import write_empty as write_empty


def _plain(value: Any) -> Any:
    """A JSON/CSV-friendly Python value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def write_machine(df: pd.DataFrame, fmt: str, out: TextIO) -> None:
    """``--format json``: a list of objects; ``csv``: a header and rows (lists joined by spaces)."""
    if fmt == "csv":
        write_csv(df, out)
        return
    columns = list(df.columns)
    rows = zip(*(df[c].astype(object).tolist() for c in columns), strict=True) if columns else iter(())
    out.write("[\n")
    first = True
    for row in rows:
        record = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        out.write(("" if first else ",\n") + json.dumps(record, separators=(",", ":")))
        first = False
    out.write("\n]\n" if not first else "]\n")


PANDAS_CHUNK_CELLS = 100_000  # pandas' to_csv formats this many cells at a time (see ``_utc_cells``)


def write_csv(df: pd.DataFrame, out: TextIO) -> None:
    """The table as ``DataFrame.to_csv(index=False, float_format="%.9f", lineterminator="\\n")``
    writes it (lists and tuples joined by spaces), byte for byte, a column at a time.

    Why not ``to_csv``: it formats cell by cell through Python objects (datetimes through a
    ``Timestamp`` each) and writes row by row; a million-row table took ~12 s. Here each column
    becomes its strings at once (a category's text once per category), rows are joined in
    chunks and each chunk is one write.
    """
    columns = list(df.columns)
    if len(columns) < 2:  # csv quotes a lone empty field: leave the corner cases to pandas
        _pandas_csv(df, out)
        return
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)
    out.write(header.getvalue())
    block = max(PANDAS_CHUNK_CELLS // len(columns), 1)  # rows of one of pandas' chunks
    step = block * max(50_000 // block, 1)  # rows formatted and written at a time
    series = [df[c] for c in columns]
    for start in range(0, len(df), step):
        stop = min(start + step, len(df))
        parts = [s.iloc[start:stop] for s in series]
        matrices = [_csv_matrix(part, block) for part in parts]
        if all(m is not None for m in matrices):
            out.write(csv_bytes.rows_text(matrices))  # type: ignore[arg-type]
            continue
        cells = _chunk_cells(parts, block)
        out.write("\n".join(map(",".join, zip(*cells, strict=True))) + "\n")


def _csv_matrix(s: pd.Series, block: int) -> np.ndarray | None:
    """One column's csv fields as a NUL-padded byte matrix (``csv_bytes``), the same text as
    ``_csv_cells``; None where a field holds a NUL or padding would dwarf the text (the caller
    joins strings instead)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype.kind in "fc" or cats.dtype.kind in "mM":
            return csv_bytes.from_strings(_fallback(s))
        return csv_bytes.lookup([_quoted(str(c)) for c in cats.tolist()], s.cat.codes.to_numpy())
    if dtype.kind == "f":
        cells, other = csv_bytes.fixed_point(s.to_numpy(np.float64, na_value=np.nan))
        rows = np.flatnonzero(other)
        if not len(rows):
            return cells
        texts = csv_bytes.from_strings(list(map("{:.9f}".format, s.to_numpy(np.float64)[rows].tolist())))
        if texts is None:
            return None
        if texts.shape[1] > cells.shape[1]:
            cells = np.pad(cells, ((0, 0), (0, texts.shape[1] - cells.shape[1])))
        cells[rows, : texts.shape[1]] = texts
        return cells
    if dtype.kind in "iub":
        plain = dtype if isinstance(dtype, np.dtype) else dtype.numpy_dtype
        mask = s.isna().to_numpy(bool)
        values = s.to_numpy(plain, na_value=plain.type(0)) if mask.any() else s.to_numpy(plain)
        if plain.kind == "b":
            return csv_bytes.lookup(["False", "True"], np.where(mask, -1, values.astype(np.int64)))
        if plain.kind == "u" and len(values) and int(values.max()) > np.iinfo(np.int64).max:
            return csv_bytes.from_strings(_csv_cells(s, block))
        codes, uniques = pd.factorize(values)
        if 4 * len(uniques) < len(values):  # VMIDs, ids, codes: each distinct value once
            table = csv_bytes.integers(np.asarray(uniques).astype(np.int64))
            if table is not None:
                cells = table[codes]
                cells[mask] = 0
                return cells
        found = csv_bytes.integers(values.astype(np.int64), mask)
        return found if found is not None else csv_bytes.from_strings(_csv_cells(s, block))
    if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
        ns = s.dt.as_unit("ns").array.asi8
        nat = ns == np.iinfo(np.int64).min
        return csv_bytes.utc_datetimes(ns, _units(ns, nat, block), nat)
    return csv_bytes.from_strings(_csv_cells(s, block))


def _chunk_cells(parts: list[pd.Series], block: int) -> list[list[str]]:
    """``_csv_cells`` of each column; a float column mostly bit for bit equal to one before it
    (``t`` and ``request_time`` of the transactions) copies that one's fields and formats only the
    rows that differ (``%.9f`` per value is the costly part of a table's csv)."""
    out: list[list[str]] = []
    floats: list[tuple[np.ndarray, list[str]]] = []
    for part in parts:
        if part.dtype.kind != "f":
            out.append(_csv_cells(part, block))
            continue
        values = part.to_numpy(np.float64, na_value=np.nan)
        bits = values.view(np.int64)
        texts: list[str] | None = None
        for seen, seen_texts in floats:
            differ = np.flatnonzero(seen != bits)
            if 2 * len(differ) < len(bits):
                texts = list(seen_texts)
                for i, v in zip(differ.tolist(), values[differ].tolist(), strict=True):
                    texts[i] = "" if v != v else f"{v:.9f}"
                break
        if texts is None:
            texts = _csv_cells(part, block)
        floats.append((bits, texts))
        out.append(texts)
    return out


def _pandas_csv(df: pd.DataFrame, out: TextIO) -> None:
    frame = df.copy(deep=False)
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = [" ".join(str(x) for x in v) if isinstance(v, tuple | list) else v for v in frame[c]]
    frame.to_csv(out, index=False, float_format="%.9f", lineterminator="\n")


def _quoted(text: str) -> str:
    """A csv field as ``csv.QUOTE_MINIMAL`` writes it (``,`` ``"`` and line breaks force quotes)."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_cells(s: pd.Series, block: int) -> list[str]:
    """One column's csv fields (as pandas' ``to_csv`` above would write them, ``block`` rows of
    the column at a time)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype.kind in "fc" or cats.dtype.kind in "mM":  # not our tables: pandas' formatting
            return _fallback(s)
        texts = np.array([_quoted(str(c)) for c in cats.tolist()] + [""], object)
        return texts[s.cat.codes.to_numpy()].tolist()
    if dtype.kind == "f":  # float_format="%.9f", NaN as an empty field
        values = s.to_numpy(np.float64, na_value=np.nan)
        floats: list[str] = list(map("{:.9f}".format, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            floats[i] = ""
        return floats
    if dtype.kind in "iub":  # numpy and nullable integers, booleans: str() of the Python value
        plain = dtype if isinstance(dtype, np.dtype) else dtype.numpy_dtype
        mask = s.isna().to_numpy(bool)
        values = s.to_numpy(plain, na_value=plain.type(0)) if mask.any() else s.to_numpy(plain)
        codes, uniques = pd.factorize(values)
        if 4 * len(uniques) < len(values):  # VMIDs, ids, codes: format each distinct value once
            return np.array([*map(str, uniques.tolist()), ""], object)[np.where(mask, -1, codes)].tolist()
        ints: list[str] = list(map(str, values.tolist()))
        for i in np.flatnonzero(mask).tolist():
            ints[i] = ""
        return ints
    if isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC":
        return _utc_cells(s, block)
    if (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
        values = s.to_numpy(object)
        mask = pd.isna(values)
        return [
            "" if m else _quoted(" ".join(str(x) for x in v) if isinstance(v, tuple | list) else _text(v))
            for v, m in zip(values.tolist(), mask.tolist(), strict=True)
        ]
    return _fallback(s)


def _utc_cells(s: pd.Series, block: int) -> list[str]:
    """UTC datetimes as pandas writes them, ``+00:00`` after each: within each ``block`` of rows it
    formats at once (pandas' chunk of ``PANDAS_CHUNK_CELLS`` cells), every time shows the fraction
    of a second its finest one needs (none, 3, 6 or 9 digits); NaT is an empty field."""
    ns = s.dt.as_unit("ns").array.asi8
    nat = ns == np.iinfo(np.int64).min
    unit_of_row = _units(ns, nat, block)
    # the date and time to the second, formatted once per distinct second; the fraction per row
    seconds = np.where(nat, 0, ns // 1_000_000_000)
    fraction = (ns - seconds * 1_000_000_000).tolist()
    codes, uniques = pd.factorize(seconds)
    prefix = [t.replace("T", " ") for t in np.datetime_as_string(uniques.view("datetime64[s]"), "s").tolist()]
    whole = np.array(prefix, object)[codes].tolist()
    formats = ("{}+00:00", "{}.{:03d}+00:00", "{}.{:06d}+00:00", "{}.{:09d}+00:00")
    divisors = (1, 1_000_000, 1000, 1)
    if len(ns) and not nat.any() and (unit_of_row == unit_of_row[0]).all():  # the usual case
        code = int(unit_of_row[0])
        div = divisors[code]
        return list(map(formats[code].format, whole, fraction if div == 1 else [f // div for f in fraction]))
    out: list[str] = [""] * len(ns)
    for code in range(4):
        rows = np.flatnonzero((unit_of_row == code) & ~nat).tolist()
        form, div = formats[code].format, divisors[code]
        for i in rows:
            out[i] = form(whole[i], fraction[i] // div)
    return out


def _units(ns: np.ndarray, nat: np.ndarray, block: int) -> np.ndarray:
    """Per row, the finest resolution any time of its ``block`` of rows needs (pandas formats a
    chunk at once): 0 whole seconds, 1 ms, 2 us, 3 ns."""
    need = (ns % 1_000_000_000 != 0).astype(np.int8)
    need += ns % 1_000_000 != 0
    need += ns % 1000 != 0
    need[nat] = 0
    starts = np.arange(0, len(ns), block)
    finest = np.maximum.reduceat(need, starts) if len(ns) else need
    return np.repeat(finest, np.diff(np.r_[starts, len(ns)]))


def _fallback(s: pd.Series) -> list[str]:
    """Any other dtype: the values pandas' ``to_csv`` hands the csv writer, as it writes them."""
    from pandas.core.indexes.base import get_values_for_csv

    values = get_values_for_csv(s.array, date_format=None, na_rep="", float_format="%.9f")
    return [_quoted(_text(v)) for v in values.tolist()]


def _text(v: object) -> str:
    """``str`` as the csv writer applies it (floats, numpy's included, by ``repr``)."""
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else str(v)
