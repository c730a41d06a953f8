"""``ghrm diff`` output: the same comparison as text, HTML, Markdown or JSON.

The tables come from ``diff.Diff``; the formatting (ms, percent, p-values) from ``tables``.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import pandas as pd

from . import tables
from .compare import Diff, p_text
from .render import _finite, _version, environment


def _pct(x: Any) -> str:
    return "" if tables._blank(x) else f"{float(x):+.1f} %"


def _p(x: Any) -> str:
    return "" if tables._blank(x) else p_text(float(x))


def _r(x: Any) -> str:
    return "" if tables._blank(x) else f"{float(x):+.2f}"


def _rate(x: Any) -> str:
    return "" if tables._blank(x) else f"{float(x) * 100:.1f} %"


CALLS = tables.TableSpec(
    (
        tables.Col("name", "call"),
        tables.Col("n_base", "n base", tables.integer),
        tables.Col("n_new", "n new", tables.integer),
        tables.Col("p50_base", "p50 base (ms)", tables.ms),
        tables.Col("p50_new", "p50 new (ms)", tables.ms),
        tables.Col("p50_change_pct", "p50 change", _pct),
        tables.Col("p90_base", "p90 base (ms)", tables.ms),
        tables.Col("p90_new", "p90 new (ms)", tables.ms),
        tables.Col("p90_change_pct", "p90 change", _pct),
        tables.Col("p99_base", "p99 base (ms)", tables.ms),
        tables.Col("p99_new", "p99 new (ms)", tables.ms),
        tables.Col("p99_change_pct", "p99 change", _pct),
        tables.Col("p_adj", "p (Holm)", _p),
        tables.Col("effect_r", "effect r", _r),
    ),
    status="mark",
)
ERRORS = tables.TableSpec(
    (
        tables.Col("name", "call"),
        tables.Col("failed_base", "failed base", tables.integer),
        tables.Col("calls_base", "calls base", tables.integer),
        tables.Col("rate_base", "rate base", _rate),
        tables.Col("failed_new", "failed new", tables.integer),
        tables.Col("calls_new", "calls new", tables.integer),
        tables.Col("rate_new", "rate new", _rate),
        tables.Col("p_adj", "p (Fisher, Holm)", _p),
    ),
    status="mark",
)
BOOTS = tables.TableSpec(
    (
        tables.Col("vmid", "VM", tables.vmid),
        tables.Col("instance", "inst.", tables.integer),
        tables.Col("boot_base", "boot base (ms)", tables.ms),
        tables.Col("boot_new", "boot new (ms)", tables.ms),
        tables.Col("change_pct", "change", _pct),
    )
)


def _marked(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    if "significant" in out.columns:
        worse = out["effect_r"] > 0 if "effect_r" in out.columns else out["rate_new"] > out["rate_base"]
        out["mark"] = [
            "" if not s else ("worse" if w else "better")
            for s, w in zip(out["significant"], worse, strict=True)
        ]
    return out


def _headline(d: Diff) -> list[str]:
    return d.lines or [f"no significant change (Holm-corrected alpha {d.alpha:g})"]


def _headline_marks(d: Diff) -> list[tuple[str, str]]:
    return d.changes or [(_headline(d)[0], "clean")]


def diff_text(d: Diff) -> str:
    """Aligned text for a terminal: the headline sentences, then the three tables."""
    parts = [f"base: {d.base_name}", f"new:  {d.new_name}", "", *_headline(d), ""]
    for title, df, spec in (
        ("Latency per call", d.calls, CALLS),
        ("Failed calls (error replies + unanswered)", d.errors, ERRORS),
        ("Boot latency per VM", d.boots, BOOTS),
    ):
        shown = tables.display(df, spec)
        parts.append(f"{title}:")
        parts.append(shown.to_string(index=False) if not shown.empty else "  (none)")
        parts.append("")
    parts.append("All boots: " + d.boot_test["summary"])
    return "\n".join(parts)


def diff_numbers(d: Diff) -> dict[str, Any]:
    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(df.to_json(orient="records"))

    return _finite(
        {
            "base": d.base_name,
            "new": d.new_name,
            "alpha": d.alpha,
            "changes": d.lines,
            "calls": records(d.calls),
            "errors": records(d.errors),
            "boots": records(d.boots),
            "boot_test": d.boot_test,
        }
    )


def render_diff(d: Diff, fmt: str) -> str:
    """The diff in ``text``, ``html``, ``md`` or ``json``."""
    if fmt == "text":
        return diff_text(d)
    if fmt == "json":
        return json.dumps(diff_numbers(d), indent=1) + "\n"
    specs = {"calls": (d.calls, CALLS), "errors": (d.errors, ERRORS), "boots": (d.boots, BOOTS)}
    if fmt == "html":
        rendered: dict[str, Any] = {k: tables.html(_marked(df), s) for k, (df, s) in specs.items()}
        css = resources.files("dissector.report").joinpath("templates/report.css").read_text(encoding="utf-8")
        template = "diff.html.j2"
    elif fmt == "md":
        rendered = {}
        for k, (df, s) in specs.items():
            headers, rows = tables.markdown(_marked(df), s)
            rendered[k] = {"headers": headers, "rows": rows}
        css = ""
        template = "diff.md.j2"
    else:
        raise ValueError(f"diff format must be text, html, md or json, not {fmt!r}")
    return (
        environment()
        .get_template(template)
        .render(
            d=d,
            headline=_headline(d),
            marks=_headline_marks(d),
            tables=rendered,
            css=css,
            version=_version(),
            isnan=math.isnan,
        )
    )
