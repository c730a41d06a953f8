"""Pairing a whole capture: ``transactions.pair`` (the incremental core fed once) beside the
whole-array pairing it replaced (``tests/analysis/old_pairing.py``, kept as its test oracle).

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
from dissector.analysis import messages, transactions  # noqa: E402
from dissector.analysis.ledgers import events  # noqa: E402
from tests.analysis import old_pairing  # noqa: E402

SIZES = {"100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}


def pairing_arguments(path: Path) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The arguments ``messages.message_core`` and the ledger rows (``events``) pass to ``pair``
    for this capture."""
    seen: dict[str, tuple[Any, ...]] = {}
    real = transactions.pair

    def spy(name: str) -> Any:
        def call(*args: Any) -> Any:
            seen[name] = args
            return real(*args)

        return call

    messages.pair, events.pair = spy("messages"), spy("ledgers")  # type: ignore[assignment]
    try:
        trace = dissector.open(path)
        trace._base.get("message_core")
        trace._base.get("ledger_messages")
    finally:
        messages.pair = events.pair = real  # type: ignore[assignment]
    return seen["messages"], seen["ledgers"]


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
    same = True
    for what, pair_args in zip(("messages", "ledger rows"), pairing_arguments(path), strict=True):
        new, old = transactions.pair(*pair_args), old_pairing.pair(*pair_args)
        equal = all(
            np.array_equal(getattr(new, f), getattr(old, f))
            for f in ("reply_of", "request_of", "status", "replies", "reused_in")
        )
        print(f"{what}: {len(pair_args[0]):,} ({args.size}); CPU seconds, minimum of {args.repeat}")
        for label, function in (
            ("transactions.pair (incremental core, fed once)", transactions.pair),
            ("old whole-array pairing (test oracle)", old_pairing.pair),
        ):
            print(f"  {label:48} {cpu_seconds(function, pair_args, args.repeat):.3f}")
        print(f"  equal results: {equal}")
        same = same and equal
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
