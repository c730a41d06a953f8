"""A guest kernel on its own RM queue pair (client VMID = the guest's VMID).

From VM_START on it does what a Linux guest with a Gunyah RM driver does: VM_GET_VMID, boot
progress with VM_SET_STATUS (os status EARLY_BOOT, BOOT, INIT, RUN), console lines with
VM_CONSOLE_WRITE, accepting what the host lends it (MEM_SHARED -> MEM_ACCEPT + MEM_NOTIFY
ACCEPTED; VM_IRQ_LENT -> VM_IRQ_ACCEPT + VM_IRQ_NOTIFY ACCEPTED) and, at the end of its plan,
a clean shutdown (release what it holds, os SHUTDOWN, then VM_EXIT or a PSCI SYSTEM_OFF /
SYSTEM_RESET2 that the hypervisor turns into an exit). A planned crash panics, leaves a
crash message and hangs until the watchdog bites; a planned boot hang stops at os BOOT.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .driver import Driver
from .engine import Command, Process, Sleep
from .rm_core import (
    EXIT_PSCI_OFF,
    EXIT_PSCI_RESET2,
    EXIT_WDT_BITE,
    IRQ_ACCEPTED,
    IRQ_RELEASED,
    NOTIFY_ACCEPTED,
    NOTIFY_RELEASED,
    RMVm,
)
from .truth import FaultRecord
from .world import World

Steps = Generator[Command | int, Any, Any]  # an int is a sleep in nanoseconds
EARLY_BOOT, BOOT, INIT, RUN, SHUTDOWN = 1, 2, 3, 4, 5
ACCEPT_FLAGS = 0x02 | 0x80  # VALIDATE_ACL_ATTRS | DONE
VIRQ_ANY = 0xFFFFFFFF
SMC64 = 0x8000

_BOOT_LINES = (
    "Booting Linux on physical CPU 0x0000000000 [0x411fd070]",
    "Linux version 6.6.30-android15-8-gunyah (build@sim) (clang 17.0.2) #1 SMP PREEMPT",
    "Machine model: Gunyah Virtual Machine",
    "efi: UEFI not found.",
    "psci: probing for conduit method from DT.",
    "psci: PSCIv1.1 detected in firmware.",
    "gunyah: Running under Gunyah hypervisor 1.0",
    "gunyah_rsc_mgr: RM RPC link up (msgq tx/rx)",
    "Memory: {mem}K/{mem}K available",
    "smp: Brought up 1 node, {cpus} CPUs",
    "virtio_blk virtio0: [vda] 65536 512-byte logical blocks",
    "EXT4-fs (vda): mounted filesystem with ordered data mode",
    "Run /init as init process",
)
_RUN_LINES = (
    "init: Service 'vendor.gunyah' started",
    "healthd: battery none",
    'audit: type=1400 audit(0.0:{n}): avc: denied {{ read }} for comm="sh"',
    "binder: 312:312 transaction failed 29189/-22",
    "random: crng reseeded on system resumption",
)
_PANIC = "Kernel panic - not syncing: softlockup: hung tasks"


class Guest:
    """One running guest; ``stop()`` when the VM leaves RUNNING."""

    def __init__(self, sim: World, vm: RMVm) -> None:
        self.sim = sim
        self.vm = vm
        self.vmid = vm.vmid
        self.plan = vm.plan
        self.rng = sim.rng_guest
        self.t = sim.config.timing
        self.driver = Driver(sim, vm.vmid, serialize=sim.config.host == "v17")
        self.driver.on_notification = self.on_notification
        self.driver.wants = frozenset(("MEM_SHARED", "VM_IRQ_LENT"))
        sim.drivers[vm.vmid] = self.driver
        self.started = sim.engine.now
        self.procs: list[Process] = []
        self.parcels: list[tuple[int, int]] = []  # (handle, tag) accepted
        self.irqs: list[int] = []
        self._lines = 0
        self.ready = False  # the RM driver handles notifications once the kernel has probed it
        self._deferred: list[tuple[str, dict[str, Any]]] = []
        self.spawn(self.main())

    def spawn(self, gen: Steps) -> None:
        self.procs.append(self.sim.engine.spawn(gen, f"guest{self.vmid:#x}"))

    def stop(self) -> None:
        self.driver.closed = True
        for proc in self.procs:
            if not proc.done:
                proc.cancel()
        if self.sim.drivers.get(self.vmid) is self.driver:
            del self.sim.drivers[self.vmid]

    # ------------------------------------------------------------------ helpers
    def call(self, name: str, values: dict[str, Any] | None = None, entries: int = 0) -> Command:
        c = self.driver.call(name, values or {}, vmid=self.vmid)
        c.entries = entries
        return c

    def _line(self, text: str) -> Command:
        up = self.sim.engine.now - self.started
        self._lines += 1
        text = text.format(mem=self.plan.mem_mib * 1024, cpus=self.plan.vcpus, n=self._lines)
        line = f"[{up // 1_000_000_000:5d}.{(up // 1000) % 1_000_000:06d}] {text}\n"
        return self.call("VM_CONSOLE_WRITE", {"vmid": 0, "data": line.encode()[:228]})

    def _sleep(self, ns: int) -> int:
        """``ns`` give or take 30-40 % (yielded as a plain sleep)."""
        return int(ns * (0.7 + 0.7 * self.rng.random()))

    # ------------------------------------------------------------------ life
    def main(self) -> Steps:
        plan, t = self.plan, self.t
        yield self._sleep(t.guest_start_ns)
        yield self.call("VM_GET_VMID")
        lines = list(_BOOT_LINES[: plan.console_lines])
        per_phase = max(1, len(lines) // 4)
        prev = 0
        for phase, os_status in enumerate((EARLY_BOOT, BOOT, INIT, RUN)):
            if plan.hang == "boot" and os_status == INIT:
                self.sim.truth.faults.append(
                    FaultRecord(
                        "hang",
                        self.sim.engine.now,
                        self.vmid,
                        detail={"state": "RUNNING", "os_status": "BOOT"},
                    )
                )
                return  # stuck: no further progress until the host gives up
            yield self._sleep(t.boot_phase_ns[phase] - prev)
            prev = t.boot_phase_ns[phase]
            yield self.call("VM_SET_STATUS", {"vm_status": 0, "os_status": os_status, "app_status": 0})
            if os_status == BOOT:
                self.ready = True
                for name, values in self._deferred:
                    self.on_notification(name, values, None)
                self._deferred.clear()
            for text in (
                lines[phase * per_phase : (phase + 1) * per_phase] if phase < 3 else lines[3 * per_phase :]
            ):
                yield self._line(text)
        crash_at = self.started + plan.crash_after_ns if plan.crash else None
        end = plan.end_ns
        while True:
            now = self.sim.engine.now
            limit = crash_at if crash_at is not None else end
            gap = int(self.rng.expovariate(1.0 / t.console_interval_ns))
            if now + gap >= limit:
                yield Sleep(max(0, limit - now))
                break
            yield Sleep(gap)
            yield self._line(_RUN_LINES[self.rng.randrange(len(_RUN_LINES))])
        if crash_at is not None:
            yield from self.crash()
        elif plan.exit_mode != "host_stop":
            yield from self.shutdown()

    def crash(self) -> Steps:
        """Panic, leave a crash message, hang; the watchdog bites after a while."""
        sim = self.sim
        fault = FaultRecord(
            "crash", sim.engine.now, self.vmid, detail={"exit_type": EXIT_WDT_BITE, "crash_msg": _PANIC}
        )
        sim.truth.faults.append(fault)
        self.plan.faults.append(fault)
        yield self._line(_PANIC)
        c = yield self.call("VM_SET_CRASH_MSG", {"msg": _PANIC.encode()})
        if c.rec is not None and c.rec.request is not None:
            fault.refs.append(c.rec.request)
        sim.engine.after(
            self.t.crash_watchdog_ns, sim.rm.hypervisor_exit, (self.vmid, EXIT_WDT_BITE, 0, 0, ())
        )

    def shutdown(self) -> Steps:
        """Release what was lent, report SHUTDOWN, and exit the way the plan says."""
        for handle, tag in list(self.parcels):
            c = yield self.call("MEM_RELEASE", {"mem_handle": handle, "flags": 0})
            if c.ok:
                yield self.call(
                    "MEM_NOTIFY", {"mem_handle": handle, "flags": NOTIFY_RELEASED, "mem_info_tag": tag}
                )
        for handle in list(self.irqs):
            c = yield self.call("VM_IRQ_RELEASE", {"virq_handle": handle})
            if c.ok:
                yield self.call("VM_IRQ_NOTIFY", {"virq_handle": handle, "flags": IRQ_RELEASED})
        yield self.call("VM_SET_STATUS", {"vm_status": 0, "os_status": SHUTDOWN, "app_status": 0})
        mode = self.plan.exit_mode
        yield self._line("reboot: Restarting system" if mode == "reset2" else "reboot: Power down")
        rm, vmid = self.sim.rm, self.vmid
        if mode == "vm_exit":
            yield self.call("VM_EXIT", {"exit_flags": 0, "exit_code": 0})
        elif mode == "psci_off":
            self.sim.engine.after(150_000, rm.hypervisor_exit, (vmid, EXIT_PSCI_OFF, 0, 0, ()))
        else:
            cookie = self.rng.getrandbits(64)
            extra = (0x80000000, cookie & 0xFFFFFFFF, cookie >> 32)  # vendor reset type, cookie
            self.sim.engine.after(150_000, rm.hypervisor_exit, (vmid, EXIT_PSCI_RESET2, SMC64, 0, extra))

    # ------------------------------------------------------------------ notifications
    def on_notification(self, name: str, values: dict[str, Any], ref: Any) -> None:
        if not self.ready:
            self._deferred.append((name, values))
        elif name == "MEM_SHARED":
            self.spawn(self.accept_parcel(values))
        elif name == "VM_IRQ_LENT":
            self.spawn(self.accept_irq(values))

    def accept_parcel(self, shared: dict[str, Any]) -> Steps:
        handle = shared["mem_handle"]
        values = {
            "mem_handle": handle,
            "mem_type": shared["mem_type"],
            "trans_type": shared["trans_type"],
            "flags": ACCEPT_FLAGS,
            "label": shared["label"],
            "acl": shared["acl"],
            "map_vmid": 0,
            "sgl": [],
            "attrs": [],
        }
        c = yield self.call("MEM_ACCEPT", values, entries=len(shared["sgl"]))
        if c.ok:
            tag = shared["mem_info_tag"]
            self.parcels.append((handle, tag))
            yield self.call(
                "MEM_NOTIFY", {"mem_handle": handle, "flags": NOTIFY_ACCEPTED, "mem_info_tag": tag}
            )

    def accept_irq(self, lent: dict[str, Any]) -> Steps:
        handle = lent["virq_handle"]
        c = yield self.call("VM_IRQ_ACCEPT", {"virq_handle": handle, "virq": VIRQ_ANY})
        if c.ok:
            self.irqs.append(handle)
            yield self.call("VM_IRQ_NOTIFY", {"virq_handle": handle, "flags": IRQ_ACCEPTED})
