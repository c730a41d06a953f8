"""Simulated captures obey protocol.md (1.4-1.6, 4, 5, 6, 8), checked with the real decoder.

Each check compares what ``ghrm decode`` reads from the capture with the protocol rule or with
the truth log; nothing is taken from the simulator's internals. Three small runs are shared by
the module: a clean v11 fleet with VMID reuse, a clean v17 host, and a v11 run full of faults.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from typing import Any

import pytest

from dissector.sim import Workload, simulate
from tests.sim.decoding import STATUS, Decoded, decode, load_truth, raw_records

EPOCH = 1767225600.0
FAULTS = (
    "error=0.03,lost_reply=0.02,dup_reply=0.03,reused_seq=0.03,crash=0.25,start_fail=0.1,"
    "init_fail=0.1,hang=0.1,reclaim_storm=0.2,lost_fragment=0.3,garbage=0.005,start_fail@2,init_fail@3"
)
RUNS: dict[str, dict[str, Any]] = {
    "v11": {"vms": 8, "seed": 21, "duration": 2.5, "boots_per_vm": 2},
    "v17": {"vms": 4, "seed": 22, "duration": 2.5, "boots_per_vm": 2, "host": "v17", "dialect": "linux-v17"},
    "faulty": {
        "vms": 6,
        "seed": 23,
        "duration": 2.5,
        "boots_per_vm": 2,
        "faults": FAULTS,
        "workload": Workload(sgl_median=60.0, sgl_max=1200),
    },
}
# vm_status transitions RM makes (protocol.md 4.1, 6.1)
LEGAL = {
    None: {"LOAD"},
    "LOAD": {"INIT", "RESETTING"},
    "INIT": {"READY", "INIT_FAILED", "RESETTING"},
    "READY": {"RUNNING", "INIT_FAILED", "RESETTING"},
    "RUNNING": {"EXITED"},
    "INIT_FAILED": {"RESETTING"},
    "EXITED": {"RESETTING"},
    "RESETTING": {"RESET"},
    "RESET": set(),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Decoded, str]]:
    out = {}
    base = tmp_path_factory.mktemp("sim")
    for name, params in RUNS.items():
        path = os.path.join(base, f"{name}.pcapng")
        result = simulate(output=path, **params)
        assert result.truth_path is not None
        out[name] = (load_truth(result.truth_path), decode(path, params.get("dialect", "rm")), path)
    return out


def _requests(decoded: Decoded) -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    by_key: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    for m in decoded.of(type="request"):
        by_key[(m["client_vmid"], m["seq"], m["msg_id"])].append(m)
    return by_key


@pytest.mark.parametrize("run", ["v11", "v17"])
def test_clean_runs_decode_without_malformed_or_unknown_messages(runs, run):
    truth, decoded, _ = runs[run]
    assert decoded.problems == []
    assert [m for m in decoded.messages if m["malformed"]] == []
    assert [m for m in decoded.messages if m["msg_name"].startswith("UNKNOWN")] == []
    assert truth["summary"]["errors"] == []
    assert len(decoded.messages) == sum(truth["summary"]["messages"].values())


def test_faulty_run_is_malformed_exactly_at_the_injected_frames(runs):
    truth, decoded, _ = runs["faulty"]
    expected = set(truth["summary"]["malformed_frames"])
    assert expected, "the faulty run should have lost fragments or garbage"
    assert decoded.malformed_frames == expected
    garbage = {f for fault in truth["faults"] if fault["kind"] == "garbage" for f in fault["frames"]}
    unknown = {
        m["frame"] for m in decoded.messages if m["msg_name"] is None or m["msg_name"].startswith("UNKNOWN")
    }
    assert unknown <= garbage


@pytest.mark.parametrize("run", ["v11", "v17", "faulty"])
def test_replies_echo_seq_and_msg_id_of_their_request(runs, run):
    truth, decoded, _ = runs[run]
    checked = 0
    for call in truth["calls"]:
        if not call["reply_frames"] or not call["request_frames"]:
            continue
        request = decoded.at(call["request_frames"][0])
        for frames in [call["reply_frames"], *call["dup_reply_frames"]]:
            reply = decoded.at(frames[0])
            if reply["frame"] in truth["summary"]["malformed_frames"]:
                continue  # a continuation of it was lost: the decoder cannot read the error code
            assert reply["type"] == "reply" and reply["direction"] == "from_rm"
            assert (reply["client_vmid"], reply["seq"], reply["msg_id"]) == (
                request["client_vmid"],
                request["seq"],
                request["msg_id"],
            )
            assert reply["err_code"] == call["err_code"]
            assert reply["frame"] > request["frames"][-1]
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("run", ["v11", "v17", "faulty"])
def test_every_reply_answers_an_earlier_request(runs, run):
    _, decoded, _ = runs[run]
    requests = _requests(decoded)
    for reply in decoded.of(type="reply"):
        if reply["malformed"]:
            continue  # garbage records may look like replies
        key = (reply["client_vmid"], reply["seq"], reply["msg_id"])
        assert any(r["frame"] < reply["frame"] for r in requests.get(key, [])), reply


@pytest.mark.parametrize("run", ["v11", "v17"])
def test_notification_seq_comes_from_one_rm_global_counter(runs, run):
    _, decoded, _ = runs[run]
    notifs = decoded.of(type="notification")
    assert sorted(n["seq"] for n in notifs) == list(range(len(notifs)))  # no gap, no repeat
    per_queue: dict[int, list[int]] = defaultdict(list)
    for n in notifs:
        per_queue[n["client_vmid"]].append(n["seq"])
    assert len(per_queue) > 1  # shared across destination VMs ...
    for seqs in per_queue.values():
        assert seqs == sorted(seqs)  # ... and increasing on each queue


@pytest.mark.parametrize("run", ["v11", "v17"])
def test_request_seqs_are_allocated_like_linux(runs, run):
    truth, decoded, _ = runs[run]
    per_client: dict[int, list[int]] = defaultdict(list)
    for m in decoded.of(type="request"):
        per_client[m["client_vmid"]].append(m["seq"])
    assert per_client[3] == list(range(len(per_client[3])))  # cyclic from 0, nothing outstanding reused
    guest_instances: dict[int, int] = defaultdict(int)
    for inst in truth["instances"]:
        if any(s["name"] == "RUNNING" for s in inst["states"]):
            guest_instances[inst["vmid"]] += 1
    for client, seqs in per_client.items():
        if client == 3:
            continue
        restarts = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
        assert seqs[0] == 0
        assert all(b in (a + 1, 0) for a, b in itertools.pairwise(seqs))
        assert restarts == guest_instances[client] - 1  # a new guest kernel starts again at 0


def _outstanding(truth: dict[str, Any], client: int) -> int:
    """Most requests of ``client`` in flight at once, from request/reply frames."""
    events = []
    for c in truth["calls"]:
        if c["client"] == client and c["request_frames"] and c["reply_frames"]:
            events += [(c["request_frames"][0], 1), (c["reply_frames"][0], -1)]
    level = peak = 0
    for _, step in sorted(events):
        level += step
        peak = max(peak, level)
    return peak


def test_v17_host_has_one_request_in_flight_and_v11_several(runs):
    truth17 = runs["v17"][0]
    for client in {c["client"] for c in truth17["calls"]}:
        assert _outstanding(truth17, client) == 1
    assert _outstanding(runs["v11"][0], 3) > 1


@pytest.mark.parametrize("run", ["v11", "faulty"])
def test_fragments_are_counted_and_split_at_240_bytes(runs, run):
    truth, decoded, path = runs[run]
    records = {r.number: r for r in raw_records(path)}
    assert all(
        8 <= len(r.data) <= 240 or r.number in truth["summary"]["malformed_frames"] for r in records.values()
    )
    lost = {f for fault in truth["faults"] if fault["kind"] == "lost_fragment" for f in fault["frames"]}
    multi = 0
    for m in decoded.messages:
        if m["malformed"] or m["frame"] in lost:
            continue
        payload = sum(len(records[f].data) - 8 for f in m["frames"])
        assert m["fragments"] == max(0, math.ceil(payload / 232) - 1)
        assert len(m["frames"]) == m["fragments"] + 1
        assert all(len(records[f].data) == 240 for f in m["frames"][:-1])
        multi += m["fragments"] > 0
    assert multi > 0


@pytest.mark.parametrize("run", ["v11", "v17", "faulty"])
def test_vm_status_notifications_follow_the_state_machine_and_the_truth(runs, run):
    truth, decoded, _ = runs[run]
    for inst in truth["instances"]:
        seen = [decoded.at(s["notify_frames"][0]) for s in inst["states"] if s["notify_frames"]]
        names = [STATUS[m["fields"]["vm_status"]] for m in seen]
        assert names == [s["name"] for s in inst["states"] if s["notify_frames"]]
        assert all(m["fields"]["vmid"] == inst["vmid"] and m["client_vmid"] == 3 for m in seen)
        previous = None
        for name in names:
            assert name in LEGAL[previous], (inst["vmid"], previous, name)
            previous = name


@pytest.mark.parametrize("run", ["v11", "faulty"])
def test_exits_carry_type_and_reason_words(runs, run):
    truth, decoded, _ = runs[run]
    exits = [i for i in truth["instances"] if i["exit"]]
    assert exits
    for inst in exits:
        ex = inst["exit"]
        m = decoded.at(ex["notify_frames"][0])
        assert m["msg_name"] == "VM_EXITED" and m["fields"]["vmid"] == inst["vmid"]
        assert m["fields"]["exit_type"] == ex["exit_type"]
        assert m["fields"]["exit_reason_size"] == (16 if ex["exit_type"] == 3 else 4)
        assert m["fields"]["exit_reason"].get("exit_flags", 0) == ex["exit_flags"]
        if ex["exit_type"] in (0, 7):  # VM_EXIT call by the guest / VM_STOP by the host
            cause = decoded.at(ex["cause_frames"][0])
            assert cause["msg_name"] == ("VM_EXIT" if ex["exit_type"] == 0 else "VM_STOP")
            assert cause["client_vmid"] == (inst["vmid"] if ex["exit_type"] == 0 else 3)
        else:  # a hypervisor event, no RPC
            assert ex["cause_frames"] == []


def _host_calls_for(truth: dict[str, Any], decoded: Decoded, inst: dict[str, Any]) -> list[str]:
    """Decoded names of the host's requests about one VM instance, in capture order."""
    start = inst["alloc"]["frames"][0]
    end = inst["dealloc"]["frames"][0] if inst["dealloc"] else 1 << 60
    names = []
    for c in truth["calls"]:
        if c["client"] == 3 and c["vmid"] == inst["vmid"] and start < c["request_frames"][0] <= end:
            names.append(decoded.at(c["request_frames"][0])["msg_name"])
    return names


