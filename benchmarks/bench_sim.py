"""How fast ``ghrm simulate`` writes a large capture.

    python benchmarks/bench_sim.py                   # 1,000,000 message-queue messages
    python benchmarks/bench_sim.py --messages 200000 --truth

A 64-VM v11 fleet runs until the capture holds ``--messages`` records (message-queue messages,
i.e. capture records); the pcapng goes to a temporary directory. ``--truth`` also writes the
ground-truth JSON (one entry per call and notification), which is timed separately.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dissector.sim import simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000, help="capture records to write")
    parser.add_argument("--vms", type=int, default=64)
    parser.add_argument("--host", choices=("v11", "v17"), default="v11")
    parser.add_argument("--truth", action="store_true", help="write the truth log too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.pcapng")
        t0, c0 = time.perf_counter(), time.process_time()
        result = simulate(
            vms=args.vms,
            seed=1,
            duration=1e6,  # long enough: the run stops at --messages records
            host=args.host,
            output=path,
            truth=args.truth,
            max_records=args.messages,
        )
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = os.path.getsize(path)
        truth_size = os.path.getsize(result.truth_path) if result.truth_path else 0
    rm_messages = sum(result.truth.summary()["messages"].values()) if args.truth else None
    print(f"records (message-queue messages): {result.records:,}")
    if rm_messages is not None:
        print(f"RM messages (reassembled):        {rm_messages:,}")
    print(f"calls: {result.calls:,}   VM instances: {result.instances:,}")
    print(f"capture: {size / 1e6:.1f} MB" + (f"   truth: {truth_size / 1e6:.1f} MB" if truth_size else ""))
    print(f"seconds: {elapsed:.2f} wall, {cpu:.2f} cpu   messages/s: {result.records / elapsed:,.0f} (wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
