"""Tables on a terminal and for scripts: aligned text, json and csv (shared by every table CLI).

Why its own module: ``analysis/cli.py`` registers the fleet options and ``fleet/cli.py``
prints with these; with them in ``analysis/cli.py`` the two modules imported each other.
"""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

import numpy as np
import pandas as pd

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
    columns = list(df.columns)
    rows = zip(*(df[c].astype(object).tolist() for c in columns), strict=True) if columns else iter(())
    if fmt == "json":
        out.write("[\n")
        first = True
        for row in rows:
            record = {c: _plain(v) for c, v in zip(columns, row, strict=True)}
            out.write(("" if first else ",\n") + json.dumps(record, separators=(",", ":")))
            first = False
        out.write("\n]\n" if not first else "]\n")
        return
    frame = df.copy(deep=False)
    for c in columns:
        if frame[c].dtype == object:
            frame[c] = [" ".join(str(x) for x in v) if isinstance(v, tuple | list) else v for v in frame[c]]
        elif frame[c].dtype == np.float64:  # as float_format="%.9f" would, without pandas' per-cell path
            frame[c] = np.array([_nine(v) for v in frame[c].to_numpy().tolist()], object)
    frame.to_csv(out, index=False, float_format="%.9f", lineterminator="\n")


def _nine(v: float) -> str:
    """A float as ``%.9f`` (NaN as the empty cell pandas writes for it)."""
    return "" if v != v else f"{v:.9f}"