def test_v11_host_boots_and_tears_down_like_protocol_md_8(runs):
    truth, decoded, _ = runs["v11"]
    for inst in truth["instances"]:
        names = _host_calls_for(truth, decoded, inst)
        core = [n for n in names if n not in ("MEM_APPEND", "MEM_SHARE")]
        boot = core[: core.index("VM_START") + 1]
        assert boot[0] == "MEM_LEND"
        assert [n for n in boot if n.startswith("VM_")] == [
            "VM_CONFIG_IMAGE",
            "VM_INIT",
            "VM_GET_HYP_RESOURCES",
            "VM_START",
        ]
        tail = [n for n in names[names.index("VM_START") + 1 :] if n not in ("MEM_NOTIFY", "VM_IRQ_NOTIFY")]
        teardown = tail[tail.index("MEM_RECLAIM") - (1 if "VM_STOP" in tail else 0) :]
        assert teardown[-2:] == ["VM_RESET", "VM_DEALLOCATE"]
        assert set(teardown[:-2]) <= {"VM_STOP", "MEM_RECLAIM", "VM_IRQ_RECLAIM"}
        # DEALLOCATE only after VM_STATUS RESET came
        reset = next(s for s in inst["states"] if s["name"] == "RESET")
        assert reset["notify_frames"][0] < inst["dealloc"]["frames"][0]


