"""Service response time per call, like ``tshark -z gunyah_rm,srt``: first replies only.

Why first replies only: a duplicate reply says nothing about how long the call took, and an
unanswered call has no time at all (it is counted in ``unanswered``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dissector.sorting import stable_order

from .schema import SRT
from .status import ANSWERED, CALLS, Status, codes

if TYPE_CHECKING:  # pandas only for the table: srt_rows (ghrm stats' text) needs none
    import pandas as pd


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
    import pandas as pd

    from .select import select

    tx = select(transactions, vmid=vmid, client=client, start=start, end=end)
    status = tx["status"].cat.codes.to_numpy()
    calls_rows = np.isin(status, codes(CALLS))
    if not calls_rows.any():
        empty = SRT.empty()
        empty["capture"] = pd.Categorical([], categories=tx["capture"].cat.categories)
        return empty
    rows = srt_rows(
        tx["capture"].cat.codes.to_numpy(np.int64)[calls_rows],
        tx["msg_id"].to_numpy(np.int64, na_value=-1)[calls_rows],
        status[calls_rows],
        tx["latency"].to_numpy(np.float64)[calls_rows],
    )
    name_codes = tx["name"].cat.codes.to_numpy()[calls_rows]
    names = pd.Categorical.from_codes(name_codes[rows.first], categories=tx["name"].cat.categories)
    return srt_frame(rows, tx["capture"].cat.categories, names.remove_unused_categories())


@dataclass
class SrtRows:
    """The SRT's numbers, one row per (capture, call), by capture code then message id."""

    capture: np.ndarray  # capture code
    msg_id: np.ndarray
    first: np.ndarray  # index (in the calls given) of each row's first call
    calls: np.ndarray
    errors: np.ndarray
    unanswered: np.ndarray
    stats: np.ndarray  # (rows, 7): min, mean, p50, p90, p99, max, sum of the latencies


def srt_rows(capture: np.ndarray, msg_id: np.ndarray, status: np.ndarray, latency: np.ndarray) -> SrtRows:
    """The SRT of calls given as arrays (one entry per request: capture code, message id, status
    code, latency in seconds or NaN): what ``df_srt`` and ``ghrm stats``' narrow path share."""
    key = (capture.astype(np.int64) << 33) + msg_id + 1  # msg_id NA (-1) sorts first
    uniq = np.unique(key)
    group = np.searchsorted(uniq, key)  # a few dozen calls: faster than unique's sort of every key
    k = len(uniq)
    sizes = np.bincount(group, minlength=k)
    by_call = stable_order(group)  # by call, then as given
    first = by_call[np.cumsum(sizes) - sizes]  # each row's first call
    answered = np.isin(status, codes(ANSWERED))
    calls = sizes.astype(np.int64)  # every request, answered or not
    errors = np.bincount(group, weights=status == Status.ERROR.code, minlength=k).astype(np.int64)
    unanswered = np.bincount(group, weights=~answered, minlength=k).astype(np.int64)
    timed = by_call[(answered & ~np.isnan(latency))[by_call]]
    g, lat = group[timed], latency[timed]
    # each call's latencies sorted: any sort gives the same floats, unless -0.0 and 0.0 mix
    signed_zeros = bool(np.signbit(lat[lat == 0]).any())
    bounds = np.searchsorted(g, np.arange(k + 1))
    stats = np.full((k, 7), np.nan)
    stats[:, 6] = 0.0
    for i in range(k):
        part = np.sort(lat[bounds[i] : bounds[i + 1]], kind="stable" if signed_zeros else None)
        if len(part):
            p50, p90, p99 = np.percentile(part, [50, 90, 99])
            stats[i] = (part[0], part.mean(), p50, p90, p99, part[-1], part.sum())
    return SrtRows(uniq >> 33, (uniq & ((1 << 33) - 1)) - 1, first, calls, errors, unanswered, stats)


def srt_frame(rows: SrtRows, captures: pd.Index | Sequence[str], names: pd.Categorical) -> pd.DataFrame:
    """The SRT table (schema ``SRT``) of ``srt_rows``' result; ``names``: each row's call name."""
    import pandas as pd

    return SRT.frame(
        {
            "capture": pd.Categorical.from_codes(rows.capture, categories=captures),
            "name": names,
            "msg_id": rows.msg_id,
            "calls": rows.calls,
            "errors": rows.errors,
            "unanswered": rows.unanswered,
            **{c: rows.stats[:, j] for j, c in enumerate(("min", "mean", "p50", "p90", "p99", "max", "sum"))},
        }
    )
