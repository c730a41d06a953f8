"""The host VM manager (HLOS, VMID 3): boots, watches and tears down guest VMs.

Call sequences follow protocol.md 8:

* v11 host: VM_ALLOCATE(0) -> MEM_LEND/MEM_SHARE (+MEM_APPEND beyond 512 SGL entries) ->
  VM_CONFIG_IMAGE(auth NONE, image 0/0) -> VM_INIT -> VM_GET_HYP_RESOURCES -> VM_START;
  several calls may be outstanding (each VM's sequence runs concurrently).
* v17 host (GY-B): VM_ALLOCATE -> MEM_LEND/SHARE -> [pVM: firmware parcel] -> VM_CONFIG_IMAGE ->
  [pVM: VM_SET_FIRMWARE_MEM] -> VM_SET_DEMAND_PAGING -> VM_SET_ADDRESS_LAYOUT(IMAGE) -> VM_INIT ->
  [non-pVM: VM_SET_BOOT_CONTEXT x2] -> VM_GET_HYP_RESOURCES -> VM_START; one call at a time.
* teardown: VM_STOP(force) if RUNNING -> MEM_RECLAIM each parcel (and VM_IRQ_RECLAIM) ->
  VM_RESET -> wait VM_STATUS RESET -> [v17: reclaim the firmware parcel] -> VM_DEALLOCATE.

While a guest runs the host lends it IRQs (VM_IRQ_LEND + VM_IRQ_NOTIFY LENT) and shares
runtime parcels (MEM_SHARE/LEND + MEM_NOTIFY SHARED), as Qualcomm's VM managers do. It reacts
to failures the way a VMM must: a failed boot step tears down what exists, MEM_INUSE is
retried, HANDLE_INVALID gives up on that parcel, a VM that never reports RESET is abandoned.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .driver import Call, Driver
from .engine import Command, Signal, Sleep
from .plan import GUEST_EXITS, GUEST_IPA_BASE, MIB, InstancePlan
from .rm_core import EXITED, HLOS, IRQ_LENT, MEM_APPEND_FLAG, NOTIFY_SHARED, RESET, RUNNING, STOP_FORCE
from .truth import FaultRecord
from .world import World

Steps = Generator[Command | int, Any, Any]  # an int is a sleep in nanoseconds
MAX_SGL_PER_MESSAGE = 512  # Linux GH_RM_MAX_MEM_ENTRIES / RM MAX_LIST_ENTRIES
OS_RUN = 4
WATCHDOG_BITE = 4


class HostVM:
    """The host's view of one VM, kept up to date from notifications."""

    def __init__(self, sim: World, vmid: int, plan: InstancePlan) -> None:
        self.vmid = vmid
        self.plan = plan
        self.status = 0
        self.os_status = 0
        self.exited = False
        self.reached_run = False  # the guest reported os RUN at least once
        self.exit_type: int | None = None
        self.changed = Signal(sim.engine)
        self.parcels: list[int] = []  # boot and runtime parcels, in creation order
        self.fw_parcel: int | None = None
        self.irqs: list[int] = []
        self.reclaimed: list[int] = []