def test_v17_host_sends_the_gy_b_sequence(runs):
    truth, decoded, _ = runs["v17"]
    for inst in truth["instances"]:
        names = [n for n in _host_calls_for(truth, decoded, inst) if not n.startswith("MEM_")]
        boot = names[: names.index("VM_START") + 1]
        expected = ["VM_CONFIG_IMAGE"]
        if inst["plan"]["pvm"]:
            expected += ["VM_SET_FIRMWARE_MEM"]
        expected += ["VM_SET_DEMAND_PAGING", "VM_SET_ADDRESS_LAYOUT", "VM_INIT"]
        if not inst["plan"]["pvm"]:
            expected += ["VM_SET_BOOT_CONTEXT", "VM_SET_BOOT_CONTEXT"]
        assert boot == [*expected, "VM_GET_HYP_RESOURCES", "VM_START"]
    ids = {m["msg_id"] for m in decoded.of(type="request", name="VM_SET_BOOT_CONTEXT")}
    assert ids == {0x56000031}


@pytest.mark.parametrize("run", ["v11", "v17", "faulty"])
def test_latencies_in_the_truth_are_what_the_capture_shows(runs, run):
    truth, decoded, _ = runs[run]
    for call in truth["calls"]:
        if call["latency"] is None:
            continue
        request, reply = decoded.at(call["request_frames"][0]), decoded.at(call["reply_frames"][0])
        assert reply["time"] - request["time"] == pytest.approx(call["latency"], abs=1e-6)
        assert request["time"] >= EPOCH


