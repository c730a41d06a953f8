"""``findings.NextMoves`` (what a client did after an unanswered call, from an index) gives what
``gave_up`` (a scan of the whole transactions table) gives, call for call."""

from __future__ import annotations

from pathlib import Path

import pytest

import dissector
from dissector.analysis.findings import NextMoves, gave_up
from dissector.sim import simulate

TRACES = Path(__file__).resolve().parents[2] / "traces"
BUNDLED = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))


def _assert_same(trace: dissector.Trace) -> int:
    tx = trace._base.get("transactions")
    moves = NextMoves(tx)
    odd = tx[tx["status"].isin(("unanswered", "retransmitted"))]
    for row in odd.itertuples(index=False):
        assert moves.after(row) == gave_up(tx, row)
    return sum(moves.after(row) is not None for row in odd.itertuples(index=False))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_traces(path: Path) -> None:
    _assert_same(dissector.open(str(path)))


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_lost_replies(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "lost.pcapng"
    faults = "lost_reply=0.1,hang=0.2,crash=0.2,reused_seq=0.02"
    simulate(vms=6, seed=seed, duration=4.0, faults=faults, output=str(path), truth=False)
    assert _assert_same(dissector.open(str(path))) > 0
