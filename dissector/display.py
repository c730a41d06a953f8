"""How ghrm tables and messages look in a notebook or an HTML report.

Why a module of its own: pandas shows a VMID as ``128`` and a message id as ``1442840580``, cuts
a finding's text at 50 characters, and a ``Trace`` or a message has no picture at all. Kernel
engineers read ids in hex (``0x80``, ``0x56000004``), times with their unit and severities at a
glance. Everything here only formats: the tables keep their numbers (a Styler formats cells, it
does not change the DataFrame), so the same helpers serve ``Trace._repr_html_``,
``DecodedMessage._repr_html_``, the notebooks and the HTML report.

``style(df)`` gives a pandas ``Styler`` for any ghrm table; ``trace_html(trace)`` the summary
card of a trace; ``message_html(msg)`` a message's field tree beside its hex dump.
"""

from __future__ import annotations

import html
import os
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from dissector.formatting import (  # noqa: F401  (re-exported: the formatters of every view)
    _CSS,
    NA,
    duration,
    hex_id,
    listing,
    milliseconds,
    p_value,
    percent,
    ranges,
    seconds,
    size,
    timestamp,
)
from dissector.message_view import hexdump_html, message_html  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from dissector.trace import Trace

# Columns that hold VMIDs, message ids, handles or error codes (one int, or a tuple of them).
HEX_COLUMNS = frozenset(
    {
        "vmid",
        "client_vmid",
        "owner_vmid",
        "accepted_by",
        "vmids",
        "borrowers",
        "shared_with",
        "released_by",
        "msg_id",
        "err_code",
        "handle",
    }
)
# Float columns that are durations in seconds (instants come from the schemas).
DURATION_COLUMNS = frozenset(
    {
        "latency",
        "duration",
        "time_to_ready",
        "boot_latency",
        "run_time",
        "teardown_time",
        "min",
        "mean",
        "p50",
        "p90",
        "p99",
        "max",
        "sum",
        "delay",
        "added",
    }
)
TEXT_COLUMNS = frozenset({"text", "malformed", "error_calls", "failed_calls", "exit_reason", "reason"})
SEVERITY_COLOURS = {  # background, text: Wireshark's expert info colours, softened
    "error": ("#f8d7da", "#842029"),
    "warning": ("#fff3cd", "#664d03"),
    "note": ("#cfe2ff", "#084298"),
    "chat": ("#e2e3e5", "#41464b"),
}


# --- tables -----------------------------------------------------------------------------------
@cache
def _instant_columns() -> frozenset[str]:
    """Names of columns in seconds since the capture start, from every public schema."""
    from dissector.analysis.tables import TABLES
    from dissector.analysis.timebase import public_schema

    return frozenset(c.name for t in TABLES for c in public_schema(t.schema).columns if c.instant)


def formatters(df: pd.DataFrame) -> dict[str, Any]:
    """Column -> formatting function for the columns of ``df`` that ghrm knows how to show
    (by name: the tables' declared columns, and the ``*_base``/``*_new``/``*_pct`` of a diff)."""
    out: dict[str, Any] = {}
    instants = _instant_columns()
    for name in df.columns:
        col = df[name]
        stem = str(name).rsplit("_", 1)[0] if str(name).endswith(("_base", "_new")) else None
        if name in HEX_COLUMNS:
            out[name] = hex_id
        elif name == "size":
            out[name] = size
        elif isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[name] = timestamp
        elif col.dtype == object:
            out[name] = listing  # tuples of frames, names, ...
        elif not pd.api.types.is_float_dtype(col.dtype):
            continue
        elif name in instants:
            out[name] = seconds
        elif str(name).endswith("_ms"):
            out[name] = milliseconds
        elif name in DURATION_COLUMNS or (stem is not None and (stem in DURATION_COLUMNS or stem == "boot")):
            out[name] = duration
        elif str(name).endswith("_pct"):
            out[name] = percent
        elif name in ("p_value", "p_adj"):
            out[name] = p_value
    return out


def severity_css(value: Any) -> str:
    colours = SEVERITY_COLOURS.get(str(value))
    return "" if colours is None else f"background-color: {colours[0]}; color: {colours[1]}; font-weight: 600"


def style(df: pd.DataFrame, *, rows: int | None = None, caption: str | None = None) -> Styler:
    """A Styler of any ghrm table: ids in hex, times with units, severities in colour, texts whole.

    ``rows`` shows only the first rows (a Styler renders every cell: keep big tables short).
    """
    shown = df if rows is None else df.head(rows)
    styler = shown.style.format(formatters(shown), na_rep=NA)
    if "severity" in shown:
        styler = styler.map(severity_css, subset=["severity"])
    texts = [c for c in shown.columns if c in TEXT_COLUMNS]
    if texts:  # never cut, wrapped in a readable width
        styler = styler.set_properties(
            subset=texts,
            **{"white-space": "pre-wrap !important", "text-align": "left !important", "min-width": "28em"},
        )
    styler = styler.set_table_styles(
        [
            {
                "selector": "td, th",
                "props": "padding: 2px 8px; font-size: 12px; text-align: right; white-space: nowrap",
            },
            {"selector": "th", "props": "background: #f6f8fa"},
        ]
    )
    if caption or (rows is not None and len(df) > rows):
        more = f" (first {rows} of {len(df)} rows)" if rows is not None and len(df) > rows else ""
        styler = styler.set_caption(html.escape((caption or "") + more))
    return styler.hide(axis="index")


