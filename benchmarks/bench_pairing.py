"""Pairing a whole capture: ``transactions.pair_in_blocks`` (the message core's: the incremental core
fed ``PAIR_BLOCK`` rows at a time) and ``transactions.pair`` (fed once) beside the whole-array
pairing they replaced (``tests/analysis/old_pairing.py``, kept as the test oracle).

    python benchmarks/bench_pairing.py [--size 1M] [--repeat 3]

Decodes ``run.py``'s cached capture of that size (``benchmarks/.cache``; run ``run.py`` first),
takes the arguments the messages table pairs with, and those the ledger rows pair with
(``ledgers.events``: no client keys, a second pass for the keys of abandoned requests), then
prints the CPU seconds of each pairing (minimum of ``--repeat``) and whether their results are
equal. Why: the incremental core bounds ``ghrm stats`` at 10M; on a whole file it must cost no
more than the pairing it replaced (README, Performance).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the test oracle is imported as tests.analysis.old_pairing

import dissector  # noqa: E402
from dissector.analysis import transactions  # noqa: E402
from dissector.analysis.ledgers import events  # noqa: E402
from tests.analysis import old_pairing  # noqa: E402

SIZES = {"100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}


def pairing_arguments(path: Path) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The arguments the message core passes to ``pair_in_blocks``, the same messages as ``pair``
    takes them (client keys, int64, unknown times 0), and the ledger rows' (``events``) ``pair``
    arguments, for this capture."""
    seen: dict[str, Any] = {}
    real_paired, real_pair = transactions.pair_in_blocks, transactions.pair

    def spy_paired(*args: Any) -> Any:
        seen["paired"] = args
        seen["clients"], pairing = real_paired(*args)
        return seen["clients"], pairing

    def spy_pair(*args: Any) -> Any:
        seen["ledgers"] = args
        return real_pair(*args)

    transactions.pair_in_blocks, events.pair = spy_paired, spy_pair  # type: ignore[assignment]
    try:
        trace = dissector.open(path)
        trace._base.get("message_core")
        trace._base.get("ledger_messages")
    finally:
        transactions.pair_in_blocks, events.pair = real_paired, real_pair  # type: ignore[assignment]
    capture, _, seq, msg_id, call_type, err, _, known, time_ns = seen["paired"]
    as_pair = (
        capture,
        seen["clients"],
        seq.astype(np.int64),
        msg_id,
        call_type.astype(np.int64),
        err,
        np.where(known, time_ns, 0),
    )
    return seen["paired"], as_pair, seen["ledgers"]


def paired_only(*args: Any) -> transactions.Pairing:
    """``transactions.pair_in_blocks``'s pairing (its client keys are timed with it)."""
    return transactions.pair_in_blocks(*args)[1]


def cpu_seconds(function: Any, args: tuple[Any, ...], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        function(*args)
        best = min(best, time.process_time() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = HERE / ".cache" / f"sim-{SIZES[args.size]}-seed1-faults.pcap"
    if not path.exists():
        print(
            f"bench_pairing: {path} is missing: run benchmarks/run.py --sizes {args.size} first",
            file=sys.stderr,
        )
        return 1
    core_args, message_args, ledger_args = pairing_arguments(path)
    fields = ("reply_of", "request_of", "status", "replies", "reused_in")
    same = True
    runs = (("messages", message_args, core_args), ("ledger rows", ledger_args, None))
    for what, pair_args, blocks in runs:
        old = old_pairing.pair(*pair_args)
        got = [transactions.pair(*pair_args)] + ([paired_only(*blocks)] if blocks else [])
        equal = all(np.array_equal(getattr(new, f), getattr(old, f)) for new in got for f in fields)
        print(f"{what}: {len(pair_args[0]):,} ({args.size}); CPU seconds, minimum of {args.repeat}")
        cases = [(pair_args, "pair (incremental core, fed once)", transactions.pair)]
        if blocks:
            cases.insert(0, (blocks, "pair_in_blocks (client keys too, in blocks)", paired_only))
        cases.append((pair_args, "old whole-array pairing (test oracle)", old_pairing.pair))
        for call_args, label, function in cases:
            print(f"  {label:48} {cpu_seconds(function, call_args, args.repeat):.3f}")
        print(f"  equal results: {equal}")
        same = same and equal
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
