"""Every ghrm command next to tshark and Scapy on the same captures (issue 17's table).

    python benchmarks/run.py                      # 100k, 1M and 1M-frag captures, medians of 3
    python benchmarks/run.py --sizes 100k --repeat 1 --only stats,errors,tshark-iostat
    python benchmarks/run.py --no-peers --label after
    python benchmarks/run.py --big --only stats   # adds a 10M capture (memory figures)
    python benchmarks/run.py --compare benchmarks/results/A.json benchmarks/results/B.json

Why one script and ratios: the machine is shared and noisy, so absolute seconds drift from run
to run. Every figure is therefore taken in one run, next to ``tshark -r F -q -z io,stat,0`` (a
reader that dissects nothing) on the same file, and the targets are ratios to it.

Captures are simulated once with fixed seeds (``dissector.sim``, no truth file) and cached in
``benchmarks/.cache/`` (not committed). Each measurement runs in a fresh subprocess (start-up
included), its wall time taken around it and its peak RSS from ``os.wait4``'s resource usage;
a cell is the median of ``--repeat`` runs. Results go to ``benchmarks/results/<label>.json``.
The tshark plugin and Scapy peers are slow (minutes at 1M): by default they run on 100k only
(``--peer-sizes``), ``--no-peers`` skips them (tshark io,stat always runs: it is the yardstick).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"
MB = 1024 * 1024


# --- captures ---------------------------------------------------------------------------------
# light faults, so that errors, duplicates, unanswered calls and broken fragments are in the tables
FAULTS = "error=0.01,dup_reply=0.002,lost_reply=0.002,reused_seq=0.001,lost_fragment=0.01,crash=0.02"


@dataclass(frozen=True)
class CaptureSpec:
    """A simulated capture: 64 VMs booting, running, lending memory and IRQs, stopping."""

    name: str
    records: int
    seed: int
    sgl_median: float | None = None  # large SGLs: long fragmented MEM_LEND and replies
    faults: str = FAULTS

    @property
    def path(self) -> Path:
        extra = f"-sgl{self.sgl_median:g}" if self.sgl_median else ""
        return CACHE / f"sim-{self.records}-seed{self.seed}{extra}-faults.pcap"


CAPTURES = {
    "100k": CaptureSpec("100k", 100_000, 1),
    "1M": CaptureSpec("1M", 1_000_000, 1),
    "1M-frag": CaptureSpec("1M-frag", 1_000_000, 3, sgl_median=400.0),
    "10M": CaptureSpec("10M", 10_000_000, 1),
}


def ensure_capture(spec: CaptureSpec) -> Path:
    """The capture file, simulated (in a subprocess, so its memory is returned) if not cached."""
    if spec.path.exists():
        return spec.path
    CACHE.mkdir(exist_ok=True)
    tmp = spec.path.with_suffix(".partial.pcap")
    workload = f"Workload(sgl_median={spec.sgl_median}, sgl_sigma=0.5)" if spec.sgl_median else "Workload()"
    code = (
        "from dissector.sim import simulate, Workload\n"
        f"simulate(vms=64, seed={spec.seed}, duration=1e7, host='v11', output={str(tmp)!r}, "
        f"truth=False, max_records={spec.records}, workload={workload}, faults={spec.faults!r})\n"
    )
    print(f"simulating {spec.name} ({spec.records:,} records) -> {spec.path}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    tmp.rename(spec.path)
    print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return spec.path


# --- what is measured -------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One row of the table: a command line (``{F}`` = capture, ``{lua}`` = plugin, ``{tmp}``)."""

    name: str
    argv: tuple[str, ...]
    group: str  # ghrm, open, peer, plugin
    first_line: bool = False  # time to the first line of stdout instead of to the end
    slow: bool = False  # runs only on --peer-sizes (the plugin peers, Scapy, -V)


def ghrm_argv() -> list[str]:
    """How to start ghrm from this interpreter's environment."""
    script = Path(sys.executable).with_name("ghrm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dissector.cli"]


def open_code(table: str | None) -> str:
    touch = f"; t.{table}" if table else ""
    return f"import dissector; t = dissector.open({{F!r}}){touch}"


TABLES = (
    "messages",
    "transactions",
    "srt",
    "errors",
    "lifecycles",
    "memparcels",
    "irqs",
    "findings",
    "slow_windows",
)
SCAPY_CODE = (
    "import dissector.layers\n"
    "from scapy.utils import PcapReader\n"
    "n = 0\n"
    "for pkt in PcapReader({F!r}):\n"
    "    n += 1\n"
    "print(n)\n"
)


