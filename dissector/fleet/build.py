"""The per-capture task: one capture's tables, exactly as ``dissector.open(path)`` gives them.

Why a plain function of (path, device, tables): it runs on a Dask worker, must be picklable
and pure, and must give the same rows a user would get from ``dissector.open(path)`` on their
laptop (public tables, on the one time base: ``time`` UTC, ``t`` and every instant in seconds
since that capture's start). The fleet adds the ``device`` column after ``capture`` (the SRT
table, which has no ``capture`` column in a Trace, gets both in front), and ``capture`` names
the file as a multi-capture Trace does: its basename, or the path as given when two files of the
fleet share a basename (``nightly/dev1/boot.pcapng``, ``nightly/dev2/boot.pcapng``).

A capture that cannot be opened at all (not a capture, unreadable, or an analysis bug) does not
fail the fleet: its tables are empty and its ``findings`` and ``problems`` say why, with
severity ``error`` (code ``capture_unreadable``).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence

import pandas as pd

from dissector.analysis.ledgers.schema import IRQS, MEMPARCELS
from dissector.analysis.schema import (
    ERRORS,
    FINDINGS,
    LIFECYCLE_SUMMARY,
    LIFECYCLES,
    MESSAGES,
    PROBLEMS,
    SRT,
    TRANSACTIONS,
    Schema,
)
from dissector.analysis.timebase import TimeBase, present

from .sources import CaptureSource

# The Trace tables a fleet offers, each with the schema that declares its columns.
SCHEMAS: dict[str, Schema] = {
    "messages": MESSAGES,
    "transactions": TRANSACTIONS,
    "srt": SRT,
    "errors": ERRORS,
    "lifecycles": LIFECYCLES,
    "lifecycle_summary": LIFECYCLE_SUMMARY,
    "findings": FINDINGS,
    "memparcels": MEMPARCELS,
    "irqs": IRQS,
    "problems": PROBLEMS,
}
FLEET_TABLES = tuple(SCHEMAS)
UNREADABLE = "capture_unreadable"


def build_capture(
    source: CaptureSource, tables: Sequence[str], dialect: str = "rm", engine: str = "auto"
) -> dict[str, pd.DataFrame]:
    """``{table: DataFrame}`` of one capture, with ``capture`` and ``device`` columns."""
    from dissector.trace import open_trace

    try:
        # the engine name is checked by open_trace
        trace = open_trace(source.path, dialect=dialect, engine=engine)  # type: ignore[arg-type]
        found = {name: getattr(trace, name) for name in tables}
    except Exception as exc:  # one bad capture must not fail a fleet-wide job; it is reported
        found = _unreadable(source, exc, tables)
    return {name: with_device(found[name], source, name) for name in tables}


def with_device(df: pd.DataFrame, source: CaptureSource, table: str) -> pd.DataFrame:
    """A copy of one capture's table with ``device`` after ``capture`` (SRT: both first)."""
    df = df.reset_index(drop=True)
    n = len(df)
    capture = pd.Categorical([source.capture] * n, categories=[source.capture])
    if "capture" in df.columns:
        df["capture"] = capture
    else:
        df.insert(0, "capture", capture)
    df.insert(1, "device", pd.Categorical([source.device] * n, categories=[source.device]))
    for column in df.columns:
        dtype = df[column].dtype
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories.dtype != _TEXT_INDEX:
            df[column] = _text_categories(df[column])
    return df


_TEXT_INDEX = pd.Index(["x"]).dtype  # pandas' default text dtype (str in pandas 3, object before)


def _text_categories(column: pd.Series) -> pd.Series:
    """The column with its categories in the default text dtype: an empty or all-NA categorical
    has object or float64 categories, which Dask cannot union with other partitions' text ones."""
    categories = column.cat.categories
    if len(categories) and (categories.dtype != object or not all(isinstance(c, str) for c in categories)):
        return column
    dtype = pd.CategoricalDtype(pd.Index(list(categories), dtype=_TEXT_INDEX), ordered=column.cat.ordered)
    return column.astype(dtype)


def _unreadable(source: CaptureSource, exc: BaseException, tables: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Empty tables, and a finding and a fatal problem naming what went wrong."""
    path = source.path
    reason = str(exc) or type(exc).__name__
    if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] != "dissector":
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {reason} (at {where.filename}:{where.lineno})"
    capture = pd.Categorical([path], categories=[path])
    internal = {name: SCHEMAS[name].empty() for name in tables}
    if "findings" in internal:
        internal["findings"] = FINDINGS.frame(
            {
                "capture": capture,
                "severity": ["error"],
                "category": ["capture"],
                "code": [UNREADABLE],
                "vmid": [pd.NA],
                "name": pd.Categorical([None]),
                "time": [float("nan")],
                "frames": [()],
                "count": [1],
                "text": [f"{path}: could not be analysed: {reason}"],
            }
        )
    if "problems" in internal:
        internal["problems"] = PROBLEMS.frame(
            {
                "capture": capture,
                "source": [path],
                "reason": [reason],
                "offset": [pd.NA],
                "length": [pd.NA],
                "line": [pd.NA],
                "fatal": [True],
            }
        )
    return {name: present(df, SCHEMAS[name], TimeBase()) for name, df in internal.items()}


def meta(table: str) -> pd.DataFrame:
    """The zero-row frame Dask uses as ``meta`` for ``table``: the declared schema plus
    ``capture``/``device``; categories that come from the data are marked unknown."""
    from dask.dataframe.utils import clear_known_categories

    schema = SCHEMAS[table]
    public = present(schema.empty(), schema, TimeBase())
    empty = with_device(public, CaptureSource("", "", "", ""), table)
    empty["capture"] = pd.Categorical([])
    empty["device"] = pd.Categorical([])
    data_categories = ["capture", "device"] + [
        c.name for c in schema.columns if c.dtype == "category" and c.categories is None
    ]
    return clear_known_categories(empty, cols=list(dict.fromkeys(data_categories)))
