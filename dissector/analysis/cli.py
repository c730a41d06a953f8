"""``ghrm stats | transactions | lifecycle | errors | findings``: the analysis tables on a terminal.

Each command opens the captures as a ``Trace`` (fast path), selects rows by ``--vmid``,
``--client`` and a time window, and prints one table: aligned text for a person (times in
seconds since the capture start, i.e. the tables' ``t`` column; latencies in milliseconds,
VMIDs in hex; the last column wraps instead of the line), or ``--format csv|json`` for scripts
(the public ``Trace`` table: ``time`` as an ISO 8601 UTC time, other instants in seconds since
the capture start; VMIDs, ids, codes and handles stay plain integers, the hex of the text is
only presentation, so a script compares numbers). An empty result prints one line saying so
and exits 0 (``[]`` / a header line on stdout for json / csv, the sentence on stderr).

``--start`` / ``--end`` are seconds since the start of the input (its earliest capture's first
record), like Wireshark's relative time; ``start <= time < end``.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from dissector.boundary import report
from dissector.cli_options import vmid_list as vmid_list  # its old import path
from dissector.errors import EXIT_OK, GhrmError, UsageError

from . import tables
from .schema import SEVERITIES
from .text_table import WIDTH, render, write_empty

if TYPE_CHECKING:  # pandas is loaded with the tables; ``ghrm stats`` prints its text without it
    import pandas as pd


def write_machine(df: pd.DataFrame, fmt: str, out: TextIO) -> None:
    from .output import write_machine as write

    write(df, fmt, out)


def select(df: pd.DataFrame, **how: Any) -> pd.DataFrame:
    from .select import select as rows

    return rows(df, **how)


# --- argument parsing: the options are declared in dissector.cli_options, the commands in
# the table registry (dissector.analysis.tables) -----------------------------------------------
def register(subparsers: Any) -> None:
    """Add the analysis table commands to ``subparsers`` (as the registry declares them)."""
    from dissector.cli import register as add

    add(subparsers, *[c.name for c in tables.commands() if c.run and c.run.startswith(__name__ + ":")])


# --- running a command ------------------------------------------------------------------------
def _open(args: argparse.Namespace, err: TextIO) -> Any:
    from dissector.progress import read_with_progress  # a bar on a terminal, after 1 s
    from dissector.trace import open_trace

    trace = read_with_progress(
        err, args.files, lambda: open_trace(args.files, dialect=args.dialect, engine=args.engine)
    )
    for row in trace.problems.itertuples(index=False):
        err.write(f"ghrm: warning: {row.source}: {row.reason}\n")
    return trace


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, body: Callable[[Any], int]) -> int:
    """``body`` on the command line's ``Trace``, with the cyclic collector paused: the tables live
    until the command ends, and full collections walking them were 1.6 s CPU of ``ghrm findings``
    at 1M (0.28 s of ``lifecycle``, 0.11 s of ``transactions``)."""
    from dissector.gcpause import gc_paused

    try:
        with gc_paused():
            trace = _open(args, err)
            if args.start is not None or args.end is not None:
                trace = trace.window(args.start, args.end)
            return body(trace)
    except GhrmError as exc:
        return report(exc, err)
    except BrokenPipeError:
        return EXIT_OK


def _narrow(args: argparse.Namespace, err: TextIO, attempt: Callable[[Any], int | None]) -> int | None:
    """``attempt`` on the narrow path (``analysis.calls``, no pandas for text) when the command
    line allows it: no VM or time selection, the columnar engine. None: the files need the
    ``Trace`` (not pcap, or nothing the narrow path reads), or the selection does."""
    if args.vmid or args.start is not None or args.end is not None or args.engine == "scapy":
        return None
    try:
        from . import calls

        return attempt(calls)
    except GhrmError as exc:
        return report(exc, err)
    except BrokenPipeError:
        return EXIT_OK


def _filters(args: argparse.Namespace) -> str:
    parts = []
    if args.vmid:
        parts.append("VM " + ",".join(f"{v:#x}" for v in args.vmid))
    if args.client:
        parts.append("client " + ",".join(f"{v:#x}" for v in args.client))
    if args.start is not None or args.end is not None:
        lo = "start" if args.start is None else f"{args.start:g} s"
        hi = "end" if args.end is None else f"{args.end:g} s"
        parts.append(f"{lo} to {hi}")
    return f" matching the filters ({'; '.join(parts)})" if parts else " in this capture"


def _empty(args: argparse.Namespace, what: str, out: TextIO, err: TextIO, columns: list[str]) -> int:
    return write_empty(f"no {what}{_filters(args)}", args.format, out, err, columns)


def _na(v: Any) -> bool:
    """None or pandas' ``NA`` (told by its type's name: pandas need not be loaded to print)."""
    return v is None or type(v).__name__ == "NAType"


def _rel(t: Any) -> str:
    """Seconds since the capture start (a ``t`` or other instant column of a public table)."""
    if _na(t) or (isinstance(t, float) and math.isnan(t)):
        return "-"
    return f"{t:.6f}"


def _ms(t: Any) -> str:
    if _na(t) or (isinstance(t, float) and math.isnan(t)):
        return "-"
    return f"{t * 1e3:.3f}"


def _hex(v: Any) -> str:
    return "-" if _na(v) else f"{int(v):#x}"


def _text(v: Any) -> str:
    return "-" if _na(v) or (isinstance(v, float) and math.isnan(v)) else str(v)


def _frames(frames: Sequence[int], limit: int = 4) -> str:
    shown = ",".join(str(f) for f in frames[:limit])
    return shown + (f",+{len(frames) - limit}" if len(frames) > limit else "")


def _width(out: TextIO) -> int:
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return max(shutil.get_terminal_size((WIDTH, 24)).columns, 60)
    return WIDTH


# --- the commands -----------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm stats``: the SRT table (pcap files without a VM or time selection: the narrow
    path, ``analysis.calls``, and the text printed from its arrays; else through the ``Trace``)."""

    def narrow(calls: Any) -> int | None:
        if args.format != "text":
            table = calls.srt_table(args.files, args.dialect, client=args.client)
            return None if table is None else _show_srt(args, table, out, err)
        srt = calls.srt_of_files(args.files, args.dialect, client=args.client)
        if srt is None:
            return None
        if srt.rows is None:
            return _empty(args, "requests", out, err, [])
        return _srt_text(args, _srt_parts(srt), out)

    done = _narrow(args, err, narrow)
    if done is not None:
        return done

    def body(trace: Any) -> int:
        table = trace.df_srt(vmid=args.vmid, client=args.client) if (args.vmid or args.client) else trace.srt
        return _show_srt(args, table, out, err)

    return _run(args, out, err, body)


