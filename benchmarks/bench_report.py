"""How long the report, diff and exports take, and the report's own part apart from the tables.

    python benchmarks/bench_report.py [VMS] [SECONDS]     # a simulated fleet, every step
    python benchmarks/bench_report.py --size 1M           # run.py's 1M capture: tables, then report

Fleet mode simulates a fleet (default 64 VM slots for 20 s of boots and reboots, about 45,000
records), then times each step on it: reading the tables, the HTML report (pictures included), the
JSON report, the Perfetto export, a Parquet export and a diff of the capture against itself.

Capture mode (``--size`` one of ``run.py``'s captures, or ``--capture FILE``) builds every table
the report reads first and times that apart, then times ``build_report`` alone (HTML with its
stages: analysing, drawing pictures, writing; and JSON), next to ``tshark -r F -q -z io,stat,0``
on the same file, so the report's own part reads as a ratio to the yardstick of ``run.py``; then
the CPU time of each picture alone (least of 3 draws).
Prints one line per step: seconds, and the output size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dissector
from dissector.report import build_report, diff, export_table, write_perfetto
from dissector.sim import simulate

TABLES = ("messages", "transactions", "lifecycle_summary", "findings", "memparcels", "irqs", "slow_windows")
# what build_report reads of a Trace: built before the report is timed
REPORT_TABLES = (*TABLES, "lifecycles", "srt", "errors", "problems")


def step(label: str, run: Callable[[], Any], path: str | None = None) -> float:
    t0 = time.perf_counter()
    run()
    took = time.perf_counter() - t0
    size = f", {os.path.getsize(path):,} B" if path else ""
    print(f"{label:<30} {took:7.2f} s{size}", flush=True)
    return took


def fleet(vms: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "fleet.pcapng")
        sim = simulate(vms=vms, seed=5, duration=seconds, output=capture, truth=False)
        print(f"capture: {sim.records} records, {sim.instances} VM instances, {os.path.getsize(capture):,} B")
        trace = dissector.open(capture)
        step("tables", lambda: [getattr(trace, t) for t in TABLES])
        for fmt in ("html", "json"):
            out = os.path.join(tmp, f"r.{fmt}")
            step(f"report --format {fmt}", lambda out=out, fmt=fmt: build_report(trace, out, fmt), out)
        out = os.path.join(tmp, "t.json")
        step("export --to perfetto", lambda: write_perfetto(trace, out), out)
        out = os.path.join(tmp, "tx.parquet")
        step("export transactions", lambda: export_table(trace, "transactions", out, "parquet"), out)
        step("diff (itself)", lambda: diff(trace, trace))


def capture(path: Path) -> None:
    """Tables first, then the report alone, next to tshark io,stat on the same file."""
    print(f"capture: {path} ({path.stat().st_size:,} B)", flush=True)
    yardstick = None
    if shutil.which("tshark"):
        argv = ["tshark", "-r", str(path), "-q", "-z", "io,stat,0"]
        yardstick = step("tshark io,stat", lambda: subprocess.run(argv, capture_output=True, check=True))
    trace = dissector.open(str(path))
    step("tables (built once)", lambda: [getattr(trace, t) for t in REPORT_TABLES])
    print(f"  {len(trace.messages):,} messages, {len(trace.lifecycle_summary):,} VM instances", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("html", "json"):
            out = os.path.join(tmp, f"r.{fmt}")
            stages: list[tuple[str, float]] = []

            def mark(label: str, stages: list[tuple[str, float]] = stages) -> None:
                stages.append((label, time.perf_counter()))

            took = step(
                f"report --format {fmt} (alone)",
                lambda out=out, fmt=fmt, mark=mark: build_report(trace, out, fmt, step=mark),
                out,
            )
            ends = [t for _, t in stages[1:]] + [stages[0][1] + took]
            for (label, t0), t1 in zip(stages, ends, strict=True):
                print(f"  {label:<28} {t1 - t0:7.2f} s", flush=True)
            if yardstick:
                print(
                    f"  = {took / yardstick:.2f}x tshark io,stat (the report alone: no start-up, no tables)"
                )
    pictures(trace)


def pictures(trace: Any, repeat: int = 3) -> None:
    """CPU time of each picture of the HTML page alone (drawn and encoded as the page has it), the
    least of ``repeat`` draws: process time, which a loaded machine inflates far less than wall."""
    from dissector.report import figures
    from dissector.report.content import build_content
    from dissector.report.render import picture_choice

    plan = figures.picture_plan(*picture_choice(build_content(trace, None)))
    specs = [drawn for section in plan.values() for drawn in section]
    total = 0.0
    for spec, args in specs:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            figures.draw(spec, trace, *args, formats=("web",))
            best = min(best, time.process_time() - t0)
        total += best
        print(f"  picture {spec.key + ''.join(f' {a:#x}' for a in args):<30} {best:7.3f} s CPU", flush=True)
    print(f"  pictures, CPU in all           {total:7.3f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vms", nargs="?", type=int, default=64, help="fleet mode: VM slots (64)")
    p.add_argument("seconds", nargs="?", type=float, default=20.0, help="fleet mode: simulated seconds (20)")
    p.add_argument(
        "--size", help="capture mode: one of run.py's captures (100k, 1M, ...), simulated if missing"
    )
    p.add_argument("--capture", type=Path, help="capture mode: this file")
    args = p.parse_args()
    if args.size:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from run import CAPTURES, ensure_capture

        if args.size not in CAPTURES:
            p.error(f"unknown size {args.size!r}; choose from {', '.join(CAPTURES)}")
        capture(ensure_capture(CAPTURES[args.size]))
    elif args.capture:
        capture(args.capture)
    else:
        fleet(args.vms, args.seconds)


if __name__ == "__main__":
    main()
