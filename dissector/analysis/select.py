"""Row selection shared by every table: by VMID, client, time window, call name.

Why one helper: the CLI filters, ``Trace.window`` and the ``df_*`` keyword filters must mean
the same thing on every table. Selection returns a new frame; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from dissector.errors import GhrmError


class MissingData(GhrmError, KeyError):
    """Something asked of a trace that it does not hold; the message lists what it does hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _many(value: int | str | Sequence[int | str] | None) -> list | None:
    if value is None:
        return None
    if isinstance(value, str | int | np.integer):
        return [value]
    return list(value)


def select(
    df: pd.DataFrame,
    *,
    vmid: int | Sequence[int] | None = None,
    client: int | Sequence[int] | None = None,
    start: float | None = None,
    end: float | None = None,
    time: str = "time",
    name: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``df`` for these VMIDs / clients / call names, with ``start <= df[time] < end``."""
    keep = np.ones(len(df), bool)
    vmids = _many(vmid)
    if vmids is not None and "vmid" in df:
        keep &= df["vmid"].isin(vmids).to_numpy(bool, na_value=False)
    clients = _many(client)
    if clients is not None and "client_vmid" in df:
        keep &= df["client_vmid"].isin(clients).to_numpy(bool)
    names = _many(name)
    if names is not None and "name" in df:
        keep &= df["name"].isin(names).to_numpy(bool)
    if (start is not None or end is not None) and time in df:
        t = df[time].to_numpy(np.float64)
        if start is not None:
            keep &= t >= start
        if end is not None:
            keep &= t < end
    if keep.all():
        return df
    return df[keep].reset_index(drop=True)


def overlapping(
    df: pd.DataFrame, start: float | None, end: float | None, first: str, last: str
) -> pd.DataFrame:
    """Rows whose [first, last] span overlaps [start, end) (NaN ends count as open)."""
    keep = np.ones(len(df), bool)
    a = df[first].to_numpy(np.float64)
    b = df[last].to_numpy(np.float64)
    if start is not None:
        keep &= ~(b < start)
    if end is not None:
        keep &= ~(a >= end)
    return df if keep.all() else df[keep].reset_index(drop=True)


def suggest(word: object, known: Iterable[object], what: str, *, hexadecimal: bool = True) -> str:
    """``no VMID 0x99 in this trace; known: 0x80, 0x82`` style text for ``MissingData``."""
    as_hex = hexadecimal and isinstance(word, int | np.integer)
    label = f"{word:#x}" if as_hex else repr(word) if isinstance(word, str) else str(word)
    shown = [f"{k:#x}" if as_hex else str(k) for k in known]
    if not shown:
        return f"no {what} {label}: this trace holds none"
    text = ", ".join(shown[:20]) + (f" (+{len(shown) - 20} more)" if len(shown) > 20 else "")
    import difflib

    close = difflib.get_close_matches(str(word), [str(s) for s in shown], n=3, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close and isinstance(word, str) else ""
    return f"no {what} {label} in this trace; known: {text}{hint}"