# --- a Trace ----------------------------------------------------------------------------------
def _badge(text: str, severity: str | None = None) -> str:
    bg, fg = SEVERITY_COLOURS.get(severity or "", ("#eef1f4", "#24292f"))
    return (
        f'<span style="background: {bg}; color: {fg}; border-radius: 10px; padding: 1px 8px; '
        f'margin: 1px 2px; display: inline-block">{html.escape(text)}</span>'
    )


def _row(label: str, content: str) -> str:
    return (
        f'<tr><th style="text-align: left; vertical-align: top; padding: 2px 12px 2px 0; '
        f'font-weight: 600">{html.escape(label)}</th><td style="text-align: left">{content}</td></tr>'
    )


def _limited(items: list[str], limit: int = 40) -> str:
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return "".join(items[:limit]) + html.escape(more)


def trace_numbers(trace: Trace) -> dict[str, Any]:
    """The numbers of the summary card (tests and reports use them too)."""
    m = trace.messages
    types = m["type"].value_counts()
    errors = trace.errors  # error replies, garbage with a "reply" header excluded
    summary = trace.lifecycle_summary
    final = summary.sort_values(["vmid", "instance"]).groupby("vmid", observed=True).last()
    found = trace.findings["severity"].value_counts()
    clients = sorted(int(c) for c in m["client_vmid"].unique())
    return {
        "captures": list(trace.captures),
        "start": trace.start,
        "end": trace.end,
        "span": None if m["t"].isna().all() else (float(m["t"].min()), float(m["t"].max())),
        "messages": len(m),
        "requests": int(types.get("request", 0)),
        "replies": int(types.get("reply", 0)),
        "notifications": int(types.get("notification", 0)),
        "malformed": int(m["malformed"].notna().sum()),
        "clients": clients,
        "vms": {int(v): str(r["final_state"]) for v, r in final.iterrows()},
        "error_replies": int(errors["count"].sum()),
        "errors_by_call": errors.groupby(["name", "err_name"], observed=True)["count"].sum(),
        "findings": {s: int(found.get(s, 0)) for s in SEVERITY_COLOURS},
    }


TRY_NEXT = (
    ("findings", "what looks wrong, most severe first"),
    ("transactions", "requests paired with replies, latency, status"),
    ("lifecycle_summary", "one row per VM: boot, run, teardown"),
    ("messages", "one row per RM message"),
    ("srt", "service response time per call"),
    ("errors", "error replies per call and code"),
    ("slow_windows", "spans where RM answered far slower than usual"),
    ("memparcels", "memory parcels, lend to reclaim"),
    ("irqs", "lent IRQs"),
)


def _plot_names() -> list[str]:
    try:
        from dissector import plots
    except ImportError:  # a ghrm without dissector.plots
        return []
    return [n.removeprefix("plot_") for n in plots.__all__ if n.startswith("plot_")]


def trace_html(trace: Trace) -> str:
    """The summary card of a trace: span, clients, VMs and their final state, messages, error
    replies, findings by severity and the tables to look at next."""
    n = trace_numbers(trace)
    names = ", ".join(html.escape(os.path.basename(c) or c) for c in n["captures"])
    rows = [_row("captures", names or NA)]
    if n["start"] is not None:
        lo, hi = n["span"]
        window = " (a window of it)" if trace._start is not None or trace._end is not None else ""
        rows.append(
            _row(
                "span",
                f"{html.escape(timestamp(n['start']))} → {html.escape(timestamp(n['end']))}: "
                f"messages from {lo:.6f} s to {hi:.6f} s after the capture start{window}",
            )
        )
    else:
        rows.append(_row("span", "no timestamps"))
    rows.append(
        _row(
            "messages",
            f"{n['messages']}: {n['requests']} requests, {n['replies']} replies, "
            f"{n['notifications']} notifications"
            + (f", <b>{n['malformed']} malformed</b>" if n["malformed"] else ""),
        )
    )
    rows.append(
        _row("clients", _limited([_badge(hex_id(c) if c != 0xFFFF else "unknown") for c in n["clients"]]))
    )
    vms = [_badge(f"{hex_id(v)} {state}") for v, state in n["vms"].items()]
    rows.append(_row(f"VMs ({len(vms)}), final state", _limited(vms) or NA))
    by_call = n["errors_by_call"].sort_values(ascending=False)
    errs = [_badge(f"{name} {err} x{count}", "warning") for (name, err), count in by_call.items()]
    rows.append(_row(f"error replies ({n['error_replies']})", _limited(errs, 12) or "none"))
    found = [_badge(f"{count} {sev}", sev) for sev, count in n["findings"].items() if count]
    rows.append(_row("findings", "".join(found) or "none"))
    tables = [
        f"<code>trace.{name}</code> <span style='color: #57606a'>({len(getattr(trace, name))} rows) "
        f"{html.escape(doc)}</span>"
        for name, doc in TRY_NEXT
        if hasattr(type(trace), name)
    ]
    plots = _plot_names()
    if plots and hasattr(type(trace), "plot"):
        example = "lifecycle_timeline" if "lifecycle_timeline" in plots else plots[0]
        tables.append(
            f"<code>trace.plot.{example}()</code> "
            "<span style='color: #57606a'>pictures: "
            f"{html.escape(', '.join(plots))}</span>"
        )
    rows.append(_row("try next", "<br/>".join(tables)))
    title = f"ghrm Trace{' window' if trace._start is not None or trace._end is not None else ''}"
    return (
        f'<div style="{_CSS}"><div style="font-weight: 700; font-size: 15px; margin-bottom: 6px">'
        f'{html.escape(title)}</div><table style="border-collapse: collapse">{"".join(rows)}</table></div>'
    )
