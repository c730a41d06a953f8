"""The tables against the simulator's ground truth (``<capture>.truth.json``, schema in
``dissector/sim/truth.py``): every bundled trace in ``traces/``, plus a few small simulations
run here with many faults, so the check does not depend on what happens to be bundled.

For each capture: the fast and Scapy engines give identical tables; every VM instance's state
sequence equals the one the simulated RM went through; every call latency equals the simulated
one exactly; every injected fault shows up as a finding of the matching kind on its frames.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from dissector.trace import open_trace

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(glob.glob(str(ROOT / "traces" / "**" / "*.truth.json"), recursive=True))

# What a fault of each kind must show up as (findings.CODES).
EXPECTED: dict[str, set[str]] = {
    "error": {"error_reply"},
    "lost_reply": {"unanswered"},
    "dup_reply": {"duplicate_reply"},
    "reused_seq": {"reused_seq"},
    "crash": {"abnormal_exit", "crash_message"},
    "start_fail": {"error_reply", "init_failed"},
    "init_fail": {"error_reply", "init_failed"},
    # a guest stuck booting, or RM stuck in RESETTING (at the very end: the VM is left there)
    "hang": {"boot_hang", "state_held", "never_deallocated"},
    "reclaim_storm": {"error_reply"},
    "lost_fragment": {"reassembly"},
    "garbage": {"malformed"},
    "truncate_end": {"capture_problem"},
}
SIMULATIONS = {
    "v11-faults.pcapng": dict(
        vms=4,
        seed=11,
        duration=6.0,
        host="v11",
        faults="error=0.03,lost_reply=0.03,dup_reply=0.03,reused_seq=0.03,crash=0.25,start_fail@2,"
        "init_fail@3,hang@4,reclaim_storm@1,lost_fragment=0.2,garbage=0.005,truncate_end",
    ),
    "v17-faults.pcap": dict(
        vms=3,
        seed=7,
        duration=5.0,
        host="v17",
        faults="error=0.05,lost_reply=0.03,dup_reply=0.03,reused_seq=0.03,crash@1,hang@2,lost_fragment=0.3",
    ),
    "clean.pcapng": dict(vms=3, seed=3, duration=4.0),
}


def _simulated(tmp: Path) -> list[str]:
    try:
        from dissector.sim.run import simulate
    except ImportError:  # pragma: no cover - the simulator is part of the package
        return []
    out = []
    for name, params in SIMULATIONS.items():
        path = str(tmp / name)
        simulate(output=path, **params)
        out.append(path + ".truth.json")
    return out


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, object, object]]:
    """truth path -> (truth, fast trace, scapy trace)."""
    found = {}
    for truth_path in [*BUNDLED, *_simulated(tmp_path_factory.mktemp("sim"))]:
        capture = truth_path[: -len(".truth.json")]
        if not os.path.exists(capture):
            continue
        with open(truth_path, encoding="utf-8") as f:
            truth = json.load(f)
        dialect = truth["params"].get("dialect", "rm")
        found[truth_path] = (
            truth,
            open_trace(capture, dialect=dialect),
            open_trace(capture, dialect=dialect, engine="scapy"),
        )
    if not found:
        pytest.skip("no bundled traces and no simulator")
    return found


def _binary(truth: dict) -> bool:
    return truth["capture"].get("format") in ("pcap", "pcapng")


def test_fast_and_scapy_engines_agree(cases):
    for path, (_truth, fast, scapy) in cases.items():
        for table in (
            "messages",
            "transactions",
            "srt",
            "errors",
            "lifecycles",
            "lifecycle_summary",
            "findings",
        ):
            pd.testing.assert_frame_equal(getattr(fast, table), getattr(scapy, table), obj=f"{path} {table}")


def test_state_sequences_equal_the_simulated_ones(cases):
    for path, (truth, trace, _) in cases.items():
        got = {
            (int(v), int(i)): g["state"].astype(str).tolist()
            for (v, i), g in trace.lifecycles.groupby(["vmid", "instance"], sort=False)
        }
        missing = set(truth["summary"].get("missing_frames", [])) | set(truth["summary"]["malformed_frames"])
        for inst in truth["instances"]:
            rebuilt = got.get((inst["vmid"], inst["instance"]), [])
            assert _matches(rebuilt, inst["states"], missing), (
                path,
                hex(inst["vmid"]),
                inst["instance"],
                rebuilt,
            )


def _matches(rebuilt: list[str], states: list[dict], missing: set[int]) -> bool:
    """``rebuilt`` is the true sequence, except that a change told only by a record cut from the
    capture (or damaged) may be absent, unless other evidence (a reply, a later VM_STATUS) told it."""
    j = 0
    for change in states:
        if j < len(rebuilt) and rebuilt[j] == change["name"]:
            j += 1
        elif not (change["notify_frames"] and set(change["notify_frames"]) <= missing):
            return False
    return j == len(rebuilt)


def test_latencies_equal_the_simulated_ones(cases):
    for path, (truth, trace, _) in cases.items():
        if not _binary(truth):
            continue
        missing = set(truth["summary"].get("missing_frames", []))
        broken = {f for fault in truth["faults"] for f in fault["malformed_frames"]} | missing
        tx = trace.transactions
        first = tx[tx["status"].isin(("ok", "error", "malformed"))].set_index("request_frame")
        # two calls sharing (client, seq, msg_id) while both open cannot be told apart when one of
        # them also got a duplicate reply; RM's order answers the rest
        reused = {(c["client"], c["seq"], c["msg_id"]) for c in truth["calls"] if c["fault"] == "reused_seq"}
        checked = 0
        for call in truth["calls"]:
            if call["latency"] is None or set(call["reply_frames"]) & missing:
                continue
            if (call["client"], call["seq"], call["msg_id"]) in reused and (
                call["dup_reply_frames"] or call["fault"]
            ):
                continue
            if set(call["reply_frames"]) & broken:  # a reply cut by a lost fragment has no readable error
                assert first.loc[call["request_frames"][0], "reply_frame"] == call["reply_frames"][0]
                continue
            row = first.loc[call["request_frames"][0]]
            assert row["reply_frame"] == call["reply_frames"][0], (path, call["name"], call["request_frames"])
            assert row["latency"] == pytest.approx(call["latency"], abs=1e-9), (path, call["name"])
            assert row["err_code"] == (call["err_code"] or 0)
            checked += 1
        assert checked > 0


def test_every_injected_fault_is_a_finding(cases):
    for path, (truth, trace, _) in cases.items():
        if not _binary(truth):
            continue
        findings = trace.findings
        missing = set(truth["summary"].get("missing_frames", []))
        unanswered = {
            f for c in truth["calls"] if set(c["reply_frames"]) <= missing for f in c["request_frames"]
        }
        for fault in truth["faults"]:
            codes = set(EXPECTED[fault["kind"]])
            if fault["frames"] and set(fault["frames"]) <= unanswered:
                codes.add("unanswered")  # the error reply was lost or cut as well: nothing else to see
            rows = findings[findings["code"].isin(codes)]
            frames = (set(fault["frames"]) | set(fault["malformed_frames"])) - missing
            if fault["kind"] == "crash" and not frames and not _watchdog(truth, fault["vmid"]):
                continue  # the guest hung after its panic but was stopped before the watchdog bit
            if frames:
                hit = [bool(frames & set(f)) for f in rows["frames"]]
            elif fault["vmid"] is not None and fault["kind"] != "truncate_end":
                hit = (rows["vmid"] == fault["vmid"]).fillna(False).tolist()
            else:
                hit = [True] * len(rows)
            assert any(hit), (path, fault)


def _watchdog(truth: dict, vmid: int) -> bool:
    return any(i["vmid"] == vmid and i["exit"] and i["exit"]["exit_type"] == 4 for i in truth["instances"])


def test_error_counts_equal_the_simulated_ones(cases):
    for path, (truth, trace, _) in cases.items():
        if not _binary(truth):
            continue
        tx = trace.transactions
        got = tx[tx["status"] == "error"].groupby(["name", "err_code"], observed=True).size().to_dict()
        want = {(e["call"], e["err_code"]): e["count"] for e in truth["summary"]["errors"]}
        missing = set(truth["summary"].get("missing_frames", []))
        for call in truth["calls"]:  # an error reply that was cut from the capture cannot be seen
            if call["err_code"] and set(call["reply_frames"]) & missing:
                want[(call["name"], call["err_code"])] -= 1
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}, path
