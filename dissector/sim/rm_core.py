"""The core of the Resource Manager model: the FIFO server and what every handler shares.

Why a core plus handler mixins: serving, replying (with the lost/duplicate-reply faults),
notifying from the global seq counter and announcing state changes are the RM's protocol
behaviour; the handlers (``rm_vm``, ``rm_memory``, ``rm_guest``) are its bookkeeping, one
family per module. ``dissector.sim.rm.ResourceManager`` puts them together.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from dissector.protocol.codec import codec_for
from dissector.protocol.enums import OS_STATUS, VM_STATUS
from dissector.protocol.wire import Direction, MsgType

from . import faults as E
from .config import EPOCH_NS
from .driver import Call
from .truth import (
    ExitRecord,
    FaultRecord,
    InstanceRecord,
    IrqRecord,
    MsgRef,
    NotificationRecord,
    ParcelRecord,
)
from .truth import StateChange as Change
from .world import World

HLOS = 3
DYNAMIC_VMIDS = range(0x80, 0xC0)
# vm_status (protocol.md 6.1, RM HEAD)
NONE, INIT, READY, RUNNING, PAUSED, LOAD, AUTH = 0, 1, 2, 3, 4, 5, 6
INIT_FAILED, EXITED, RESETTING, RESET = 8, 9, 10, 11
STATUS_NAMES = dict(VM_STATUS.values)
OS_NAMES = dict(OS_STATUS.values)
# exit types (protocol.md 6.6)
EXIT_VM_EXIT, EXIT_PSCI_OFF, EXIT_PSCI_RESET2, EXIT_WDT_BITE, EXIT_STOP_FORCED = 0, 1, 3, 4, 7
# memory / IRQ flags (protocol.md 6.8, 4.6)
MEM_APPEND_FLAG, APPEND_END = 0x2, 0x1
NOTIFY_SHARED, NOTIFY_RELEASED, NOTIFY_ACCEPTED = 0x1, 0x2, 0x4
IRQ_LENT, IRQ_RELEASED, IRQ_ACCEPTED = 0x1, 0x2, 0x4
VIRQ_ANY = 0xFFFFFFFF
STOP_FORCE = 0x1
# resource types (protocol.md 6.5)
RES_DB_SRC, RES_DB, RES_MQ_TX, RES_MQ_RX, RES_VCPU, RES_WATCHDOG = 0, 1, 2, 3, 4, 8
FREE_IRQ_START = 960  # qcom,free-irq-start (protocol.md 1.1)


class RMVm:
    """RM's record of one VM."""

    __slots__ = (
        "crash_msg",
        "ipa_next",
        "lent",
        "os_status",
        "owner",
        "plan",
        "resources",
        "status",
        "truth",
        "vmid",
    )

    def __init__(self, vmid: int, owner: int, plan: Any, truth: InstanceRecord) -> None:
        self.vmid = vmid
        self.owner = owner
        self.plan = plan
        self.truth = truth
        self.status = NONE
        self.os_status = 0
        self.crash_msg = b""
        self.resources: list[dict[str, int]] | None = None
        self.ipa_next = 0x1_0000_0000  # where RM maps parcels it places for this VM
        self.lent: list[Parcel] = []  # parcels whose ACL names this VM


class Parcel:
    __slots__ = (
        "acl",
        "appending",
        "handle",
        "holders",
        "label",
        "mem_type",
        "owner",
        "sgl",
        "tag",
        "trans_type",
        "truth",
    )

    def __init__(
        self, handle: int, owner: int, trans_type: int, values: dict[str, Any], truth: ParcelRecord
    ) -> None:
        self.handle = handle
        self.owner = owner
        self.trans_type = trans_type
        self.mem_type = values.get("mem_type", 0)
        self.label = values.get("label", 0)
        self.acl = [(e[0], e[1]) for e in values.get("acl", ())]
        self.sgl = list(values.get("sgl", ()))
        self.appending = bool(values.get("flags", 0) & MEM_APPEND_FLAG)
        self.tag: int | None = None
        self.holders: dict[int, bool] = {}  # vmid -> still holds it (accepted, not released)
        self.truth = truth


class LentIrq:
    __slots__ = ("accepted", "borrower", "handle", "label", "owner", "truth", "virq")

    def __init__(
        self, handle: int, owner: int, borrower: int, virq: int, label: int, truth: IrqRecord
    ) -> None:
        self.handle = handle
        self.owner = owner
        self.borrower = borrower
        self.virq = virq
        self.label = label
        self.accepted = False
        self.truth = truth


