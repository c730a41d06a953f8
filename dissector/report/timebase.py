"""The report's side of the one time base: every time shown is seconds since the capture start.

The Trace presents its tables that way (``dissector.analysis.timebase``: ``t`` and every instant
column relative to the capture's first record, the row ``time`` a UTC datetime); this module only
holds the label the report prints and the two numbers its header needs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

AXIS_LABEL = "s since capture start"


def span(trace: Any) -> tuple[float, float]:
    """First and last message, in seconds since the capture start (NaN, NaN if untimed)."""
    t = trace.messages["t"].dropna()
    return (float(t.min()), float(t.max())) if len(t) else (float("nan"), float("nan"))


def absolute_start(trace: Any) -> pd.Timestamp | None:
    """Wall-clock time of the first record (UTC), for the report header; None if untimed."""
    start = trace.start
    return None if start is None or pd.isna(start) else pd.Timestamp(start)
