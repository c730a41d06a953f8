"""IRQ lending calls (protocol.md 4.6) and their notifications (5).

Linux has none of these messages; names are protocol.md's reading of the RM structs
(``include/irq_message.h``: ``rm_irq_lend_req_t``, ``rm_irq_accept_req_t``, ``rm_irq_notify_req_t``,
``rm_irq_notify_lent_req_t``, ``rm_irq_lent_notify_t``, ``rm_irq_owner_notify_t``), which match
Qualcomm's ``gh_vm_irq_*_payload`` and ``gh_rm_notif_vm_irq_*_payload`` byte for byte.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    U16,
    U32,
    Array,
    BySize,
    Count,
    Layout,
    Optional,
    Pad,
    Struct,
)

VIRQ_HANDLE = Struct(
    "VMIrqHandle",
    (U32("virq_handle", hex=True),),
    doc="RM rm_irq_release_req_t / rm_irq_reclaim_req_t / rm_irq_lend_reply_t {virq_handle_t handle}; "
    "QC gh_vm_irq_release_req_payload.",
    summary=("virq_handle",),
)

VM_IRQ_LEND_REQ = Struct(
    "VMIrqLendReq",
    (
        U16("borrower_vmid", hex=True),
        Pad("_padding", 2),
        U32("virq", doc="the lender's IRQ number"),
        U32("label", hex=True, doc="identifies the lent IRQ to the borrower"),
    ),
    doc="RM rm_irq_lend_req_t {vmid_t borrower; char _pad[2]; virq_t virq_num; label_t label} "
    "(QC gh_vm_irq_lend_req_payload), 12 bytes.",
    summary=("borrower_vmid", "virq", "label"),
)

VM_IRQ_ACCEPT_REQ = Struct(
    "VMIrqAcceptReq",
    (
        U32("virq_handle", hex=True),
        U32("virq", doc="0xffffffff: RM chooses (the HW IRQ number 1:1)"),
    ),
    doc="RM rm_irq_accept_req_t {virq_handle_t handle; virq_t virq_num} (QC gh_vm_irq_accept_req_payload).",
    summary=("virq_handle", "virq"),
)

VM_IRQ_ACCEPT_REPLY = Struct(
    "VMIrqAcceptReply",
    (U32("virq"),),
    doc="RM rm_irq_accept_reply_t {virq_t virq_num} (QC gh_vm_irq_accept_resp_payload).",
    summary=("virq",),
)

NOTIFY_VMID = Struct(
    "VMIrqNotifyVmid",
    (U16("vmid", hex=True), Pad("_padding", 2)),
    doc="RM rm_irq_notify_vmid_t {vmid_t vmid; char _pad[2]}.",
)

VM_IRQ_NOTIFY_REQ = Struct(
    "VMIrqNotifyReq",
    (
        U32("virq_handle", hex=True),
        U32("flags", "irq_notify_flags", hex=True),
        Optional(
            (
                Count("num_vmids", 2, of="vmids"),
                Pad("_vmids_reserved", 2),
                Array("vmids", NOTIFY_VMID, count="num_vmids"),
            ),
            doc="LENT only (rm_irq_notify_lent_req_t); RM accepts 0 or 1 entry, the borrower",
        ),
    ),
    doc="RM rm_irq_notify_req_t {virq_handle_t handle; u32 flags} (QC writes u8 flags + 3 reserved "
    "bytes, same bytes), then for LENT rm_irq_notify_lent_req_t's u16 notify_vmid_entries; "
    "u16 pad; {u16 vmid; u16 pad}[n]. The list is read whenever bytes remain.",
    summary=("virq_handle", "flags"),
)

UNMAP_VIRQ = Struct("VMIrqUnmapEntry", (U32("virq"),), doc="RM virq_t.")

VM_IRQ_UNMAP_REQ = Struct(
    "VMIrqUnmapReq",
    (
        Count("virq_entry_cnt", 8, of="virq_nums"),
        Array("virq_nums", UNMAP_VIRQ, count="virq_entry_cnt"),
    ),
    doc="RM rm_irq_unmap_req_t {size_t virq_entry_cnt; virq_t virq_nums[]}, size_t = 8 bytes on "
    "AArch64 [inferred]. Declared by RM but not handled.",
    summary=("virq_entry_cnt",),
)

VM_IRQ_LENT_12 = Struct(
    "VMIrqLentNotif",
    (
        U16("owner_vmid", hex=True),
        Pad("_padding", 2),
        U32("virq_handle", hex=True),
        U32("virq_label", hex=True),
    ),
    doc="RM rm_irq_lent_notify_t {vmid_t owner; char _pad[2]; virq_handle; virq_label} (QC), 12 bytes.",
    summary=("owner_vmid", "virq_handle", "virq_label"),
)

VM_IRQ_LENT_PACKED = Struct(
    "VMIrqLentNotifPacked",
    (
        U16("owner_vmid", hex=True),
        U32("virq_handle", hex=True),
        U32("virq_label", hex=True),
    ),
    doc="early HAVEN hh_rm_notif_vm_irq_lent_payload, __packed without the pad: 10 bytes.",
    summary=("owner_vmid", "virq_handle", "virq_label"),
)

VM_IRQ_LENT_NOTIF = Struct(
    "VMIrqLent",
    (BySize((VM_IRQ_LENT_12, VM_IRQ_LENT_PACKED)),),
    doc="12 bytes (RM, QC, later HAVEN) or the 10-byte packed form of one early HAVEN header "
    "(protocol.md 5, 7), told apart by the payload's exact length in every dialect.",
    summary=("owner_vmid", "virq_handle", "virq_label"),
)

LAYOUTS: dict[str, Layout] = {
    "VM_IRQ_ACCEPT": Layout(request=VM_IRQ_ACCEPT_REQ, reply=VM_IRQ_ACCEPT_REPLY),
    "VM_IRQ_LEND": Layout(request=VM_IRQ_LEND_REQ, reply=VIRQ_HANDLE),
    "VM_IRQ_RELEASE": Layout(request=VIRQ_HANDLE),
    "VM_IRQ_RECLAIM": Layout(request=VIRQ_HANDLE),
    "VM_IRQ_NOTIFY": Layout(request=VM_IRQ_NOTIFY_REQ),
    "VM_IRQ_UNMAP": Layout(
        request=VM_IRQ_UNMAP_REQ,
        note="RM declares the request struct but has no handler (replies UNIMPLEMENTED)",
    ),
    "VM_IRQ_LENT": Layout(notification=VM_IRQ_LENT_NOTIF),
    "VM_IRQ_RELEASED": Layout(notification=VIRQ_HANDLE),
    "VM_IRQ_ACCEPTED": Layout(notification=VIRQ_HANDLE),
}
