"""How long the report, diff and exports take: ``python benchmarks/bench_report.py [VMS] [SECONDS]``.

Simulates a fleet (default 64 VM slots for 20 s of boots and reboots, about 45,000 records),
then times each step on it: reading the tables, the HTML report (pictures included), the JSON
report, the Perfetto export, a Parquet export and a diff of the capture against itself. Prints one
line per step: seconds, and the output size.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import dissector
from dissector.report import build_report, diff, export_table, write_perfetto
from dissector.sim import simulate

TABLES = ("messages", "transactions", "lifecycle_summary", "findings", "memparcels", "irqs", "slow_windows")


def main() -> None:
    vms = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "fleet.pcapng")
        sim = simulate(vms=vms, seed=5, duration=seconds, output=capture, truth=False)
        print(f"capture: {sim.records} records, {sim.instances} VM instances, {os.path.getsize(capture):,} B")

        def step(label: str, run, path: str | None = None) -> None:
            t0 = time.perf_counter()
            run()
            took = time.perf_counter() - t0
            size = f", {os.path.getsize(path):,} B" if path else ""
            print(f"{label:<22} {took:7.2f} s{size}")

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


if __name__ == "__main__":
    main()
