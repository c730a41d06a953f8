"""``errors.error_groups`` (numpy) groups error replies as pandas' groupby did for ``df_errors``.

The reference below is the grouping ``df_errors`` made before it had an array core: a
``groupby`` on (capture, call, code) sorted, per group its reply count, earliest and latest time
(NaN skipped), reply frames in row order and sorted known VMs, then most replies first, by
capture and call (ties in code order). Both paths of ``ghrm errors`` print from the array core.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis.errors import error_groups

ROW = st.tuples(
    st.integers(0, 2),  # capture
    st.sampled_from([0x56000001, 0x56000004, 0x51000012, 0x51000014, 0xFFFFFFFF]),  # msg_id
    st.sampled_from([1, 2, 6, 0x20, 0xFFFFFFFF]),  # err_code
    st.integers(-1, 4),  # vm (-1 unknown)
    st.one_of(st.none(), st.floats(1.7e9, 1.7e9 + 10, allow_nan=False)),  # time (None unknown)
)


def _reference(rows: pd.DataFrame) -> list[tuple]:
    out = []
    for (capture, msg_id, code), g in rows.groupby(["capture", "msg_id", "err_code"], sort=True):
        vmids = tuple(sorted(g["vm"][g["vm"] >= 0].unique().tolist()))
        out.append(
            (capture, msg_id, code, len(g), g["time"].min(), g["time"].max(), tuple(g["frame"]), vmids)
        )
    table = pd.DataFrame(
        out, columns=["capture", "msg_id", "code", "count", "first", "last", "frames", "vmids"]
    )
    table = table.sort_values(
        ["count", "capture", "msg_id"], ascending=[False, True, True], ignore_index=True
    )
    return [tuple(r) for r in table.itertuples(index=False)]


@settings(deadline=None, max_examples=100)
@given(st.lists(ROW, max_size=60))
def test_groups_are_the_groupby_of_df_errors(rows):
    frame = np.arange(1, len(rows) + 1, dtype=np.int64) * 7
    capture, msg_id, err, vm, time = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 5
    seconds = np.array([np.nan if t is None else t for t in time], np.float64)
    groups = error_groups(
        np.array(capture, np.int64),
        np.array(msg_id, np.int64),
        np.array(err, np.int64),
        np.array(vm),
        seconds,
    )
    got = [
        (
            int(groups.capture[g]),
            int(groups.msg_id[g]),
            int(groups.err_code[g]),
            int(groups.count[g]),
            float(groups.first[g]),
            float(groups.last[g]),
            tuple(frame[groups.members(g)].tolist()),
            groups.vmids[g],
        )
        for g in range(len(groups))
    ]
    table = pd.DataFrame(
        {"capture": capture, "msg_id": msg_id, "err_code": err, "vm": vm, "time": seconds, "frame": frame}
    )
    want = _reference(table) if rows else []
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a[:4] == tuple(int(x) for x in b[:4]) and a[6:] == b[6:]
        assert np.array_equal(np.array(a[4:6]), np.array(b[4:6], np.float64), equal_nan=True)
