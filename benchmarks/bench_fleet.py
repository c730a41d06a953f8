"""A fleet, serial vs Dask: ``python benchmarks/bench_fleet.py [--small] [--captures N] [--records M]``.

Simulates N captures (default 32) of about M records each (default 100,000; ``--small``: 8 of
10,000) with different seeds and light faults into a cache folder (reused by the next run, which
takes the first N), then builds every table of every capture twice:

* serial: ``dissector.open(path)`` and each table, one capture after the other, in this process;
* Dask: ``dissector.fleet(folder, workers=W)`` on a LocalCluster of W worker processes
  (default 2), persisting every table, then the fleet aggregates.

Prints the two side by side with the speed-up, the per-capture cost, and a paper estimate for
1,000 devices on N workers (cost per capture x 1000 / N; scheduling overhead not included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dissector
from dissector.fleet.build import FLEET_TABLES
from dissector.sim import simulate


def make_fleet(folder: Path, captures: int, records: int) -> list[Path]:
    """N simulated captures, one device folder each; kept between runs."""
    paths = []
    for i in range(captures):
        path = folder / f"device-{i:03d}" / "night.pcapng"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            faults = "error=0.01,lost_reply=0.002,crash=0.05" if i % 4 == 0 else "error=0.005"
            simulate(
                vms=16,
                seed=1000 + i,
                duration=records / 400.0,  # ~450 records/s with 16 VMs; max_records caps it
                faults=faults,
                output=str(path),
                truth=False,
                max_records=records,
            )
        paths.append(path)
    return paths


def serial(paths: list[Path]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, messages)."""
    start, cpu = time.perf_counter(), time.process_time()
    messages = 0
    for path in paths:
        trace = dissector.open(str(path))
        for table in FLEET_TABLES:
            getattr(trace, table)
        messages += len(trace.messages)
    return time.perf_counter() - start, time.process_time() - cpu, messages


def on_dask(folder: Path, workers: int) -> tuple[float, float, float]:
    """(cluster start, tables, aggregates) seconds."""
    start = time.perf_counter()
    with dissector.fleet(str(folder), workers=workers) as fleet:
        started = time.perf_counter()
        fleet.persist()  # every table of every capture, kept on the workers
        built = time.perf_counter()
        fleet.fleet_srt()
        fleet.devices()
        done = time.perf_counter()
    return started - start, built - started, done - built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="8 captures of 10,000 records")
    parser.add_argument("--captures", type=int, help="captures in the fleet (default 32)")
    parser.add_argument("--records", type=int, help="records per capture (default 100,000)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    parser.add_argument(
        "--cache", default=os.path.join(tempfile.gettempdir(), "ghrm-bench-fleet"), help="where captures go"
    )
    args = parser.parse_args(argv)
    captures = args.captures or (8 if args.small else 32)
    records = args.records or (10_000 if args.small else 100_000)
    cache = Path(args.cache) / f"{records}-records"
    t0 = time.perf_counter()
    paths = make_fleet(cache, captures, records)
    folder = Path(tempfile.mkdtemp(prefix="ghrm-bench-fleet-"))  # exactly these N captures
    for path in paths:
        (folder / path.parent.name).mkdir()
        (folder / path.parent.name / path.name).symlink_to(path)
    made = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in paths)
    print(
        f"fleet: {captures} captures x ~{records:,} records, {size / 1e6:.1f} MB in {folder} ({made:.1f} s)"
    )
    print(
        f"machine: {os.cpu_count()} cores; Dask LocalCluster of {args.workers} worker processes", flush=True
    )

    load = os.getloadavg()[0]
    serial_s, cpu_s, messages = serial(paths)
    start_s, dask_s, agg_s = on_dask(folder, args.workers)
    shutil.rmtree(folder)
    per_capture = cpu_s / captures
    print()
    print(f"{'':28}{'serial':>12}{'Dask':>12}")
    speedup = f"speed-up x{serial_s / dask_s:.2f}"
    print(f"{'every table, all captures':28}{serial_s:11.1f}s{dask_s:11.1f}s   {speedup}")
    print(f"{'cluster start':28}{'-':>12}{start_s:11.1f}s")
    print(f"{'fleet SRT + devices':28}{'-':>12}{agg_s:11.1f}s")
    print(f"messages: {messages:,} ({messages / serial_s:,.0f}/s serial, {messages / dask_s:,.0f}/s Dask)")
    print(f"load average before / after: {load:.1f} / {os.getloadavg()[0]:.1f} (other work on this machine)")
    each = f"~{messages // captures:,} messages"
    print(f"per-capture cost: {per_capture:.2f} CPU s ({serial_s / captures:.2f} s wall) for {each}")
    print("paper estimate, 1,000 such captures (CPU cost per capture x 1000 / workers, no overhead):")
    for n in (2, 16, 64, 256):
        print(f"  {n:4d} workers: {per_capture * 1000 / n / 60:7.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
