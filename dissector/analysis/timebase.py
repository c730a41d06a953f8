"""The one time base of the public tables: ``time`` as a UTC datetime, every other instant as
seconds since the capture start.

Why one function: the pipeline keeps float epoch seconds internally (cheap comparisons and
windows, exact ``*_ns`` beside them), but a person wants "when, on the wall clock" once per row
and "how far into the capture" everywhere else, and the CLI, plots, reports and notebooks must
all print the same numbers. ``present`` turns any internal table into its public form, driven
only by its schema: columns declared ``instant`` become seconds since the capture start, the row
time ``time`` becomes ``datetime64[ns, UTC]`` followed by ``t`` (its seconds since the capture
start), durations declared ``ms`` gain a ``<name>_ms`` column, the schema's ``lead`` columns come
first and ``capture`` shows the file's basename (the full path stays in ``Trace.captures``).

The capture start is the time of the capture's first record (the lowest-numbered frame with a
time), as Wireshark's "seconds since beginning of capture"; ``ghrm decode`` prints the same.
Kernel logs carry dmesg times (seconds since boot, no wall clock): their ``time`` shows that
offset on 1970-01-01, and ``t`` is still seconds since the log's first record.

Exactness: instants are converted back to integer nanoseconds through the messages they came
from (every internal instant is some message's ``time_ns / 1e9``), so ``t`` of a transaction
equals ``t`` of its request to the last bit and ``time`` is exact to the nanosecond.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dissector.sorting import positions

from .schema import Column, Schema

if TYPE_CHECKING:
    from .columns import MessageColumns

ROW_TIME = "time"
RELATIVE = "t"
TIME_DTYPE = "datetime64[ns, UTC]"
NAT = np.iinfo(np.int64).min
_TIME_NOTE = "; shown as a UTC datetime exact to the ns (a kernel log's time since boot shows on 1970-01-01)"
_T_DOC = "seconds since the capture start (its first record): the time the CLI prints"
_INSTANT_NOTE = " [s since the capture start]"
_CAPTURE_DOC = "file name of the capture (basename; the full path is in Trace.captures)"


@dataclass(frozen=True)
class TimeBase:
    """What ``present`` needs to know about the captures: their starts, exact times and labels."""

    starts: Mapping[str, int] = field(default_factory=dict)  # capture -> ns of its first record
    labels: Mapping[str, str] = field(default_factory=dict)  # capture -> the name shown
    exact: pd.Index = field(default_factory=lambda: pd.Index([], dtype=np.float64))  # float s ...
    exact_ns: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # ... -> exact ns

    @classmethod
    def from_messages(cls, messages: pd.DataFrame, captures: list[str]) -> TimeBase:
        """From the internal messages table (float ``time``, ``time_ns``, in capture, frame order)."""
        known = messages[messages["time_ns"].notna()] if not messages.empty else messages
        starts: dict[str, int] = {}
        if not known.empty:
            first = known.groupby("capture", observed=True)["time_ns"].first()
            starts = {str(c): int(v) for c, v in first.items()}
        seconds = known["time"].to_numpy(np.float64)
        ns = known["time_ns"].to_numpy(np.int64, na_value=0)
        seconds, pos = np.unique(seconds, return_index=True)
        return cls(starts, capture_labels(captures), pd.Index(seconds), ns[pos])

    @classmethod
    def from_columns(cls, columns: Sequence[MessageColumns], captures: list[str]) -> TimeBase:
        """What ``from_messages`` gives for the messages table of these columns, read from the
        columns themselves (its rows are theirs, in the same order, ``time`` is ``time_ns / 1e9``
        where known): a command that shows no message (the ledgers) need not build that table."""
        starts: dict[str, int] = {}
        known_ns = []
        for cols in columns:
            ns = cols.time_ns[cols.time_known]
            if len(ns):
                starts.setdefault(cols.capture, int(ns[0]))
            known_ns.append(ns.astype(np.int64))
        ns = np.concatenate(known_ns) if known_ns else np.empty(0, np.int64)
        seconds, pos = np.unique(ns / 1e9, return_index=True)
        return cls(starts, capture_labels(captures), pd.Index(seconds), ns[pos])

    def to_ns(self, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer ns of float seconds (exact for message times) and the mask of unknown ones."""
        missing = np.isnan(seconds)
        pos = positions(self.exact.to_numpy(np.float64), seconds)
        approx = np.round(np.where(missing, 0.0, seconds) * 1e9).astype(np.int64)
        ns = np.where(pos >= 0, self.exact_ns[np.maximum(pos, 0)] if len(self.exact_ns) else 0, approx)
        return ns.astype(np.int64), missing


