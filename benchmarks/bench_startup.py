"""Start-up time of ``ghrm`` (issue 17: ``ghrm --help`` <= 0.3 s): ``python benchmarks/bench_startup.py [N]``.

Runs each command N times (default 7) as a new process, the way a shell does, and prints the
median and best wall time, with ``python -c pass`` as the floor, and the heavy modules each
command imported (none for the ``--help`` lines: the subcommands load lazily).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ("pandas", "numpy", "scapy", "matplotlib", "dask")
GHRM = shutil.which("ghrm", path=os.path.dirname(sys.executable)) or "ghrm"
COMMANDS = (
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("ghrm --help", [GHRM, "--help"]),
    ("ghrm --version", [GHRM, "--version"]),
    ("ghrm decode --help", [GHRM, "decode", "--help"]),
    ("ghrm stats --help", [GHRM, "stats", "--help"]),
    ("ghrm memparcels --help", [GHRM, "memparcels", "--help"]),
    ("ghrm simulate --help", [GHRM, "simulate", "--help"]),
)
PROBE = (
    "import contextlib, io, json, sys\n"
    "from dissector.cli import build_parser\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    build_parser().parse_args({argv!r})\n"
    "print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
)


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def heavy_imports(argv: list[str]) -> str:
    if argv[0] != GHRM:
        return ""
    code = PROBE.format(argv=argv[1:], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ", ".join(json.loads(done.stdout)) or "none"


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 7
    head = f"{'command':<26} {'median':>8} {'best':>8}  heavy modules imported"
    print(f"{head}   ({n} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    for label, command in COMMANDS:
        times = [wall(command) for _ in range(n)]
        print(f"{label:<26} {statistics.median(times):7.3f}s {min(times):7.3f}s  {heavy_imports(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