def cases() -> list[Case]:
    g = tuple(ghrm_argv())
    py = (sys.executable, "-c")
    out = [
        Case("ghrm --help", (*g, "--help"), "ghrm"),
        Case("ghrm stats", (*g, "stats", "{F}"), "ghrm"),
        Case("ghrm errors", (*g, "errors", "{F}"), "ghrm"),
        Case("ghrm transactions --format csv", (*g, "transactions", "--format", "csv", "{F}"), "ghrm"),
        Case("ghrm lifecycle", (*g, "lifecycle", "{F}"), "ghrm"),
        Case("ghrm memparcels", (*g, "memparcels", "{F}"), "ghrm"),
        Case("ghrm irqs", (*g, "irqs", "{F}"), "ghrm"),
        Case("ghrm findings", (*g, "findings", "{F}"), "ghrm"),
        Case("ghrm report", (*g, "report", "-o", "{tmp}/report.html", "{F}"), "ghrm"),
        Case("ghrm decode --format jsonl", (*g, "decode", "--format", "jsonl", "{F}"), "ghrm"),
        Case("ghrm decode (text)", (*g, "decode", "{F}"), "ghrm"),
        Case("ghrm decode -V", (*g, "decode", "-V", "{F}"), "ghrm", slow=True),
        Case("ghrm decode: first line", (*g, "decode", "{F}"), "ghrm", first_line=True),
        Case("dissector.open()", (*py, open_code(None)), "open"),
        *(Case(f"dissector.open().{t}", (*py, open_code(t)), "open") for t in TABLES),
        Case("tshark io,stat", ("tshark", "-r", "{F}", "-q", "-z", "io,stat,0"), "yardstick"),
        Case(
            "tshark+plugin srt",
            ("tshark", "-X", "lua_script:{lua}", "-r", "{F}", "-2", "-q", "-z", "gunyah_rm,srt"),
            "plugin",
            slow=True,
        ),
        Case(
            "tshark+plugin -T json",
            ("tshark", "-X", "lua_script:{lua}", "-r", "{F}", "-2", "-T", "json"),
            "plugin",
            slow=True,
        ),
        Case(
            "tshark+plugin -V",
            ("tshark", "-X", "lua_script:{lua}", "-r", "{F}", "-2", "-V"),
            "plugin",
            slow=True,
        ),
        Case("Scapy PcapReader", (*py, SCAPY_CODE), "plugin", slow=True),
    ]
    return out


# --- running one measurement ------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    rss_mb: float
    ok: bool
    cpu_s: float = float("nan")  # user + sys: what the run cost whatever the machine's load


def run_once(argv: Sequence[str], first_line: bool, timeout: float) -> Sample:
    """Wall time and peak RSS of one subprocess (stdout discarded, or read to its first line)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE if first_line else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seconds = None
    if first_line:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        seconds = time.perf_counter() - t0
        os.killpg(proc.pid, signal.SIGTERM)  # our own child's group: it would print the whole file
        proc.stdout.close()
        ok = bool(line)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -1
            return Sample(float("nan"), usage.ru_maxrss / 1024, False)
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if seconds is None:
        seconds = time.perf_counter() - t0
        ok = proc.returncode == 0
    return Sample(seconds, usage.ru_maxrss / 1024, ok, usage.ru_utime + usage.ru_stime)


@dataclass
class Cell:
    case: str
    size: str
    seconds: float | None = None
    rss_mb: float | None = None
    cpu_s: float | None = None
    samples: list[dict] = field(default_factory=list)
    failed: bool = False


def measure(case: Case, path: Path, lua: Path, tmp: str, repeat: int, timeout: float) -> Cell:
    argv = [a.format(F=str(path), lua=str(lua), tmp=tmp) for a in case.argv]
    samples = [run_once(argv, case.first_line, timeout) for _ in range(repeat)]
    good = [s for s in samples if s.ok]
    cell = Cell(case.name, "", samples=[asdict(s) for s in samples], failed=not good)
    if good:
        cell.seconds = statistics.median(s.seconds for s in good)
        cell.rss_mb = statistics.median(s.rss_mb for s in good)
        cell.cpu_s = statistics.median(s.cpu_s for s in good)
    return cell


# --- targets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One goal of issue 17, checked on one size's figures (``get(case) -> Cell | None``)."""

    text: str
    check: Callable[[Callable[[str], Cell | None]], tuple[float, bool] | None]


def _ratio_to_iostat(case: str, limit: float) -> Target:
    def check(get: Callable[[str], Cell | None]) -> tuple[float, bool] | None:
        a, base = get(case), get("tshark io,stat")
        if not a or not base or a.seconds is None or not base.seconds:
            return None
        r = a.seconds / base.seconds
        return r, r <= limit

    return Target(f"{case} <= {limit:g}x tshark io,stat", check)