class RMCore:
    """Serving, replying, notifying and VM state bookkeeping; the call handlers are mixins.

    Each handler is a method ``_h_<call name in lower case>``: ``_h_vm_start`` answers VM_START.
    """

    def __init__(self, sim: World) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.rng = sim.rng_rm
        self.queue: deque[Call] = deque()
        self.busy = False
        self.vms: dict[int, RMVm] = {}
        self.parcels: dict[int, Parcel] = {}
        self.irqs: dict[int, LentIrq] = {}
        self.next_handle = 0x1000
        self.next_virq_handle = 0x40
        self.next_irq = FREE_IRQ_START
        self.notif_seq = 0
        self.instances: dict[int, int] = {}
        self._lost = sim.dice.active("lost_reply")
        self._dup = sim.dice.active("dup_reply")
        self._errors = sim.dice.errors
        self._handlers: dict[str, Callable[[Call], None]] = {
            name[3:].upper(): getattr(self, name) for name in dir(self) if name.startswith("_h_")
        }

    # ------------------------------------------------------------------ serving
    def receive(self, call: Call) -> None:
        call.arrived = self.engine.now
        self.queue.append(call)
        if not self.busy:
            self._next()

    def _next(self) -> None:
        if not self.queue:
            self.busy = False
            return
        self.busy = True
        call = self.queue.popleft()
        now = self.engine.now
        service = self.sim.latency.service_ns(self.rng, call.name, call.entries, now - EPOCH_NS)
        rec = call.rec
        if rec is not None:
            rec.queue_wait_ns = now - call.arrived
            rec.service_ns = service
        self.engine.at(now + service, self._complete, call)

    def _complete(self, call: Call) -> None:
        handler = self._handlers.get(call.name)
        if handler is None:  # pragma: no cover - every call the clients make has a handler
            self.reply(call, 0xFFFFFFFF)
        else:
            handler(call)
        self._next()

    # ------------------------------------------------------------------ sending
    def reply(
        self, call: Call, err: int = 0, values: dict[str, Any] | None = None, *, fault: str | None = None
    ) -> None:
        """Send the reply of ``call`` (unless the lost_reply fault eats it)."""
        sim = self.sim
        rec = call.rec
        assert rec is not None
        rec.err = err
        if fault is not None:
            rec.fault = fault
        values = values or {}
        if err == 0:
            codec = sim.reply_codecs.get(call.msg_id)
            if codec is None:
                codec = sim.reply_codecs[call.msg_id] = codec_for(call.msg_id, "reply")
            data = codec.encode(values)
        elif call.name == "VM_SET_FIRMWARE_MEM":
            data = codec_for(call.msg_id, "error_reply").encode({"hyp_error": 1})  # ERROR_ARGUMENT_INVALID
        else:
            data = b""
        payload = (err & 0xFFFFFFFF).to_bytes(4, "little") + data
        client = call.client
        driver = sim.drivers.get(client)
        if self._lost and sim.dice.roll("lost_reply"):
            rec.fault = rec.fault or "lost_reply"
            sim.truth.faults.append(
                FaultRecord(
                    "lost_reply",
                    self.engine.now,
                    client,
                    refs=[rec.request] if rec.request else [],
                    detail={
                        "call": rec.name,
                        "seq": call.seq,
                        "why": "client RX queue full; the pending reply was replaced by a newer one "
                        "(RM keeps one pending reply per client)",
                    },
                )
            )
            return
        ref, done = sim.wire.send(client, Direction.FROM_RM, MsgType.REPLY, call.seq, call.msg_id, payload)
        rec.reply = ref
        if driver is not None:
            self.engine.at(
                done + sim.timing.rx_ns, driver.deliver_reply, (call.seq, call.msg_id, err, values)
            )
        if self._dup and sim.dice.roll("dup_reply"):
            dup, done2 = sim.wire.send(
                client, Direction.FROM_RM, MsgType.REPLY, call.seq, call.msg_id, payload
            )
            rec.dups.append(dup)
            rec.fault = rec.fault or "dup_reply"
            sim.truth.faults.append(
                FaultRecord(
                    "dup_reply",
                    self.engine.now,
                    client,
                    refs=[ref, dup],
                    detail={"call": rec.name, "seq": call.seq},
                )
            )
            if driver is not None:
                self.engine.at(
                    done2 + sim.timing.rx_ns, driver.deliver_reply, (call.seq, call.msg_id, err, values)
                )

    def notify(self, to: int, name: str, values: dict[str, Any], vmid: int | None = None) -> MsgRef:
        """Send a notification; its seq comes from the RM-global counter (protocol.md 1.4)."""
        sim = self.sim
        msg_id = sim.msg_ids[name]
        seq = self.notif_seq
        self.notif_seq = (seq + 1) & 0xFFFF
        codec = sim.notification_codecs.get(msg_id)
        if codec is None:
            codec = sim.notification_codecs[msg_id] = codec_for(msg_id, "notification")
        payload = codec.encode(values)
        ref, done = sim.wire.send(to, Direction.FROM_RM, MsgType.NOTIFICATION, seq, msg_id, payload)
        sim.truth.notifications.append(NotificationRecord(to, seq, msg_id, sim.names[msg_id], vmid, ref))
        driver = sim.drivers.get(to)
        if driver is not None and name in driver.wants:
            self.engine.at(done + sim.timing.rx_ns, driver.deliver_notification, (name, values, ref))
        return ref

    def set_status(self, vm: RMVm, status: int, cause: MsgRef | None) -> None:
        """Change a VM's status, record it, and tell the owner with VM_STATUS."""
        vm.status = status
        name = STATUS_NAMES[status]
        change = Change(self.engine.now, status, name, cause)
        vm.truth.states.append(change)
        vm.truth.final_state = name
        if status == RUNNING and vm.truth.running_ns is None:
            vm.truth.running_ns = self.engine.now
        change.notify = self._status_notif(vm)

    def _status_notif(self, vm: RMVm) -> MsgRef:
        values = {"vmid": vm.vmid, "vm_status": vm.status, "os_status": vm.os_status, "app_status": 0}
        return self.notify(vm.owner, "VM_STATUS", values, vm.vmid)

    def halt(
        self,
        vm: RMVm,
        exit_type: int,
        flags: int,
        code: int,
        cause: MsgRef | None,
        extra: tuple[int, ...] = (),
    ) -> None:
        """The VM stopped running: EXITED, VM_STATUS and VM_EXITED to the owner."""
        if vm.status != RUNNING:
            return
        self.set_status(vm, EXITED, cause)
        reason: dict[str, int] = {"exit_flags": flags, "exit_code": code}
        if extra:
            reason.update(zip(("reset_type", "cookie_lo", "cookie_hi"), extra, strict=True))
        ref = self.notify(
            vm.owner, "VM_EXITED", {"vmid": vm.vmid, "exit_type": exit_type, "exit_reason": reason}, vm.vmid
        )
        raw = flags | (code << 16)
        words = raw.to_bytes(4, "little") + b"".join(w.to_bytes(4, "little") for w in extra)
        vm.truth.exit = ExitRecord(self.engine.now, exit_type, flags, code, words, cause, ref)
        for fault in vm.plan.faults:
            if fault.kind == "crash" and exit_type == EXIT_WDT_BITE:
                fault.refs.append(ref)
        self.sim.stop_guest(vm.vmid)

    def hypervisor_exit(self, item: tuple[int, int, int, int, tuple[int, ...]]) -> None:
        """A VM exit that no RPC caused (PSCI SYSTEM_OFF / RESET2, watchdog bite)."""
        vmid, exit_type, flags, code, extra = item
        vm = self.vms.get(vmid)
        if vm is not None:
            self.halt(vm, exit_type, flags, code, None, extra)

    # ------------------------------------------------------------------ helpers
    def _injected(self, call: Call) -> int | None:
        if not self._errors:
            return None
        code = self.sim.dice.error_code(call.name)
        if code is not None:
            self.sim.truth.faults.append(
                FaultRecord(
                    "error",
                    self.engine.now,
                    call.vmid if call.vmid is not None else call.client,
                    refs=[call.rec.request] if call.rec and call.rec.request else [],
                    detail={
                        "call": call.name,
                        "err_code": code,
                        "err_name": E.error_name(code),
                        "client": call.client,
                    },
                )
            )
        return code

    def _rejected(self, call: Call) -> bool:
        """Answer with an injected error if the dice say so; True if the call is done."""
        code = self._injected(call)
        if code is None:
            return False
        self._fail(call, code)
        return True

    def _vm(self, call: Call) -> RMVm | None:
        return self.vms.get(call.values.get("vmid", -1))

    def _fail(self, call: Call, code: int) -> None:
        self.reply(call, code, fault="error")

    def _plan_fault(self, kind: str, vm: RMVm, call: Call) -> None:
        rec = call.rec
        refs = [r for r in (rec.request, rec.reply) if r is not None] if rec is not None else []
        code = rec.err if rec is not None else None
        self.sim.truth.faults.append(
            FaultRecord(
                kind, self.engine.now, vm.vmid, refs=refs, detail={"call": call.name, "err_code": code}
            )
        )

    def _failed_attempt(self, call: Call, state: int, code: int) -> None:
        """An injected ``code`` means RM tried and failed (not a rejected request): INIT_FAILED."""
        target, rec = self._vm(call), call.rec
        if target is not None and target.status == state and rec is not None and rec.err == code:
            self.set_status(target, INIT_FAILED, self._cause(call))

    def _cause(self, call: Call) -> MsgRef | None:
        return call.rec.request if call.rec is not None else None

    def _guard(self, call: Call, states: tuple[int, ...]) -> RMVm | None:
        """The VM the call names if it exists and is in one of ``states``; else reply an error."""
        code = self._injected(call)
        if code is not None:
            self._fail(call, code)
            return None
        vm = self._vm(call)
        if vm is None:
            self.reply(call, E.VMID_INVALID)
            return None
        if vm.owner != call.client:
            self.reply(call, E.DENIED)
            return None
        if vm.status not in states:
            self.reply(call, E.VM_STATE)
            return None
        return vm
