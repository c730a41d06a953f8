"""The report's tables for people: which columns, their headers and units, one formatter each.

Why one place: the HTML page and the Markdown file show the same cells, so both take their text
from the formatters below (blank, not a dash, for a missing value; units in the headers); HTML
only adds row colours and the evidence anchors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from markupsafe import Markup, escape
from pandas.io.formats.style import Styler

Format = Callable[[Any], str]


def _blank(x: Any) -> bool:
    if x is None or x is pd.NA:
        return True
    try:
        return bool(isinstance(x, float) and math.isnan(x))
    except TypeError:
        return False


def text(x: Any) -> str:
    return "" if _blank(x) else str(x)


def ms(x: Any) -> str:
    return "" if _blank(x) else f"{float(x) * 1e3:.3f}"


def seconds(x: Any) -> str:
    return "" if _blank(x) else f"{float(x):.6f}"


def seconds_short(x: Any) -> str:
    return "" if _blank(x) else f"{float(x):.3f}"


def integer(x: Any) -> str:
    return "" if _blank(x) else f"{int(x)}"


def vmid(x: Any) -> str:
    return "" if _blank(x) else f"{int(x):#x}"


def handle(x: Any) -> str:
    return "" if _blank(x) else f"{int(x):#x}"


def frames(x: Any, limit: int = 12) -> str:
    if not isinstance(x, tuple | list) or not x:
        return ""
    shown = ", ".join(str(int(f)) for f in x[:limit])
    return shown + (f" (+{len(x) - limit})" if len(x) > limit else "")


def vmids(x: Any) -> str:
    return ", ".join(f"{int(v):#x}" for v in x) if isinstance(x, tuple | list) else ""


def size(x: Any) -> str:
    if _blank(x):
        return ""
    n = float(x)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(x)


@dataclass(frozen=True)
class Col:
    source: str
    header: str
    fmt: Format = text


@dataclass(frozen=True)
class TableSpec:
    """Columns of one report table; ``anchor`` names the column whose cell carries the row's id."""

    columns: tuple[Col, ...]
    anchor: str | None = None  # source column holding the row's anchor
    status: str | None = None  # source column whose value colours the row


VMS = TableSpec(
    (
        Col("vmid", "VM", vmid),
        Col("instance", "inst.", integer),
        Col("states", "states", lambda x: text(x).replace(">", " > ")),
        Col("boot_latency", "boot latency (ms)", ms),
        Col("run_time", "run time (s)", seconds_short),
        Col("exit", "exit"),
        Col("teardown_time", "teardown (ms)", ms),
        Col("final_state", "final state"),
        Col("errors", "error replies", integer),
        Col("error_calls", "failed calls"),
        Col("findings", "findings", integer),
    ),
    anchor="anchor",
    status="verdict",
)
SRT = TableSpec(
    (
        Col("name", "call"),
        Col("calls", "calls", integer),
        Col("errors", "errors", integer),
        Col("unanswered", "unanswered", integer),
        Col("min", "min (ms)", ms),
        Col("p50", "p50 (ms)", ms),
        Col("p90", "p90 (ms)", ms),
        Col("p99", "p99 (ms)", ms),
        Col("max", "max (ms)", ms),
        Col("mean", "mean (ms)", ms),
        Col("sum", "total (ms)", ms),
    ),
    status="verdict",
)
ERRORS = TableSpec(
    (
        Col("name", "call"),
        Col("err_name", "RM error"),
        Col("err_code", "code", integer),
        Col("errno", "Linux errno"),
        Col("count", "replies", integer),
        Col("first", "first (s)", seconds),
        Col("last", "last (s)", seconds),
        Col("frames", "reply frames", frames),
        Col("vmids", "VMs", vmids),
    )
)
FINDINGS = TableSpec(
    (
        Col("severity", "severity"),
        Col("category", "category"),
        Col("code", "code"),
        Col("vmid", "VM", vmid),
        Col("name", "message"),
        Col("t", "t (s)", seconds),
        Col("frames", "frames", frames),
        Col("count", "count", integer),
        Col("text", "what happened"),
    ),
    anchor="anchor",
    status="severity",
)
SLOW_WINDOWS = TableSpec(
    (
        Col("start", "start (s)", seconds),
        Col("end", "end (s)", seconds),
        Col("duration", "duration (ms)", ms),
        Col("calls", "calls", integer),
        Col("model", "model"),
        Col("factor", "x usual service", lambda x: "" if _blank(x) else f"x{float(x):.2f}"),
        Col("added", "added per call (ms)", ms),
        Col("delay", "RM time added (ms)", ms),
        Col("vmids", "boots delayed", vmids),
        Col("names", "calls served", lambda x: ", ".join(map(str, x)) if isinstance(x, tuple | list) else ""),
        Col("frames", "request frames", frames),
    ),
    anchor="anchor",
)
MEMPARCELS = TableSpec(
    (
        Col("handle", "handle", handle),
        Col("instance", "inst.", integer),
        Col("vmid", "VM", vmid),
        Col("trans_type", "type"),
        Col("mem_type", "mem"),
        Col("size", "size", size),
        Col("sgl_entries", "SGL entries", integer),
        Col("acl_text", "ACL"),
        Col("created_frame", "created (frame)", integer),
        Col("reclaimed_frame", "reclaimed (frame)", integer),
        Col("used_by", "used by"),
        Col("state", "state"),
        Col("errors", "errors", integer),
        Col("failed_calls", "failed calls"),
    ),
    status="ledger",
)
IRQS = TableSpec(
    (
        Col("handle", "handle", handle),
        Col("instance", "inst.", integer),
        Col("owner_vmid", "owner", vmid),
        Col("vmid", "borrower", vmid),
        Col("virq", "virq", integer),
        Col("label", "label", integer),
        Col("lent_frame", "lent (frame)", integer),
        Col("accepted_by", "accepted by", vmid),
        Col("reclaimed_frame", "reclaimed (frame)", integer),
        Col("state", "state"),
        Col("errors", "errors", integer),
        Col("failed_calls", "failed calls"),
    ),
    status="ledger",
)


