"""The bundled traces show, when decoded, exactly what traces/README.md says they show.

README facts come from the truth logs (``make_traces.readme``); the README test pins the text
to them, and every other test here decodes the trace with ``decode_file`` and compares what it
finds with the truth log: malformed frames, error replies, VM states, and each trace's story.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from typing import Any

import pytest

from tests.sim.decoding import STATUS, TRACES, Decoded, decode, load_truth, make_traces_module

MT = make_traces_module()
NAMES = [spec.name for spec in MT.TRACES]


@pytest.fixture(scope="module")
def traces() -> dict[str, tuple[dict[str, Any], Decoded]]:
    out = {}
    for name in NAMES:
        truth = load_truth(os.path.join(TRACES, name + ".truth.json"))
        out[name] = (truth, decode(os.path.join(TRACES, name), truth["params"]["dialect"]))
    return out


def _expected_types(truth: dict[str, Any]) -> dict[int, str]:
    """First frame -> message type, for every message the truth log says was captured."""
    out = {}
    for c in truth["calls"]:
        if c["request_frames"]:
            out[c["request_frames"][0]] = "request"
        for frames in [c["reply_frames"], *c["dup_reply_frames"]]:
            if frames:
                out[frames[0]] = "reply"
    for n in truth["notifications"]:
        if n["frames"]:
            out[n["frames"][0]] = "notification"
    return out


def _pairs(decoded: Decoded) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, reply) pairs by (client, seq, msg_id) in capture order, from the decoded trace alone."""
    waiting: dict[tuple[int, int, int], dict[str, Any]] = {}
    pairs = []
    for m in decoded.messages:
        if m["malformed"]:
            continue
        key = (m["client_vmid"], m["seq"], m["msg_id"])
        if m["type"] == "request":
            waiting[key] = m
        elif m["type"] == "reply" and key in waiting:
            pairs.append((waiting.pop(key), m))
    return pairs


def _max_in_flight(decoded: Decoded, client: int) -> int:
    steps = []
    for request, reply in _pairs(decoded):
        if request["client_vmid"] == client:
            steps += [(request["frame"], 1), (reply["frame"], -1)]
    level = peak = 0
    for _, step in sorted(steps):
        level += step
        peak = max(peak, level)
    return peak


# ------------------------------------------------------------------ every trace
def test_bundled_files_are_small():
    for name in NAMES:
        for path in (name, name + ".truth.json"):
            assert os.path.getsize(os.path.join(TRACES, path)) < 1 << 20, path


def test_readme_is_generated_from_the_truth_logs():
    truths = {n: load_truth(os.path.join(TRACES, n + ".truth.json")) for n in NAMES}
    sizes = {n: os.path.getsize(os.path.join(TRACES, n)) for n in NAMES}
    with open(os.path.join(TRACES, "README.md"), encoding="utf-8") as f:
        assert f.read() == MT.readme(truths, sizes)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.endswith(".log")])
def test_malformed_and_missing_frames_are_exactly_the_injected_ones(traces, name):
    truth, decoded = traces[name]
    summary = truth["summary"]
    assert decoded.malformed_frames == set(summary["malformed_frames"])
    present = {f for m in decoded.messages for f in m["frames"]}
    assert not present & set(summary["missing_frames"])
    assert bool(decoded.problems) == bool(summary["missing_frames"])
    garbage = {f for fault in truth["faults"] if fault["kind"] == "garbage" for f in fault["frames"]}
    unknown = {
        m["frame"] for m in decoded.messages if not m["msg_name"] or m["msg_name"].startswith("UNKNOWN")
    }
    assert unknown <= garbage
    # every message the truth says was captured is decoded as that type, unless damaged
    broken = set(summary["malformed_frames"]) | set(summary["missing_frames"])
    decoded_types = {m["frame"]: m["type"] for m in decoded.messages if not m["malformed"]}
    for frame, kind in _expected_types(truth).items():
        if frame not in broken:
            assert decoded_types.get(frame) == kind, frame


@pytest.mark.parametrize("name", [n for n in NAMES if not n.endswith(".log")])
def test_error_replies_are_the_ones_in_the_truth(traces, name):
    truth, decoded = traces[name]
    broken = set(truth["summary"]["malformed_frames"]) | set(truth["summary"]["missing_frames"])
    want: Counter[tuple[str, int]] = Counter()
    for c in truth["calls"]:
        if c["err_code"]:
            for frames in [c["reply_frames"], *c["dup_reply_frames"]]:
                if frames and not broken & set(frames):
                    want[(c["name"], c["err_code"])] += 1
    got = Counter(
        (m["msg_name"], m["err_code"])
        for m in decoded.of(type="reply")
        if m["err_code"] and not m["malformed"]
    )
    assert got == want
    summary = Counter({(e["call"], e["err_code"]): e["count"] for e in truth["summary"]["errors"]})
    assert summary <= want + Counter()  # the README's error line lists first replies only


