"""RM handlers of the VM lifecycle and configuration calls (protocol.md 4.1, 4.3, 4.4).

State rules: ALLOCATE -> LOAD, CONFIG_IMAGE -> INIT, INIT -> READY (INIT_FAILED when it fails),
START -> RUNNING (INIT_FAILED on NORESOURCE), STOP -> EXITED, RESET -> RESETTING and, after
the RM's asynchronous cleanup, RESET; a call in the wrong state is answered VM_STATE.
"""

from __future__ import annotations

from . import faults as E
from .driver import Call
from .rm_core import (
    DYNAMIC_VMIDS,
    EXIT_STOP_FORCED,
    EXITED,
    HLOS,
    INIT,
    INIT_FAILED,
    LOAD,
    READY,
    RES_DB,
    RES_DB_SRC,
    RES_MQ_RX,
    RES_MQ_TX,
    RES_VCPU,
    RES_WATCHDOG,
    RESET,
    RESETTING,
    RUNNING,
    STOP_FORCE,
    RMCore,
    RMVm,
)
from .truth import FaultRecord, InstanceRecord, MsgRef


class VmCalls(RMCore):
    """VM_ALLOCATE ... VM_DEALLOCATE, VM_CONFIG_IMAGE, VM_SET_*, VM_GET_HYP_RESOURCES."""

    def _h_vm_allocate(self, call: Call) -> None:
        if call.client != HLOS:
            self.reply(call, E.DENIED)
            return
        if self._rejected(call):
            return
        vmid = next((v for v in DYNAMIC_VMIDS if v not in self.vms), None)
        if vmid is None:
            self.reply(call, E.NORESOURCE)
            return
        n = self.instances.get(vmid, 0) + 1
        self.instances[vmid] = n
        plan = call.plan
        truth = InstanceRecord(
            vmid, n, plan.ordinal, call.client, plan.to_json(), self._cause(call), self.engine.now
        )
        self.sim.truth.instances.append(truth)
        vm = RMVm(vmid, call.client, plan, truth)
        self.vms[vmid] = vm
        self.reply(call, 0, {"vmid": vmid, "_padding": 0})
        self.set_status(vm, LOAD, self._cause(call))

    def _h_vm_deallocate(self, call: Call) -> None:
        vm = self._guard(call, (RESET, LOAD))
        if vm is None:
            return
        del self.vms[vm.vmid]
        vm.truth.dealloc = self._cause(call)
        vm.truth.dealloc_time_ns = self.engine.now
        vm.truth.final_state = "DEALLOCATED"
        self.reply(call)

    def _h_vm_config_image(self, call: Call) -> None:
        vm = self._guard(call, (LOAD,))
        if vm is None:
            return
        parcel = self.parcels.get(call.values.get("mem_handle", -1))
        if parcel is None or parcel.owner != call.client or all(v != vm.vmid for v, _ in parcel.acl):
            self.reply(call, E.HANDLE_INVALID)
            return
        self.reply(call)
        self.set_status(vm, INIT, self._cause(call))

    def _h_vm_set_firmware_mem(self, call: Call) -> None:
        vm = self._guard(call, (INIT,))
        if vm is not None:
            parcel = self.parcels.get(call.values.get("mem_handle", -1))
            self.reply(call, 0 if parcel is not None else E.HANDLE_INVALID)

    def _h_vm_set_demand_paging(self, call: Call) -> None:
        if self._guard(call, (INIT,)) is not None:
            self.reply(call)

    def _h_vm_set_address_layout(self, call: Call) -> None:
        if self._guard(call, (INIT,)) is not None:
            self.reply(call)

    def _h_vm_set_boot_context(self, call: Call) -> None:
        if self._guard(call, (READY,)) is not None:
            self.reply(call)

    def _h_vm_init(self, call: Call) -> None:
        vm = self._vm(call)
        if vm is not None and vm.plan.init_fail and vm.status == INIT and vm.owner == call.client:
            self.reply(call, E.NOMEM, fault="init_fail")
            self._plan_fault("init_fail", vm, call)
            self.set_status(vm, INIT_FAILED, self._cause(call))
            return
        vm = self._guard(call, (INIT,))
        if vm is None:
            self._failed_attempt(call, INIT, E.NOMEM)
            return
        # RM maps the boot parcels into the new VM: it accepts them on the VM's behalf
        for parcel in vm.lent:
            if parcel.handle in self.parcels and parcel.owner == call.client:
                parcel.holders[vm.vmid] = True
                parcel.truth.events["accept"].append(self._cause(call))  # type: ignore[arg-type]
                parcel.truth.final_state = "mapped"
        self.reply(call)
        self.set_status(vm, READY, self._cause(call))

    def _h_vm_get_hyp_resources(self, call: Call) -> None:
        vm = self._guard(call, (INIT, READY, RUNNING))
        if vm is None:
            return
        if vm.resources is None:
            vm.resources = self._resources(vm)
        self.reply(call, 0, {"entries": vm.resources})

    def _resources(self, vm: RMVm) -> list[dict[str, int]]:
        """vCPUs, a message-queue pair, a doorbell pair and a watchdog (protocol.md 4.3, 6.5)."""
        rng = self.rng

        def cap() -> int:
            return rng.getrandbits(63) | (1 << 62)

        def irq() -> int:
            self.next_irq += 1
            return self.next_irq - 1

        out: list[dict[str, int]] = []
        for i in range(vm.plan.vcpus):
            out.append(
                {
                    "type": RES_VCPU,
                    "partner_vmid": vm.vmid,
                    "resource_label": i,
                    "cap_id": cap(),
                    "virq": irq(),
                }
            )
        for rtype in (RES_MQ_TX, RES_MQ_RX):
            out.append(
                {
                    "type": rtype,
                    "partner_vmid": vm.vmid,
                    "resource_label": 1,
                    "cap_id": cap(),
                    "virq_handle": 0,
                    "virq": irq(),
                }
            )
        for rtype in (RES_DB_SRC, RES_DB):
            out.append(
                {
                    "type": rtype,
                    "partner_vmid": vm.vmid,
                    "resource_label": 2,
                    "cap_id": cap(),
                    "virq": irq() if rtype == RES_DB else 0,
                }
            )
        out.append(
            {
                "type": RES_WATCHDOG,
                "partner_vmid": vm.vmid,
                "resource_label": 0,
                "cap_id": cap(),
                "virq": irq(),
            }
        )
        return out

    def _h_vm_start(self, call: Call) -> None:
        vm = self._vm(call)
        if vm is not None and vm.plan.start_fail and vm.status == READY and vm.owner == call.client:
            self.reply(call, E.NORESOURCE, fault="start_fail")
            self._plan_fault("start_fail", vm, call)
            self.set_status(vm, INIT_FAILED, self._cause(call))
            return
        vm = self._guard(call, (READY,))
        if vm is None:
            self._failed_attempt(call, READY, E.NORESOURCE)
            return
        self.reply(call)
        self.set_status(vm, RUNNING, self._cause(call))
        self.sim.start_guest(vm)

    def _h_vm_stop(self, call: Call) -> None:
        vm = self._guard(call, (RUNNING,))
        if vm is None:
            return
        self.reply(call)
        if call.values.get("flags", 0) & STOP_FORCE:
            self.halt(vm, EXIT_STOP_FORCED, 0, 0, self._cause(call))
        else:
            self.notify(vm.vmid, "VM_SHUTDOWN", {"stop_reason": call.values.get("stop_reason", 0)}, vm.vmid)

    def _h_vm_reset(self, call: Call) -> None:
        vm = self._guard(call, (LOAD, INIT, READY, INIT_FAILED, EXITED))
        if vm is None:
            return
        self.set_status(vm, RESETTING, self._cause(call))
        self.reply(call)
        if vm.plan.hang == "reset":
            self.sim.truth.faults.append(
                FaultRecord(
                    "hang",
                    self.engine.now,
                    vm.vmid,
                    refs=[self._cause(call)] if call.rec else [],  # type: ignore[list-item]
                    detail={"state": "RESETTING"},
                )
            )
            return
        delay = self.sim.timing.reset_ns + 40_000 * len(vm.lent)
        self.engine.after(delay, self._reset_done, (vm, self._cause(call)))

    def _reset_done(self, item: tuple[RMVm, MsgRef | None]) -> None:
        vm, cause = item
        if self.vms.get(vm.vmid) is not vm or vm.status != RESETTING:
            return
        for parcel in vm.lent:
            if parcel.holders.get(vm.vmid):
                parcel.holders[vm.vmid] = False
        for lent in self.irqs.values():
            if lent.borrower == vm.vmid:
                lent.accepted = False
        self.set_status(vm, RESET, cause)
