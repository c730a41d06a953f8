"""The ``--faults`` SPEC language, and faults aimed at one VM instance landing exactly there."""

from __future__ import annotations

import os

import pytest

from dissector.sim import FaultSpec, FaultSpecError, simulate
from tests.sim.decoding import decode, load_truth


def test_spec_parses_every_form_and_prints_back_canonically():
    spec = FaultSpec.parse(" lost_reply=0.01, error=0.02 ,crash@2+1, error:VM_START=0.5,truncate_end ")
    assert spec.rates == {"lost_reply": 0.01, "error": 0.02}
    assert spec.targets == {"crash": (1, 2)}
    assert spec.call_errors == {"VM_START": 0.5}
    assert spec.truncate_end
    text = str(spec)
    assert text == "error=0.02,lost_reply=0.01,crash@1+2,error:VM_START=0.5,truncate_end"
    assert FaultSpec.parse(text) == spec


@pytest.mark.parametrize("empty", [None, "", " , "])
def test_no_spec_means_no_faults(empty):
    assert FaultSpec.parse(empty).empty


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("crash", "needs a rate"),
        ("bogus=0.1", "unknown fault kind"),
        ("error=1.5", "between 0 and 1"),
        ("error=x", "cannot read"),
        ("garbage@3", "only per-instance kinds"),
        ("error:VM_FLY=0.1", "no error codes known"),
        ("truncate_end@1", "is a flag"),
    ],
)
def test_bad_specs_say_what_is_wrong(text, why):
    with pytest.raises(FaultSpecError, match=why):
        FaultSpec.parse(text)


def test_targeted_faults_hit_exactly_the_named_instances(tmp_path):
    path = os.path.join(tmp_path, "t.pcapng")
    result = simulate(
        vms=3, seed=31, duration=2.0, boots_per_vm=1, faults="start_fail@2,crash@3", output=path
    )
    truth = load_truth(result.truth_path)
    by_ordinal = {i["ordinal"]: i for i in truth["instances"]}
    assert by_ordinal[2]["plan"]["start_fail"] and not by_ordinal[1]["plan"]["start_fail"]
    assert by_ordinal[3]["exit"]["exit_type"] == 4  # WATCHDOG_BITE
    assert by_ordinal[1]["exit"]["exit_type"] != 4
    decoded = decode(path)
    failed = [m for m in decoded.of(type="reply", name="VM_START") if m["err_code"]]
    assert [m["err_code"] for m in failed] == [2]
    start_request = next(
        decoded.at(c["request_frames"][0]) for c in truth["calls"] if c["reply_frames"] == failed[0]["frames"]
    )
    assert start_request["fields"]["vmid"] == by_ordinal[2]["vmid"]


def test_one_call_error_rate_touches_only_that_call(tmp_path):
    path = os.path.join(tmp_path, "e.pcapng")
    simulate(vms=4, seed=32, duration=1.5, boots_per_vm=1, faults="error:MEM_LEND=1", output=path)
    decoded = decode(path)
    errors = {(m["msg_name"], m["err_code"]) for m in decoded.of(type="reply") if m["err_code"]}
    assert errors and {name for name, _ in errors} == {"MEM_LEND"}
    assert {code for _, code in errors} <= {1, 3, 6, 0xA}  # NOMEM, DENIED, ARGUMENT_INVALID, MEM_INVALID
    assert decoded.of(type="request", name="VM_START") == []  # no VM got its memory, none started