@pytest.mark.parametrize("name", [n for n in NAMES if not n.endswith(".log")])
def test_vm_status_notifications_match_the_real_state_changes(traces, name):
    truth, decoded = traces[name]
    broken = set(truth["summary"]["malformed_frames"]) | set(truth["summary"]["missing_frames"])
    for inst in truth["instances"]:
        for change in inst["states"]:
            frame = change["notify_frames"][0]
            if frame in broken:
                continue
            m = decoded.at(frame)
            assert m["msg_name"] == "VM_STATUS" and m["fields"]["vmid"] == inst["vmid"]
            assert STATUS[m["fields"]["vm_status"]] == change["name"]


# ------------------------------------------------------------------ each trace's story
def test_single_vm_clean(traces):
    truth, decoded = traces["single_vm_clean.pcapng"]
    statuses = [STATUS[m["fields"]["vm_status"]] for m in decoded.of(name="VM_STATUS")]
    collapsed = [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]]
    assert collapsed == ["LOAD", "INIT", "READY", "RUNNING", "EXITED", "RESETTING", "RESET"]
    os_progress = [m["fields"]["os_status"] for m in decoded.of(type="request", name="VM_SET_STATUS")]
    assert os_progress == [1, 2, 3, 4, 5]  # EARLY_BOOT, BOOT, INIT, RUN, SHUTDOWN
    writes = decoded.of(type="request", name="VM_CONSOLE_WRITE")
    chars = decoded.of(name="VM_CONSOLE_CHARS")
    assert [w["fields"]["data"] for w in writes] == [c["fields"]["bytes"] for c in chars]
    assert not [m for m in decoded.of(type="reply") if m["err_code"]]
    assert len(truth["instances"]) == 1 and truth["instances"][0]["final_state"] == "DEALLOCATED"
    # a long SGL: MEM_LEND with 512 entries and the APPEND flag, MEM_APPEND with the rest and END
    lend, reply = next((req, rep) for req, rep in _pairs(decoded) if req["msg_name"] == "MEM_LEND")
    (append,) = decoded.of(type="request", name="MEM_APPEND")
    assert (lend["fields"]["n_sgl_entries"], lend["fields"]["flags"]) == (512, 0x2)
    payload = 8 + (4 + 4) + (4 + 512 * 16) + 4  # header, 1-entry ACL list, SGL list, empty attr list
    assert len(lend["frames"]) == lend["fragments"] + 1 == math.ceil(payload / 232) == 36
    assert (
        append["fields"]["mem_handle"] == reply["fields"]["mem_handle"] and append["fields"]["flags"] == 0x1
    )
    parcel = next(p for p in truth["parcels"] if p["handle"] == reply["fields"]["mem_handle"])
    assert 512 + append["fields"]["n_sgl_entries"] == parcel["sgl_entries"]


def test_fleet_of_20(traces):
    truth, decoded = traces["fleet_20vms.pcapng"]
    allocated = [m["fields"]["vmid"] for m in decoded.of(type="reply", name="VM_ALLOCATE")]
    assert sorted(allocated) == list(range(0x80, 0x80 + 20))
    running = {m["fields"]["vmid"] for m in decoded.of(name="VM_STATUS") if m["fields"]["vm_status"] == 3}
    assert running == set(allocated)
    assert _max_in_flight(decoded, 3) > 1  # a v11 host: its VMs' calls overlap
    # boot latency: ALLOCATE request -> VM_STATUS RUNNING, measured on the decoded trace
    alloc_time = {
        rep["fields"]["vmid"]: req["time"] for req, rep in _pairs(decoded) if rep["msg_name"] == "VM_ALLOCATE"
    }
    run_time: dict[int, float] = {}
    for m in decoded.of(name="VM_STATUS"):
        if m["fields"]["vm_status"] == 3:
            run_time.setdefault(m["fields"]["vmid"], m["time"])  # the first RUNNING, not os updates
    boots = sorted(run_time[v] - alloc_time[v] for v in allocated)
    stats = truth["summary"]["boot_latency"]
    assert (boots[0], boots[-1]) == (
        pytest.approx(stats["min"], abs=1e-6),
        pytest.approx(stats["max"], abs=1e-6),
    )


