"""``ghrm decode`` (compiled decoder) against tshark + the generated Lua plugin, and its first line.

    python benchmarks/bench_decode.py                      # 100,000 records, medians of 3
    python benchmarks/bench_decode.py --messages 1000000 --repeat 1
    python benchmarks/bench_decode.py --capture my.pcap    # an existing capture

The capture is made by ``ghrm simulate`` (16 VMs, seed 1, pcap) unless given. Measured, each the
median of ``--repeat`` runs: ``ghrm decode --format jsonl``, ``ghrm decode`` (text), ``ghrm decode
-Y`` on a generated field, the Scapy view (``-V``), and ``tshark -X lua_script:gunyah_rm.lua -r F
-2 -T json`` (issue 17's peer); then the time to the first line of text and of jsonl output.
Wall time and CPU time (user + sys of the child) are both printed: on a shared machine wall time
follows the load, CPU time does not. Nothing here is asserted; tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GHRM = [sys.executable, "-m", "dissector.cli"]


def _run(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run, output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _first_line(argv: list[str]) -> float:
    """Seconds from start until the command has written its first line."""
    t0 = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        proc.kill()
    return elapsed


def _median(argv: list[str], repeat: int) -> tuple[float, float]:
    runs = [_run(argv) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000, help="records of the simulated capture")
    parser.add_argument("--capture", help="decode this capture instead of simulating one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-scapy", action="store_true", help="skip the slow -V (Scapy) run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        capture = args.capture
        if capture is None:
            capture = os.path.join(tmp, "bench.pcap")
            subprocess.run(
                [
                    *GHRM,
                    "simulate",
                    "-o",
                    capture,
                    "--vms",
                    "16",
                    "--seed",
                    "1",
                    "--duration",
                    "1e6",
                    "--max-records",
                    str(args.messages),
                    "--no-truth",
                ],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        lua = os.path.join(tmp, "gunyah_rm.lua")
        subprocess.run(
            [*GHRM, "wireshark", "lua", "-o", lua], check=True, cwd=ROOT, stderr=subprocess.DEVNULL
        )
        size = os.path.getsize(capture) / 1e6
        print(f"capture: {capture} ({size:.1f} MB); medians of {args.repeat}")
        rows: list[tuple[str, float, float]] = []
        cases = [
            ("ghrm decode --format jsonl", [*GHRM, "decode", "--format", "jsonl", capture]),
            ("ghrm decode (text)", [*GHRM, "decode", capture]),
            ("ghrm decode -Y 'latency > 0.001'", [*GHRM, "decode", "-Y", "latency > 0.001", capture]),
        ]
        if not args.no_scapy:
            cases.append(("ghrm decode -V (Scapy view)", [*GHRM, "decode", "-V", capture]))
        tshark = shutil.which("tshark")
        if tshark:
            cases.append(
                (
                    "tshark + plugin -2 -T json",
                    [tshark, "-X", f"lua_script:{lua}", "-r", capture, "-2", "-T", "json"],
                )
            )
        for name, cmd in cases:
            wall, cpu = _median(cmd, args.repeat)
            rows.append((name, wall, cpu))
            print(f"  {name:<36} {wall:8.2f} s wall {cpu:8.2f} s CPU", flush=True)
        ref = next((r for r in rows if r[0].startswith("tshark")), None)
        if ref is not None:
            print("speed-up over tshark + plugin -2 -T json (wall, CPU):")
            for name, wall, cpu in rows[:-1]:
                print(f"  {name:<36} {ref[1] / wall:6.1f}x {ref[2] / cpu:6.1f}x")
        print("first line (median):")
        for name, cmd in (
            ("text", [*GHRM, "decode", capture]),
            ("jsonl", [*GHRM, "decode", "--format", "jsonl", capture]),
        ):
            first = statistics.median(_first_line(cmd) for _ in range(args.repeat))
            print(f"  ghrm decode {name:<24} {first:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
