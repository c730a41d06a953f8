"""Error replies counted per call and error code, with the errno Linux turns each into.

Why the errno: a kernel engineer starts from ``gunyah_rsc_mgr: RM rejected message 56000004.
Error: 2`` or from an ``-ENODEV`` in a VMM log; both spellings must lead to the same row.
Every reply with a non-zero error code counts (duplicates and orphans too: RM sent them), but
not garbage whose broken RPC header happens to say "reply".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dissector.protocol.errors import linux_errno

from .schema import ERRORS
from .transactions import garbage


def df_errors(messages: pd.DataFrame) -> pd.DataFrame:
    """The errors table (schema ``ERRORS``) of a messages table, by capture, call and code."""
    err = messages["err_code"].to_numpy(np.int64, na_value=0)
    rows = np.flatnonzero((err != 0) & ~garbage(messages))
    if not len(rows):
        return ERRORS.empty()
    sub = messages.iloc[rows]
    groups = sub.groupby(["capture", "msg_id", "err_code"], observed=True, sort=True)
    out = []
    for (capture, msg_id, code), g in groups:
        vmids = g["vm"].dropna().astype(int).unique().tolist()
        out.append(
            {
                "capture": capture,
                "name": g["name"].iloc[0],
                "msg_id": msg_id,
                "err_code": code,
                "err_name": g["err_name"].iloc[0],
                "errno": linux_errno(int(code)),
                "count": len(g),
                "first": g["time"].min(),
                "last": g["time"].max(),
                "frames": tuple(g["frame"].tolist()),
                "vmids": tuple(sorted(vmids)),
            }
        )
    data = {c: [r[c] for r in out] for c in ERRORS.names}
    data["capture"] = pd.Categorical(data["capture"], categories=messages["capture"].cat.categories)
    frame = ERRORS.frame(data)
    return frame.sort_values(["count", "capture", "msg_id"], ascending=[False, True, True], ignore_index=True)
