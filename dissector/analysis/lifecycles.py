"""Per-VMID lifecycles rebuilt from RM calls and VM_STATUS / VM_EXITED notifications.

Evidence, in capture order (protocol.md 4.1, 5, 6.1, 8):

* a ``VM_STATUS`` notification states the VM's status; RM broadcasts every change, to every
  peer, so the same status often arrives several times: only a change starts an interval;
* a successful call implies the state RM moves the VM to: VM_ALLOCATE -> LOAD (a new
  instance), VM_CONFIG_IMAGE -> INIT (AUTH for auth_mech PLATFORM), VM_AUTH_IMAGE -> INIT,
  VM_INIT -> READY, VM_START -> RUNNING, VM_STOP with the force flag -> EXITED, VM_RESET ->
  RESETTING, VM_EXIT (a VM stopping itself) -> EXITED; VM_DEALLOCATE ends the instance;
* ``VM_EXITED`` -> EXITED, with its exit type and reason.

Whichever evidence comes first starts the state; the echo is ignored. A VMID allocated again
after VM_DEALLOCATE starts a new ``instance``. A VM first seen mid-life (allocated before the
capture) gets an instance whose ``allocated_at`` is NaN.

Checks made on the way (each a finding): a lifecycle call in a state RM rejects it in (START
before INIT, ...), a call about a deallocated VM, VM_ALLOCATE of a VMID still allocated, status
for a deallocated VM, INIT_FAILED, abnormal exits, states held longer than ``state_limits``,
and VMs never deallocated.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dissector.protocol import registry

from .fields import msg_id_of
from .schema import LIFECYCLE_SUMMARY, LIFECYCLES

# RM HEAD vm_status names of the states calls imply (protocol.md 6.1)
LOAD, INIT, AUTH, READY, RUNNING, PAUSED = "LOAD", "INIT", "AUTH", "READY", "RUNNING", "PAUSED"
EXITED, RESETTING, RESET, INIT_FAILED, DEALLOCATED = "EXITED", "RESETTING", "RESET", "INIT_FAILED", "DEALLOCATED"
AUTH_PLATFORM = 1
STOP_FORCE = 0x1
NORMAL_EXIT_TYPES = frozenset({0, 1, 2, 3, 7})  # VM_EXIT, PLATFORM_OFF/RESET, RESET2, VM_STOP_FORCED

# Calls RM accepts only in some states; anything else is an invalid transition.
EXPECTED_STATES: dict[str, frozenset[str]] = {
    "VM_CONFIG_IMAGE": frozenset({LOAD}),
    "VM_AUTH_IMAGE": frozenset({AUTH}),
    "VM_INIT": frozenset({INIT}),
    "VM_SET_FIRMWARE_MEM": frozenset({INIT}),
    "VM_SET_TIME_BASE": frozenset({INIT, READY}),
    "VM_START": frozenset({READY}),
    "VM_STOP": frozenset({RUNNING, PAUSED}),
}
# Calls that make no sense in some states (tearing down a running VM).
FORBIDDEN_STATES: dict[str, frozenset[str]] = {
    "VM_DEALLOCATE": frozenset({RUNNING, PAUSED}),
}
HINTS = {
    "VM_CONFIG_IMAGE": "it comes right after VM_ALLOCATE",
    "VM_AUTH_IMAGE": "it follows VM_CONFIG_IMAGE with auth_mech PLATFORM",
    "VM_INIT": "VM_CONFIG_IMAGE (and VM_AUTH_IMAGE) must come first",
    "VM_START": "VM_INIT must complete first",
    "VM_STOP": "the VM is not running",
    "VM_DEALLOCATE": "stop and reset the VM first",
}
# Seconds a VM may stay in a transitional state before it is worth a warning.
DEFAULT_STATE_LIMITS: dict[str, float] = {LOAD: 10.0, AUTH: 10.0, INIT: 10.0, READY: 10.0, RESETTING: 5.0}


@dataclass
class Finding:
    """One expert-info item before it becomes a row of the findings table."""

    severity: str
    category: str
    code: str
    text: str
    frames: tuple[int, ...]
    time: float
    vmid: int | None = None
    name: str | None = None
    count: int = 1
    capture: str = ""


@dataclass
class _Instance:
    vmid: int
    number: int
    first_seen: float
    allocated_at: float = math.nan
    alloc_frame: int | None = None
    intervals: list[list[Any]] = field(default_factory=list)  # [state, start, cause, frame]
    deallocated_at: float = math.nan
    dealloc_frame: int | None = None
    exit_type: str | None = None
    exit_reason: str | None = None
    errors: Counter = field(default_factory=Counter)

    @property
    def state(self) -> str | None:
        return self.intervals[-1][0] if self.intervals else None

    @property
    def closed(self) -> bool:
        return self.dealloc_frame is not None


@dataclass
class Lifecycles:
    """The rebuilt lifecycles: intervals, one summary row per instance, and findings."""

    intervals: pd.DataFrame
    summary: pd.DataFrame
    findings: list[Finding]


def _enum_name(enum: str, value: Any, dialect: str) -> str | None:
    if value is None or value is pd.NA:
        return None
    return registry.enum(enum, dialect).name_of(int(value))


class _Rebuild:
    """The state machine of one capture."""

    def __init__(self, capture: str, dialect: str, end_time: float, limits: Mapping[str, float]) -> None:
        self.capture = capture
        self.dialect = dialect
        self.end_time = end_time
        self.limits = limits
        self.current: dict[int, _Instance] = {}
        self.done: list[_Instance] = []
        self.count: Counter = Counter()
        self.findings: list[Finding] = []

    def finding(self, severity: str, category: str, code: str, text: str, frames: tuple[int, ...], time: float, vmid: int | None, name: str | None = None) -> None:
        self.findings.append(Finding(severity, category, code, text, frames, time, vmid, name, 1, self.capture))

    def instance(self, vmid: int, time: float, create: bool = True) -> _Instance | None:
        inst = self.current.get(vmid)
        if inst is None and create:
            self.count[vmid] += 1
            inst = _Instance(vmid, self.count[vmid], time)
            self.current[vmid] = inst
        return inst

    def set_state(self, inst: _Instance, state: str, time: float, cause: str, frame: int) -> None:
        if inst.state == state:
            return
        inst.intervals.append([state, time, cause, frame])

    def close(self, inst: _Instance) -> None:
        self.current.pop(inst.vmid, None)
        self.done.append(inst)

    # --- events -----------------------------------------------------------------------------
    def request(self, name: str, vmid: int, frame: int, time: float) -> None:
        inst = self.current.get(vmid)
        if inst is None:
            last = next((i for i in reversed(self.done) if i.vmid == vmid), None)
            if last is not None and last.closed and name != "VM_ALLOCATE":
                self.finding(
                    "error",
                    "lifecycle",
                    "call_on_deallocated",
                    f"{name} for VM {vmid:#x} after it was deallocated (VM_DEALLOCATE reply in frame "
                    f"{last.dealloc_frame}); RM no longer knows this VMID",
                    (frame, last.dealloc_frame or frame),
                    time,
                    vmid,
                    name,
                )
            return
        state = inst.state
        if state is None:
            return
        expected = EXPECTED_STATES.get(name)
        forbidden = FORBIDDEN_STATES.get(name, frozenset())
        if (expected is not None and state not in expected) or state in forbidden:
            need = f"RM accepts it only in {'/'.join(sorted(expected))}" if expected else f"not allowed in {state}"
            hint = HINTS.get(name)
            self.finding(
                "error",
                "lifecycle",
                "invalid_transition",
                f"{name} for VM {vmid:#x} while it is {state}; {need}" + (f" ({hint})" if hint else ""),
                (frame,),
                time,
                vmid,
                name,
            )

    def reply(self, name: str, vmid: int, ok: bool, err_name: str, frame: int, time: float, req: dict[str, Any]) -> None:
        if not ok:
            inst = self.current.get(vmid)
            if inst is not None:
                inst.errors[f"{name}:{err_name}"] += 1
            return
        if name == "VM_ALLOCATE":
            old = self.current.get(vmid)
            if old is not None:
                self.finding(
                    "error",
                    "lifecycle",
                    "reallocated",
                    f"VM_ALLOCATE returned VM {vmid:#x}, which was never deallocated (state {old.state}); "
                    "a VM_DEALLOCATE is missing from the capture or RM reused a live VMID",
                    (frame,),
                    time,
                    vmid,
                    name,
                )
                self.close(old)
            inst = self.instance(vmid, time)
            assert inst is not None
            inst.allocated_at = time
            inst.alloc_frame = frame
            self.set_state(inst, LOAD, time, "VM_ALLOCATE reply", frame)
            return
        if name == "VM_DEALLOCATE":
            inst = self.current.get(vmid)
            if inst is None:
                inst = self.instance(vmid, time)
                assert inst is not None
            inst.deallocated_at = time
            inst.dealloc_frame = frame
            self.close(inst)
            return
        state = None
        if name == "VM_CONFIG_IMAGE":
            state = AUTH if req.get("auth_mech") == AUTH_PLATFORM else INIT
        elif name == "VM_AUTH_IMAGE":
            state = INIT
        elif name == "VM_INIT":
            state = READY
        elif name == "VM_START":
            state = RUNNING
        elif name == "VM_STOP" and (req.get("stop_flags") or 0) & STOP_FORCE:
            state = EXITED
        elif name == "VM_RESET":
            state = RESETTING
        elif name == "VM_EXIT":
            state = EXITED
        if state is None:
            return
        inst = self.instance(vmid, time)
        assert inst is not None
        if name == "VM_STOP" and inst.exit_reason is None:
            reason = _enum_name("stop_reason", req.get("stop_reason"), self.dialect)
            inst.exit_reason = f"VM_STOP (force), stop_reason {reason}"
        if name == "VM_EXIT" and inst.exit_reason is None:
            inst.exit_reason = self.exit_text(req.get("exit_code"), req.get("exit_flags"))
        self.set_state(inst, state, time, f"{name} reply", frame)

    def exit_text(self, code: Any, flags: Any) -> str:
        parts = []
        if code is not None:
            parts.append(f"exit_code {_enum_name('exit_code', code, self.dialect)}")
        if flags is not None:
            parts.append(f"flags {_enum_name('exit_flags', flags, self.dialect)}")
        return ", ".join(parts)

    def status(self, vmid: int, vm_status: int, frame: int, time: float) -> None:
        state = registry.enum("vm_status", self.dialect).name_of(vm_status)
        if vmid not in self.current:
            last = next((i for i in reversed(self.done) if i.vmid == vmid), None)
            if last is not None and last.closed:
                self.finding(
                    "warning",
                    "lifecycle",
                    "status_after_dealloc",
                    f"VM_STATUS {state} for VM {vmid:#x} after it was deallocated (frame {last.dealloc_frame})",
                    (frame,),
                    time,
                    vmid,
                    "VM_STATUS",
                )
                return
        inst = self.instance(vmid, time)
        assert inst is not None
        before = inst.state
        self.set_state(inst, state, time, "VM_STATUS", frame)
        if state == INIT_FAILED and before != INIT_FAILED:
            self.finding(
                "warning", "lifecycle", "init_failed", f"VM {vmid:#x} failed to start: status INIT_FAILED",
                (frame,), time, vmid, "VM_STATUS",
            )  # fmt: skip

    def exited(self, vmid: int, exit_type: Any, code: Any, flags: Any, frame: int, time: float) -> None:
        inst = self.instance(vmid, time)
        assert inst is not None
        kind = _enum_name("exit_type", exit_type, self.dialect)
        inst.exit_type = kind
        inst.exit_reason = self.exit_text(code, flags) or inst.exit_reason
        self.set_state(inst, EXITED, time, "VM_EXITED", frame)
        abnormal = (exit_type is not None and int(exit_type) not in NORMAL_EXIT_TYPES) or (code not in (None, 0))
        if abnormal:
            self.finding(
                "warning",
                "lifecycle",
                "abnormal_exit",
                f"VM {vmid:#x} exited abnormally: {kind}" + (f", {inst.exit_reason}" if inst.exit_reason else ""),
                (frame,),
                time,
                vmid,
                "VM_EXITED",
            )

    # --- results ----------------------------------------------------------------------------
    def finish(self) -> tuple[list[tuple], list[dict[str, Any]]]:
        for inst in list(self.current.values()):
            self.close(inst)
        rows: list[tuple] = []
        summary: list[dict[str, Any]] = []
        for inst in sorted(self.done, key=lambda i: (i.vmid, i.number)):
            end_of_life = inst.deallocated_at if inst.closed else self.end_time
            spans = []
            for k, (state, start, cause, frame) in enumerate(inst.intervals):
                last = k == len(inst.intervals) - 1
                end = end_of_life if last else inst.intervals[k + 1][1]
                ongoing = last and not inst.closed
                spans.append((state, start, end, ongoing))
                rows.append((self.capture, inst.vmid, inst.number, state, start, end, end - start, ongoing, cause, frame))
                limit = self.limits.get(state)
                if limit is not None and end - start > limit:
                    still = " and still was when the capture ended" if ongoing else ""
                    self.finding(
                        "warning",
                        "lifecycle",
                        "state_held",
                        f"VM {inst.vmid:#x} stayed {state} for {end - start:.3f} s{still} (limit {limit:g} s)",
                        (frame,),
                        start,
                        inst.vmid,
                        None,
                    )
            summary.append(self.summarise(inst, spans))
            first_frame = inst.alloc_frame or (inst.intervals[0][3] if inst.intervals else None)
            if not inst.closed and inst.alloc_frame is not None:
                self.finding(
                    "note",
                    "lifecycle",
                    "never_deallocated",
                    f"VM {inst.vmid:#x} (instance {inst.number}) was never deallocated; last state {inst.state}",
                    (inst.alloc_frame,),
                    inst.allocated_at,
                    inst.vmid,
                    None,
                )
            if first_frame is not None:
                row = summary[-1]
                self.finding(
                    "chat",
                    "lifecycle",
                    "vm_lifecycle",
                    _story(inst.vmid, inst.number, row),
                    (first_frame,),
                    inst.first_seen,
                    inst.vmid,
                    None,
                )
        return rows, summary

    def summarise(self, inst: _Instance, spans: list[tuple[str, float, float, bool]]) -> dict[str, Any]:
        def first(state: str) -> float:
            return next((s for st, s, _e, _o in spans if st == state), math.nan)

        running = [(s, e, o) for st, s, e, o in spans if st == RUNNING]
        run_time = sum(e - s for s, e, _o in running) if running else math.nan
        exited_at = running[-1][1] if running and not running[-1][2] else math.nan
        ready_at, running_at = first(READY), first(RUNNING)
        teardown = inst.deallocated_at - exited_at
        return {
            "capture": self.capture,
            "vmid": inst.vmid,
            "instance": inst.number,
            "allocated_at": inst.allocated_at,
            "first_seen": inst.first_seen,
            "ready_at": ready_at,
            "running_at": running_at,
            "time_to_ready": ready_at - inst.allocated_at,
            "boot_latency": running_at - inst.allocated_at,
            "run_time": run_time,
            "exited_at": exited_at,
            "exit_type": inst.exit_type,
            "exit_reason": inst.exit_reason,
            "deallocated_at": inst.deallocated_at,
            "teardown_time": teardown,
            "final_state": DEALLOCATED if inst.closed and inst.dealloc_frame is not None else inst.state,
            "states": ">".join(s[0] for s in spans),
            "errors": sum(inst.errors.values()),
            "error_calls": ", ".join(f"{k} x{v}" if v > 1 else k for k, v in inst.errors.items()) or None,
        }


def _story(vmid: int, number: int, row: dict[str, Any]) -> str:
    """One line a person reads first: what happened to this VM."""
    parts = [f"VM {vmid:#x}" + (f" (instance {number})" if number > 1 else "")]
    if not math.isnan(row["allocated_at"]):
        parts.append("allocated")
    if not math.isnan(row["boot_latency"]):
        parts.append(f"RUNNING {row['boot_latency'] * 1e3:.3f} ms after VM_ALLOCATE")
    elif not math.isnan(row["running_at"]):
        parts.append("RUNNING")
    if row["exit_type"] or row["exit_reason"]:
        parts.append(f"exited ({row['exit_type'] or row['exit_reason']})")
    parts.append(f"states {row['states']}" if row["states"] else "no state seen")
    parts.append("deallocated" if row["final_state"] == DEALLOCATED else f"left {row['final_state']}")
    return ", ".join(parts)


def _value(x: Any) -> Any:
    return None if x is pd.NA or x is None or (isinstance(x, float) and math.isnan(x)) else x


def rebuild(
    messages: pd.DataFrame,
    transactions: pd.DataFrame,
    *,
    dialect: str = "rm",
    state_limits: Mapping[str, float] | None = None,
) -> Lifecycles:
    """Lifecycles of every VM in ``messages`` (with ``transactions`` built from them)."""
    limits = DEFAULT_STATE_LIMITS if state_limits is None else state_limits
    ids = {name: msg_id_of(name) for name in ("VM_STATUS", "VM_EXITED")}
    rows: list[tuple] = []
    summary: list[dict[str, Any]] = []
    findings: list[Finding] = []
    categories = list(messages["capture"].cat.categories)
    for code, capture in enumerate(categories):
        msgs = messages[messages["capture"].cat.codes.to_numpy() == code]
        if msgs.empty:
            continue
        tx = transactions[transactions["capture"].cat.codes.to_numpy() == code]
        end_time = float(np.nanmax(msgs["time"].to_numpy())) if msgs["time"].notna().any() else math.nan
        machine = _Rebuild(capture, dialect, end_time, limits)
        for event in _events(msgs, tx, ids):
            kind = event[1]
            if kind == 0:
                _f, _k, name, vmid, time = event
                machine.request(name, vmid, _f, time)
            elif kind == 1:
                frame, _k, name, vmid, time, ok, err_name, req = event
                machine.reply(name, vmid, ok, err_name, frame, time, req)
            elif kind == 2:
                frame, _k, vmid, vm_status, time = event
                machine.status(vmid, vm_status, frame, time)
            else:
                frame, _k, vmid, exit_type, exit_code, exit_flags, time = event
                machine.exited(vmid, exit_type, exit_code, exit_flags, frame, time)
        got_rows, got_summary = machine.finish()
        rows.extend(got_rows)
        summary.extend(got_summary)
        findings.extend(machine.findings)
    return Lifecycles(_intervals(rows, categories), _summary(summary, categories), findings)


def _events(msgs: pd.DataFrame, tx: pd.DataFrame, ids: dict[str, int]) -> list[tuple]:
    """Lifecycle evidence of one capture as tuples sorted by frame (kind: 0 request, 1 reply,
    2 VM_STATUS, 3 VM_EXITED)."""
    events: list[tuple] = []
    mtype = msgs["type"].astype(object).to_numpy()
    vmid = msgs["vmid"].to_numpy(np.int64, na_value=-1)
    frame = msgs["frame"].to_numpy(np.int64)
    time = msgs["time"].to_numpy(np.float64)
    names = msgs["name"].astype(object).to_numpy()
    msg_id = msgs["msg_id"].to_numpy(np.int64, na_value=-1)
    req_rows = np.flatnonzero((mtype == "request") & (vmid >= 0))
    for i in req_rows.tolist():
        events.append((int(frame[i]), 0, names[i], int(vmid[i]), float(time[i])))
    for column in ("vm_status",):
        values = msgs[column].to_numpy(np.int64, na_value=-1)
        for i in np.flatnonzero((mtype == "notification") & (msg_id == ids["VM_STATUS"]) & (vmid >= 0) & (values >= 0)).tolist():
            events.append((int(frame[i]), 2, int(vmid[i]), int(values[i]), float(time[i])))
    exited = np.flatnonzero((mtype == "notification") & (msg_id == ids["VM_EXITED"]) & (vmid >= 0))
    if len(exited):
        et = msgs["exit_type"].array
        ec = msgs["exit_code"].array
        ef = msgs["exit_flags"].array
        for i in exited.tolist():
            events.append((int(frame[i]), 3, int(vmid[i]), _value(et[i]), _value(ec[i]), _value(ef[i]), float(time[i])))
    answered = tx[tx["status"].isin(("ok", "error")) & tx["vmid"].notna()]
    if len(answered):
        order = np.argsort(frame)
        sorted_frames = frame[order]
        req_frames = answered["request_frame"].to_numpy(np.int64)
        req_pos = order[np.searchsorted(sorted_frames, req_frames)]
        columns = ("stop_flags", "stop_reason", "auth_mech", "exit_code", "exit_flags")
        extra = {c: msgs[c].array for c in columns}
        for j, (rf, name, v, t, status, err) in enumerate(
            zip(
                answered["reply_frame"].tolist(),
                answered["name"].astype(object).tolist(),
                answered["vmid"].tolist(),
                answered["reply_time"].tolist(),
                answered["status"].astype(object).tolist(),
                answered["err_name"].astype(object).tolist(),
                strict=True,
            )
        ):
            p = int(req_pos[j])
            req = {c: _value(extra[c][p]) for c in columns}
            events.append((int(rf), 1, name, int(v), float(t), status == "ok", err, req))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _intervals(rows: list[tuple], categories: list[str]) -> pd.DataFrame:
    if not rows:
        frame = LIFECYCLES.empty()
        frame["capture"] = pd.Categorical([], categories=categories)
        return frame
    data = {c: [r[i] for r in rows] for i, c in enumerate(LIFECYCLES.names)}
    data["capture"] = pd.Categorical(data["capture"], categories=categories)
    return LIFECYCLES.frame(data)


def _summary(rows: list[dict[str, Any]], categories: list[str]) -> pd.DataFrame:
    if not rows:
        frame = LIFECYCLE_SUMMARY.empty()
        frame["capture"] = pd.Categorical([], categories=categories)
        return frame
    data = {c: [r[c] for r in rows] for c in LIFECYCLE_SUMMARY.names}
    data["capture"] = pd.Categorical(data["capture"], categories=categories)
    return LIFECYCLE_SUMMARY.frame(data)