def display(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The table as text cells, headers as shown; columns the data lacks are left out."""
    cols = [c for c in spec.columns if c.source in df.columns]
    out = pd.DataFrame(
        {c.header: [c.fmt(v) for v in df[c.source].tolist()] for c in cols}, index=range(len(df))
    )
    return out


def anchors(df: pd.DataFrame, spec: TableSpec) -> list[str | None]:
    if spec.anchor is None or spec.anchor not in df.columns:
        return [None] * len(df)
    return [str(a) for a in df[spec.anchor]]


def statuses(df: pd.DataFrame, spec: TableSpec) -> list[str]:
    if spec.status is None or spec.status not in df.columns:
        return [""] * len(df)
    return ["" if _blank(s) else str(s) for s in df[spec.status]]


def html(df: pd.DataFrame, spec: TableSpec, css_class: str = "tbl") -> Markup:
    """The table as HTML: escaped cells, row classes by status, anchors in the first column.

    Written out directly, exactly as pandas ``Styler(cell_ids=False).hide(axis="index")`` wrote it
    (test: ``tests/report/test_tables.py``): Styler builds a context per cell and renders it
    through Jinja2, ~30 us a cell, seconds for the tables of a long capture."""
    shown = display(df, spec)
    if shown.empty:
        return Markup("")
    ids = anchors(df, spec)
    marks = statuses(df, spec)
    columns = [shown[c].tolist() for c in shown.columns]
    if any(not isinstance(v, str) for column in columns[1:] for v in column):
        return _styler_html(shown, ids, marks, css_class)  # Styler's own number formatting
    out = [
        '<style type="text/css">\n</style>\n',
        f'<table id="T_{css_class}" class="{css_class}">\n  <thead>\n    <tr>\n',
    ]
    out.extend(
        f'      <th class="col_heading level0 col{j}" >{name}</th>\n' for j, name in enumerate(shown.columns)
    )
    out.append("    </tr>\n  </thead>\n  <tbody>\n")
    cells = [_escaped_column(column) for column in columns]
    for i, first in enumerate(cells[0]):
        extra = f" row-{marks[i]}" if marks[i] else ""
        if ids[i] is not None:
            anchor = _escaped(ids[i])
            first = f'<a id="{anchor}" href="#{anchor}">{first}</a>'
        out.append(f'    <tr>\n      <td class="data row{i} col0{extra}" >{first}</td>\n')
        out.extend(
            f'      <td class="data row{i} col{j}{extra}" >{column[i]}</td>\n'
            for j, column in enumerate(cells[1:], 1)
        )
        out.append("    </tr>\n")
    out.append("  </tbody>\n</table>\n")
    return Markup("".join(out))


# what markupsafe.escape replaces in a str, and with what: one str.translate per cell, no Markup
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def _escaped(value: Any) -> str:
    """``str(markupsafe.escape(value))``: a plain str by translation, anything else by markupsafe."""
    return value.translate(_ESCAPES) if type(value) is str else str(escape(value))


def _escaped_column(values: list[Any]) -> list[str]:
    """``_escaped`` of each value; a column of plain text with nothing to escape (most of them:
    numbers, names, states) is found so by one search over the whole column."""
    if all(type(v) is str for v in values):
        joined = "".join(values)
        if not any(c in joined for c in "&<>'\""):
            return values
    return [_escaped(v) for v in values]


def _styler_html(shown: pd.DataFrame, ids: list[str | None], marks: list[str], css_class: str) -> Markup:
    """``html`` through pandas Styler (cells that are not text: Styler formats those itself)."""
    first = shown.columns[0]

    def cell(value: str, row: int) -> str:
        if ids[row] is None:
            return str(escape(value))
        return str(Markup('<a id="{0}" href="#{0}">{1}</a>').format(ids[row], value))

    # the first column carries the row anchor; Styler formats by value, so pair value and row
    keyed = shown.copy()
    keyed[first] = list(zip(shown[first], range(len(shown)), strict=True))
    classes = pd.DataFrame(
        [[f"row-{m}" if m else ""] * len(shown.columns) for m in marks],
        index=keyed.index,
        columns=keyed.columns,
    )
    styler = (
        Styler(keyed, cell_ids=False, uuid=css_class)
        .hide(axis="index")
        .format(escape="html")
        .format(lambda pair: cell(*pair), subset=[first])
        .set_td_classes(classes)
        .set_table_attributes(f'class="{css_class}"')
    )
    return Markup(styler.to_html())


def markdown(df: pd.DataFrame, spec: TableSpec) -> tuple[list[str], list[list[str]]]:
    """Headers and rows for the Markdown template (pipes escaped; anchors as inline HTML)."""
    shown = display(df, spec)
    ids = anchors(df, spec)
    rows = []
    for i, values in enumerate(shown.itertuples(index=False)):
        cells = [str(v).replace("|", "\\|").replace("\n", " ") for v in values]
        if ids[i] is not None and cells:
            cells[0] = f'<a id="{ids[i]}"></a>{cells[0]}'
        rows.append(cells)
    return list(shown.columns), rows
