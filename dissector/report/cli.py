"""``ghrm report | diff | export``: thin wrappers over ``dissector.report``.

Each reads its captures as a Trace (a progress bar on stderr if that takes more than a second on
a terminal), calls one library function and says on stderr what it wrote.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any, TextIO

from dissector.boundary import report
from dissector.cli_options import dialect, inputs
from dissector.errors import EXIT_OK, GhrmError, UsageError
from dissector.progress import Progress, reading_label

REPORT_SUFFIX = {"html": ".html", "md": ".md", "json": ".json"}


def register(subparsers: Any) -> None:
    """Add ``report``, ``diff`` and ``export`` to ``subparsers`` (as declared in ``dissector.cli``)."""
    from dissector.cli import register as add

    add(subparsers, "report", "diff", "export")


def report_options(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write a report of one or more captures: a verdict first, then summary, VMs, "
        "latency, slow windows, errors, findings and the memory/IRQ ledgers."
    )
    inputs(p, help="captures or kernel logs")
    p.add_argument("-o", "--output", help="file to write (default report.html / .md / .json)")
    p.add_argument("--format", choices=tuple(REPORT_SUFFIX), default="html", help="default html")
    p.add_argument("--title", help="page title (default: the capture names)")
    dialect(p)


def diff_options(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Compare NEW against BASE: per-call latency percentiles with a Mann-Whitney U "
        "test and effect size, failed-call rates with Fisher's exact test (Holm-corrected), and "
        "boot latency per VM."
    )
    p.add_argument("base", help="the reference capture")
    p.add_argument("new", help="the capture to judge")
    p.add_argument("--format", choices=("text", "html", "md", "json"), default="text", help="default text")
    p.add_argument("-o", "--output", help="file to write (default stdout)")
    p.add_argument("--alpha", type=float, default=0.01, help="significance level after correction (0.01)")
    dialect(p)


def export_options(p: argparse.ArgumentParser) -> None:
    p.description = (
        "--to perfetto writes the Chrome JSON trace event format (open it in "
        "ui.perfetto.dev); --to csv|parquet|json writes one Trace table (--table)."
    )
    inputs(p, help="captures or kernel logs")
    p.add_argument(
        "--to",
        required=True,
        choices=("perfetto", "csv", "parquet", "json"),
        help="perfetto: Chrome JSON trace (VM lifecycles, calls); csv/parquet/json: the --table",
    )
    p.add_argument("--table", help="table to write for csv/parquet/json (messages, transactions, ...)")
    p.add_argument("-o", "--output", required=True, help="file to write")
    dialect(p)


def _open(paths: Sequence[str], dialect: str, err: TextIO, progress: Progress) -> Any:
    from dissector.trace import open_trace

    progress.step(reading_label(paths))
    for path in paths:
        if path != "-" and not os.path.exists(path):
            raise GhrmError(f"{path}: no such file")
    trace = open_trace(list(paths), dialect=dialect)
    for row in trace.problems.itertuples(index=False):
        err.write(f"ghrm: warning: {row.source}: {row.reason}\n")
    return trace


def _writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GhrmError(f"cannot write {path}: no directory {folder}")


def _run(err: TextIO, body: Any) -> int:
    """``body()``, or one line on stderr and the README's exit status (2 for a bad command line)."""
    try:
        return body()
    except (GhrmError, OSError) as exc:
        return report(exc, err)


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .render import build_report

    def body() -> int:
        path = args.output or "report" + REPORT_SUFFIX[args.format]
        _writable(path)
        with Progress(err, total=2 if args.format == "json" else 4) as progress:  # steps below
            trace = _open(args.files, args.dialect, err, progress)
            build_report(trace, path, args.format, title=args.title, step=progress.step)
        err.write(f"ghrm: wrote {path}\n")
        return EXIT_OK

    return _run(err, body)


def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .compare import diff
    from .diff_render import render_diff

    def body() -> int:
        if not 0 < args.alpha < 1:
            raise UsageError(f"--alpha must be between 0 and 1, not {args.alpha}")
        if args.output:
            _writable(args.output)
        with Progress(err, total=3) as progress:
            base = _open([args.base], args.dialect, err, progress)
            new = _open([args.new], args.dialect, err, progress)
            progress.step("comparing")
            text = render_diff(diff(base, new, alpha=args.alpha), args.format)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
            err.write(f"ghrm: wrote {args.output}\n")
        else:
            out.write(text)
        return EXIT_OK

    return _run(err, body)


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .export import export_table, table_names
    from .perfetto import write_perfetto

    def body() -> int:
        if args.to != "perfetto" and not args.table:
            raise UsageError(f"--to {args.to} needs --table NAME (one of {', '.join(table_names())})")
        _writable(args.output)
        with Progress(err, total=2) as progress:
            trace = _open(args.files, args.dialect, err, progress)
            progress.step("writing")
            if args.to == "perfetto":
                n = write_perfetto(trace, args.output)
                what = f"{n} trace events"
            else:
                n = export_table(trace, args.table, args.output, args.to)
                what = f"{n} row(s) of {args.table}"
        err.write(f"ghrm: wrote {what} to {args.output}\n")
        return EXIT_OK

    return _run(err, body)
