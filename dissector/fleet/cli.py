"""``ghrm stats|errors|findings|lifecycle|report DIR_OR_GLOB... --fleet``: answers across a fleet.

Why a hook instead of new commands: a fleet asks the same questions as one capture, so the
analysis commands take ``--fleet`` (with ``--scheduler``, ``--workers``, ``--device-from``):
a command declared with ``fleet=True`` (``dissector.commands.Command``, the table registry) gets
``cli_options.fleet_options``, and its handler calls ``run_fleet`` here when ``--fleet`` is given.

Text output: the fleet answer per command (fleet SRT and devices; error rates and errors per
device; findings per device and code; boot latency per device). ``--format csv|json``: one
table (the fleet SRT, the errors per device, the findings rows with their device, the boot
latency per device). ``ghrm report --fleet -o fleet.html``: the fleet page (``fleet.report``).
Dask's progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, TextIO

import pandas as pd

from dissector.analysis.output import render, write_empty, write_machine
from dissector.analysis.schema import SEVERITIES
from dissector.errors import EXIT_OK

_SINGLE_ONLY = {"vmid": "--vmid", "client": "--client", "start": "--start", "end": "--end"}


def run_fleet(command: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Open the fleet, answer ``command``, stop the cluster."""
    from dissector.fleet import fleet as open_fleet

    unsupported = [flag for attr, flag in _SINGLE_ONLY.items() if getattr(args, attr, None) is not None]
    if unsupported:
        err.write(
            f"ghrm {command}: {unsupported[0]} selects within one capture; it does not apply to --fleet\n"
        )
        return 2
    if command == "report" and args.format != "html":
        err.write("ghrm report: --fleet writes an HTML page; leave out --format or use --format html\n")
        return 2
    tables = {
        "report": ("transactions", "findings", "lifecycle_summary", "lifecycles"),
        "stats": ("transactions", "findings", "lifecycle_summary"),
        "errors": ("transactions", "errors", "findings", "lifecycle_summary"),
        "findings": ("transactions", "findings", "lifecycle_summary"),
        "lifecycle": ("transactions", "findings", "lifecycle_summary"),
    }[command]
    isatty = getattr(err, "isatty", None)
    progress = err if callable(isatty) and isatty() else None
    with open_fleet(
        args.files,
        args.scheduler,
        workers=args.workers,
        device_from=args.device_from,
        tables=tables,
        dialect=args.dialect,
        engine=getattr(args, "engine", "auto"),
        progress=progress,
    ) as fl:
        return _COMMANDS[command](fl, args, out, err)


