"""The ground-truth log a simulation writes beside its capture: ``<capture>.truth.json``.

Why: tests of the analyzer must compare what it *finds* in a trace with what really happened,
not with another run of the analyzer. The simulator records every VM state change, call,
notification, fault, memory parcel and lent IRQ as it makes them, with the capture frames of
the messages involved.

Conventions: ``time`` values are float seconds since 1970 on the capture's own clock
(``time_ns / 1e9`` exactly as ``ghrm decode`` prints them; simulated time starts at
2026-01-01T00:00:00Z); durations (``latency`` ...) are float seconds; ``frames`` are 1-based
capture record numbers (Wireshark frame numbers) of all records of one message, ``[]`` when the
message was never captured (a lost reply). Names are those of the run's dialect.

Schema ``ghrm-sim-truth/1`` (top-level keys)::

    schema        "ghrm-sim-truth/1"
    params        the SimConfig: vms, seed, duration, host, dialect, faults {spec, rates,
                  targets, call_errors, truncate_end}, boots_per_vm, max_records, latency,
                  timing, workload
    capture       {file, format, records, first_time, last_time, epoch, hexlog, hexlog_time_origin,
                  stopped_at_max_records}; a kernel log's times are seconds since
                  ``hexlog_time_origin`` (dmesg style), and it holds the host queue pair only
    summary       counts: records, messages {request, reply, notification, garbage} (captured
                  RM messages, a multi-record message counted once), calls_by_name,
                  errors [{call, err_code, err_name, count}], notifications_by_name,
                  instances, faults_by_kind, boot_latency {count, min, median, max},
                  malformed_frames (where a decoder must report malformed messages),
                  missing_frames (records a reader cannot return: cut or corrupt blocks)
    instances     one per VM instance (a VMID reused after VM_DEALLOCATE is a new instance);
                  ``final_state`` is the last vm_status name, or DEALLOCATED:
                  {vmid, instance, ordinal, owner, plan {...}, alloc {time, frames},
                   states [{time, vm_status, name, cause_frames, notify_frames}],
                   os_states [{time, os_status, name, cause_frames, notify_frames}],
                   exit {time, exit_type, exit_type_name, exit_flags, exit_code, reason_hex,
                         cause_frames, notify_frames} | null,
                   dealloc {time, frames} | null, final_state, boot_latency, crash_msg}
                  ``boot_latency``: VM_ALLOCATE request -> VM_STATUS RUNNING, seconds.
    calls         one per request sent: {client, seq, msg_id, name, vmid, request_frames,
                  reply_frames, dup_reply_frames, request_time, reply_time, latency,
                  queue_wait, service, err_code, err_name, fault, timed_out, reused_seq_of}
                  ``vmid``: the VM the call is about (its target, or the calling guest);
                  ``latency`` = first reply record time - first request record time;
                  ``queue_wait`` / ``service``: time waiting in the RM's FIFO / being handled;
                  ``reused_seq_of``: index in ``calls`` of the call whose seq was reused.
    notifications {to, seq, msg_id, name, vmid, frames, time} for every notification sent
    faults        {kind, time, vmid, frames, malformed_frames, detail}: every injected fault;
                  ``malformed_frames`` are the frames a decoder must flag because of it
    parcels       {handle, owner, trans_type, trans_type_name, mem_type, label, acl, total_size,
                   sgl_entries, borrowers, events {create, append, notify, shared_notif, accept,
                   accepted_notif, release, released_notif, reclaim: [[frames...] per message]},
                   final_state: created | mapped | accepted | released | reclaimed}
                  ``accept`` holds MEM_ACCEPT requests, or the VM_INIT request for a boot
                  parcel the RM mapped into the new VM itself (final state ``mapped``)
    irqs          {handle, owner, borrower, virq, label, events {lend, notify, lent_notif,
                   accept, accepted_notif, release, released_notif, reclaim}, final_state:
                   lent | accepted | released | reclaimed}
    damage        post-processing of a clean capture (bundled malformed traces, truncate_end):
                  {kind, frame, offset, length, detail {what, malformed_frames, missing_frames}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dissector.protocol import registry

SCHEMA = "ghrm-sim-truth/1"
COMPACT_ABOVE = 20_000  # calls


class MsgRef:
    """One RM message as it went on the wire; ``frames`` are filled in as records are written."""

    __slots__ = ("end_ns", "frames", "msg_id", "time_ns")

    def __init__(self, msg_id: int, time_ns: int) -> None:
        self.msg_id = msg_id
        self.time_ns = time_ns
        self.end_ns = time_ns
        self.frames: list[int] = []


_ERROR_NAMES: dict[int, str] = {}


def _error_name(code: int) -> str:
    name = _ERROR_NAMES.get(code)
    if name is None:
        name = _ERROR_NAMES[code] = registry.error_name(code)
    return name


def frames(ref: MsgRef | None) -> list[int]:
    return [] if ref is None else list(ref.frames)


def seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


def first_time(ref: MsgRef | None) -> float | None:
    """Time of the first captured record of a message (None if none was captured)."""
    if ref is None or not ref.frames:
        return None
    return ref.time_ns / 1e9


@dataclass(slots=True)
class StateChange:
    time_ns: int
    value: int
    name: str
    cause: MsgRef | None
    notify: MsgRef | None = None

    def to_json(self, key: str) -> dict[str, Any]:
        return {
            "time": self.time_ns / 1e9,
            key: self.value,
            "name": self.name,
            "cause_frames": frames(self.cause),
            "notify_frames": frames(self.notify),
        }


@dataclass(slots=True)
class ExitRecord:
    time_ns: int
    exit_type: int
    exit_flags: int
    exit_code: int
    reason: bytes
    cause: MsgRef | None
    notify: MsgRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time_ns / 1e9,
            "exit_type": self.exit_type,
            "exit_type_name": registry.enum("exit_type").name_of(self.exit_type),
            "exit_flags": self.exit_flags,
            "exit_code": self.exit_code,
            "reason_hex": self.reason.hex(),
            "cause_frames": frames(self.cause),
            "notify_frames": frames(self.notify),
        }


@dataclass(slots=True)
class InstanceRecord:
    vmid: int
    instance: int  # 1 for the first VM with this VMID, 2 after a VM_DEALLOCATE, ...
    ordinal: int  # 1-based boot order over the whole run (targets of "crash@N")
    owner: int
    plan: dict[str, Any]
    alloc: MsgRef | None
    alloc_time_ns: int
    states: list[StateChange] = field(default_factory=list)
    os_states: list[StateChange] = field(default_factory=list)
    exit: ExitRecord | None = None
    dealloc: MsgRef | None = None
    dealloc_time_ns: int | None = None
    final_state: str = "LOAD"
    running_ns: int | None = None
    crash_msg: str | None = None

    @property
    def boot_latency(self) -> float | None:
        """VM_ALLOCATE request -> the VM_STATUS RUNNING notification, as the capture shows them."""
        running = next((s for s in self.states if s.value == 3 and s.notify is not None), None)
        if running is None or self.alloc is None or not self.alloc.frames or not running.notify.frames:  # type: ignore[union-attr]
            return None
        return (running.notify.time_ns - self.alloc.time_ns) / 1e9  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        boot = self.boot_latency
        return {
            "vmid": self.vmid,
            "instance": self.instance,
            "ordinal": self.ordinal,
            "owner": self.owner,
            "plan": self.plan,
            "alloc": {"time": first_time(self.alloc), "frames": frames(self.alloc)},
            "states": [s.to_json("vm_status") for s in self.states],
            "os_states": [s.to_json("os_status") for s in self.os_states],
            "exit": None if self.exit is None else self.exit.to_json(),
            "dealloc": None
            if self.dealloc is None
            else {"time": seconds(self.dealloc_time_ns), "frames": frames(self.dealloc)},
            "final_state": self.final_state,
            "boot_latency": boot,
            "crash_msg": self.crash_msg,
        }


class CallRecord:
    """One request a client sent, and what became of it."""

    __slots__ = (
        "client",
        "dups",
        "err",
        "fault",
        "msg_id",
        "name",
        "queue_wait_ns",
        "reply",
        "request",
        "reused_seq_of",
        "seq",
        "service_ns",
        "timed_out",
        "vmid",
    )

    def __init__(self, client: int, msg_id: int, name: str, vmid: int | None) -> None:
        self.client = client
        self.msg_id = msg_id
        self.name = name
        self.vmid = vmid
        self.seq = -1
        self.request: MsgRef | None = None
        self.reply: MsgRef | None = None
        self.dups: list[MsgRef] = []
        self.err: int | None = None
        self.fault: str | None = None
        self.queue_wait_ns: int | None = None
        self.service_ns: int | None = None
        self.timed_out = False
        self.reused_seq_of: int | None = None  # index of the call whose seq this one reused

    def to_json(self) -> dict[str, Any]:
        req_t = first_time(self.request)
        rep_t = first_time(self.reply)
        latency = None
        if self.request is not None and self.reply is not None and self.request.frames and self.reply.frames:
            latency = (self.reply.time_ns - self.request.time_ns) / 1e9
        return {
            "client": self.client,
            "seq": self.seq,
            "msg_id": self.msg_id,
            "name": self.name,
            "vmid": self.vmid,
            "request_frames": frames(self.request),
            "reply_frames": frames(self.reply),
            "dup_reply_frames": [frames(d) for d in self.dups],
            "request_time": req_t,
            "reply_time": rep_t,
            "latency": latency,
            "queue_wait": seconds(self.queue_wait_ns),
            "service": seconds(self.service_ns),
            "err_code": self.err,
            "err_name": None if self.err is None else _error_name(self.err),
            "fault": self.fault,
            "timed_out": self.timed_out,
            "reused_seq_of": self.reused_seq_of,
        }


@dataclass(slots=True)
class NotificationRecord:
    to: int
    seq: int
    msg_id: int
    name: str
    vmid: int | None
    ref: MsgRef

    def to_json(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "seq": self.seq,
            "msg_id": self.msg_id,
            "name": self.name,
            "vmid": self.vmid,
            "frames": frames(self.ref),
            "time": first_time(self.ref),
        }


@dataclass(slots=True)
class FaultRecord:
    kind: str
    time_ns: int
    vmid: int | None
    refs: list[MsgRef] = field(default_factory=list)
    malformed: list[MsgRef] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    extra_frames: list[int] = field(default_factory=list)  # frames known directly (garbage)
    extra_malformed: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        fr = sorted({f for r in self.refs for f in r.frames} | set(self.extra_frames))
        bad = sorted({f for r in self.malformed for f in r.frames} | set(self.extra_malformed))
        return {
            "kind": self.kind,
            "time": self.time_ns / 1e9,
            "vmid": self.vmid,
            "frames": fr,
            "malformed_frames": bad,
            "detail": self.detail,
        }


_PARCEL_EVENTS = (
    "create",
    "append",
    "notify",
    "shared_notif",
    "accept",
    "accepted_notif",
    "release",
    "released_notif",
    "reclaim",
)
_IRQ_EVENTS = (
    "lend",
    "notify",
    "lent_notif",
    "accept",
    "accepted_notif",
    "release",
    "released_notif",
    "reclaim",
)


@dataclass(slots=True)
class ParcelRecord:
    handle: int
    owner: int
    trans_type: int
    mem_type: int
    label: int
    acl: list[tuple[int, int]]
    total_size: int
    sgl_entries: int
    borrowers: list[int]
    events: dict[str, list[MsgRef]] = field(default_factory=lambda: {k: [] for k in _PARCEL_EVENTS})
    final_state: str = "created"

    def to_json(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "owner": self.owner,
            "trans_type": self.trans_type,
            "trans_type_name": registry.enum("trans_type").name_of(self.trans_type),
            "mem_type": self.mem_type,
            "label": self.label,
            "acl": [{"vmid": v, "perms": p} for v, p in self.acl],
            "total_size": self.total_size,
            "sgl_entries": self.sgl_entries,
            "borrowers": self.borrowers,
            "events": {k: [frames(r) for r in refs] for k, refs in self.events.items()},
            "final_state": self.final_state,
        }


@dataclass(slots=True)
class IrqRecord:
    handle: int
    owner: int
    borrower: int
    virq: int
    label: int
    events: dict[str, list[MsgRef]] = field(default_factory=lambda: {k: [] for k in _IRQ_EVENTS})
    final_state: str = "lent"

    def to_json(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "owner": self.owner,
            "borrower": self.borrower,
            "virq": self.virq,
            "label": self.label,
            "events": {k: [frames(r) for r in refs] for k, refs in self.events.items()},
            "final_state": self.final_state,
        }


@dataclass(slots=True)
class Damage:
    """One change made to a clean capture after the run (bundled malformed traces)."""

    kind: str
    frame: int
    offset: int
    length: int
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "frame": self.frame,
            "offset": self.offset,
            "length": self.length,
            "detail": self.detail,
        }


@dataclass
class Truth:
    """Everything the run did; ``to_json`` gives the documented schema."""

    params: dict[str, Any]
    instances: list[InstanceRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    parcels: list[ParcelRecord] = field(default_factory=list)
    irqs: list[IrqRecord] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    capture: dict[str, Any] = field(default_factory=dict)
    records: int = 0

    def summary(self) -> dict[str, Any]:
        """Counts a reader of the trace should find (README facts come from here)."""
        calls_by_name: dict[str, int] = {}
        errors: dict[tuple[str, int], int] = {}
        for c in self.calls:
            calls_by_name[c.name] = calls_by_name.get(c.name, 0) + 1
            if c.err and c.reply is not None and c.reply.frames:
                errors[(c.name, c.err)] = errors.get((c.name, c.err), 0) + 1
        notifs: dict[str, int] = {}
        for n in self.notifications:
            notifs[n.name] = notifs.get(n.name, 0) + 1
        faults: dict[str, int] = {}
        for f in self.faults:
            faults[f.kind] = faults.get(f.kind, 0) + 1
        boots = sorted(b for b in (i.boot_latency for i in self.instances) if b is not None)
        malformed = sorted({f for fault in self.faults for f in fault.to_json()["malformed_frames"]})
        for d in self.damage:
            malformed.extend(d.detail.get("malformed_frames", []))
        missing = sorted(f for d in self.damage for f in d.detail.get("missing_frames", []))
        return {
            "records": self.records,
            "messages": {
                "request": sum(1 for c in self.calls if c.request is not None and c.request.frames),
                "reply": sum(
                    (1 if c.reply is not None and c.reply.frames else 0) + sum(1 for d in c.dups if d.frames)
                    for c in self.calls
                ),
                "notification": sum(1 for n in self.notifications if n.ref.frames),
                "garbage": sum(
                    1 for f in self.faults if f.kind == "garbage" and any(r.frames for r in f.refs)
                ),
            },
            "calls_by_name": dict(sorted(calls_by_name.items())),
            "errors": [
                {"call": name, "err_code": code, "err_name": registry.error_name(code), "count": n}
                for (name, code), n in sorted(errors.items())
            ],
            "notifications_by_name": dict(sorted(notifs.items())),
            "instances": len(self.instances),
            "faults_by_kind": dict(sorted(faults.items())),
            "boot_latency": _stats(boots),
            "malformed_frames": sorted(set(malformed)),
            "missing_frames": missing,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "params": self.params,
            "capture": self.capture,
            "summary": self.summary(),
            "instances": [i.to_json() for i in self.instances],
            "calls": [c.to_json() for c in self.calls],
            "notifications": [n.to_json() for n in self.notifications],
            "faults": [f.to_json() for f in self.faults],
            "parcels": [p.to_json() for p in self.parcels],
            "irqs": [q.to_json() for q in self.irqs],
            "damage": [d.to_json() for d in self.damage],
        }

    def dump(self, path: str) -> None:
        """Write the JSON (stable key order, one trailing newline) to ``path``.

        Small logs are indented for people to read; past ``COMPACT_ABOVE`` calls they are
        written compact, which is several times faster (the C encoder) and half the size.
        """
        indent = 1 if len(self.calls) <= COMPACT_ABOVE else None
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=indent, separators=None if indent else (",", ":"))
            f.write("\n")


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "min": None, "median": None, "max": None}
    mid = len(values) // 2
    median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return {"count": len(values), "min": values[0], "median": median, "max": values[-1]}


def load(path: str) -> dict[str, Any]:
    """Read a truth file back as plain JSON data."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