class Host:
    """The VMM: one process per VM slot; slots reboot new instances until the duration ends."""

    def __init__(self, sim: World) -> None:
        self.sim = sim
        self.cfg = sim.config
        self.t = sim.config.timing
        self.rng = sim.rng_host
        self.driver = Driver(sim, HLOS, serialize=sim.config.host == "v17")
        self.driver.on_notification = self.on_notification
        self.driver.wants = frozenset(("VM_STATUS", "VM_EXITED"))
        sim.drivers[HLOS] = self.driver
        self.vms: dict[int, HostVM] = {}
        self.v17 = sim.config.host == "v17"

    def start(self) -> None:
        for slot in range(self.cfg.vms):
            self.sim.engine.spawn(self.slot(slot), f"slot{slot}")

    # ------------------------------------------------------------------ notifications
    def on_notification(self, name: str, values: dict[str, Any], ref: Any) -> None:
        hv = self.vms.get(values.get("vmid", -1))
        if hv is None:
            return
        if name == "VM_STATUS":
            hv.status = values["vm_status"]
            hv.os_status = values["os_status"]
            if hv.os_status == OS_RUN:
                hv.reached_run = True
            hv.changed.fire()
        elif name == "VM_EXITED":
            hv.exited = True
            hv.exit_type = values["exit_type"]
            hv.changed.fire()

    # ------------------------------------------------------------------ helpers
    def _call(self, name: str, values: dict[str, Any], vmid: int | None = None, entries: int = 0) -> Call:
        call = self.driver.call(name, values, vmid=vmid)
        call.entries = entries
        return call

    def _jitter(self, ns: int) -> int:
        """``ns`` times a factor drawn uniformly from [0.6, 1.6)."""
        return int(ns * (0.6 + self.rng.random()))

    def _think(self) -> int:
        """VMM work between two calls of one VM (yielded as a plain sleep in ns)."""
        return self._jitter(self.t.think_ns)

    # ------------------------------------------------------------------ slots
    def slot(self, index: int) -> Steps:
        """One VM slot: boot an instance, let it live, tear it down, and again until the end."""
        sim = self.sim
        yield Sleep(self.rng.randrange(self.t.boot_stagger_ns + 1) + index * 1000)
        boots = 0
        while sim.engine.now < sim.end_ns and not (self.cfg.boots_per_vm and boots >= self.cfg.boots_per_vm):
            boots += 1
            yield from self.lifecycle()
            yield Sleep(self._jitter(self.t.reboot_gap_ns))

    def lifecycle(self) -> Steps:
        """One VM instance from VM_ALLOCATE to VM_DEALLOCATE (or to where it got stuck)."""
        sim = self.sim
        plan = sim.planner.next()
        call = self._call("VM_ALLOCATE", {"vmid": 0})
        call.plan = plan
        c = yield call
        if not c.ok:
            yield Sleep(self.t.retry_ns)
            return
        vmid = c.reply["vmid"]
        hv = HostVM(sim, vmid, plan)
        self.vms[vmid] = hv
        started = yield from self.boot(hv)
        if started:
            yield from self.run(hv)
        yield from self.teardown(hv)

    # ------------------------------------------------------------------ boot
    def boot(self, hv: HostVM) -> Steps:
        """protocol.md 8: True if VM_START succeeded."""
        plan, vmid = hv.plan, hv.vmid
        yield self._think()
        main = yield from self.lend(hv, "MEM_LEND", [(vmid, 7)], 0, plan.main_sgl)
        if main is None:
            return False
        if plan.shared_sgl:
            shared = yield from self.lend(hv, "MEM_SHARE", [(HLOS, 6), (vmid, 6)], 1, plan.shared_sgl)
            if shared is None:
                return False
        if plan.fw_sgl:
            fw = yield from self.lend(hv, "MEM_LEND", [(vmid, 7)], 2, plan.fw_sgl)
            if fw is None:
                return False
            hv.fw_parcel = fw
            hv.parcels.remove(fw)
        yield Sleep(self._jitter(self.t.load_image_ns))
        mem = plan.mem_mib * MIB
        dtb_offset = mem - 2 * MIB
        image = {
            "vmid": vmid,
            "auth_mech": 2 if plan.pvm else 0,
            "mem_handle": main,
            "image_offset": 0,
            "image_size": 0,
            "dtb_offset": dtb_offset,
            "dtb_size": plan.dtb_size,
        }
        steps: list[tuple[str, dict[str, Any]]] = [("VM_CONFIG_IMAGE", image)]
        if self.v17:
            if plan.pvm:
                steps.append(
                    (
                        "VM_SET_FIRMWARE_MEM",
                        {"vmid": vmid, "mem_handle": hv.fw_parcel, "fw_offset": 0, "fw_size": 2 * MIB},
                    )
                )
            steps.append(("VM_SET_DEMAND_PAGING", {"vmid": vmid, "ranges": [(GUEST_IPA_BASE, mem)]}))
            steps.append(
                (
                    "VM_SET_ADDRESS_LAYOUT",
                    {"vmid": vmid, "range_id": 0, "range_base": GUEST_IPA_BASE, "range_size": mem},
                )
            )
        steps.append(("VM_INIT", {"vmid": vmid}))
        if self.v17 and not plan.pvm:
            for reg_set, value in ((0, GUEST_IPA_BASE + dtb_offset), (1, GUEST_IPA_BASE)):
                steps.append(
                    (
                        "VM_SET_BOOT_CONTEXT",
                        {"vmid": vmid, "reg_set": reg_set, "reg_index": 0, "value": value},
                    )
                )
        steps.append(("VM_GET_HYP_RESOURCES", {"vmid": vmid}))
        steps.append(("VM_START", {"vmid": vmid}))
        for name, values in steps:
            entries = len(plan.main_sgl) if name == "VM_INIT" else 0
            c = yield self._call(name, values, vmid, entries)
            if not c.ok:
                return False
            yield self._think()
        return True

    def lend(
        self, hv: HostVM, name: str, acl: list[tuple[int, int]], label: int, sgl: list[tuple[int, int]]
    ) -> Steps:
        """MEM_LEND/MEM_SHARE of ``sgl``, continued with MEM_APPEND past 512 entries."""
        first, rest = sgl[:MAX_SGL_PER_MESSAGE], sgl[MAX_SGL_PER_MESSAGE:]
        values = {
            "mem_type": 0,
            "flags": MEM_APPEND_FLAG if rest else 0,
            "label": label,
            "acl": acl,
            "sgl": first,
            "attrs": [],
        }
        c = yield self._call(name, values, hv.vmid, len(first))
        if not c.ok:
            return None
        handle = c.reply["mem_handle"]
        hv.parcels.append(handle)
        while rest:
            chunk, rest = rest[:MAX_SGL_PER_MESSAGE], rest[MAX_SGL_PER_MESSAGE:]
            c = yield self._call(
                "MEM_APPEND",
                {"mem_handle": handle, "flags": 0 if rest else 1, "sgl": chunk},
                hv.vmid,
                len(chunk),
            )
            if not c.ok:
                return None
        return handle

    # ------------------------------------------------------------------ running
    def run(self, hv: HostVM) -> Steps:
        """Lend runtime resources, then wait for the guest to end (or stop it)."""
        sim, plan, vmid = self.sim, hv.plan, hv.vmid
        started = sim.engine.now
        # the guest lives its planned lifetime, cut short when the run's duration is over
        plan.end_ns = min(started + plan.lifetime_ns, max(sim.end_ns, started + 300 * 1_000_000))
        for trans_type, sgl in plan.runtime_shares:
            if hv.exited:
                break
            label = 0x10 + len(hv.parcels)
            acl = [(vmid, 6)] if trans_type == 1 else [(HLOS, 6), (vmid, 6)]
            handle = yield from self.lend(hv, "MEM_LEND" if trans_type == 1 else "MEM_SHARE", acl, label, sgl)
            if handle is not None and not hv.exited:
                yield self._call(
                    "MEM_NOTIFY",
                    {"mem_handle": handle, "flags": NOTIFY_SHARED, "mem_info_tag": label, "vmids": [(vmid,)]},
                    vmid,
                )
        for virq, label in plan.runtime_irqs:
            if hv.exited:
                break
            c = yield self._call("VM_IRQ_LEND", {"borrower_vmid": vmid, "virq": virq, "label": label}, vmid)
            if c.ok:
                handle = c.reply["virq_handle"]
                hv.irqs.append(handle)
                yield self._call(
                    "VM_IRQ_NOTIFY", {"virq_handle": handle, "flags": IRQ_LENT, "vmids": [(vmid,)]}, vmid
                )
        boot_deadline = started + self.t.boot_timeout_ns
        guest_ends = plan.exit_mode in GUEST_EXITS or plan.crash
        while not hv.exited and hv.status == RUNNING:
            now = sim.engine.now
            stop_at = plan.end_ns + (self.t.call_timeout_ns if guest_ends else 0)
            if not hv.reached_run:
                stop_at = min(stop_at, boot_deadline)
            if now >= stop_at:
                yield from self.stop(hv)
                break
            yield hv.changed.wait(stop_at - now)
        deadline = sim.engine.now + self.t.think_ns * 40
        while not hv.exited and hv.status == EXITED and sim.engine.now < deadline:
            yield hv.changed.wait(deadline - sim.engine.now)  # VM_EXITED follows VM_STATUS EXITED
        if hv.exit_type == WATCHDOG_BITE:
            yield self._think()
            yield self._call("VM_GET_CRASH_MSG", {"vmid": vmid}, vmid)

    # ------------------------------------------------------------------ teardown
    def teardown(self, hv: HostVM) -> Steps:
        """STOP if running, reclaim, RESET, wait for VM_STATUS RESET, DEALLOCATE (GY-B order)."""
        sim, vmid, plan = self.sim, hv.vmid, hv.plan
        if hv.status == RUNNING and not hv.exited:
            yield from self.stop(hv)
        for handle in list(hv.parcels):
            yield from self.reclaim(hv, handle)
        for handle in hv.irqs:
            yield self._call("VM_IRQ_RECLAIM", {"virq_handle": handle}, vmid)
        if plan.storm_retries and hv.reclaimed:
            yield from self.reclaim_storm(hv)
        c = yield self._call("VM_RESET", {"vmid": vmid}, vmid)
        if c.ok:
            deadline = sim.engine.now + self.t.reset_timeout_ns
            while hv.status != RESET and sim.engine.now < deadline:
                yield hv.changed.wait(deadline - sim.engine.now)
        if hv.status != RESET:
            self.vms.pop(vmid, None)  # abandoned: the VMID stays allocated in the RM
            return
        if hv.fw_parcel is not None:
            yield from self.reclaim(hv, hv.fw_parcel)
        yield self._call("VM_DEALLOCATE", {"vmid": vmid}, vmid)
        self.vms.pop(vmid, None)

    def stop(self, hv: HostVM) -> Steps:
        """VM_STOP(force), then wait for VM_STATUS EXITED as GY-B's gunyah_vm_stop does."""
        sim = self.sim
        c = yield self._call("VM_STOP", {"vmid": hv.vmid, "flags": STOP_FORCE, "stop_reason": 3}, hv.vmid)
        if c.ok:
            deadline = sim.engine.now + self.t.reset_timeout_ns
            while not hv.exited and sim.engine.now < deadline:
                yield hv.changed.wait(deadline - sim.engine.now)

    def reclaim(self, hv: HostVM, handle: int) -> Steps:
        """MEM_RECLAIM; MEM_INUSE is retried a few times, anything else gives up."""
        for _attempt in range(4):
            c = yield self._call("MEM_RECLAIM", {"mem_handle": handle, "flags": 0}, hv.vmid)
            if c.ok:
                hv.reclaimed.append(handle)
                return
            if c.err != 0xB:  # only MEM_INUSE is worth a retry
                return
            yield Sleep(self.t.retry_ns)

    def reclaim_storm(self, hv: HostVM) -> Steps:
        """A teardown bug: every parcel is reclaimed again; RM answers HANDLE_INVALID each time."""
        sim = self.sim
        fault = FaultRecord(
            "reclaim_storm",
            sim.engine.now,
            hv.vmid,
            detail={"retries": hv.plan.storm_retries, "handles": list(hv.reclaimed)},
        )
        sim.truth.faults.append(fault)
        for _ in range(hv.plan.storm_retries):
            for handle in hv.reclaimed:
                c = yield self._call("MEM_RECLAIM", {"mem_handle": handle, "flags": 0}, hv.vmid)
                if c.rec is not None:
                    c.rec.fault = "reclaim_storm"
                    if c.rec.request is not None:
                        fault.refs.append(c.rec.request)
                    if c.rec.reply is not None:
                        fault.refs.append(c.rec.reply)