# --- the answers ------------------------------------------------------------------------------
def _stats(fl: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    srt = fl.fleet_srt()
    if srt.empty:
        return write_empty("no requests in this fleet", args.format, out, err, list(srt.columns))
    if args.format != "text":
        write_machine(srt, args.format, out)
        return EXIT_OK
    how = "exact percentiles" if srt.attrs.get("exact") else "approximate percentiles (Dask quantiles)"
    out.write(
        f"Gunyah RM service response time across {_scope(fl)}, first replies only; {how}; times in ms\n"
    )
    header = ["call", "id", "calls", "errors", "unans", "min", "mean", "p50", "p90", "p99", "max", "sum(s)"]
    rows = [
        [
            str(r.name), f"{int(r.msg_id):#010x}", str(r.calls), str(r.errors), str(r.unanswered),
            _ms(r.min), _ms(r.mean), _ms(r.p50), _ms(r.p90), _ms(r.p99), _ms(r.max), f"{r.sum:.6f}",
        ]
        for r in srt.itertuples(index=False)
    ]  # fmt: skip
    out.write(render(rows, header, set(range(1, 12))))
    out.write("\n")
    _devices(fl.devices(), out, "Devices (slowest median boot first)", "boot_p50")
    return EXIT_OK


def _errors(fl: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    (errors,) = fl.compute("errors")
    table = (
        errors.groupby(["device", "name", "msg_id", "err_code", "err_name", "errno"], observed=True)
        .agg(count=("count", "sum"), captures=("capture", "nunique"), first=("first", "min"))
        .reset_index()
        .sort_values(["device", "count", "name"], ascending=[True, False, True], kind="stable")
        .drop(columns="first")
        .reset_index(drop=True)
    )
    table["device"] = table["device"].astype(str)
    if args.format != "text":
        if table.empty:
            return write_empty("no error replies in this fleet", args.format, out, err, list(table.columns))
        write_machine(table, args.format, out)
        return EXIT_OK
    devices = fl.devices()
    _devices(devices, out, f"Error rates across {_scope(fl)} (highest first)", "error_rate")
    if table.empty:
        out.write("\nno error replies in this fleet\n")
        return EXIT_OK
    out.write("\nError replies per device\n")
    header = ["device", "call", "error", "code", "errno", "count", "captures"]
    rows = [
        [r.device, str(r.name), str(r.err_name), f"{int(r.err_code):#x}", str(r.errno), str(r.count),
         str(r.captures)]
        for r in table.itertuples(index=False)
    ]  # fmt: skip
    out.write(render(rows, header, {3, 5, 6}))
    return EXIT_OK


def _findings(fl: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    (findings,) = fl.compute("findings")
    keep = SEVERITIES[: SEVERITIES.index(args.severity) + 1]
    findings = findings[findings["severity"].isin(keep)].reset_index(drop=True)
    if findings.empty:
        return write_empty("no findings in this fleet", args.format, out, err, list(findings.columns))
    if args.format != "text":
        write_machine(findings, args.format, out)
        return EXIT_OK
    _devices(fl.devices(), out, f"Devices across {_scope(fl)}, most failures first", "failures")
    codes = (
        findings.groupby(["severity", "code"], observed=True)
        .agg(count=("count", "sum"), devices=("device", "nunique"), captures=("capture", "nunique"))
        .reset_index()
        .sort_values(["severity", "count"], ascending=[True, False], kind="stable")
    )
    out.write("\nFindings by kind\n")
    rows = [
        [str(r.severity), str(r.code), str(r.count), str(r.devices), str(r.captures)]
        for r in codes.itertuples(index=False)
    ]
    out.write(render(rows, ["severity", "code", "count", "devices", "captures"], {2, 3, 4}))
    return EXIT_OK


def _lifecycle(fl: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    boots = fl.boot_latency()
    if int(boots["vm_instances"].sum()) == 0:
        return write_empty("no VM lifecycle in this fleet", args.format, out, err, list(boots.columns))
    if args.format != "text":
        write_machine(boots, args.format, out)
        return EXIT_OK
    out.write(f"Boot latency (VM_ALLOCATE reply to RUNNING) per device across {_scope(fl)}; ms\n")
    boots = boots.sort_values(["p50", "device"], ascending=[False, True], na_position="last", kind="stable")
    rows = [
        [str(r.device), str(r.vm_instances), str(r.booted), _ms(r.min), _ms(r.mean), _ms(r.p50), _ms(r.p90),
         _ms(r.p99), _ms(r.max)]
        for r in boots.itertuples(index=False)
    ]  # fmt: skip
    header = ["device", "VMs", "booted", "min", "mean", "p50", "p90", "p99", "max"]
    out.write(render(rows, header, set(range(1, 9))))
    return EXIT_OK


def _report(fl: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .report import write_fleet_report

    path = write_fleet_report(fl, args.output or "fleet.html", args.title)
    err.write(f"ghrm: wrote {path}\n")
    return EXIT_OK


_COMMANDS: dict[str, Callable[[Any, argparse.Namespace, TextIO, TextIO], int]] = {
    "report": _report,
    "stats": _stats,
    "errors": _errors,
    "findings": _findings,
    "lifecycle": _lifecycle,
}


# --- shared pieces ----------------------------------------------------------------------------
def _devices(devices: pd.DataFrame, out: TextIO, title: str, by: str) -> None:
    from .aggregates import ranked

    out.write(title + "\n")
    header = ["device", "captures", "requests", "errors", "rate", "unans", "mean(ms)", "VMs", "boot p50(ms)",
              "boot max(ms)", "failures"]  # fmt: skip
    rows = [
        [r.device, str(r.captures), str(r.requests), str(r.errors), _pct(r.error_rate), str(r.unanswered),
         _ms(r.mean_latency), str(r.vm_instances), _ms(r.boot_p50), _ms(r.boot_max), str(r.failures)]
        for r in ranked(devices, by).itertuples(index=False)
    ]  # fmt: skip
    out.write(render(rows, header, set(range(1, 11))))


def _scope(fl: Any) -> str:
    captures, devices = len(fl.sources), len(fl.devices_list)
    return f"{captures} capture{'s' * (captures != 1)} from {devices} device{'s' * (devices != 1)}"


def _ms(t: Any) -> str:
    return "-" if t is None or t is pd.NA or math.isnan(t) else f"{t * 1e3:.3f}"


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 100:.2f}%"
