"""``ghrm memparcels`` and ``ghrm irqs``: the ledgers on a terminal.

Both are ordinary table commands (declared in ``dissector.analysis.tables``): they take every
option of the others and open the captures as a ``Trace`` the same way (``analysis.cli``), take
its ledger and print it: aligned text for a person (handles, VMIDs and sizes in hex, sizes also
in MiB, frames as Wireshark numbers), or ``--format csv|json`` with every column of the table
for scripts (numbers stay numbers there). ``--vmid`` keeps the parcels or IRQs a VM owns,
borrows or accepted, ``--client`` those a client lent; ``--start``/``--end`` (seconds since the
capture start) keep the rows alive in that window. The ledger findings appear in
``ghrm findings`` (wired by the Trace).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import pandas as pd

from dissector.analysis.cli import _run as run_on_trace
from dissector.analysis.output import render, write_empty, write_machine
from dissector.errors import EXIT_INPUT, EXIT_OK

from .checks import human

WIDTH = 150  # the ledgers are wide tables; the last column wraps beyond this (or the terminal's width)


def _width(out: TextIO) -> int:
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return max(shutil.get_terminal_size((WIDTH, 24)).columns, 60)
    return WIDTH


def register(subparsers: Any) -> None:
    """Add ``memparcels`` and ``irqs`` to ``subparsers`` (as the table registry declares them)."""
    from dissector.cli import register as add

    add(subparsers, "memparcels", "irqs")


# --- input ------------------------------------------------------------------------------------
def _run(args: argparse.Namespace, out: TextIO, err: TextIO, body: Callable[[Any], int]) -> int:
    """Open the captures as every table command does, and run ``body`` on the trace."""

    def checked(trace: Any) -> int:
        # problems first: most captures have none; and no message means no row in any column
        # (the messages table, a million rows at 1M, is not built for this)
        if not trace.problems.empty and not any(len(c) for c in trace._base.columns):
            err.write("ghrm: nothing could be decoded\n")
            return EXIT_INPUT
        return body(trace)

    return run_on_trace(args, out, err, checked)  # collector paused there, as for every Trace command


def _empty(args: argparse.Namespace, what: str, out: TextIO, err: TextIO, columns: list[str]) -> int:
    where = [" about VM " + ",".join(f"{v:#x}" for v in args.vmid)] if args.vmid else []
    if args.client:
        where.append(" lent by client " + ",".join(f"{v:#x}" for v in args.client))
    if args.start is not None or args.end is not None:
        lo = "start" if args.start is None else f"{args.start:g} s"
        hi = "end" if args.end is None else f"{args.end:g} s"
        where.append(f" alive from {lo} to {hi}")
    return write_empty(f"no {what}{''.join(where) or ' in this capture'}", args.format, out, err, columns)


# --- formatting -------------------------------------------------------------------------------
def _na(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _hex(v: Any) -> str:
    return "-" if _na(v) else f"{int(v):#x}"


def _int(v: Any) -> str:
    return "-" if _na(v) else str(int(v))


def _str(v: Any) -> str:
    return "-" if _na(v) else str(v)


def _list(frames: Sequence[int]) -> str:
    return ",".join(str(f) for f in frames) or "-"


def _handle(v: Any, instance: int) -> str:
    return _hex(v) + (f"#{instance}" if instance > 1 else "")


def _size(v: Any) -> str:
    return "-" if _na(v) else f"{int(v):#x} ({human(int(v))})"


def _ipas(pairs: Sequence[tuple[int, int | None]]) -> str:
    return " ".join(f"{v:#x}" + ("" if ipa is None else f"@{ipa:#x}") for v, ipa in pairs) or "-"


def _prefix(table: pd.DataFrame) -> list[list[str]]:
    """A capture column when several files were given."""
    many = table["capture"].nunique() > 1
    return [[str(c)] if many else [] for c in table["capture"].astype(object)]


# --- the commands -----------------------------------------------------------------------------
def cmd_memparcels(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm memparcels``: one line per parcel."""

    def body(trace: Any) -> int:
        table = trace.table("memparcels", vmid=args.vmid, client=args.client)
        if table.empty:
            return _empty(args, "memory parcels", out, err, list(table.columns))
        if args.format != "text":
            write_machine(table, args.format, out)
            return EXIT_OK
        lead = _prefix(table)
        columns = [
            "handle",
            "owner",
            "type",
            "size",
            "sgl",
            "acl",
            "created",
            "accepted vm[@ipa]",
            "reclaimed",
        ]
        header = [*(["capture"] if lead[0] else []), *columns, "state", "holds"]
        rows = [
            [
                *pre, _handle(r.handle, r.instance), _hex(r.owner_vmid), _str(r.trans_type), _size(r.size),
                str(r.sgl_entries), r.acl_text or "-", _int(r.created_frame), _ipas(r.accept_ipas),
                _int(r.reclaimed_frame), str(r.state), r.used_by or "-",
            ]
            for pre, r in zip(lead, table.itertuples(index=False), strict=True)
        ]  # fmt: skip
        n = len(lead[0])
        out.write(f"Memory parcels: {len(table)} ({', '.join(_counts(table['state']))})\n")
        out.write(render(rows, header, {n + 4, n + 6, n + 8}, _width(out)))
        return EXIT_OK

    return _run(args, out, err, body)


def cmd_irqs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ghrm irqs``: one line per lent IRQ."""

    def body(trace: Any) -> int:
        table = trace.table("irqs", vmid=args.vmid, client=args.client)
        if table.empty:
            return _empty(args, "lent IRQs", out, err, list(table.columns))
        if args.format != "text":
            write_machine(table, args.format, out)
            return EXIT_OK
        lead = _prefix(table)
        columns = [
            "handle",
            "owner",
            "virq",
            "label",
            "borrower",
            "lent",
            "accepted",
            "guest virq",
            "released",
        ]
        header = [*(["capture"] if lead[0] else []), *columns, "reclaimed", "state"]
        rows = [
            [
                *pre, _handle(r.handle, r.instance), _hex(r.owner_vmid), _int(r.virq), _hex(r.label),
                _hex(r.vmid), _int(r.lent_frame), _list(r.accept_frames), _int(r.accepted_virq),
                _list(r.release_frames), _int(r.reclaimed_frame), str(r.state),
            ]
            for pre, r in zip(lead, table.itertuples(index=False), strict=True)
        ]  # fmt: skip
        n = len(lead[0])
        out.write(f"Lent IRQs: {len(table)} ({', '.join(_counts(table['state']))})\n")
        out.write(render(rows, header, {n + 2, n + 5, n + 7, n + 9}, _width(out)))
        return EXIT_OK

    return _run(args, out, err, body)


def _counts(states: pd.Series) -> list[str]:
    counts = states.value_counts(sort=False)
    return [f"{int(n)} {s}" for s, n in counts.items() if n]