@pytest.mark.parametrize("run", ["v11", "faulty"])
def test_parcels_are_lent_with_append_beyond_512_entries(runs, run):
    truth, decoded, _ = runs[run]
    appended = 0
    broken = set(truth["summary"]["malformed_frames"])
    for parcel in truth["parcels"]:
        if broken & {f for refs in parcel["events"].values() for frames in refs for f in frames}:
            continue  # a continuation of one of its messages is missing from the capture
        create = decoded.at(parcel["events"]["create"][0][0])
        appends = [decoded.at(f[0]) for f in parcel["events"]["append"]]
        assert create["fields"]["n_sgl_entries"] <= 512
        assert [v for v, _p in ((a["vmid"], a["perms"]) for a in create["fields"]["acl"])] == [
            a["vmid"] for a in parcel["acl"]
        ]
        entries = create["fields"]["sgl"] + [e for a in appends for e in a["fields"]["sgl"]]
        assert len(entries) == parcel["sgl_entries"]
        assert sum(e["size"] for e in entries) == parcel["total_size"]
        assert bool(create["fields"]["flags"] & 0x2) == bool(appends)  # APPEND flag iff appends follow
        if appends and parcel["final_state"] != "created":
            assert [a["fields"]["flags"] for a in appends][-1] & 0x1  # the last one says END
        appended += bool(appends)
    if run == "faulty":
        assert appended > 0


def test_guests_accept_what_the_host_lends_them(runs):
    truth, decoded, _ = runs["v11"]
    flows = 0
    for parcel in truth["parcels"]:
        for frames in parcel["events"]["shared_notif"]:
            shared = decoded.at(frames[0])
            borrower = shared["client_vmid"]
            accept = decoded.at(parcel["events"]["accept"][-1][0])
            assert shared["msg_name"] == "MEM_SHARED" and shared["fields"]["mem_handle"] == parcel["handle"]
            assert accept["msg_name"] == "MEM_ACCEPT" and accept["client_vmid"] == borrower
            assert accept["frame"] > shared["frame"]
            accepted = decoded.at(parcel["events"]["accepted_notif"][0][0])
            assert (accepted["client_vmid"], accepted["fields"]["vmid"]) == (3, borrower)
            flows += 1
    for irq in truth["irqs"]:
        if irq["events"]["lent_notif"] and irq["events"]["accept"]:
            lent = decoded.at(irq["events"]["lent_notif"][0][0])
            accept = decoded.at(irq["events"]["accept"][0][0])
            assert lent["client_vmid"] == accept["client_vmid"] == irq["borrower"]
            assert accept["fields"]["virq_handle"] == irq["handle"]
            flows += 1
    assert flows > 0


