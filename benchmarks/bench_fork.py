"""The critical path of ``ghrm findings`` with the ledgers' branch built in a forked child, in CPU
seconds (steady under load, where wall times are not).

    python benchmarks/bench_fork.py [--size 1M] [--repeat 3]

Runs, in a fresh interpreter per repeat (``ghrm``'s start-up environment: ``forked.THREAD_ENV``),
what ``ghrm findings`` runs: imports, the open, ``build_beside(*LEDGER_BRANCH)``, the parent's
branch (message core, transactions, messages, lifecycles, timing, other findings, errors), the
join, and the findings table; the child's CPU is read from ``RUSAGE_CHILDREN`` after the join.
Prints each part (median of ``--repeat``), the critical path (imports + open + the longer branch
+ join + the rest) and the sum (what one process would spend). Why: on two idle cores the
command's wall time is its critical path; run.py's wall ratios drift with the host.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"100k": 100_000, "1M": 1_000_000}
PARTS = ("imports", "open", "parent", "child", "join", "rest")

ONE_RUN = """
import json, resource, sys, time
c = time.process_time
c0 = c()
import dissector
from dissector.trace import LEDGER_BRANCH
parts = {"imports": c() - c0}
t = c(); trace = dissector.open(sys.argv[1]); parts["open"] = c() - t
base = trace._base
t = c(); forked = trace.build_beside(*LEDGER_BRANCH)
for name in ("message_core", "transactions", "messages", "lifecycle_model", "timing_model", "other_findings"):
    base.get(name)
trace.errors
parts["parent"] = c() - t
t = c(); base.get("ledger_findings"); parts["join"] = c() - t
child = resource.getrusage(resource.RUSAGE_CHILDREN)
parts["child"] = child.ru_utime + child.ru_stime
t = c(); trace.findings; parts["rest"] = c() - t
print(json.dumps({"forked": forked, **parts}))
"""


def one_run(path: Path) -> dict[str, float]:
    from dissector.forked import THREAD_ENV

    env = {**os.environ, **THREAD_ENV}
    env.pop("GHRM_JOBS", None)
    done = subprocess.run(
        [sys.executable, "-c", "import gc; gc.disable()\n" + ONE_RUN, str(path)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = HERE / ".cache" / f"sim-{SIZES[args.size]}-seed1-faults.pcap"
    if not path.exists():
        print(f"bench_fork: {path} is missing: run benchmarks/run.py --sizes {args.size}", file=sys.stderr)
        return 2
    runs = [one_run(path) for _ in range(args.repeat)]
    if not all(r["forked"] for r in runs):
        print("bench_fork: no child was forked (GHRM_JOBS=1, or a native thread?)", file=sys.stderr)
        return 1
    med = {p: statistics.median(r[p] for r in runs) for p in PARTS}
    print(f"ghrm findings at {args.size}: CPU seconds, median of {args.repeat}")
    for p in PARTS:
        print(f"  {p:8s} {med[p]:6.2f}")
    path_cpu = med["imports"] + med["open"] + max(med["parent"], med["child"]) + med["join"] + med["rest"]
    print(f"  critical path {path_cpu:6.2f}   one process {sum(med.values()):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