def test_start_noresource(traces):
    truth, decoded = traces["start_noresource.pcapng"]
    failed = [m for m in decoded.of(type="reply", name="VM_START") if m["err_code"]]
    assert [m["err_code"] for m in failed] == [2]
    (start,) = [c for c in truth["calls"] if c["name"] == "VM_START"]
    request = next(req for req, rep in _pairs(decoded) if rep is failed[0])
    assert request["fields"]["vmid"] == start["vmid"] and request["frame"] == start["request_frames"][0]
    vmid = start["vmid"]
    lent = [
        rep["frame"]
        for req, rep in _pairs(decoded)
        if req["msg_name"] == "MEM_LEND"
        and rep["err_code"] == 0
        and vmid in [a["vmid"] for a in req["fields"]["acl"]]
    ]
    assert lent and max(lent) < request["frame"]  # its memory was lent before VM_START
    after = [m for m in decoded.messages if m["frame"] > failed[0]["frame"]]
    assert any(m["msg_name"] == "VM_STATUS" and m["fields"]["vm_status"] == 8 for m in after)  # INIT_FAILED
    host_after = [m["msg_name"] for m in after if m["type"] == "request"]
    assert host_after[-2:] == ["VM_RESET", "VM_DEALLOCATE"] and "MEM_RECLAIM" in host_after


def test_reclaim_storm(traces):
    truth, decoded = traces["reclaim_storm.pcapng"]
    ok_handles: list[int] = []
    storm = 0
    for request, reply in _pairs(decoded):
        if request["msg_name"] != "MEM_RECLAIM":
            continue
        handle = request["fields"]["mem_handle"]
        if reply["err_code"] == 0:
            ok_handles.append(handle)
        else:
            assert reply["err_code"] == 7 and handle in ok_handles  # HANDLE_INVALID for a handle already gone
            storm += 1
    assert storm == sum(1 for c in truth["calls"] if c["fault"] == "reclaim_storm") > 0


def test_watchdog_crash(traces):
    truth, decoded = traces["watchdog_crash.pcapng"]
    crashed = next(i for i in truth["instances"] if i["exit"]["exit_type"] == 4)
    exited = {m["fields"]["vmid"]: m["fields"] for m in decoded.of(name="VM_EXITED")}
    assert exited[crashed["vmid"]]["exit_type"] == 4
    assert exited[crashed["vmid"]]["exit_reason_size"] == 4
    assert [v["exit_type"] for k, v in exited.items() if k != crashed["vmid"]] != [4]
    (set_msg,) = decoded.of(type="request", name="VM_SET_CRASH_MSG")
    assert set_msg["client_vmid"] == crashed["vmid"]
    assert (
        bytes.fromhex(set_msg["fields"]["msg"]).decode()
        == set_msg["fields"]["msg_text"]
        == crashed["crash_msg"]
    )
    (get_msg,) = decoded.of(type="reply", name="VM_GET_CRASH_MSG")
    assert bytes.fromhex(get_msg["fields"]["msg"]).decode() == crashed["crash_msg"]


