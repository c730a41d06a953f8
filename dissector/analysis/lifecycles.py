"""Per-VMID lifecycles rebuilt from RM calls and VM_STATUS / VM_EXITED notifications.

Evidence, in capture order (protocol.md 4.1, 5, 6.1, 8):

* a ``VM_STATUS`` notification states the VM's status; RM broadcasts every change, to every
  peer, so the same status often arrives several times: only a change starts an interval;
* a successful call implies the state RM moves the VM to: VM_ALLOCATE -> LOAD (a new
  instance), VM_CONFIG_IMAGE -> INIT (AUTH for auth_mech PLATFORM), VM_AUTH_IMAGE -> INIT,
  VM_INIT -> READY, VM_START -> RUNNING, VM_STOP with the force flag -> EXITED, VM_RESET ->
  RESETTING, VM_EXIT (a VM stopping itself) -> EXITED; VM_DEALLOCATE ends the instance;
* ``VM_EXITED`` -> EXITED, with its exit type and reason.

RM sends VM_STATUS for every change; a call's reply usually says the same a moment earlier or
later, and whichever comes first starts the state (the echo is ignored), so a lost or damaged
notification costs nothing. VM_CONFIG_IMAGE is the exception: INIT or AUTH depends on RM's
view of auth_mech, so for a VM whose VM_STATUS notifications the capture holds, they decide.
VM_ALLOCATE (request time) starts an instance. A VMID allocated again
after VM_DEALLOCATE starts a new ``instance``. A VM first seen mid-life (allocated before the
capture) gets an instance whose ``allocated_at`` is NaN.

Checks made on the way (each a finding): a lifecycle call in a state RM rejects it in (START
before INIT, ...), a call about a deallocated VM, VM_ALLOCATE of a VMID still allocated, status
for a deallocated VM, INIT_FAILED, abnormal exits, states held longer than ``state_limits``,
and VMs never deallocated. A state RM alone ends (RESETTING) is also too long when it lasts
over 20 times its median in the same capture (and over 0.1 s): a hung reset.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from dissector.protocol import registry
from dissector.protocol.wire import NOTIFICATION, REQUEST

from .constants import (
    AUTH,
    AUTH_PLATFORM,
    DEALLOCATED,
    EXITED,
    IMPLIED_STATES,
    INIT,
    INIT_FAILED,
    LOAD,
    PAUSED,
    READY,
    RESET,
    RESETTING,
    RUNNING,
    STATE_CALLS,
    STOP_FORCE,
    TEARDOWN_STATES,
)
from .fields import msg_id_of
from .schema import LIFECYCLE_SUMMARY, LIFECYCLES
from .transactions import type_codes

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
# Calls whose request fields the rebuild reads (STATE_CALLS: those whose success changes the state).
NEED_FIELDS = frozenset({"VM_ALLOCATE", "VM_CONFIG_IMAGE", "VM_STOP", "VM_EXIT", "VM_SET_STATUS"})
# Requests that are a live VM's last lifecycle call (``_Rebuild.request``: the calls it checks
# against the state, and the resets and stops).
_LAST_CALLS = frozenset({*EXPECTED_STATES, *FORBIDDEN_STATES, "VM_RESET", "VM_STOP"})
# Requests ``_Rebuild.request`` reads beyond "is the VM live" (those, and VM_SET_STATUS's os
# status): every other request only matters about a VM with no live instance (a call on a
# deallocated VM), so the rebuild skips the rest: at 1M messages ~80k requests (console writes,
# memory calls ...) of which few find no VM.
_ACTIVE = _LAST_CALLS | {"VM_SET_STATUS"}
# Seconds a VM may stay in a transitional state before it is worth a warning.
DEFAULT_STATE_LIMITS: dict[str, float] = {LOAD: 10.0, AUTH: 10.0, INIT: 10.0, READY: 10.0, RESETTING: 1.0}
OS_RUN = 4  # os_status RUN (protocol.md 6.2)
# States whose length RM alone decides: one far longer than usual in the same capture is a hang.
RM_DRIVEN = frozenset({RESETTING})
TYPICAL_SAMPLES, TYPICAL_FACTOR, TYPICAL_FLOOR = 3, 20.0, 0.1


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
    os_status: int = 0
    last_call: int | None = None  # frame of the latest lifecycle request about this VM
    errors: Counter = field(default_factory=Counter)
    unanswered: int = 0
    first_failure: str | None = None  # first call that failed or got no reply

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
    return _name_of(enum, int(value), dialect)


@cache
def _name_of(enum: str, value: int, dialect: str) -> str:
    """An enum value's name (cached: a capture repeats a handful of values many times)."""
    return registry.enum(enum, dialect).name_of(value)