def capture_labels(captures: list[str]) -> dict[str, str]:
    """Basenames for display, unless two captures share one (then the names as given)."""
    base = {c: os.path.basename(c) or c for c in captures}
    return base if len(set(base.values())) == len(base) else {c: c for c in captures}


def present(df: pd.DataFrame, schema: Schema, base: TimeBase) -> pd.DataFrame:
    """The public form of an internal table (see the module docstring); ``df`` is not modified."""
    starts, no_start = _row_starts(df, base)
    out: dict[str, object] = {}
    for col in schema.columns:
        values = df[col.name]
        if col.instant:
            ns, missing = base.to_ns(values.to_numpy(np.float64))
            if col.name == ROW_TIME and "time_ns" in df:  # exact where the table keeps it
                exact = df["time_ns"]
                ns = np.where(exact.notna().to_numpy(), exact.to_numpy(np.int64, na_value=0), ns)
            relative = np.where(missing | no_start, np.nan, (ns - starts) / 1e9)
            if col.name == ROW_TIME:
                out[ROW_TIME] = _datetimes(ns, missing, df.index)
                out[RELATIVE] = relative
            else:
                out[col.name] = relative
        elif col.name == "capture" and isinstance(values.dtype, pd.CategoricalDtype):
            labels = [base.labels.get(str(c), str(c)) for c in values.cat.categories]
            out[col.name] = (
                values.cat.rename_categories(labels) if len(set(labels)) == len(labels) else values
            )
        else:
            out[col.name] = values
        if col.ms:  # from the exact ns twin where the table has one
            exact = f"{col.name}_ns"
            ms = df[exact].to_numpy(np.float64, na_value=np.nan) / 1e6 if exact in df else None
            out[f"{col.name}_ms"] = values.to_numpy(np.float64) * 1e3 if ms is None else ms
    order = public_schema(schema).names
    # copy=False: the unchanged columns stay shared with ``df`` (copy-on-write keeps both intact);
    # a copy was the transactions table's size again at 1M (~55 MB)
    return pd.DataFrame({name: out[name] for name in order}, index=df.index, copy=False)


def capture_codes(capture: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A number per row for its capture (-1: none) and the names the numbers index: a
    categorical's own codes, else one factorization (no string work per row)."""
    if isinstance(capture.dtype, pd.CategoricalDtype):
        return capture.cat.codes.to_numpy(np.int64), [str(c) for c in capture.cat.categories]
    codes, uniques = pd.factorize(capture.astype(object))
    return codes.astype(np.int64), [str(c) for c in uniques]


def _row_starts(df: pd.DataFrame, base: TimeBase) -> tuple[np.ndarray, np.ndarray]:
    """Each row's capture start in ns, and where it is unknown (by category code: no string work)."""
    if "capture" not in df or df.empty:
        return np.zeros(len(df), np.int64), np.zeros(len(df), bool)
    codes, names = capture_codes(df["capture"])
    per_name = np.array([base.starts.get(n, NAT) for n in names] + [NAT], np.int64)  # code -1: NaN
    starts = per_name[codes]
    return starts, starts == NAT


def _datetimes(ns: np.ndarray, missing: np.ndarray, index: pd.Index) -> pd.Series:
    raw = np.where(missing, NAT, ns).astype(np.int64).view("datetime64[ns]")
    return pd.Series(raw, index=index).dt.tz_localize("UTC")


@cache
def public_schema(schema: Schema) -> Schema:
    """The columns of the public table of ``schema``, in display order, with their meaning
    (``instant`` there marks the columns in seconds since the capture start)."""
    cols: list[Column] = []
    for col in schema.columns:
        if col.instant and col.name == ROW_TIME:
            cols.append(replace(col, dtype=TIME_DTYPE, doc=col.doc + _TIME_NOTE, instant=False))
            cols.append(Column(RELATIVE, "float64", _T_DOC, instant=True))
        elif col.instant:  # still an instant (display.py shows it with its unit), now relative
            cols.append(replace(col, doc=col.doc + _INSTANT_NOTE))
        elif col.name == "capture":
            cols.append(replace(col, doc=_CAPTURE_DOC))
        else:
            cols.append(col)
        if col.ms:
            cols.append(Column(f"{col.name}_ms", "float64", f"{col.name} in milliseconds"))
    names = [c.name for c in cols]
    lead = [n for n in schema.lead if n in names]
    ordered = [*(cols[names.index(n)] for n in lead), *(c for c in cols if c.name not in lead)]
    return Schema(schema.name, schema.doc, tuple(ordered))