def _rss(case: str, limit_mb: float) -> Target:
    def check(get: Callable[[str], Cell | None]) -> tuple[float, bool] | None:
        a = get(case)
        if not a or a.rss_mb is None:
            return None
        return a.rss_mb, a.rss_mb <= limit_mb

    return Target(f"{case} peak RSS <= {limit_mb:g} MB", check)


def _faster(case: str, peer: str, factor: float) -> Target:
    def check(get: Callable[[str], Cell | None]) -> tuple[float, bool] | None:
        a, b = get(case), get(peer)
        if not a or not b or a.seconds is None or b.seconds is None:
            return None
        r = b.seconds / a.seconds
        return r, r >= factor

    what = "not slower than" if factor == 1 else f">= {factor:g}x faster than"
    return Target(f"{case} {what} {peer}", check)


def _seconds(case: str, limit: float) -> Target:
    def check(get: Callable[[str], Cell | None]) -> tuple[float, bool] | None:
        a = get(case)
        if not a or a.seconds is None:
            return None
        return a.seconds, a.seconds <= limit

    return Target(f"{case} <= {limit:g} s", check)


TARGETS_1M = [
    _ratio_to_iostat("ghrm stats", 1.0),
    _ratio_to_iostat("ghrm errors", 1.0),
    *(
        _ratio_to_iostat(c, 2.0)
        for c in (
            "ghrm transactions --format csv",
            "ghrm lifecycle",
            "ghrm memparcels",
            "ghrm irqs",
            "ghrm findings",
            "ghrm report",
        )
    ),
    _rss("ghrm stats", 300),
    _rss("dissector.open().transactions", 500),
]
TARGETS_ANY = [
    _faster("ghrm decode --format jsonl", "tshark+plugin -T json", 20),
    _faster("ghrm decode (text)", "tshark+plugin -T json", 20),
    _faster("ghrm decode -V", "tshark+plugin -V", 1),
    _seconds("ghrm decode: first line", 0.5),
    _seconds("ghrm --help", 0.3),
]
TARGETS_10M = [_rss("ghrm stats", 1024)]


def targets_for(size: str) -> list[Target]:
    if size == "1M":
        return TARGETS_1M + TARGETS_ANY
    if size == "10M":
        return TARGETS_10M + TARGETS_ANY
    return TARGETS_ANY


# --- report -----------------------------------------------------------------------------------
def print_table(cells: list[Cell], sizes: list[str], out=sys.stdout) -> None:
    by = {(c.case, c.size): c for c in cells}
    names = list(dict.fromkeys(c.case for c in cells))
    head = f"{'':34}" + "".join(f"{s:>29}" for s in sizes)
    sub = f"{'time':>11}{'peak RSS':>9}{'/io,stat':>9}"
    out.write(head + "\n" + f"{'':34}" + sub * len(sizes) + "\n")
    for name in names:
        line = f"{name:34}"
        for s in sizes:
            c, base = by.get((name, s)), by.get(("tshark io,stat", s))
            if c is None:
                line += f"{'':>29}"
            elif c.failed:
                line += f"{'failed':>29}"
            else:
                ratio = f"{c.seconds / base.seconds:6.2f}x" if base and base.seconds else ""
                line += f"{c.seconds:9.2f} s{c.rss_mb:6.0f} MB{ratio:>9}"
        out.write(line + "\n")
    out.write("\nCPU time (user + sys, median; on a loaded machine wall-time ratios drift, these less)\n")
    for name in names:
        for s in sizes:
            c, base = by.get((name, s)), by.get(("tshark io,stat", s))
            if c is not None and c.cpu_s is not None:
                ratio = f"{c.cpu_s / base.cpu_s:6.2f}x" if base and base.cpu_s else ""
                out.write(f"  {name:32}{s:>6}{c.cpu_s:9.2f} s{ratio:>9}\n")


def check_targets(cells: list[Cell], sizes: list[str], out=sys.stdout) -> list[dict]:
    """PASS/FAIL of every target on each size it applies to (1M: the issue's ratios)."""
    results = []
    for s in sizes:
        by = {c.case: c for c in cells if c.size == s and not c.failed}
        for t in targets_for(s):
            got = t.check(by.get)
            if got is None:
                continue
            value, passed = got
            results.append({"size": s, "target": t.text, "value": round(value, 3), "pass": passed})
    if results:
        out.write("\ntargets (issue 17)\n")
        for r in results:
            out.write(f"  {'PASS' if r['pass'] else 'FAIL'}  {r['size']:8} {r['target']:62} {r['value']:g}\n")
    return results