_SRT_SHOWN = (
    "name",
    "msg_id",
    "calls",
    "errors",
    "unanswered",
    "min",
    "mean",
    "p50",
    "p90",
    "p99",
    "max",
    "sum",
)


def _show_srt(args: argparse.Namespace, table: pd.DataFrame, out: TextIO, err: TextIO) -> int:
    if table.empty:
        return _empty(args, "requests", out, err, list(table.columns))
    if args.format != "text":
        write_machine(table, args.format, out)
        return EXIT_OK
    parts = [
        (
            str(capture),
            list(zip(*(part[c].tolist() for c in _SRT_SHOWN), strict=True)),
            part["sum"].to_numpy(),
        )
        for capture, part in table.groupby("capture", observed=True, sort=False)
    ]
    return _srt_text(args, parts, out)


def _srt_parts(srt: Any) -> list[tuple[str, list[tuple], np.ndarray]]:
    """``calls.Srt`` as ``_srt_text`` takes it: per capture with calls, its label and rows."""
    rows = srt.rows
    codes = sorted(set(rows.capture.tolist()))
    labels = srt.captures
    if len(codes) > 1:
        from .timebase import capture_labels  # only when the names are printed

        shown = capture_labels(srt.captures)
        labels = [shown[c] for c in srt.captures]
    columns = [srt.names, rows.msg_id, rows.calls, rows.errors, rows.unanswered, *rows.stats.T]
    out = []
    for code in codes:
        mine = np.flatnonzero(rows.capture == code)
        out.append((labels[code], [tuple(c[i] for c in columns) for i in mine.tolist()], rows.stats[mine, 6]))
    return out


def _srt_text(args: argparse.Namespace, parts: list[tuple[str, list[tuple], np.ndarray]], out: TextIO) -> int:
    """The SRT as text: per capture (its label, rows of ``_SRT_SHOWN``, the ``sum`` column)."""
    header = ["call", "id", "calls", "errors", "unans", "min", "mean", "p50", "p90", "p99", "max", "sum(s)"]
    scope = _filters(args).replace(" in this capture", "")
    out.write(f"Gunyah RM service response time{scope}, first replies only; times in ms\n")
    out.write("calls: requests sent, answered or not; errors: answered with an RM error; unans: no reply\n")
    for capture, part, sums in parts:
        if len(parts) > 1:
            out.write(f"\n{capture}\n")
        rows = [
            [
                str(name), f"{int(msg_id):#010x}", str(calls), str(errors), str(unanswered),
                _ms(lo), _ms(mean), _ms(p50), _ms(p90), _ms(p99), _ms(hi), f"{total:.6f}",
            ]
            for name, msg_id, calls, errors, unanswered, lo, mean, p50, p90, p99, hi, total in part
        ]  # fmt: skip
        totals = [str(int(sum(int(r[k]) for r in part))) for k in (2, 3, 4)]
        rows.append(["total", "", *totals, *[""] * 6, f"{np.sum(sums):.6f}"])
        out.write(render(rows, header, set(range(1, 12)), _width(out)))
    return EXIT_OK


