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
