"""``build_report``: a Trace as one self-contained HTML page, Markdown with PNGs, or JSON numbers.

Why Jinja2 templates and pandas Styler: the page is data poured into a fixed layout; templates
(package data beside this module) keep the layout readable and escape every value, Styler turns
DataFrames into tables. The HTML has no script and no external reference: its Content Security
Policy forbids any fetch, and pictures are inline SVG or PNG data URIs (``figures``: which and
why), so it opens from a file:// URL.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dissector.trace import LEDGER_BRANCH

from . import figures, json_text, tables, timebase
from .content import ReportContent, build_content

Fmt = Literal["html", "md", "json"]
FORMATS = ("html", "md", "json")
Step = Callable[[str], None]


def _version() -> str:
    try:
        return metadata.version("ghrm")
    except metadata.PackageNotFoundError:
        return "dev"


def environment() -> Environment:
    """The Jinja2 environment of the report templates (HTML autoescaped, Markdown not)."""
    return Environment(
        loader=PackageLoader("dissector.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def _summary_items(s: dict[str, Any]) -> list[dict[str, Any]]:
    span = "n/a" if s["span_s"] is None else f"{s['span_s']:.3f} s"
    sev = s["findings"]
    return [
        {"label": "capture span", "value": span, "bad": False},
        {"label": "clients (queue pairs)", "value": len(s["clients"]), "bad": False},
        {"label": "VMs (instances)", "value": f"{len(s['vms'])} ({s['vm_instances']})", "bad": False},
        {"label": "messages", "value": s["messages"], "bad": False},
        {"label": "requests", "value": s["requests"], "bad": False},
        {"label": "error replies", "value": s["error_replies"], "bad": s["error_replies"] > 0},
        {"label": "unanswered requests", "value": s["unanswered"], "bad": s["unanswered"] > 0},
        {"label": "malformed messages", "value": s["malformed_messages"], "bad": s["malformed_messages"] > 0},
        {"label": "unreadable records", "value": s["unreadable_records"], "bad": s["unreadable_records"] > 0},
        {
            "label": "findings error / warning / note",
            "value": f"{sev['error']} / {sev['warning']} / {sev['note']}",
            "bad": sev["error"] + sev["warning"] > 0,
        },
    ]


def _srt(c: ReportContent) -> pd.DataFrame:
    """The SRT table with each call's row coloured when it has errors or unanswered calls."""
    srt = c.srt.copy()
    srt["verdict"] = [
        "errors" if e or u else "" for e, u in zip(srt["errors"], srt["unanswered"], strict=True)
    ]
    return srt


_TABLES: dict[str, tuple[str, tables.TableSpec]] = {
    "vms": ("vms", tables.VMS),
    "srt": ("srt", tables.SRT),
    "slow_windows": ("slow_windows", tables.SLOW_WINDOWS),
    "errors": ("errors", tables.ERRORS),
    "findings": ("findings", tables.FINDINGS),
    "memparcels": ("memparcels", tables.MEMPARCELS),
    "irqs": ("irqs", tables.IRQS),
}


def _frames(c: ReportContent) -> dict[str, pd.DataFrame]:
    data = {key: getattr(c, attr) for key, (attr, _) in _TABLES.items()}
    data["srt"] = _srt(c)
    return data


def picture_choice(c: ReportContent) -> tuple[dict[str, bool], list[int]]:
    """Which sections have pictures and which failed VMs get sequence diagrams (verdict order):
    the arguments of ``figures.picture_plan`` for this content."""
    failed = [int(line.subject.split()[1].split("#")[0], 16) for line in c.verdict if line.status == "failed"]
    has = {"vms": not c.vms.empty, "latency": not c.srt.empty, "errors": not c.errors.empty}
    return has, sorted(set(failed), key=failed.index)


def _figures(trace: Any, c: ReportContent, formats: tuple[str, ...]) -> dict[str, list[figures.Figure]]:
    return figures.section_figures(trace, *picture_choice(c), formats)


# CPU seconds of the page's tables (``tables.html``) on the 1M benchmark capture: made while a
# child draws its share of the pictures, which the share counts (``figures.Drawing``)
HTML_TABLES_COST = 0.15