# error codes protocol.md / the RM handlers give for these calls
REAL_CODES = {
    "VM_START": {2, 3, 0x14},
    "MEM_RECLAIM": {3, 7, 0xB},
    "MEM_LEND": {1, 3, 6, 0xA},
    "MEM_SHARE": {1, 3, 6, 0xA},
    "VM_INIT": {1, 6, 0x14},
    "VM_ALLOCATE": {1, 2, 6},
}


def test_error_replies_use_codes_the_call_really_returns(runs):
    _, decoded, _ = runs["faulty"]
    seen = 0
    for reply in decoded.of(type="reply"):
        if reply["err_code"] and reply["msg_name"] in REAL_CODES:
            assert reply["err_code"] in REAL_CODES[reply["msg_name"]], reply
            seen += 1
    assert seen > 0


def test_a_vm_that_failed_to_start_is_torn_down(runs):
    truth, decoded, _ = runs["faulty"]
    failed = [i for i in truth["instances"] if any(s["name"] == "INIT_FAILED" for s in i["states"])]
    assert failed
    for inst in failed:
        names = _host_calls_for(truth, decoded, inst)
        after = names[names.index("VM_START" if "VM_START" in names else "VM_INIT") + 1 :]
        assert "VM_START" not in after
        assert "VM_RESET" in after


def test_fault_records_point_at_what_the_capture_shows(runs):
    truth, decoded, _ = runs["faulty"]
    kinds = {f["kind"] for f in truth["faults"]}
    assert {"lost_reply", "dup_reply", "reused_seq", "lost_fragment", "garbage"} <= kinds
    requests = _requests(decoded)
    broken = set(truth["summary"]["malformed_frames"])
    for call in truth["calls"]:
        if broken & set(call["reply_frames"] + [f for d in call["dup_reply_frames"] for f in d]):
            continue  # a continuation is missing from the capture
        if call["fault"] == "lost_reply":
            assert call["reply_frames"] == [] and call["timed_out"]
        if call["fault"] == "dup_reply":
            first, dup = decoded.at(call["reply_frames"][0]), decoded.at(call["dup_reply_frames"][0][0])
            assert (first["seq"], first["msg_id"], first["err_code"]) == (
                dup["seq"],
                dup["msg_id"],
                dup["err_code"],
            )
        if call["fault"] == "reused_seq":
            earlier = truth["calls"][call["reused_seq_of"]]
            assert call["seq"] == earlier["seq"] and call["client"] == earlier["client"]
            key = (call["client"], call["seq"], decoded.at(call["request_frames"][0])["msg_id"])
            assert decoded.at(call["request_frames"][0]) in requests[key]


def test_vmids_are_reused_as_new_instances(runs):
    truth, decoded, _ = runs["v11"]
    by_vmid: dict[int, list[int]] = defaultdict(list)
    for inst in truth["instances"]:
        by_vmid[inst["vmid"]].append(inst["instance"])
    assert any(v == [1, 2] for v in by_vmid.values())
    allocated = [m["fields"]["vmid"] for m in decoded.of(type="reply", name="VM_ALLOCATE")]
    assert sorted(allocated) == sorted(i["vmid"] for i in truth["instances"])
    assert all(0x80 <= v < 0xC0 for v in allocated)


@pytest.mark.parametrize("dialect", ["rm", "linux-v16", "linux-v17"])
def test_boot_context_id_is_the_dialects_number_for_the_call(dialect):
    """The simulator speaks only dialects the protocol tables declare, with their numbering."""
    from dissector.protocol.dialects import DIALECTS as PROTOCOL_DIALECTS
    from dissector.sim.config import DIALECTS, SimConfig

    assert set(DIALECTS) <= set(PROTOCOL_DIALECTS)
    expected = 0x5600000C if dialect == "linux-v16" else 0x56000031  # protocol.md: the v16 renumbering
    assert SimConfig(dialect=dialect).boot_context_id == expected