class _Rebuild:
    """The state machine of one capture."""

    def __init__(
        self, capture: str, dialect: str, end_time: float, limits: Mapping[str, float], told: set[int]
    ) -> None:
        self.told = told  # VMIDs whose VM_STATUS notifications the capture holds
        self.capture = capture
        self.dialect = dialect
        self.end_time = end_time
        self.limits = limits
        self.current: dict[int, _Instance] = {}
        self.done: list[_Instance] = []
        self.last_done: dict[int, _Instance] = {}
        self.count: Counter = Counter()
        self.findings: list[Finding] = []

    def finding(
        self,
        severity: str,
        category: str,
        code: str,
        text: str,
        frames: tuple[int, ...],
        time: float,
        vmid: int | None,
        name: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(severity, category, code, text, frames, time, vmid, name, 1, self.capture)
        )

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
        inst.intervals.append([state, time, cause, frame, inst.last_call])

    def close(self, inst: _Instance) -> None:
        self.current.pop(inst.vmid, None)
        self.done.append(inst)
        self.last_done[inst.vmid] = inst

    # --- events -----------------------------------------------------------------------------
    def request(self, name: str, vmid: int, frame: int, time: float, extra: dict[str, Any]) -> None:
        inst = self.current.get(vmid)
        if inst is not None:
            if name in _LAST_CALLS:
                inst.last_call = frame
            if name == "VM_SET_STATUS" and extra.get("os_status"):
                inst.os_status = extra["os_status"]
            if name == "VM_STOP" and (extra.get("stop_flags") or 0) & STOP_FORCE:
                self.hung_boot(inst, frame, time)
        if inst is None:
            last = self.last_done.get(vmid)
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
            need = (
                f"RM accepts it only in {'/'.join(sorted(expected))}"
                if expected
                else f"not allowed in {state}"
            )
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

    def reply(
        self, name: str, vmid: int, ok: bool, err_name: str, frame: int, time: float, req: dict[str, Any]
    ) -> None:
        if not ok:
            inst = self.current.get(vmid)
            if inst is not None:
                inst.errors[f"{name}:{err_name}"] += 1
                if inst.first_failure is None:
                    inst.first_failure = f"{name} {err_name} (frame {frame})"
            return
        if name == "VM_ALLOCATE":
            old = self.current.get(vmid)
            if old is not None and old.alloc_frame is None and old.first_seen >= req.get("time", time):
                old.allocated_at, old.alloc_frame = req.get("time", time), req.get("frame", frame)
                return  # its VM_STATUS came before the reply: the same instance
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
            inst = self.instance(vmid, req.get("time", time))
            assert inst is not None
            inst.allocated_at = req.get("time", time)
            inst.alloc_frame = req.get("frame", frame)
            self.set_state(inst, LOAD, time, "VM_ALLOCATE reply", frame)
            return
        if name == "VM_DEALLOCATE":
            inst = self.current.get(vmid)
            if inst is None:
                return  # nothing known about it (or already deallocated: flagged at the request)
            inst.deallocated_at = time
            inst.dealloc_frame = frame
            self.close(inst)
            return
        state = IMPLIED_STATES.get(name)
        if name == "VM_CONFIG_IMAGE":
            state = AUTH if req.get("auth_mech") == AUTH_PLATFORM else INIT
        elif name == "VM_STOP" and (req.get("stop_flags") or 0) & STOP_FORCE:
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
        if vmid not in self.told or name != "VM_CONFIG_IMAGE":  # INIT or AUTH: let VM_STATUS say
            self.set_state(inst, state, time, f"{name} reply", frame)

    def no_reply(self, name: str, vmid: int, frame: int) -> None:
        """A call about the VM that was never answered (lost, or the client gave up)."""
        inst = self.current.get(vmid)
        if inst is not None:
            inst.unanswered += 1
            if inst.first_failure is None:
                inst.first_failure = f"{name} unanswered (frame {frame})"

    def hung_boot(self, inst: _Instance, frame: int, time: float) -> None:
        """A VM stopped by force while RUNNING but before its OS reported RUN: a hung boot."""
        if inst.state != RUNNING or inst.os_status >= OS_RUN:
            return
        os_name = _enum_name("os_status", inst.os_status, self.dialect)
        since = time - inst.intervals[-1][1]
        self.finding(
            "warning",
            "lifecycle",
            "boot_hang",
            f"VM {inst.vmid:#x} was stopped by force {since:.3f} s after it started RUNNING, its OS still "
            f"{os_name} (it never reported os_status RUN): a hung or slow boot",
            (frame,),
            time,
            inst.vmid,
            "VM_STOP",
        )

    def exit_text(self, code: Any, flags: Any) -> str:
        parts = []
        if code is not None:
            parts.append(f"exit_code {_enum_name('exit_code', code, self.dialect)}")
        if flags is not None:
            parts.append(f"flags {_enum_name('exit_flags', flags, self.dialect)}")
        return ", ".join(parts)

    def status(self, vmid: int, vm_status: int, os_status: int | None, frame: int, time: float) -> None:
        state = _name_of("vm_status", vm_status, self.dialect)
        if vmid not in self.current:
            last = self.last_done.get(vmid)
            if last is not None and last.closed and state != LOAD:  # LOAD: allocated again, reply lost
                self.finding(
                    "warning",
                    "lifecycle",
                    "status_after_dealloc",
                    f"VM_STATUS {state} for VM {vmid:#x} after it was deallocated "
                    f"(frame {last.dealloc_frame})",
                    (frame,),
                    time,
                    vmid,
                    "VM_STATUS",
                )
                return
        inst = self.instance(vmid, time)
        assert inst is not None
        before = inst.state
        if os_status:
            inst.os_status = os_status
        self.set_state(inst, state, time, "VM_STATUS", frame)
        if state == INIT_FAILED and before != INIT_FAILED:
            cause = f", after {inst.first_failure}" if inst.first_failure else ""
            self.finding(
                "warning", "lifecycle", "init_failed",
                f"VM {vmid:#x} failed to start: status INIT_FAILED{cause}", (frame,), time, vmid, "VM_STATUS",
            )  # fmt: skip

    def exited(self, vmid: int, exit_type: Any, code: Any, flags: Any, frame: int, time: float) -> None:
        inst = self.instance(vmid, time)
        assert inst is not None
        kind = _enum_name("exit_type", exit_type, self.dialect)
        inst.exit_type = kind
        inst.exit_reason = self.exit_text(code, flags) or inst.exit_reason
        self.set_state(inst, EXITED, time, "VM_EXITED", frame)
        abnormal = (exit_type is not None and int(exit_type) not in NORMAL_EXIT_TYPES) or (
            code not in (None, 0)
        )
        if abnormal:
            self.finding(
                "warning",
                "lifecycle",
                "abnormal_exit",
                f"VM {vmid:#x} exited abnormally: {kind}"
                + (f", {inst.exit_reason}" if inst.exit_reason else ""),
                (frame,),
                time,
                vmid,
                "VM_EXITED",
            )

    # --- results ----------------------------------------------------------------------------
    def typical(self) -> dict[str, float]:
        """Median duration of each RM-driven state over this capture's completed intervals."""
        spans: dict[str, list[float]] = {}
        for inst in self.done:
            for k in range(len(inst.intervals) - 1):
                state = inst.intervals[k][0]
                if state in RM_DRIVEN:
                    spans.setdefault(state, []).append(inst.intervals[k + 1][1] - inst.intervals[k][1])
        return {s: float(np.median(v)) for s, v in spans.items() if len(v) >= TYPICAL_SAMPLES}

    def limit(self, state: str, typical: dict[str, float]) -> tuple[float | None, str]:
        """How long ``state`` may last, and why: ``state_limits``, or far beyond its median."""
        fixed = self.limits.get(state)
        if state in typical:
            adaptive = max(TYPICAL_FACTOR * typical[state], TYPICAL_FLOOR)
            if fixed is None or adaptive < fixed:
                return (
                    adaptive,
                    f"{TYPICAL_FACTOR:g}x its median of {typical[state] * 1e3:.3f} ms in this capture",
                )
        return fixed, "" if fixed is None else f"limit {fixed:g} s"

    def finish(self) -> tuple[list[tuple], list[dict[str, Any]]]:
        for inst in list(self.current.values()):
            self.close(inst)
        typical = self.typical()
        limits: dict[str, tuple[float | None, str]] = {}
        rows: list[tuple] = []
        summary: list[dict[str, Any]] = []
        for inst in sorted(self.done, key=lambda i: (i.vmid, i.number)):
            end_of_life = inst.deallocated_at if inst.closed else self.end_time
            spans = []
            for k, (state, start, cause, frame, *_call) in enumerate(inst.intervals):
                last = k == len(inst.intervals) - 1
                end = end_of_life if last else inst.intervals[k + 1][1]
                ongoing = last and not inst.closed
                spans.append((state, start, end, ongoing))
                rows.append(
                    (
                        self.capture,
                        inst.vmid,
                        inst.number,
                        state,
                        start,
                        end,
                        end - start,
                        ongoing,
                        cause,
                        frame,
                    )
                )
                if state not in limits:  # a few states, ~15k intervals at 1M: each state's limit once
                    limits[state] = self.limit(state, typical)
                limit, why = limits[state]
                if limit is not None and end - start > limit:
                    still = " and still was when the capture ended" if ongoing else ""
                    call = inst.intervals[k][4] if len(inst.intervals[k]) > 4 else None
                    self.finding(
                        "warning",
                        "lifecycle",
                        "state_held",
                        f"VM {inst.vmid:#x} stayed {state} for {end - start:.3f} s{still} ({why})",
                        (frame,) if call is None or call == frame else (call, frame),
                        start,
                        inst.vmid,
                        None,
                    )
            summary.append(self.summarise(inst, spans))
            first_frame = inst.alloc_frame or (inst.intervals[0][3] if inst.intervals else None)
            if not inst.closed and inst.alloc_frame is not None:
                after = f" (since frame {inst.intervals[-1][3]})" if inst.intervals else ""
                latest = (
                    (inst.last_call,)
                    if inst.last_call is not None and inst.last_call != inst.alloc_frame
                    else ()
                )
                self.finding(
                    "note",
                    "lifecycle",
                    "never_deallocated",
                    f"VM {inst.vmid:#x} (instance {inst.number}) was never deallocated; "
                    f"last state {inst.state}{after}",
                    (inst.alloc_frame, *latest),
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
        began = exited_at
        if math.isnan(began) and math.isnan(running_at):  # torn down before it ever ran
            began = next((s for st, s, _e, _o in spans if st in TEARDOWN_STATES), math.nan)
        teardown = inst.deallocated_at - began
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
            "unanswered": inst.unanswered,
            "first_failure": inst.first_failure if math.isnan(running_at) else None,
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
    if row["first_failure"]:
        parts.append(f"never RUNNING: first failed call {row['first_failure']}")
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
        msgs = _of_capture(messages, code)
        if msgs.empty:
            continue
        tx = _of_capture(transactions, code)
        end_time = float(np.nanmax(msgs["time"].to_numpy())) if msgs["time"].notna().any() else math.nan
        events, told = _events(msgs, tx, ids)
        machine = _Rebuild(capture, dialect, end_time, limits, told)
        live = machine.current  # a request not in ``_ACTIVE`` about a live VM changes nothing
        for event in events:
            kind = event[1]
            if kind == 0:
                _f, _k, name, vmid, time, fields = event
                if vmid in live and name not in _ACTIVE:
                    continue
                machine.request(name, vmid, _f, time, fields)
            elif kind == 1:
                frame, _k, name, vmid, time, ok, err_name, req = event
                machine.reply(name, vmid, ok, err_name, frame, time, req)
            elif kind == 2:
                frame, _k, vmid, vm_status, os_status, time = event
                machine.status(vmid, vm_status, os_status, frame, time)
            elif kind == 4:
                frame, _k, name, vmid = event
                machine.no_reply(name, vmid, frame)
            else:
                frame, _k, vmid, exit_type, exit_code, exit_flags, time = event
                machine.exited(vmid, exit_type, exit_code, exit_flags, frame, time)
        got_rows, got_summary = machine.finish()
        rows.extend(got_rows)
        summary.extend(got_summary)
        findings.extend(machine.findings)
    return Lifecycles(_intervals(rows, categories), _summary(summary, categories), findings)


def _of_capture(table: pd.DataFrame, code: int) -> pd.DataFrame:
    """The rows of one capture (by category code); the table itself when it holds only that one
    (no copy of a million-row messages table)."""
    mine = table["capture"].cat.codes.to_numpy() == code
    return table if mine.all() else table[mine]


def _rm_names(msg_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The RM (default dialect) name of each id, as (index among the distinct ids, their names):
    the state rules above are keyed by RM names, whichever names the trace's dialect shows
    (VM_ALLOC_VMID in linux-v17, VM_SHUTDOWN in rm-2021). Looked up once per distinct id;
    ``names[inverse]`` is the name per id."""
    inverse, uniq = pd.factorize(msg_ids)
    return inverse, np.array([registry.message_name(i) if i >= 0 else None for i in uniq.tolist()], object)


def _named_in(inverse: np.ndarray, names: np.ndarray, wanted: Iterable[str]) -> np.ndarray:
    """Whether each id's RM name (``_rm_names``) is one of ``wanted``: decided once per distinct
    id (``np.isin`` over a million name objects sorts them)."""
    wanted = set(wanted)
    return np.array([n in wanted for n in names.tolist()], bool)[inverse]


_FIELD_COLUMNS = ("stop_flags", "stop_reason", "auth_mech", "exit_code", "exit_flags", "os_status")


def _fields_at(
    msgs: pd.DataFrame, rows: np.ndarray, frame: np.ndarray, time: np.ndarray
) -> list[dict[str, Any]]:
    """The request fields the rebuild reads (``_FIELD_COLUMNS``, None where absent, and the
    row's frame and time) of some rows, one dict per row: a column is read at those rows only
    (a few thousand of a million)."""
    values = []
    for c in _FIELD_COLUMNS:
        got = msgs[c].array[rows]  # nullable integers at these rows
        ints = got.to_numpy(np.float64, na_value=0.0).astype(np.int64).tolist()  # as int(float(v))
        for k in np.flatnonzero(got.isna()).tolist():
            ints[k] = None
        values.append(ints)
    keys = (*_FIELD_COLUMNS, "frame", "time")
    return [
        dict(zip(keys, row, strict=True))
        for row in zip(*values, frame[rows].tolist(), time[rows].tolist(), strict=True)
    ]


def _needed_fields(
    msgs: pd.DataFrame,
    rows: np.ndarray,
    inverse: np.ndarray,
    names: np.ndarray,
    frame: np.ndarray,
    time: np.ndarray,
) -> list[dict[str, Any]]:
    """Per row of ``rows`` (its call's RM name ``names[inverse]``): its request fields
    (``_fields_at``) if the rebuild reads them (``NEED_FIELDS``), else an empty dict (shared)."""
    none: dict[str, Any] = {}
    fields: list[dict[str, Any]] = [none] * len(rows)
    with_fields = np.flatnonzero(_named_in(inverse, names, NEED_FIELDS))  # the few with fields
    for k, got in zip(with_fields.tolist(), _fields_at(msgs, rows[with_fields], frame, time), strict=True):
        fields[k] = got
    return fields


def _events(msgs: pd.DataFrame, tx: pd.DataFrame, ids: dict[str, int]) -> tuple[list[tuple], set[int]]:
    """Lifecycle evidence of one capture as tuples sorted by frame (kind: 0 request, 1 reply,
    2 VM_STATUS, 3 VM_EXITED, 4 a call without reply). Built a kind at a time from columns
    (``tolist`` and ``zip``, no numpy scalar per event)."""
    parts: list[list[tuple]] = []  # events of one kind, in the order added
    mtype = type_codes(msgs)  # by category code, no string per row
    is_request, is_notification = mtype == REQUEST, mtype == NOTIFICATION
    vmid = msgs["vmid"].to_numpy(np.int64, na_value=-1)
    frame = msgs["frame"].to_numpy(np.int64)
    time = msgs["time"].to_numpy(np.float64)
    msg_id = msgs["msg_id"].to_numpy(np.int64, na_value=-1)
    asked = np.flatnonzero(is_request & (vmid >= 0))
    inverse, names = _rm_names(msg_id[asked])
    fields = _needed_fields(msgs, asked, inverse, names, frame, time)
    parts.append(
        list(
            zip(
                frame[asked].tolist(),
                itertools.repeat(0),
                names[inverse].tolist(),
                vmid[asked].tolist(),
                time[asked].tolist(),
                fields,
                strict=False,
            )
        )
    )
    status = msgs["vm_status"].to_numpy(np.int64, na_value=-1)
    told = is_notification & (msg_id == ids["VM_STATUS"]) & (vmid >= 0) & (status >= 0)
    rows = np.flatnonzero(told)
    os_status = msgs["os_status"].array[rows].to_numpy(np.int64, na_value=0)
    parts.append(
        list(
            zip(
                frame[rows].tolist(),
                itertools.repeat(2),
                vmid[rows].tolist(),
                status[rows].tolist(),
                os_status.tolist(),
                time[rows].tolist(),
                strict=False,
            )
        )
    )
    exited = np.flatnonzero(is_notification & (msg_id == ids["VM_EXITED"]) & (vmid >= 0))
    if len(exited):
        et = msgs["exit_type"].array
        parts.append(
            [
                (
                    int(frame[i]),
                    3,
                    int(vmid[i]),
                    _value(et[i]),
                    got["exit_code"],
                    got["exit_flags"],
                    float(time[i]),
                )
                for i, got in zip(exited.tolist(), _fields_at(msgs, exited, frame, time), strict=True)
            ]
        )
    tx_inverse, tx_names = _rm_names(tx["msg_id"].to_numpy(np.int64, na_value=-1))
    keep = (
        (tx["status"] == "error").to_numpy(bool)
        | ((tx["status"] == "ok").to_numpy(bool) & _named_in(tx_inverse, tx_names, STATE_CALLS))
    ) & tx["vm"].notna().to_numpy(bool)
    answered = tx[keep]
    if len(answered):
        order = np.argsort(frame)
        req_pos = order[np.searchsorted(frame[order], answered["request_frame"].to_numpy(np.int64))]
        reply_names = tx_names[tx_inverse[keep]]
        req_fields = _needed_fields(msgs, req_pos, tx_inverse[keep], tx_names, frame, time)
        parts.append(
            [
                (int(rf), 1, name, int(v), float(t), status_name == "ok", err, req)
                for rf, name, v, t, status_name, err, req in zip(
                    answered["reply_frame"].tolist(),
                    reply_names.tolist(),
                    answered["vm"].tolist(),
                    answered["reply_time"].tolist(),
                    answered["status"].astype(object).tolist(),
                    answered["err_name"].astype(object).tolist(),
                    req_fields,
                    strict=True,
                )
            ]
        )
    lost = tx[tx["status"].isin(("unanswered", "retransmitted")) & tx["vm"].notna()]
    parts.append(
        [
            (int(rf), 4, str(name), int(v))
            for rf, name, v in zip(
                lost["request_frame"].tolist(),
                lost["name"].astype(object).tolist(),
                lost["vm"].tolist(),
                strict=True,
            )
        ]
    )
    events = [e for part in parts for e in part]
    # by (frame, kind), ties in the order added: one stable numpy sort instead of a key per event
    kinds = np.concatenate([np.full(len(part), part[0][1] if part else 0, np.int64) for part in parts])
    frames = np.fromiter(map(itemgetter(0), events), np.int64, len(events))
    order = np.lexsort((kinds, frames))
    return list(map(events.__getitem__, order.tolist())), set(vmid[rows].tolist())


# VM states in the order a VM goes through them (protocol.md 6.1, every dialect's names), so that
# ``lifecycles.state >= "RUNNING"`` and sorting read as the state machine does; a name no dialect
# orders here (RESERVED_7, UNKNOWN_0x..) comes after them.
STATE_ORDER = (
    "NONE", "NO_STATE", LOAD, AUTH, INIT, READY, INIT_FAILED, RUNNING, PAUSED, "SHUTDOWN", "SHUTOFF",
    "CRASHED", EXITED, RESETTING, RESET, "RESET_FAILED", DEALLOCATED,
)  # fmt: skip


def ordered_states(values: list[Any]) -> pd.Categorical:
    """``values`` (state names) as a categorical ordered by ``STATE_ORDER``."""
    extra = sorted({v for v in values if v is not None and v not in STATE_ORDER})
    return pd.Categorical(values, categories=[*STATE_ORDER, *extra], ordered=True)


def _intervals(rows: list[tuple], categories: list[str]) -> pd.DataFrame:
    if not rows:
        frame = LIFECYCLES.empty()
        frame["capture"] = pd.Categorical([], categories=categories)
        frame["state"] = ordered_states([])
        return frame
    data = {c: [r[i] for r in rows] for i, c in enumerate(LIFECYCLES.names)}
    data["capture"] = pd.Categorical(data["capture"], categories=categories)
    data["state"] = ordered_states(data["state"])
    return LIFECYCLES.frame(data)


def _summary(rows: list[dict[str, Any]], categories: list[str]) -> pd.DataFrame:
    if not rows:
        frame = LIFECYCLE_SUMMARY.empty()
        frame["capture"] = pd.Categorical([], categories=categories)
        frame["final_state"] = ordered_states([])
        return frame
    data = {c: [r[c] for r in rows] for c in LIFECYCLE_SUMMARY.names}
    data["capture"] = pd.Categorical(data["capture"], categories=categories)
    data["final_state"] = ordered_states(data["final_state"])
    return LIFECYCLE_SUMMARY.frame(data)
