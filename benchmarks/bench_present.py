"""What the one time base costs: ``python benchmarks/bench_present.py [N]``.

Builds a pcap of N messages (default 1,000,000) the way ``bench_analysis.py`` does, computes
every internal table once, then times ``present`` (internal float epoch -> public time base)
per table: the price a notebook pays the first time it reads ``trace.<table>``. Prints one line
per table: seconds, rows and rows per second.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from bench_analysis import base_records, replicate

import dissector
from dissector.analysis.timebase import present
from dissector.trace import _SCHEMAS, TABLE_ATTRIBUTES


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 1_000_000
    records, source = base_records()
    data = replicate(records, n)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.pcap")
        with open(path, "wb") as f:
            f.write(data)
        trace = dissector.open(path)
        names = [name for name in TABLE_ATTRIBUTES if name in _SCHEMAS]
        internal = {name: trace._view(name) for name in names}  # build once, untimed
        base = trace._base.get("timebase")
        print(f"present() on {len(internal['messages']):,} messages replicated from {source}")
        for name in names:
            start = time.perf_counter()
            shown = present(internal[name], _SCHEMAS[name], base)
            took = time.perf_counter() - start
            rate = len(shown) / took if took > 0 else float("inf")
            print(f"{name:18s} {took:8.3f} s {len(shown):>10,} rows {rate:>14,.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