def _html(trace: Any, c: ReportContent, step: Step) -> str:
    step("drawing pictures")
    drawing = figures.Drawing(trace, *picture_choice(c), ("web",), busy=HTML_TABLES_COST)
    html_tables = {key: tables.html(df, _TABLES[key][1]) for key, df in _frames(c).items()}
    figs = drawing.figures()
    step("writing HTML")
    css = resources.files("dissector.report").joinpath("templates/report.css").read_text(encoding="utf-8")
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            c=c,
            css=css,
            tables=html_tables,
            figures=figs,
            summary_items=_summary_items(c.summary),
            axis=timebase.AXIS_LABEL,
            version=_version(),
            timing_available=figures._plot_function("plot_latency_over_time") is not None,
        )
    )


def _markdown(trace: Any, c: ReportContent, path: Path, step: Step) -> str:
    step("drawing pictures")
    figs = _figures(trace, c, ("png",))
    assets = path.with_name(path.stem + "_files")
    for items in figs.values():
        for n, f in enumerate(items, 1):
            if f.png is not None:
                assets.mkdir(parents=True, exist_ok=True)
                target = assets / (f"{f.key}_{n}.png" if f.key == "sequence" else f"{f.key}.png")
                target.write_bytes(f.png)
                f.path = f"{assets.name}/{target.name}"
    step("writing Markdown")
    md_tables = {}
    for key, df in _frames(c).items():
        headers, rows = tables.markdown(df, _TABLES[key][1])
        md_tables[key] = {"headers": headers, "rows": rows}
    return (
        environment()
        .get_template("report.md.j2")
        .render(
            c=c,
            tables=md_tables,
            figures=figs,
            summary_items=_summary_items(c.summary),
            axis=timebase.AXIS_LABEL,
            version=_version(),
        )
    )


def _records(df: pd.DataFrame, drop: tuple[str, ...] = ("anchor",)) -> list[dict[str, Any]]:
    """A table as JSON-ready records: NaN/NA become null, tuples lists, categories strings."""
    df = df.drop(columns=[c for c in drop if c in df.columns])
    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="ns", default_handler=str))


def report_numbers(c: ReportContent) -> dict[str, Any]:
    """The report's numbers alone (the ``--format json`` document)."""
    return {
        "title": c.title,
        "captures": c.captures,
        "capture_start": None if c.start is None else c.start.isoformat(),
        "time_base": timebase.AXIS_LABEL,
        "summary": c.summary,
        "verdict": [asdict(line) for line in c.verdict],
        "vms": _records(c.vms),
        "srt": _records(c.srt),
        "slow_windows": _records(c.slow_windows),
        "errors": _records(c.errors),
        "findings": _records(c.findings),
        "memparcels": _records(c.memparcels),
        "irqs": _records(c.irqs),
    }


_finite = json_text.finite  # diff_render's name for it


def build_report(
    trace: Any,
    path: str | os.PathLike[str],
    fmt: Fmt = "html",
    *,
    title: str | None = None,
    step: Step | None = None,
) -> Path:
    """Write the report of ``trace`` to ``path`` as ``html`` (one self-contained file), ``md``
    (Markdown, PNGs in ``<stem>_files/`` beside it) or ``json`` (the numbers); returns the path.

    ``step`` is called with a short label before each stage (the CLI's progress bar uses it).
    """
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    step = step or (lambda _label: None)
    out = Path(path)
    with _old_objects_left_alone():
        step("analysing")
        if trace.build_beside(*LEDGER_BRANCH) and fmt != "json":  # on a second core, meanwhile:
            figures.load_matplotlib()
        c = build_content(trace, title)
        if fmt == "html":
            text = _html(trace, c, step)
        elif fmt == "md":
            text = _markdown(trace, c, out, step)
        else:
            text = json_text.dumps(report_numbers(c)) + "\n"  # json.dumps(indent=1)'s text, faster
    out.write_text(text, encoding="utf-8")
    return out


@contextmanager
def _old_objects_left_alone() -> Iterator[None]:
    """The cyclic garbage collector skips the objects that exist before the report (``gc.freeze``)
    while it runs: matplotlib allocates enough to trigger full collections, and each one walked
    every object of the trace's tables (~1 s of a 6 s report on the 100k capture). Nothing is
    frozen if the caller froze objects itself (unfreezing would thaw theirs too)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