def compile_package() -> None:
    """Write dissector's bytecode, as installing the package does (pip compiles it). Why: with
    PYTHONDONTWRITEBYTECODE set (as in the shared sessions) and no ``__pycache__``, every ghrm
    run would compile its ~60 modules first (~60 ms of CPU), a cost no installed copy has."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "dissector")], check=True)


def environment() -> dict:
    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "missing"

    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg(),
        "tshark": version(["tshark", "--version"]),
    }


def compare(before_path: str, after_path: str, out=sys.stdout) -> None:
    """Two result files side by side: seconds, RSS and ratio to io,stat, per size."""
    runs = [json.loads(Path(p).read_text()) for p in (before_path, after_path)]
    tables = [{(c["case"], c["size"]): c for c in r["cells"]} for r in runs]
    sizes = [s for s in runs[1]["sizes"] if s in runs[0]["sizes"]]
    for s in sizes:
        out.write(f"\n{s}: before ({runs[0]['env']['commit']}) -> after ({runs[1]['env']['commit']})\n")
        names = [c["case"] for c in runs[1]["cells"] if c["size"] == s]
        for name in names:
            parts = []
            for t in tables:
                c, base = t.get((name, s)), t.get(("tshark io,stat", s))
                if not c or c["seconds"] is None:
                    parts.append(f"{'-':>26}")
                    continue
                ratio = c["seconds"] / base["seconds"] if base and base["seconds"] else float("nan")
                parts.append(f"{c['seconds']:8.2f} s {c['rss_mb']:5.0f} MB {ratio:5.2f}x")
            out.write(f"  {name:34}{parts[0]}  ->{parts[1]}\n")


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100k,1M,1M-frag", help="captures: " + ", ".join(CAPTURES))
    p.add_argument("--big", action="store_true", help="add the 10M capture (memory figures)")
    p.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is shown")
    p.add_argument("--only", help="comma-separated case names or prefixes (e.g. 'ghrm stats,tshark')")
    p.add_argument("--no-peers", action="store_true", help="skip tshark+plugin and Scapy")
    p.add_argument("--peer-sizes", default="100k", help="sizes the slow peers and -V run on")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as failed")
    p.add_argument("--label", help="result file name (default: UTC time)")
    p.add_argument("--compare", nargs=2, metavar="JSON", help="print two result files side by side")
    p.add_argument(
        "--no-compile",
        action="store_true",
        help="leave dissector's bytecode uncompiled (under PYTHONDONTWRITEBYTECODE every run compiles it)",
    )
    args = p.parse_args(argv)
    if args.compare:
        compare(*args.compare)
        return 0
    sizes = [s for s in args.sizes.split(",") if s]
    if args.big and "10M" not in sizes:
        sizes.append("10M")
    unknown = [s for s in sizes if s not in CAPTURES]
    if unknown:
        p.error(f"unknown size {unknown[0]!r}; choose from {', '.join(CAPTURES)}")
    if shutil.which("tshark") is None:
        p.error("tshark is needed: it is the yardstick (apt-get install tshark)")
    peer_sizes = set(args.peer_sizes.split(","))
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    todo = [
        c
        for c in cases()
        if (
            wanted is None
            or any(c.name == w or c.name.startswith(w) for w in wanted)
            or c.name == "tshark io,stat"
        )
        and not (args.no_peers and c.group == "plugin")
    ]
    if not args.no_compile:
        compile_package()
    RESULTS.mkdir(exist_ok=True)
    label = args.label or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = RESULTS / f"{label}.json"
    record = {
        "env": environment(),
        "argv": sys.argv[1:] if argv is None else argv,
        "bytecode": "as found" if args.no_compile else "compiled before measuring",
        "repeat": args.repeat,
        "sizes": sizes,
        "captures": {s: {"file": CAPTURES[s].path.name, **asdict(CAPTURES[s])} for s in sizes},
        "complete": False,
        "cells": [],
        "targets": [],
    }
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "gunyah_rm.lua"
        if any(c.group == "plugin" for c in todo):
            subprocess.run([*ghrm_argv(), "wireshark", "lua", "-o", str(lua)], check=True)
        for size in sizes:
            path = ensure_capture(CAPTURES[size])
            mb = path.stat().st_size / 1e6
            print(f"{size}: {path.name} ({mb:.0f} MB)", file=sys.stderr, flush=True)
            for case in todo:
                if case.slow and size not in peer_sizes:
                    continue
                if case.name == "ghrm --help" and size != sizes[0]:
                    continue  # start-up does not depend on the file
                cell = measure(case, path, lua, tmp, args.repeat, args.timeout)
                cell.size = size
                cells.append(cell)
                shown = "failed" if cell.failed else f"{cell.seconds:.2f} s {cell.rss_mb:.0f} MB"
                print(f"  {case.name:34} {shown}", file=sys.stderr, flush=True)
                record["cells"] = [asdict(c) for c in cells]  # kept as it goes: a long run may be cut
                dest.write_text(json.dumps(record, indent=1) + "\n")
    print()
    print_table(cells, sizes)
    record["targets"] = check_targets(cells, sizes)
    record["complete"] = True
    dest.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {dest.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
