"""What the plots take from a trace or a table, and the one place times become relative.

Why one place: every time axis says "seconds since capture start" (the capture's first record),
per capture. A ``Trace``'s public tables already hold that (``dissector.analysis.timebase``);
a bare table from the internal pipeline (float epoch seconds) is shifted here, per capture, by
its own earliest time, so a notebook can plot either.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Origins = dict[str, float] | None  # capture -> absolute seconds of its start; None: already relative
EPOCH_LIKE = 1e8  # seconds (1973): a larger time is an absolute epoch time, not time since a start
_INSTANTS = ("time", "start", "request_time", "first_seen", "allocated_at", "first")


def is_trace(obj: Any) -> bool:
    return hasattr(obj, "messages") and hasattr(obj, "transactions") and not isinstance(obj, pd.DataFrame)


def table(obj: Any, name: str, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """``obj.<name>`` of a Trace, or ``obj`` itself when it is a table holding ``required``."""
    if is_trace(obj):
        return getattr(obj, name)
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"expected a Trace or a {name} table (DataFrame), not {type(obj).__name__}")
    missing = [c for c in required if c not in obj.columns]
    if missing:
        raise ValueError(
            f"this table has no column(s) {', '.join(missing)}: pass a Trace or the {name} table"
        )
    return obj


def origins(obj: Any, frame: pd.DataFrame | None = None) -> Origins:
    """None for a Trace or a public table (their instants are seconds since the capture start);
    for an internal table in epoch seconds, each capture's earliest time in it."""
    if is_trace(obj) or frame is None or "t" in frame.columns:
        return None
    cols = [c for c in _INSTANTS if c in frame.columns and pd.api.types.is_float_dtype(frame[c])]
    if not cols or frame.empty:
        return None
    first = frame[cols].min(axis=1)
    if not (first.max() > EPOCH_LIKE):
        return None
    if "capture" not in frame.columns:
        return {"": float(np.nanmin(first))}
    by = first.groupby(frame["capture"].astype(object), sort=False).min()
    return {str(k): float(v) for k, v in by.items()}


def seconds(frame: pd.DataFrame, column: str, base: Origins) -> np.ndarray:
    """``frame[column]`` as float seconds since its capture's start."""
    if column == "time" and "t" in frame.columns:
        return frame["t"].to_numpy(np.float64)
    values = frame[column].to_numpy(np.float64, na_value=np.nan)
    if base is None or not len(frame):
        return values
    if "capture" not in frame.columns:
        return values - base.get("", 0.0)
    shift = frame["capture"].astype(object).map(lambda c: base.get(str(c), np.nan)).to_numpy(np.float64)
    return values - shift
