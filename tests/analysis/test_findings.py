"""``findings.NextMoves`` (what a client did after an unanswered call, from an index) gives what
``gave_up`` (a scan of the whole transactions table) gives, call for call; ``from_errors`` (reply
frames looked up as arrays) gives what a lookup per frame gave, finding for finding."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dissector
from dissector.analysis.findings import NextMoves, _opt, _span, from_errors, gave_up
from dissector.analysis.lifecycles import Finding
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


# --- from_errors: the reply frames looked up as arrays == one dict lookup per frame ------------
def _from_errors_reference(errors: pd.DataFrame, tx: pd.DataFrame | None = None) -> list[Finding]:
    """``from_errors`` as it was written first: a dict of every named reply, a lookup per frame."""
    about: dict[tuple[str, int], tuple[Any, float, int | None]] = {}
    if tx is not None and not errors.empty:
        named = np.fromiter((f for frames in errors["frames"] for f in frames), np.int64)
        replied = tx[tx["reply_frame"].isin(named).to_numpy(bool, na_value=False)]
        for c, rf, vm, t, req in zip(
            replied["capture"].astype(str),
            replied["reply_frame"].astype(int),
            replied["vm"].astype(object),
            replied["reply_time"],
            replied["request_frame"].astype(object),
            strict=True,
        ):
            about[(c, rf)] = (_opt(vm), float(t), None if _opt(req) is None else int(req))
    out = []
    for row in errors.itertuples(index=False):
        capture = str(row.capture)
        by_vm: dict[Any, list[int]] = {}
        for f in row.frames:
            by_vm.setdefault(about.get((capture, f), (None,))[0], []).append(f)
        for vm, replies in by_vm.items():
            requests = [r for f in replies if (r := about.get((capture, f), (None, 0, None))[2]) is not None]
            times = sorted(about[(capture, f)][1] for f in replies if (capture, f) in about)
            count = len(replies)
            said = f"{count} replies" if count > 1 else "1 reply"
            if count > 1 and len(times) == count and times[-1] > times[0]:
                span = times[-1] - times[0]
                said += f", one every {_span(span / (count - 1))} on average over {_span(span)}"
            code = f"RM error {int(row.err_code):#x}, Linux {row.errno}"
            text = f"{row.name} failed with {row.err_name} ({code}): {said}" + (
                "" if vm is None else f", VM {int(vm):#x}"
            )
            first = times[0] if times else row.first
            frames = tuple(sorted({*replies, *requests}))
            out.append(
                Finding("warning", "response", "error_reply", text, frames, first, vm, str(row.name), count,
                        capture)
            )  # fmt: skip
    return out


def _astuples(found: list[Finding]) -> list[tuple[Any, ...]]:
    return [dataclasses.astuple(f) for f in found]


def _assert_errors_same(trace: dissector.Trace) -> None:
    errors, tx = trace._view("errors"), trace._view("transactions")
    assert _astuples(from_errors(errors, tx)) == _astuples(_from_errors_reference(errors, tx))
    assert _astuples(from_errors(errors)) == _astuples(_from_errors_reference(errors))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_from_errors_equals_the_reference_on_bundled_traces(path: Path) -> None:
    _assert_errors_same(dissector.open(str(path)))


def test_from_errors_equals_the_reference_on_two_captures_and_odd_rows() -> None:
    """Two captures with the same frame numbers, a reply frame in two transactions rows (the last
    one says), replies the transactions do not know, rows with no frame and no VM."""
    trace = dissector.open([str(TRACES / "faults_mix.pcapng"), str(TRACES / "start_noresource.pcapng")])
    errors, tx = trace._view("errors"), trace._view("transactions")
    assert len(errors) and errors["capture"].nunique() == 2
    _assert_errors_same(trace)
    odd = errors.copy()
    odd["frames"] = [(*f, 999_999, f[0]) for f in odd["frames"]]  # unknown frame, a frame twice
    odd.loc[0, "frames"] = ()
    twice = pd.concat([tx, tx[tx["reply_frame"].notna()].assign(vm=pd.NA, request_frame=pd.NA)])
    assert _astuples(from_errors(odd, twice)) == _astuples(_from_errors_reference(odd, twice))
    assert _astuples(from_errors(odd, tx.iloc[::2])) == _astuples(_from_errors_reference(odd, tx.iloc[::2]))
    assert from_errors(errors.iloc[0:0], tx) == []
    huge = odd.copy()  # a frame number too wide to pack with its group: the lexsort path
    huge["frames"] = [(*f, 1 << 41) for f in huge["frames"]]
    assert _astuples(from_errors(huge, tx)) == _astuples(_from_errors_reference(huge, tx))


@pytest.mark.parametrize("engine", ["fast", "scapy"])
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_reused_seqs_reads_the_client_keys_the_messages_were_paired_by(path: Path, engine: str) -> None:
    """The Trace hands ``reused_seqs`` its pairing's client keys instead of computing them again
    from the messages table: they are the same keys, so the same findings."""
    from dissector.analysis.findings import _client_keys, reused_seqs

    trace = dissector.open(str(path), engine=engine)
    messages, pairing = trace._base.get("messages"), trace._base.get("pairing")
    if messages.empty:
        return
    np.testing.assert_array_equal(pairing.client, _client_keys(messages))
    for window in (1024, 3):
        assert reused_seqs(messages, window, pairing.client) == reused_seqs(messages, window)