def cmd_transactions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm transactions``: one line per call."""

    def body(trace: Any) -> int:
        table = select(trace.transactions, client=args.client, name=_names(trace, args.name))
        table = trace.for_vms(table, args.vmid) if args.vmid else table
        if args.status:
            bad = sorted(set(args.status) - set(table["status"].cat.categories))
            if bad:
                raise GhrmError(
                    f"unknown status {', '.join(bad)}; "
                    f"choose from {', '.join(table['status'].cat.categories)}"
                )
            table = table[table["status"].isin(args.status)].reset_index(drop=True)
        if table.empty:
            return _empty(args, "requests or replies", out, err, list(table.columns))
        if args.format != "text":
            write_machine(table, args.format, out)
            return EXIT_OK
        header = ["frame", "time", "client", "vm", "seq", "status", "latency(ms)", "error", "reply", "call"]
        rows = [
            [
                _text(r.request_frame), _rel(r.t), _hex(r.client_vmid), _hex(r.vm), _text(r.seq),
                str(r.status), _ms(r.latency), _text(r.err_name), _text(r.reply_frame), str(r.name),
            ]
            for r in table.itertuples(index=False)
        ]  # fmt: skip
        out.write(render(rows, header, {0, 1, 4, 6, 8}, _width(out)))
        return EXIT_OK

    return _run(args, out, err, body)


def _names(trace: Any, names: list[str] | None) -> list[str] | None:
    if not names:
        return None
    from dissector.protocol import registry

    try:
        return [registry.resolve_message(n, trace.dialect).name for n in names]
    except KeyError as exc:
        raise UsageError(f"--name: {exc.args[0] if exc.args else exc}") from None


def cmd_lifecycle(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm lifecycle``: per-VM summary, then each VM's state intervals."""

    def body(trace: Any) -> int:
        summary = select(trace.lifecycle_summary, vmid=args.vmid)
        intervals = select(trace.lifecycles, vmid=args.vmid)
        wanted = summary if args.summary else intervals
        if wanted.empty:
            return _empty(
                args,
                "VM lifecycle (no VM_ALLOCATE, lifecycle call, VM_STATUS or VM_EXITED)",
                out,
                err,
                list(wanted.columns),
            )
        if args.format != "text":
            write_machine(wanted, args.format, out)
            return EXIT_OK
        header = [
            "vmid",
            "inst",
            "allocated",
            "ready(ms)",
            "boot(ms)",
            "run(s)",
            "exit",
            "teardown(ms)",
            "final",
            "errors",
            "unans",
        ]
        rows = [
            [
                _hex(r.vmid), str(r.instance), _rel(r.allocated_at), _ms(r.time_to_ready),
                _ms(r.boot_latency),
                _text(None if math.isnan(r.run_time) else f"{r.run_time:.6f}"), _text(r.exit_type),
                _ms(r.teardown_time), _text(r.final_state), str(r.errors), str(r.unanswered),
            ]
            for r in summary.itertuples(index=False)
        ]  # fmt: skip
        width = _width(out)
        out.write("VM lifecycles (times in s since the capture start; durations as labelled)\n")
        out.write(render(rows, header, {1, 2, 3, 4, 5, 7, 9, 10}, width))
        failed = [(r.vmid, r.instance, _failed(r)) for r in summary.itertuples(index=False) if _failed(r)]
        if failed:
            out.write("\nWhat failed\n")
            lines = [[_hex(v), str(i), text] for v, i, text in failed]
            out.write(render(lines, ["vmid", "inst", "calls"], {1}, width))
        for (vmid, instance), g in _by_instance(intervals):
            out.write(f"\nVM {vmid:#x} instance {instance}\n")
            rows = [
                [
                    str(state), _rel(start), _rel(end) + ("+" if ongoing else ""),
                    f"{duration * 1e3:.3f}", str(frame), str(cause),
                ]
                for state, start, end, ongoing, duration, frame, cause in g
            ]  # fmt: skip
            out.write(
                render(rows, ["state", "start", "end", "duration(ms)", "frame", "cause"], {1, 2, 3, 4}, width)
            )
        return EXIT_OK

    return _run(args, out, err, body)


