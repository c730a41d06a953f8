"""Rule 1 of ``vm`` asked for some requests only (``context.resource_vms_of(wanted=)``) gives
those requests the VMs the whole pass gives them, reading fewer payloads.

Why it matters: ``ghrm errors`` needs the VM of the failed calls' exchanges alone; it asks for
those, and rule 1 then reads their payloads and those of the creates that handed out the handles
they name, not every memory call of the capture. Any subset of requests must get the same VMs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis.context import payload_reader, resource_calls, resource_vms, resource_vms_of
from dissector.trace import open_trace

TRACES = Path(__file__).resolve().parents[2] / "traces"
WITH_RESOURCES = ["reclaim_storm.pcapng", "faults_mix.pcapng", "fleet_20vms.pcapng", "v17_host.pcapng"]


def _rule1(names: list[str]) -> tuple[Any, Any, dict[tuple[str, int], int]]:
    trace = open_trace([str(TRACES / n) for n in names])
    messages = trace._base.get("messages")
    payload = payload_reader(trace._base.columns, trace.dialect)
    calls = resource_calls(messages)
    assert calls is not None and calls.is_request.any()
    return calls, payload, resource_vms(messages, payload)


_CASES = {n: _rule1([n]) for n in WITH_RESOURCES}
_CASES["two captures"] = _rule1(["faults_mix.pcapng", "reclaim_storm.pcapng"])


def _counted(payload: Any) -> tuple[Any, list[int]]:
    reads: list[int] = []

    def counting(row: int, role: str) -> Mapping[str, Any]:
        reads.append(row)
        return payload(row, role)

    return counting, reads


@pytest.mark.parametrize("case", sorted(_CASES))
@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_wanted_requests_get_the_vms_of_the_whole_pass(case, seed, share):
    calls, payload, whole = _CASES[case]
    wanted = np.random.default_rng(seed).random(len(calls.row)) < share
    counting, reads = _counted(payload)
    got = resource_vms_of(calls, counting, wanted)
    asked = {(calls.captures[c], f) for c, f in zip(calls.capture[wanted], calls.frame[wanted], strict=True)}
    asked &= {
        (calls.captures[c], f)
        for c, f, r in zip(calls.capture, calls.frame, calls.is_request, strict=True)
        if r
    }
    assert {k: v for k, v in got.items() if k in asked} == {k: v for k, v in whole.items() if k in asked}
    if not wanted.any():
        assert got == {} and reads == []


def test_all_wanted_is_the_whole_pass():
    for calls, payload, whole in _CASES.values():
        assert resource_vms_of(calls, payload, np.ones(len(calls.row), bool)) == whole
        assert resource_vms_of(calls, payload) == whole


# --- PayloadReader.prefetch: payload(row, role) of many rows at once, where it reads a handle ---


def _prefetch_agrees(columns: Any, dialect: str) -> int:
    """Every row's prefetched answer (both roles) is what ``payload(row, role)`` says; returns how
    many were prefetched."""
    reader = payload_reader(columns, dialect)
    rows = np.arange(sum(len(c) for c in columns))
    count = 0
    for role in ("request", "reply"):
        for row, got in zip(rows.tolist(), reader.prefetch(rows, role), strict=True):
            if got is not None:
                assert got == reader(row, role), (row, role)
                count += 1
    return count


@pytest.mark.parametrize(
    "name", sorted(p.name for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))
)
def test_prefetch_is_payload_on_every_bundled_trace(name: str) -> None:
    trace = open_trace(str(TRACES / name))
    count = _prefetch_agrees(trace._base.columns, trace.dialect)
    if name in WITH_RESOURCES:
        assert count > 0


def test_prefetch_over_two_captures() -> None:
    trace = open_trace([str(TRACES / "faults_mix.pcapng"), str(TRACES / "reclaim_storm.pcapng")])
    assert _prefetch_agrees(trace._base.columns, trace.dialect) > 0


@pytest.mark.parametrize("case", sorted(_CASES))
def test_rule1_with_and_without_prefetch(case: str) -> None:
    calls, payload, whole = _CASES[case]

    def plain(row: int, role: str) -> Mapping[str, Any]:  # no prefetch: every row read alone
        return payload(row, role)

    assert resource_vms_of(calls, plain) == whole


def _handle_ids() -> list[int]:
    from dissector.analysis.constants import IRQ_HANDLE_CALLS, IRQ_LEND, MEMORY_CREATE, MEMORY_HANDLE_CALLS
    from dissector.analysis.fields import msg_id_of

    return [msg_id_of(n) for n in (*MEMORY_CREATE, *MEMORY_HANDLE_CALLS, *IRQ_HANDLE_CALLS, IRQ_LEND)]


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2, 3]),  # message type
            st.integers(0, 3),  # fragments field
            st.sampled_from([*_handle_ids(), 0x51000011]),
            st.binary(max_size=40),  # payload
        ),
        min_size=1,
        max_size=25,
    )
)
def test_prefetch_is_payload_on_any_bytes(messages: list[tuple[int, int, int, bytes]]) -> None:
    from dissector.capture.record import Direction, Record
    from dissector.trace import Trace

    records = [
        Record(
            k + 1,
            1_000 * k,
            Direction.TO_RM,
            0x10,
            bytes([1, kind | frags << 2]) + b"\0\0" + mid.to_bytes(4, "little") + body,
        )
        for k, (kind, frags, mid, body) in enumerate(messages)
    ]
    trace = Trace.from_records(records)
    _prefetch_agrees(trace._base.columns, trace.dialect)
