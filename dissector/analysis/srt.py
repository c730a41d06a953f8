"""Service response time per call, like ``tshark -z gunyah_rm,srt``: first replies only.

Why first replies only: a duplicate reply says nothing about how long the call took, and an
unanswered call has no time at all (it is counted in ``unanswered``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .schema import SRT
from .select import select
from .status import ANSWERED, CALLS, Status, codes


def df_srt(
    transactions: pd.DataFrame,
    *,
    vmid: int | Sequence[int] | None = None,
    client: int | Sequence[int] | None = None,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """The SRT table (schema ``SRT``) of ``transactions``, optionally for some VMIDs, clients or a
    time window (absolute seconds, ``start <= time < end``); one row per capture and call, by
    capture then message id."""
    tx = select(transactions, vmid=vmid, client=client, start=start, end=end)
    status = tx["status"].cat.codes.to_numpy()
    calls_rows = np.isin(status, codes(CALLS))
    if not calls_rows.any():
        empty = SRT.empty()
        empty["capture"] = pd.Categorical([], categories=tx["capture"].cat.categories)
        return empty
    status = status[calls_rows]
    ids = tx["msg_id"].to_numpy(np.int64, na_value=-1)[calls_rows]
    latency = tx["latency"].to_numpy(np.float64)[calls_rows]
    name_codes = tx["name"].cat.codes.to_numpy()[calls_rows]
    capture = tx["capture"].cat.codes.to_numpy(np.int64)[calls_rows]
    key = (capture << 33) + ids + 1  # one row per (capture, call); msg_id NA (-1) sorts first
    uniq, first, group = np.unique(key, return_index=True, return_inverse=True)
    k = len(uniq)
    answered = np.isin(status, codes(ANSWERED))
    calls = np.bincount(group, minlength=k).astype(np.int64)  # every request, answered or not
    errors = np.bincount(group, weights=status == Status.ERROR.code, minlength=k).astype(np.int64)
    unanswered = np.bincount(group, weights=~answered, minlength=k).astype(np.int64)
    timed = answered & ~np.isnan(latency)
    g, lat = group[timed], latency[timed]
    order = np.lexsort((lat, g))
    g, lat = g[order], lat[order]
    bounds = np.searchsorted(g, np.arange(k + 1))
    stats = np.full((k, 7), np.nan)
    stats[:, 6] = 0.0
    for i in range(k):
        part = lat[bounds[i] : bounds[i + 1]]
        if len(part):
            p50, p90, p99 = np.percentile(part, [50, 90, 99])
            stats[i] = (part[0], part.mean(), p50, p90, p99, part[-1], part.sum())
    categories = tx["name"].cat.categories
    names = pd.Categorical.from_codes(name_codes[first], categories=categories).remove_unused_categories()
    return SRT.frame(
        {
            "capture": pd.Categorical.from_codes(uniq >> 33, categories=tx["capture"].cat.categories),
            "name": names,
            "msg_id": (uniq & ((1 << 33) - 1)) - 1,
            "calls": calls,
            "errors": errors,
            "unanswered": unanswered,
            **{c: stats[:, j] for j, c in enumerate(("min", "mean", "p50", "p90", "p99", "max", "sum"))},
        }
    )