def _by_instance(intervals: pd.DataFrame) -> list[tuple[tuple[int, int], list[tuple]]]:
    """The state intervals of each VM instance, in (vmid, instance) order and capture order within
    one, as ``groupby(["vmid", "instance"])`` gives them, from plain lists: a capture of thousands of
    VM instances makes thousands of groups, and a DataFrame per group costs a millisecond each."""
    known = intervals[intervals["vmid"].notna() & intervals["instance"].notna()]
    order = np.lexsort((known["instance"].to_numpy(np.int64), known["vmid"].to_numpy(np.int64)))
    known = known.iloc[order]
    keys = list(zip(known["vmid"].tolist(), known["instance"].tolist(), strict=True))
    shown = ("state", "start", "end", "ongoing", "duration", "cause_frame", "cause")
    rows = list(zip(*(known[c].tolist() for c in shown), strict=True))
    out: list[tuple[tuple[int, int], list[tuple]]] = []
    for key, row in zip(keys, rows, strict=True):
        if not out or out[-1][0] != key:
            out.append((key, []))
        out[-1][1].append(row)
    return out


def _failed(r: Any) -> str:
    """The summary's last column: why a VM never ran, then the calls that failed."""
    parts = []
    first = _text(r.first_failure)
    if first != "-":
        parts.append(f"never RUNNING; first failed call: {first}")
    calls = _text(r.error_calls)
    if calls != "-" and calls.replace(":", " ") != first.rsplit(" (frame", 1)[0]:
        parts.append(f"error replies: {calls}")
    if r.unanswered and _text(r.first_failure) == "-":
        parts.append(f"{r.unanswered} call(s) unanswered")
    return "; ".join(parts)


def cmd_errors(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm errors``: error replies per call and code (pcap files without a VM or time
    selection: the narrow path, ``analysis.calls``, and the text printed from its arrays
    without pandas; anything else through the ``Trace``)."""

    def narrow(calls: Any) -> int | None:
        if args.format != "text":
            table = calls.errors_table(args.files, args.dialect, client=args.client)
            return None if table is None else _show_errors(args, table, out, err)
        rows = calls.error_rows(args.files, args.dialect, client=args.client)
        if rows is None:
            return None
        if not rows:
            return _empty(args, "error replies", out, err, [])
        return _errors_text(rows, out)

    done = _narrow(args, err, narrow)
    if done is not None:
        return done

    def body(trace: Any) -> int:
        return _show_errors(args, trace.df_errors(vmid=args.vmid, client=args.client), out, err)

    return _run(args, out, err, body)


def _show_errors(args: argparse.Namespace, table: pd.DataFrame, out: TextIO, err: TextIO) -> int:
    if table.empty:
        return _empty(args, "error replies", out, err, list(table.columns))
    if args.format != "text":
        write_machine(table, args.format, out)
        return EXIT_OK
    return _errors_text(list(table.itertuples(index=False)), out)


def _errors_text(rows: Sequence[Any], out: TextIO) -> int:
    """The errors table as text, from its rows (``Trace.errors`` tuples or ``calls.ErrorRow``)."""
    header = ["call", "error", "code", "errno", "count", "first", "last", "vmids", "frames"]
    cells = [
        [
            str(r.name), str(r.err_name), f"{int(r.err_code):#x}", str(r.errno), str(r.count),
            _rel(r.first), _rel(r.last), ",".join(f"{v:#x}" for v in r.vmids[:4]) or "-",
            _frames(r.frames, 6),
        ]
        for r in rows
    ]  # fmt: skip
    out.write(render(cells, header, {2, 4, 5, 6}, _width(out)))
    return EXIT_OK


def cmd_findings(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm findings``: expert info, most severe first."""

    def body(trace: Any) -> int:
        from dissector.trace import LEDGER_BRANCH

        trace.build_beside(*LEDGER_BRANCH)  # on a second core, while this one builds the rest
        table = trace.findings
        if args.vmid:
            table = trace.for_vms(table, args.vmid)
        keep = SEVERITIES[: SEVERITIES.index(args.severity) + 1]
        table = table[table["severity"].isin(keep)].reset_index(drop=True)
        if table.empty:
            return _empty(args, "findings", out, err, list(table.columns))
        if args.format != "text":
            write_machine(table, args.format, out)
            return EXIT_OK
        counts = table["severity"].value_counts()
        out.write(
            "Findings: "
            + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in SEVERITIES if counts.get(s, 0))
            + "\n"
        )
        header = ["severity", "code", "vmid", "time", "frames", "text"]
        rows = [
            [
                str(r.severity),
                str(r.code),
                _hex(r.vmid),
                _rel(r.t),
                _frames(r.frames) or "-",
                str(r.text),
            ]
            for r in table.itertuples(index=False)
        ]
        out.write(render(rows, header, {3}, _width(out)))
        return EXIT_OK

    return _run(args, out, err, body)