def test_slow_rm(traces):
    truth, decoded = traces["slow_rm.pcapng"]
    latencies = sorted(rep["time"] - req["time"] for req, rep in _pairs(decoded))
    truth_latencies = sorted(c["latency"] for c in truth["calls"] if c["latency"] is not None)
    assert latencies == pytest.approx(truth_latencies, abs=1e-6)
    slow = sum(1 for x in latencies if x > 0.01)
    assert slow == sum(1 for x in truth_latencies if x > 0.01) > 0
    spike = truth["params"]["latency"]["spikes"][0]
    start = truth["capture"]["epoch"] + spike["start"]
    inside = sorted(
        rep["time"] - req["time"]
        for req, rep in _pairs(decoded)
        if start <= req["time"] < start + spike["duration"]
    )
    after = sorted(rep["time"] - req["time"] for req, rep in _pairs(decoded) if req["time"] > start + 1.0)
    assert inside[len(inside) // 2] > 10 * after[len(after) // 2]  # medians inside vs well after the spike


def test_v17_host(traces):
    truth, decoded = traces["v17_host.pcapng"]
    boot_ctx = decoded.of(type="request", name="VM_SET_BOOT_CONTEXT")
    assert boot_ctx and {m["msg_id"] for m in boot_ctx} == {0x56000031}
    pvms = sum(1 for i in truth["instances"] if i["plan"]["pvm"])
    assert len(decoded.of(type="request", name="VM_SET_FIRMWARE_MEM")) == pvms > 0
    assert len(boot_ctx) == 2 * (len(truth["instances"]) - pvms)
    vms = len(truth["instances"])
    assert len(decoded.of(type="request", name="VM_SET_DEMAND_PAGING")) == vms
    assert len(decoded.of(type="request", name="VM_SET_ADDRESS_LAYOUT")) == vms
    for client in {m["client_vmid"] for m in decoded.of(type="request")}:
        assert _max_in_flight(decoded, client) == 1


def test_v16_boot_context(traces):
    truth, decoded = traces["v16_boot_context.pcapng"]
    boot_ctx = decoded.of(type="request", name="VM_SET_BOOT_CONTEXT")  # decoded with --dialect linux-v16
    assert boot_ctx and {m["msg_id"] for m in boot_ctx} == {0x5600000C}
    assert len(boot_ctx) == sum(1 for c in truth["calls"] if c["name"] == "VM_SET_BOOT_CONTEXT")
    default = decode(os.path.join(TRACES, "v16_boot_context.pcapng"))
    assert len(default.of(type="request", name="VM_SET_BOOT_CONTEXT_V16")) == len(boot_ctx)


def test_multi_queue(traces):
    truth, decoded = traces["multi_queue.pcapng"]
    by_client: dict[int, set[str | None]] = defaultdict(set)
    for m in decoded.messages:
        by_client[m["client_vmid"]].add(decoded.interfaces[m["frame"]])
    assert {c: names for c, names in by_client.items()} == {c: {f"rm-vm{c}"} for c in by_client}
    assert set(by_client) == {3} | {i["vmid"] for i in truth["instances"]}
    accepts = decoded.of(type="request", name="MEM_ACCEPT")
    assert accepts and all(m["client_vmid"] != 3 for m in accepts)
    accepted = decoded.of(name="MEM_ACCEPTED")
    assert sorted((m["fields"]["mem_handle"], m["fields"]["vmid"]) for m in accepted) == sorted(
        (m["fields"]["mem_handle"], m["client_vmid"]) for m in accepts
    )
    assert (
        len(decoded.of(type="request", name="VM_IRQ_ACCEPT")) == len(decoded.of(name="VM_IRQ_ACCEPTED")) > 0
    )


def test_dmesg_hexlog(traces):
    truth, decoded = traces["dmesg_hexlog.log"]
    host = [c for c in truth["calls"] if c["client"] == 3]
    assert [m["msg_name"] for m in decoded.of(type="request")] == [c["name"] for c in host]
    assert len(decoded.of(type="reply")) == sum(1 for c in host if c["reply_frames"])
    to_host = [n for n in truth["notifications"] if n["to"] == 3]
    assert [m["msg_name"] for m in decoded.of(type="notification")] == [n["name"] for n in to_host]
    assert [m for m in decoded.messages if m["malformed"]] == []


def test_faults_mix(traces):
    truth, decoded = traces["faults_mix.pcapng"]
    kinds = truth["summary"]["faults_by_kind"]
    assert {"error", "lost_fragment", "lost_reply", "reused_seq", "garbage"} <= set(kinds)
    lost = [c for c in truth["calls"] if c["fault"] == "lost_reply"]
    answered = {(req["frame"]) for req, _ in _pairs(decoded)}
    assert all(c["request_frames"][0] not in answered or c["reused_seq_of"] is not None for c in lost)


def test_hang(traces):
    truth, decoded = traces["hang.pcap"]
    hangs = {f["vmid"]: f["detail"] for f in truth["faults"] if f["kind"] == "hang"}
    assert len(hangs) == 2
    for vmid, detail in hangs.items():
        statuses = [m["fields"] for m in decoded.of(name="VM_STATUS") if m["fields"]["vmid"] == vmid]
        if detail["state"] == "RESETTING":
            assert statuses[-1]["vm_status"] == 10  # still RESETTING at the end of the capture
            assert not [
                m for m in decoded.of(type="request", name="VM_DEALLOCATE") if m["fields"]["vmid"] == vmid
            ]
        else:
            assert max(s["os_status"] for s in statuses) == 2  # never got past BOOT
            assert [m for m in decoded.of(type="request", name="VM_STOP") if m["fields"]["vmid"] == vmid]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("malformed_truncated.pcapng", None),
        ("malformed_corrupt_block.pcapng", None),
        ("malformed_stray_continuation.pcapng", "continuation"),
        ("malformed_bad_api.pcapng", "api byte"),
    ],
)
def test_malformed_traces_are_damaged_where_the_truth_says(traces, name, words):
    truth, decoded = traces[name]
    (damage,) = truth["damage"]
    with open(os.path.join(TRACES, name), "rb") as f:
        blob = f.read()
    if damage["kind"] == "truncate_end":
        assert len(blob) == damage["offset"]
    if damage["kind"] == "bad_api_byte":
        assert blob[damage["offset"]] == 0x31
    if words is None:
        assert decoded.problems and damage["frame"] not in {f for m in decoded.messages for f in m["frames"]}
    else:
        (bad,) = [m for m in decoded.messages if m["malformed"]]
        assert bad["frame"] == damage["frame"] and words in bad["malformed"]
