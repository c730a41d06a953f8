"""What the plots take from a trace or a table, and the one place times become relative.

Why one place: every time axis says "seconds since capture start" (the capture's first record),
per capture. Tables presented with a ``t`` column already hold relative instants; tables with
only the internal float epoch seconds are shifted here, per capture, by the first message time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Origins = dict[str, float] | None  # capture -> absolute seconds of its first record; None: already relative


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
    """The per-capture time origin of a Trace (its messages), or of a bare table (its own
    earliest time column); None when the tables already give times since the capture start."""
    messages = frame
    if is_trace(obj):  # the whole input's messages: a window keeps its capture's origin
        base = getattr(obj, "_base", None)
        messages = base.get("messages") if base is not None else obj.messages
    if messages is None or "t" in messages.columns:
        return None
    if not is_trace(obj):
        cols = [c for c in ("time", "start", "request_time", "first_seen", "first") if c in messages.columns]
        if not cols:
            return None
        first = messages[cols].min(axis=1)
    else:
        first = messages["time"]
    if "capture" not in messages.columns:
        return {"": float(np.nanmin(first))} if len(first) else {}
    by = first.groupby(messages["capture"].astype(object), sort=False).min()
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
