"""Regenerate the bundled traces, their truth logs and ``traces/README.md``.

    python traces/make_traces.py            # rewrite everything in traces/
    python traces/make_traces.py --check    # regenerate into a temp dir and compare

Each trace is a name, a seed and ``simulate`` parameters (plus, for the malformed ones, a
deterministic change to the clean capture, recorded in the truth log's ``damage``). The README
is generated too: its numbers come from the truth logs, so it cannot drift from the files.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from dissector.sim import Spike, simulate  # noqa: E402
from dissector.sim.config import Workload  # noqa: E402
from dissector.sim.damage import bad_api_byte, corrupt_block, stray_continuation  # noqa: E402
from dissector.sim.latency import LatencyModel  # noqa: E402
from dissector.sim.truth import Damage  # noqa: E402

MAX_BYTES = 1 << 20  # every bundled file stays under 1 MB
Truth = dict[str, Any]


@dataclass(frozen=True)
class TraceSpec:
    """One bundled trace: how to make it and what it is for."""

    name: str  # file name in traces/
    title: str
    story: str  # what happened, in words
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    damage: Callable[[str, Truth], Damage] | None = None  # post-processing of the clean capture
    find: Callable[[Truth], list[str]] | None = None  # trace-specific facts for the README


# ------------------------------------------------------------------ truth queries (shared with tests)
def calls(truth: Truth, name: str | None = None, *, err: int | None = None) -> list[dict[str, Any]]:
    """Calls of the truth log, by name and error code (``err=0``: only successful ones)."""
    out = truth["calls"]
    if name is not None:
        out = [c for c in out if c["name"] == name]
    if err is not None:
        out = [c for c in out if c["err_code"] == err]
    return out


def notifications(truth: Truth, name: str) -> list[dict[str, Any]]:
    return [n for n in truth["notifications"] if n["name"] == name]


def first_status_notification(truth: Truth, status: str) -> int:
    """Frame of the first VM_STATUS that announced ``status`` (for choosing damage targets)."""
    for inst in truth["instances"]:
        for change in inst["states"]:
            if change["name"] == status and change["notify_frames"]:
                return change["notify_frames"][0]
    raise LookupError(f"no VM_STATUS {status} in this run")


def _vmid(v: int) -> str:
    return f"{v:#x}"


# ------------------------------------------------------------------ per-trace facts
def _find_single(truth: Truth) -> list[str]:
    (inst,) = truth["instances"]
    main = next(p for p in truth["parcels"] if p["events"]["append"])
    create = calls(truth, "MEM_LEND")[0]
    states = " -> ".join(s["name"] for s in inst["states"])
    return [
        f"VM {_vmid(inst['vmid'])} goes {states}, then VM_DEALLOCATE",
        f"its main memory is one parcel of {main['sgl_entries']} SGL entries: MEM_LEND with the first 512 "
        f"and the APPEND flag ({len(create['request_frames'])} records, frames {create['request_frames'][0]}-"
        f"{create['request_frames'][-1]}), then MEM_APPEND with the rest and the END flag",
        f"the guest's boot progress: os status EARLY_BOOT, BOOT, INIT, RUN, then SHUTDOWN; it exits with "
        f"{inst['exit']['exit_type_name']}",
    ]


def _find_noresource(truth: Truth) -> list[str]:
    (start,) = calls(truth, "VM_START", err=2)
    lends = [c for c in calls(truth, "MEM_LEND", err=0) if c["vmid"] == start["vmid"]]
    return [
        f"exactly one VM_START reply with err_code 2 (NORESOURCE), frame {start['reply_frames'][0]}, "
        f"for VMID {_vmid(start['vmid'])} (request frame {start['request_frames'][0]})",
        f"{len(lends)} MEM_LEND call(s) for that VM succeeded before it (memory was lent first)",
        "a VM_STATUS INIT_FAILED for that VMID right after the reply, then MEM_RECLAIM, VM_RESET, "
        "VM_STATUS RESET and VM_DEALLOCATE",
    ]


def _find_storm(truth: Truth) -> list[str]:
    storm = [c for c in calls(truth, "MEM_RECLAIM") if c["fault"] == "reclaim_storm"]
    ok = calls(truth, "MEM_RECLAIM", err=0)
    return [
        f"{len(ok)} MEM_RECLAIM calls answered OK, then {len(storm)} more for the same handles, "
        f"every one answered 7 (HANDLE_INVALID), "
        f"frames {storm[0]['reply_frames'][0]}-{storm[-1]['reply_frames'][0]}",
        "the log line a Linux host prints for each: `RM rejected message 51000015. Error: 7`",
    ]


def _find_crash(truth: Truth) -> list[str]:
    inst = next(i for i in truth["instances"] if i["exit"] and i["exit"]["exit_type"] == 4)
    ex = inst["exit"]
    return [
        f"VM {_vmid(inst['vmid'])} set its crash message `{inst['crash_msg']}` (VM_SET_CRASH_MSG), "
        f"then VM_EXITED exit_type 4 (WATCHDOG_BITE) at frame {ex['notify_frames'][0]}, "
        f"exit reason word {ex['reason_hex']} (flags 0, code 0)",
        "the host read the message back with VM_GET_CRASH_MSG before tearing the VM down",
    ]


def _find_slow(truth: Truth) -> list[str]:
    spike = truth["params"]["latency"]["spikes"][0]
    slow = [c for c in truth["calls"] if c["latency"] is not None and c["latency"] > 0.01]
    worst = max(truth["calls"], key=lambda c: c["latency"] or 0)
    return [
        f"RM service times x{spike['factor']:g} from {spike['start']:g} s for {spike['duration']:g} s "
        f"after the capture start",
        f"{len(slow)} calls took more than 10 ms; the slowest is {worst['name']} "
        f"({worst['latency'] * 1000:.1f} ms, request frame {worst['request_frames'][0]})",
    ]


def _find_v17(truth: Truth) -> list[str]:
    pvms = sum(1 for i in truth["instances"] if i["plan"]["pvm"])
    return [
        f"{len(calls(truth, 'VM_SET_BOOT_CONTEXT'))} VM_SET_BOOT_CONTEXT (0x56000031), "
        f"{len(calls(truth, 'VM_SET_DEMAND_PAGING'))} VM_SET_DEMAND_PAGING, "
        f"{len(calls(truth, 'VM_SET_ADDRESS_LAYOUT'))} VM_SET_ADDRESS_LAYOUT, "
        f"{len(calls(truth, 'VM_SET_FIRMWARE_MEM'))} VM_SET_FIRMWARE_MEM ({pvms} Android pVM)",
        "never more than one request outstanding per queue pair (the v17 driver's send lock)",
    ]


def _find_v16(truth: Truth) -> list[str]:
    n = len(calls(truth, "VM_SET_BOOT_CONTEXT"))
    return [
        f"{n} VM_SET_BOOT_CONTEXT requests with msg_id 0x5600000C: decode with `--dialect linux-v16` "
        "to see that name (the default rm dialect calls it VM_SET_BOOT_CONTEXT_V16)",
    ]


def _find_multi(truth: Truth) -> list[str]:
    vmids = sorted({c["client"] for c in truth["calls"]})
    return [
        f"{len(vmids)} queue pairs, one pcapng interface each: " + ", ".join(f"rm-vm{v}" for v in vmids),
        f"{len(calls(truth, 'MEM_ACCEPT'))} MEM_ACCEPT and "
        f"{len(calls(truth, 'VM_IRQ_ACCEPT'))} VM_IRQ_ACCEPT "
        f"on guest queues, answered by {len(notifications(truth, 'MEM_ACCEPTED'))} MEM_ACCEPTED and "
        f"{len(notifications(truth, 'VM_IRQ_ACCEPTED'))} VM_IRQ_ACCEPTED notifications to the host",
    ]


def _find_hexlog(truth: Truth) -> list[str]:
    host = [c for c in truth["calls"] if c["client"] == 3]
    return [
        f"{len(host)} `gh_rm_call TX` request dumps (the host's requests; no seq: the driver does not "
        "print the header) and a `gh_rm_recv` dump for every message the host received",
        "timestamps are dmesg seconds since the simulated host boot (the epoch of the other traces)",
    ]


def _find_faults(truth: Truth) -> list[str]:
    kinds = truth["summary"]["faults_by_kind"]
    return [
        "injected: " + ", ".join(f"{k} {n}" for k, n in kinds.items()),
        f"malformed messages at frames {truth['summary']['malformed_frames']} exactly "
        "(lost continuations and garbage records), nowhere else",
    ]


def _find_hang(truth: Truth) -> list[str]:
    out = []
    for f in truth["faults"]:
        if f["kind"] == "hang":
            where = "stuck in RESETTING (no VM_STATUS RESET ever came)"
            if f["detail"].get("state") == "RUNNING":
                where = "guest stuck at os status BOOT; the host force-stopped it after its boot timeout"
            out.append(f"VM {_vmid(f['vmid'])}: {where}")
    return out


def _find_damage(truth: Truth) -> list[str]:
    out = []
    for d in truth["damage"]:
        detail = d["detail"]
        out.append(f"{d['kind']}: {detail['what']} (byte offset {d['offset']}, {d['length']} byte(s))")
        if detail["malformed_frames"]:
            out.append(f"malformed message(s) at frame(s) {detail['malformed_frames']}")
        if detail["missing_frames"]:
            out.append(
                f"frame(s) {detail['missing_frames']} cannot be read; the reader reports a capture problem"
            )
    return out


# ------------------------------------------------------------------ damage steps
def _corrupt(path: str, truth: Truth) -> Damage:
    return corrupt_block(path, first_status_notification(truth, "RUNNING"))


def _stray(path: str, truth: Truth) -> Damage:
    return stray_continuation(path, "pcapng", first_status_notification(truth, "READY"))


def _bad_api(path: str, truth: Truth) -> Damage:
    start = calls(truth, "VM_START")[0]
    return bad_api_byte(path, "pcapng", start["request_frames"][0])


_ONE = {"boots_per_vm": 1}
_CLEAN_1 = {"vms": 1, "duration": 2.0, **_ONE}

TRACES: tuple[TraceSpec, ...] = (
    TraceSpec(
        "single_vm_clean.pcapng",
        "One VM: clean boot and shutdown",
        "A v11 host boots one guest (ALLOCATE, MEM_LEND/SHARE, CONFIG_IMAGE, INIT, GET_HYP_RESOURCES, "
        "START), the guest reports its boot progress and writes to its console, then the VM ends and "
        "the host tears it down (STOP if needed, MEM_RECLAIM, RESET, wait for RESET, DEALLOCATE).",
        seed=1,
        params={**_CLEAN_1, "workload": Workload(sgl_median=700.0, sgl_sigma=0.0, shared_region_prob=1.0)},
        find=_find_single,
    ),
    TraceSpec(
        "fleet_20vms.pcapng",
        "A fleet of 20 VMs booting concurrently",
        "A v11 host boots 20 guests at once; its requests for different VMs overlap and the RM "
        "queues them. Every VM boots, runs and is torn down.",
        seed=2,
        params={"vms": 20, "duration": 2.0, **_ONE, "workload": Workload(sgl_median=6.0, sgl_max=64)},
    ),
    TraceSpec(
        "start_noresource.pcapng",
        "A VM that fails to start: NORESOURCE after its memory was lent",
        "The host lends the VM its memory and configures it; VM_START is answered NORESOURCE (the "
        "error seen in the wild: `RM rejected message 56000004. Error: 2`), the VM goes to "
        "INIT_FAILED and the host tears it down.",
        seed=3,
        params={**_CLEAN_1, "faults": "start_fail@1"},
        find=_find_noresource,
    ),
    TraceSpec(
        "reclaim_storm.pcapng",
        "A reclaim storm answered HANDLE_INVALID",
        "At teardown the host reclaims its parcels, then (a retry bug) reclaims them again and again; "
        "the RM answers every stale handle HANDLE_INVALID (`RM rejected message 51000015. Error: 7`).",
        seed=4,
        params={**_CLEAN_1, "faults": "reclaim_storm@1"},
        find=_find_storm,
    ),
    TraceSpec(
        "watchdog_crash.pcapng",
        "A guest crash: watchdog bite and its exit reason",
        "Two VMs boot; the first panics, leaves a crash message and hangs until its watchdog bites. "
        "The RM reports VM_EXITED with exit type WATCHDOG_BITE; the host reads the crash message "
        "and tears the VM down. The other VM runs normally.",
        seed=5,
        params={"vms": 2, "duration": 2.5, **_ONE, "faults": "crash@1"},
        find=_find_crash,
    ),
    TraceSpec(
        "slow_rm.pcapng",
        "A slow RM: a one-second latency spike while VMs boot and reboot",
        "Four VM slots boot, run and reboot for 6 s; from 2 s to 3 s the RM serves every call 10 "
        "times slower. Requests queue up behind the slow ones and the boots in that second stretch. "
        "`ghrm findings` reports it as one `slow_window`.",
        seed=6,
        params={
            "vms": 4,
            "duration": 6.0,
            "boots_per_vm": 0,
            "latency": LatencyModel(spikes=(Spike(2.0, 1.0, 10.0),)),
        },
        find=_find_slow,
    ),
    TraceSpec(
        "v17_host.pcapng",
        "A v17-style host (GY-B call sequence)",
        "A v17 host boots three VMs, one request at a time: SET_FIRMWARE_MEM for Android pVMs, "
        "SET_DEMAND_PAGING, SET_ADDRESS_LAYOUT and SET_BOOT_CONTEXT (0x56000031) for the others.",
        seed=8,
        params={"vms": 3, "duration": 2.0, **_ONE, "host": "v17", "dialect": "linux-v17"},
        find=_find_v17,
    ),
    TraceSpec(
        "v16_boot_context.pcapng",
        "A v16 dialect host: VM_SET_BOOT_CONTEXT at 0x5600000C",
        "The same v17-style sequence as sent by the v15/v16 series and GY-A kernels, whose "
        "VM_SET_BOOT_CONTEXT has id 0x5600000C.",
        seed=7,
        params={
            "vms": 2,
            "duration": 2.0,
            **_ONE,
            "host": "v17",
            "dialect": "linux-v16",
            "workload": Workload(pvm_prob=0.0),
        },
        find=_find_v16,
    ),
    TraceSpec(
        "multi_queue.pcapng",
        "Several queue pairs in one pcapng",
        "Three VMs; the host lends each runtime parcels and IRQs, and each guest accepts them on "
        "its own queue pair. One pcapng interface per client VMID (rm-vm3 for the host).",
        seed=9,
        params={
            "vms": 3,
            "duration": 2.0,
            **_ONE,
            "workload": Workload(runtime_shares=(1, 2), runtime_irqs=(1, 2)),
        },
        find=_find_multi,
    ),
    TraceSpec(
        "dmesg_hexlog.log",
        "A kernel dmesg hex-dump log",
        "One VM's life as the host's Qualcomm RM driver prints it with dynamic debug on: "
        "`gh_rm_call TX msg_id:` + `gh_rm_call TX:` payload dumps of requests and `gh_rm_recv:` "
        "dumps of every received message.",
        seed=10,
        params=_CLEAN_1,
        find=_find_hexlog,
    ),
    TraceSpec(
        "faults_mix.pcapng",
        "Protocol faults: errors, lost and duplicate replies, reused seq, lost fragments, garbage",
        "Five VMs with a mix of injected faults: error replies with the codes each call really "
        "returns, lost replies (the caller times out), duplicated replies, reused sequence "
        "numbers, continuation records missing from the capture and garbage records.",
        seed=11,
        params={
            "vms": 5,
            "duration": 2.0,
            **_ONE,
            "faults": "error=0.03,lost_reply=0.02,dup_reply=0.03,reused_seq=0.03,"
            "lost_fragment=0.3,garbage=0.004",
            "workload": Workload(sgl_median=20.0),
        },
        find=_find_faults,
    ),
    TraceSpec(
        "hang.pcap",
        "VMs that hang in a state (classic pcap)",
        "Two VMs hang: one guest stops booting at os status BOOT (the host stops it after its boot "
        "timeout), one VM never reports RESET after VM_RESET (the host gives up and leaves the "
        "VMID allocated). Written as classic pcap.",
        seed=12,
        params={"vms": 2, "duration": 2.0, **_ONE, "faults": "hang@1+2"},
        find=_find_hang,
    ),
    TraceSpec(
        "malformed_truncated.pcapng",
        "Malformed: a truncated capture",
        "A clean single-VM capture whose last record was cut in half (the capture was killed).",
        seed=13,
        params={**_CLEAN_1, "faults": "truncate_end"},
        find=_find_damage,
    ),
    TraceSpec(
        "malformed_corrupt_block.pcapng",
        "Malformed: a corrupt pcapng block",
        "A clean single-VM capture in which the block length of one EPB (the first VM_STATUS "
        "RUNNING) was overwritten.",
        seed=14,
        params=_CLEAN_1,
        damage=_corrupt,
        find=_find_damage,
    ),
    TraceSpec(
        "malformed_stray_continuation.pcapng",
        "Malformed: a stray continuation",
        "A clean single-VM capture in which one single-record message (the first VM_STATUS READY) "
        "was turned into a continuation (type 0) that no message precedes.",
        seed=15,
        params=_CLEAN_1,
        damage=_stray,
        find=_find_damage,
    ),
    TraceSpec(
        "malformed_bad_api.pcapng",
        "Malformed: a bad api byte",
        "A clean single-VM capture in which the api byte of the VM_START request was changed from "
        "0x21 to 0x31 (three header words).",
        seed=16,
        params=_CLEAN_1,
        damage=_bad_api,
        find=_find_damage,
    ),
)
BY_NAME = {t.name: t for t in TRACES}


def build(spec: TraceSpec, outdir: str) -> Truth:
    """Write one trace and its truth log into ``outdir``; return the truth as JSON data."""
    path = os.path.join(outdir, spec.name)
    result = simulate(seed=spec.seed, output=path, **spec.params)
    if spec.damage is not None:
        truth = json.loads(json.dumps(result.truth.to_json()))
        result.truth.damage.append(spec.damage(path, truth))
        result.truth.dump(result.truth_path)  # type: ignore[arg-type]
    with open(result.truth_path, encoding="utf-8") as f:  # type: ignore[arg-type]
        return json.load(f)


# ------------------------------------------------------------------ README
def _counts(truth: Truth) -> str:
    s = truth["summary"]
    msgs = s["messages"]
    boot = s["boot_latency"]
    parts = [
        f"{s['records']} records",
        f"{msgs['request']} requests / {msgs['reply']} replies / {msgs['notification']} notifications",
        f"{s['instances']} VM instance(s)",
    ]
    if boot["count"]:
        parts.append(
            f"boot latency (ALLOCATE request to VM_STATUS RUNNING) min {boot['min'] * 1000:.1f} ms, "
            f"median {boot['median'] * 1000:.1f} ms, max {boot['max'] * 1000:.1f} ms"
        )
    return "; ".join(parts)


def _errors(truth: Truth) -> str:
    errs = truth["summary"]["errors"]
    if not errs:
        return "none"
    return ", ".join(f"{e['call']} {e['err_name']} ({e['err_code']}) x{e['count']}" for e in errs)


def readme(truths: dict[str, Truth], sizes: dict[str, int]) -> str:
    """The README text for these truth logs (generated: edit the specs, not the README)."""
    out = [
        "# Bundled traces",
        "",
        "Simulated Gunyah RM captures (no public capture exists), each with its ground truth",
        "`<file>.truth.json` (schema: `dissector/sim/truth.py`). Every number below comes from the",
        "truth logs, and `tests/traces/test_bundled_traces.py` checks that `ghrm decode` finds exactly",
        "that in the trace; `tests/traces/test_regenerate.py` regenerates every file from its seed.",
        "Regenerate with `python traces/make_traces.py` (this README included). Times are",
        "simulated: every capture starts at 2026-01-01T00:00:00Z.",
        "",
        "| file | size | seed | what it shows |",
        "|---|---|---|---|",
    ]
    for spec in TRACES:
        out.append(f"| `{spec.name}` | {sizes[spec.name]:,} B | {spec.seed} | {spec.title} |")
    for spec in TRACES:
        truth = truths[spec.name]
        p = truth["params"]
        out += [
            "",
            f"## `{spec.name}`: {spec.title}",
            "",
            spec.story,
            "",
            f"- made with: `ghrm simulate --vms {p['vms']} --seed {p['seed']} --duration {p['duration']:g} "
            f"--host {p['host']} --dialect {p['dialect']}"
            + (f" --faults '{p['faults']['spec']}'" if p["faults"]["spec"] else "")
            + (f" --boots-per-vm {p['boots_per_vm']}" if p["boots_per_vm"] else "")
            + "".join(
                f" --slow-rm {sp['start']:g}:{sp['duration']:g}:{sp['factor']:g}"
                for sp in p["latency"]["spikes"]
            )
            + "` (plus the workload/latency settings in the truth log's `params`)",
            f"- contents: {_counts(truth)}",
            f"- error replies: {_errors(truth)}",
            f"- malformed messages: {truth['summary']['malformed_frames'] or 'none'}; "
            f"unreadable records: {truth['summary']['missing_frames'] or 'none'}",
        ]
        if spec.find is not None:
            out += [f"- {line}" for line in spec.find(truth)]
    return "\n".join(out) + "\n"


def write_all(outdir: str) -> dict[str, Truth]:
    truths = {spec.name: build(spec, outdir) for spec in TRACES}
    sizes = {spec.name: os.path.getsize(os.path.join(outdir, spec.name)) for spec in TRACES}
    for name, size in sizes.items():
        if size >= MAX_BYTES:
            raise SystemExit(f"{name} is {size} bytes, over the 1 MB limit for bundled traces")
    with open(os.path.join(outdir, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme(truths, sizes))
    return truths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    args = parser.parse_args(argv)
    if not args.check:
        write_all(HERE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write_all(tmp)
        names = [n for spec in TRACES for n in (spec.name, spec.name + ".truth.json")] + ["README.md"]
        _match, mismatch, errors = filecmp.cmpfiles(HERE, tmp, names, shallow=False)
        for name in mismatch + errors:
            print(f"differs: {name}")
        return 1 if mismatch or errors else 0


if __name__ == "__main__":
    sys.exit(main())
