"""Error replies counted per call and error code, with the errno Linux turns each into.

Why the errno: a kernel engineer starts from ``gunyah_rsc_mgr: RM rejected message 56000004.
Error: 2`` or from an ``-ENODEV`` in a VMM log; both spellings must lead to the same row.
Every reply with a non-zero error code counts (duplicates and orphans too: RM sent them), but
not garbage whose broken RPC header happens to say "reply".

``error_groups`` is the grouping over plain arrays (numpy only): ``df_errors`` builds the table
from it, and ``ghrm errors`` prints its text from it without loading pandas (``analysis.calls``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dissector.protocol.errors import linux_errno
from dissector.sorting import distinct

from .schema import ERRORS

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ErrorGroups:
    """Error replies grouped by (capture, call, code), one entry per group in the table's order
    (most replies first, then capture and call; equal ones by code). ``rows`` lists the rows of
    every group, each group's in row order: group ``g`` holds ``rows[start[g]:start[g] + count[g]]``.
    ``first``/``last``: the earliest and latest time of its rows (NaN when none is known)."""

    capture: np.ndarray
    msg_id: np.ndarray
    err_code: np.ndarray
    count: np.ndarray
    first: np.ndarray
    last: np.ndarray
    start: np.ndarray
    rows: np.ndarray
    vmids: list[tuple[int, ...]]

    def __len__(self) -> int:
        return len(self.count)

    def members(self, g: int) -> np.ndarray:
        """The rows of group ``g``, in row order."""
        return self.rows[self.start[g] : self.start[g] + self.count[g]]


def error_groups(
    capture: np.ndarray, msg_id: np.ndarray, err_code: np.ndarray, vm: np.ndarray, time: np.ndarray
) -> ErrorGroups:
    """The groups of some error replies (one row each: capture code, call id, error code, the VM
    it concerns (-1 unknown) and float seconds (NaN unknown)), in the table's order."""
    n = len(err_code)
    if not n:
        none, no_time = np.empty(0, np.int64), np.empty(0, np.float64)
        return ErrorGroups(none, none, none, none, no_time, no_time, none, none, [])
    capture, msg_id, err_code = (np.asarray(a, np.int64) for a in (capture, msg_id, err_code))
    order = np.lexsort((err_code, msg_id, capture))  # stable: each group's rows stay in row order
    change = np.zeros(max(n - 1, 0), bool)
    for a in (capture, msg_id, err_code):
        ordered = a[order]
        change |= ordered[1:] != ordered[:-1]
    change = np.flatnonzero(change)
    start = np.concatenate([[0], change + 1])
    count = np.diff(np.append(start, n))
    times = np.asarray(time, np.float64)[order]
    first, last = np.fmin.reduceat(times, start), np.fmax.reduceat(times, start)
    head = order[start]
    vmids = _vmids(np.asarray(vm, np.int64)[order], start, count)
    # the table's order: most replies first, then capture, call; ties keep the (code) order above
    shown = np.lexsort((np.arange(len(start)), msg_id[head], capture[head], -count))
    regrouped = np.concatenate([order[start[g] : start[g] + count[g]] for g in shown.tolist()])
    new_start = np.concatenate([[0], np.cumsum(count[shown])[:-1]])
    return ErrorGroups(
        capture[head][shown],
        msg_id[head][shown],
        err_code[head][shown],
        count[shown],
        first[shown],
        last[shown],
        new_start,
        regrouped,
        [vmids[g] for g in shown.tolist()],
    )


def _vmids(vm: np.ndarray, start: np.ndarray, count: np.ndarray) -> list[tuple[int, ...]]:
    """Per group (rows grouped as ``start``/``count`` say), its known VMs, sorted, once each."""
    group = np.repeat(np.arange(len(start), dtype=np.int64), count)
    known = vm >= 0
    pairs = distinct((group[known] << 32) | vm[known])
    where = np.searchsorted(pairs >> 32, np.arange(len(start) + 1))
    values = (pairs & 0xFFFFFFFF).tolist()
    return [tuple(values[a:b]) for a, b in zip(where[:-1].tolist(), where[1:].tolist(), strict=True)]


def df_errors(messages: pd.DataFrame) -> pd.DataFrame:
    """The errors table (schema ``ERRORS``) of a messages table, by capture, call and code."""
    import pandas as pd

    from .transactions import garbage

    err = messages["err_code"].to_numpy(np.int64, na_value=0)
    msg_id = messages["msg_id"].to_numpy(np.int64, na_value=-1)
    rows = np.flatnonzero((err != 0) & ~garbage(messages) & messages["msg_id"].notna().to_numpy(bool))
    if not len(rows):
        return ERRORS.empty()
    groups = error_groups(
        messages["capture"].cat.codes.to_numpy()[rows],
        msg_id[rows],
        err[rows],
        messages["vm"].to_numpy(np.int64, na_value=-1)[rows],
        messages["time"].to_numpy(np.float64, na_value=np.nan)[rows],
    )
    head = rows[groups.rows[groups.start]]
    frame = messages["frame"].to_numpy(np.int64)[rows]
    categories = messages["capture"].cat.categories
    data = {
        "capture": pd.Categorical.from_codes(groups.capture, categories=categories),
        "name": messages["name"].take(head).tolist(),
        "msg_id": groups.msg_id.tolist(),
        "err_code": groups.err_code.tolist(),
        "err_name": messages["err_name"].take(head).tolist(),
        "errno": [linux_errno(int(code)) for code in groups.err_code.tolist()],
        "count": groups.count.tolist(),
        "first": groups.first,
        "last": groups.last,
        "frames": [tuple(frame[groups.members(g)].tolist()) for g in range(len(groups))],
        "vmids": groups.vmids,
    }
    return ERRORS.frame(data)
