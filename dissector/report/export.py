"""``export_table``: any Trace table to CSV, Parquet (pyarrow) or JSON records, for other tools.

Why a conversion step: some columns hold Python tuples (frame lists, ACLs) that CSV cannot hold
and Parquet wants as lists; they become space-separated text in CSV and lists elsewhere. Times
are written as the Trace presents them (seconds since the capture start once the Trace does).
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from dissector.analysis.select import MissingData, suggest
from dissector.trace import TABLE_ATTRIBUTES

TABLE_FORMATS = ("csv", "parquet", "json")


def table_names(trace: Any = None) -> list[str]:
    """Every table ``export`` can write: the table registry's (``dissector.analysis.tables``)."""
    return list(TABLE_ATTRIBUTES)


def _tuples(df: pd.DataFrame, to: str) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype != object:
            continue
        if not out[col].map(lambda v: isinstance(v, tuple | list)).any():
            continue
        if to == "csv":
            out[col] = out[col].map(
                lambda v: " ".join(map(str, _flat(v))) if isinstance(v, tuple | list) else v
            )
        else:
            out[col] = out[col].map(lambda v: [_plain(x) for x in v] if isinstance(v, tuple | list) else v)
    return out


def _flat(v: Any) -> list[Any]:
    return [":".join(map(str, x)) if isinstance(x, tuple | list) else x for x in v]


def _plain(x: Any) -> Any:
    return [int(y) if isinstance(y, int) else y for y in x] if isinstance(x, tuple | list) else x


def get_table(trace: Any, name: str) -> pd.DataFrame:
    names = table_names(trace)
    if name not in names:
        raise MissingData(suggest(name, names, "table", hexadecimal=False))
    return getattr(trace, name)


def export_table(trace: Any, name: str, path: str | os.PathLike[str], fmt: str) -> int:
    """Write table ``name`` of ``trace`` as ``fmt`` (csv, parquet, json); returns the row count."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"table format must be one of {', '.join(TABLE_FORMATS)}, not {fmt!r}")
    df = get_table(trace, name)
    if fmt == "csv":
        _tuples(df, "csv").to_csv(path, index=False)
    elif fmt == "parquet":
        _tuples(df, "list").to_parquet(path, index=False, engine="pyarrow")
    else:
        _tuples(df, "list").to_json(path, orient="records", indent=1, date_format="iso", date_unit="ns")
    return len(df)
