"""RM handlers of memory parcels (protocol.md 4.9) and lent IRQs (4.6), with their notifications.

MEM_LEND/SHARE create a parcel (MEM_APPEND adds SGL entries until END); MEM_NOTIFY SHARED sends
MEM_SHARED to running recipients, ACCEPTED/RELEASED from a recipient send MEM_ACCEPTED/RELEASED
to the owner; MEM_RECLAIM refuses (MEM_INUSE) while a running borrower still holds the parcel
and answers HANDLE_INVALID for a handle it does not know. IRQs follow the same pattern.
"""

from __future__ import annotations

from typing import Any

from . import faults as E
from .driver import Call
from .rm_core import (
    APPEND_END,
    HLOS,
    IRQ_ACCEPTED,
    IRQ_LENT,
    IRQ_RELEASED,
    NOTIFY_ACCEPTED,
    NOTIFY_RELEASED,
    NOTIFY_SHARED,
    RUNNING,
    VIRQ_ANY,
    LentIrq,
    Parcel,
    RMCore,
)
from .truth import IrqRecord, ParcelRecord


class MemoryCalls(RMCore):
    """MEM_* and VM_IRQ_* calls."""

    def _h_mem_lend(self, call: Call) -> None:
        self._create_parcel(call, 1)

    def _h_mem_share(self, call: Call) -> None:
        self._create_parcel(call, 2)

    def _create_parcel(self, call: Call, trans_type: int) -> None:
        if self._rejected(call):
            return
        values = call.values
        acl = values.get("acl", ())
        if not acl or any(v != HLOS and v not in self.vms for v, _ in acl):
            self.reply(call, E.ARGUMENT_INVALID)
            return
        handle = self.next_handle
        self.next_handle += 1
        sgl = values.get("sgl", ())
        truth = ParcelRecord(
            handle,
            call.client,
            trans_type,
            values.get("mem_type", 0),
            values.get("label", 0),
            [(v, p) for v, p in acl],
            sum(size for _, size in sgl),
            len(sgl),
            [v for v, _ in acl if v != call.client],
        )
        truth.events["create"].append(self._cause(call))  # type: ignore[arg-type]
        self.sim.truth.parcels.append(truth)
        parcel = Parcel(handle, call.client, trans_type, values, truth)
        self.parcels[handle] = parcel
        for vmid, _ in acl:
            borrower = self.vms.get(vmid)
            if borrower is not None:
                borrower.lent.append(parcel)
        self.reply(call, 0, {"mem_handle": handle})

    def _h_mem_append(self, call: Call) -> None:
        if self._rejected(call):
            return
        parcel = self.parcels.get(call.values.get("mem_handle", -1))
        if parcel is None or parcel.owner != call.client or not parcel.appending:
            self.reply(call, E.HANDLE_INVALID)
            return
        sgl = call.values.get("sgl", ())
        parcel.sgl.extend(sgl)
        parcel.truth.sgl_entries += len(sgl)
        parcel.truth.total_size += sum(size for _, size in sgl)
        parcel.truth.events["append"].append(self._cause(call))  # type: ignore[arg-type]
        if call.values.get("flags", 0) & APPEND_END:
            parcel.appending = False
        self.reply(call)

    def _h_mem_notify(self, call: Call) -> None:
        if self._rejected(call):
            return
        values = call.values
        parcel = self.parcels.get(values.get("mem_handle", -1))
        if parcel is None:
            self.reply(call, E.HANDLE_INVALID)
            return
        flags = values.get("flags", 0)
        tag = values.get("mem_info_tag", 0)
        if parcel.tag is None:
            parcel.tag = tag
        cause = self._cause(call)
        if flags == NOTIFY_SHARED and call.client == parcel.owner:
            self.reply(call)
            parcel.truth.events["notify"].append(cause)  # type: ignore[arg-type]
            for entry in values.get("vmids", ()):
                vmid = entry[0] if isinstance(entry, tuple) else entry["vmid"]
                vm = self.vms.get(vmid)
                if vm is None or vm.status != RUNNING:
                    continue
                ref = self.notify(vmid, "MEM_SHARED", self._shared_values(parcel), vmid)
                parcel.truth.events["shared_notif"].append(ref)
        elif flags in (NOTIFY_ACCEPTED, NOTIFY_RELEASED) and call.client in parcel.holders:
            self.reply(call)
            name = "MEM_ACCEPTED" if flags == NOTIFY_ACCEPTED else "MEM_RELEASED"
            parcel.truth.events["notify"].append(cause)  # type: ignore[arg-type]
            ref = self.notify(
                parcel.owner,
                name,
                {"mem_handle": parcel.handle, "vmid": call.client, "mem_info_tag": parcel.tag},
                call.client,
            )
            parcel.truth.events["accepted_notif" if flags == NOTIFY_ACCEPTED else "released_notif"].append(
                ref
            )
        else:
            self.reply(call, E.ARGUMENT_INVALID)

    def _shared_values(self, parcel: Parcel) -> dict[str, Any]:
        return {
            "mem_handle": parcel.handle,
            "mem_type": parcel.mem_type,
            "trans_type": parcel.trans_type,
            "flags": 0,
            "owner_vmid": parcel.owner,
            "label": parcel.label,
            "mem_info_tag": parcel.tag or 0,
            "acl": parcel.acl,
            "sgl": [(size,) for _, size in parcel.sgl[:512]],
            "attrs": [],
        }

    def _h_mem_accept(self, call: Call) -> None:
        if self._rejected(call):
            return
        parcel = self.parcels.get(call.values.get("mem_handle", -1))
        vm = self.vms.get(call.client)
        if parcel is None or vm is None or all(v != call.client for v, _ in parcel.acl):
            self.reply(call, E.HANDLE_INVALID)
            return
        if parcel.holders.get(call.client):
            self.reply(call, E.MEM_INUSE)
            return
        parcel.holders[call.client] = True
        parcel.truth.events["accept"].append(self._cause(call))  # type: ignore[arg-type]
        parcel.truth.final_state = "accepted"
        sgl = []
        for _, size in parcel.sgl:
            sgl.append((vm.ipa_next, size))
            vm.ipa_next += size
        self.reply(call, 0, {"flags": 0, "sgl": sgl})

    def _h_mem_release(self, call: Call) -> None:
        if self._rejected(call):
            return
        parcel = self.parcels.get(call.values.get("mem_handle", -1))
        if parcel is None or call.client not in parcel.holders:
            self.reply(call, E.HANDLE_INVALID)
            return
        if not parcel.holders[call.client]:
            self.reply(call, E.MEM_RELEASED)
            return
        parcel.holders[call.client] = False
        parcel.truth.events["release"].append(self._cause(call))  # type: ignore[arg-type]
        parcel.truth.final_state = "released"
        self.reply(call)

    def _h_mem_reclaim(self, call: Call) -> None:
        if self._rejected(call):
            return
        parcel = self.parcels.get(call.values.get("mem_handle", -1))
        if parcel is None:
            self.reply(call, E.HANDLE_INVALID)
            return
        if parcel.owner != call.client:
            self.reply(call, E.DENIED)
            return
        for vmid, holds in parcel.holders.items():
            vm = self.vms.get(vmid)
            if holds and vm is not None and vm.status == RUNNING:
                self.reply(call, E.MEM_INUSE)
                return
        del self.parcels[parcel.handle]
        parcel.truth.events["reclaim"].append(self._cause(call))  # type: ignore[arg-type]
        parcel.truth.final_state = "reclaimed"
        self.reply(call)

    # ------------------------------------------------------------------ IRQs
    def _h_vm_irq_lend(self, call: Call) -> None:
        if self._rejected(call):
            return
        borrower = call.values.get("borrower_vmid", 0)
        if borrower not in self.vms:
            self.reply(call, E.VMID_INVALID)
            return
        handle = self.next_virq_handle
        self.next_virq_handle += 1
        virq, label = call.values.get("virq", 0), call.values.get("label", 0)
        truth = IrqRecord(handle, call.client, borrower, virq, label)
        truth.events["lend"].append(self._cause(call))  # type: ignore[arg-type]
        self.sim.truth.irqs.append(truth)
        self.irqs[handle] = LentIrq(handle, call.client, borrower, virq, label, truth)
        self.reply(call, 0, {"virq_handle": handle})

    def _h_vm_irq_notify(self, call: Call) -> None:
        if self._rejected(call):
            return
        lent = self.irqs.get(call.values.get("virq_handle", -1))
        flags = call.values.get("flags", 0)
        if lent is None:
            self.reply(call, E.IRQ_INVALID)
            return
        cause = self._cause(call)
        if flags == IRQ_LENT and call.client == lent.owner:
            self.reply(call)
            lent.truth.events["notify"].append(cause)  # type: ignore[arg-type]
            vm = self.vms.get(lent.borrower)
            if vm is not None and vm.status == RUNNING:
                ref = self.notify(
                    lent.borrower,
                    "VM_IRQ_LENT",
                    {"owner_vmid": lent.owner, "virq_handle": lent.handle, "virq_label": lent.label},
                    lent.borrower,
                )
                lent.truth.events["lent_notif"].append(ref)
        elif flags in (IRQ_ACCEPTED, IRQ_RELEASED) and call.client == lent.borrower:
            self.reply(call)
            lent.truth.events["notify"].append(cause)  # type: ignore[arg-type]
            name = "VM_IRQ_ACCEPTED" if flags == IRQ_ACCEPTED else "VM_IRQ_RELEASED"
            ref = self.notify(lent.owner, name, {"virq_handle": lent.handle}, lent.borrower)
            lent.truth.events["accepted_notif" if flags == IRQ_ACCEPTED else "released_notif"].append(ref)
        else:
            self.reply(call, E.ARGUMENT_INVALID)

    def _h_vm_irq_accept(self, call: Call) -> None:
        if self._rejected(call):
            return
        lent = self.irqs.get(call.values.get("virq_handle", -1))
        if lent is None or lent.borrower != call.client:
            self.reply(call, E.IRQ_INVALID)
            return
        if lent.accepted:
            self.reply(call, E.IRQ_INUSE)
            return
        lent.accepted = True
        lent.truth.events["accept"].append(self._cause(call))  # type: ignore[arg-type]
        lent.truth.final_state = "accepted"
        virq = call.values.get("virq", VIRQ_ANY)
        self.reply(call, 0, {"virq": lent.virq if virq == VIRQ_ANY else virq})

    def _h_vm_irq_release(self, call: Call) -> None:
        if self._rejected(call):
            return
        lent = self.irqs.get(call.values.get("virq_handle", -1))
        if lent is None or lent.borrower != call.client:
            self.reply(call, E.IRQ_INVALID)
            return
        if not lent.accepted:
            self.reply(call, E.IRQ_RELEASED)
            return
        lent.accepted = False
        lent.truth.events["release"].append(self._cause(call))  # type: ignore[arg-type]
        lent.truth.final_state = "released"
        self.reply(call)

    def _h_vm_irq_reclaim(self, call: Call) -> None:
        if self._rejected(call):
            return
        lent = self.irqs.get(call.values.get("virq_handle", -1))
        if lent is None or lent.owner != call.client:
            self.reply(call, E.IRQ_INVALID)
            return
        vm = self.vms.get(lent.borrower)
        if lent.accepted and vm is not None and vm.status == RUNNING:
            self.reply(call, E.IRQ_INUSE)
            return
        del self.irqs[lent.handle]
        lent.truth.events["reclaim"].append(self._cause(call))  # type: ignore[arg-type]
        lent.truth.final_state = "reclaimed"
        self.reply(call)
