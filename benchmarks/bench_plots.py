"""How fast the plots draw big tables: ``python benchmarks/bench_plots.py [N]``.

Builds a transactions table of N calls (default 1,000,000: the calls of ``traces/slow_rm.pcapng``
repeated, shifted in time), then times ``plot_latency_over_time`` (binned past 200,000 points,
and forced to draw every point rasterised) and ``plot_latency_distribution``, each rendered to
a PNG in memory, and ``service_times`` + ``slow_windows`` over the same calls. Prints one line
per step: seconds.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import dissector
from dissector.analysis.timing import _windows_frame, service_times
from dissector.plots import plot_latency_distribution, plot_latency_over_time, style

ROOT = Path(__file__).resolve().parents[1]


def big_transactions(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The public transactions and messages of slow_rm, repeated to ``n`` calls."""
    t = dissector.open(str(ROOT / "traces" / "slow_rm.pcapng"))
    tx, m = t.transactions, t.messages
    copies = -(-n // len(tx))
    span = float(m["t"].max()) + 0.01
    shift = np.repeat(np.arange(copies) * span, len(tx))[:n]
    big = tx.iloc[np.tile(np.arange(len(tx)), copies)[:n]].reset_index(drop=True)
    for col in ("t", "request_time", "reply_time"):
        big[col] = big[col].to_numpy() + shift
    big["request_frame"] = np.arange(1, 2 * n, 2)
    msgs = pd.DataFrame(
        {
            "capture": big["capture"],
            "frame": big["request_frame"],
            "time_end": big["request_time"],
            "payload_len": np.zeros(n, np.int32),
        }
    )
    return big, msgs


def timed(label: str, fn) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    print(f"{label:<58} {time.perf_counter() - start:7.2f} s", flush=True)


def render(ax) -> None:  # type: ignore[no-untyped-def]
    ax.figure.savefig(io.BytesIO(), format="png", dpi=80)
    style.pyplot().close(ax.figure)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    tx, msgs = big_transactions(n)
    print(f"{n:,} calls")
    timed("plot_latency_over_time (binned) + PNG", lambda: render(plot_latency_over_time(tx)))
    timed(
        "plot_latency_over_time (every point, rasterised) + PNG",
        lambda: render(plot_latency_over_time(tx, max_points=n)),
    )
    timed("plot_latency_distribution + PNG", lambda: render(plot_latency_distribution(tx)))
    internal = tx.rename(columns={"t": "time"})
    timed("service_times + slow windows", lambda: _windows_frame(service_times(internal, msgs), None))


if __name__ == "__main__":
    main()
