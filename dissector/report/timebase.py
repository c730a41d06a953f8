"""Times for people: seconds since the capture start, the one time base of every report.

Why a module: the Trace is moving to presenting every instant column relative to its capture's
first record (TEAM time base). Until that lands this converts absolute epoch seconds itself; once
the Trace presents ``t`` the tables are passed through unchanged. Reports only call ``relative``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

# instant columns of each table (durations are left alone)
INSTANTS: dict[str, tuple[str, ...]] = {
    "messages": ("time", "time_end"),
    "transactions": ("time", "request_time", "reply_time"),
    "lifecycles": ("start", "end"),
    "lifecycle_summary": (
        "allocated_at",
        "first_seen",
        "ready_at",
        "running_at",
        "exited_at",
        "deallocated_at",
    ),
    "errors": ("first", "last"),
    "findings": ("time",),
    "slow_windows": ("start", "end"),
    "memparcels": ("created_time", "reclaimed_time"),
    "irqs": ("lent_time", "reclaimed_time"),
}
AXIS_LABEL = "s since capture start"


def presented(trace: Any) -> bool:
    """True when the Trace already presents times relative to each capture start."""
    return "t" in trace.messages.columns


def origins(trace: Any) -> dict[str, float]:
    """Absolute epoch seconds of each capture's first record (NaN when untimed)."""
    m = trace._base.get("messages") if hasattr(trace, "_base") else trace.messages
    if m.empty:
        return {}
    first = m.groupby("capture", observed=True)["time"].min()
    return {str(k): float(v) for k, v in first.items()}


def relative(trace: Any, name: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``trace.<name>`` (or ``table``) with every instant column in seconds since its capture start."""
    table = getattr(trace, name) if table is None else table
    columns = [c for c in INSTANTS.get(name, ()) if c in table.columns]
    if presented(trace) or not columns or table.empty or "capture" not in table.columns:
        return table
    base = table["capture"].astype(str).map(origins(trace)).astype(float)
    out = table.copy()
    for c in columns:
        out[c] = out[c].astype(float) - base
    return out


def span(trace: Any) -> tuple[float, float]:
    """First and last message time, in seconds since the (first) capture start."""
    m = relative(trace, "messages")
    t = m["time"].dropna() if not m.empty else pd.Series(dtype=float)
    return (float(t.min()), float(t.max())) if len(t) else (float("nan"), float("nan"))


def absolute_start(trace: Any) -> pd.Timestamp | None:
    """Wall-clock time of the first record, for the report header."""
    start = trace.start
    if start is None:
        return None
    if isinstance(start, pd.Timestamp):
        return start
    return pd.Timestamp(start, unit="s", tz="UTC")


def hexes(values: Iterable[Any]) -> str:
    return ", ".join(f"{int(v):#x}" for v in values)
