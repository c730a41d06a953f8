"""VM configuration calls (protocol.md 4.4).

Field names are the Linux kernel's where Linux has the call (``gunyah_vm_set_firmware_mem_req``,
``gunyah_rm_vm_set_boot_context_req``, ``gunyah_rm_vm_set_demand_paging_req`` with its
``{base, size}`` ranges, ``gunyah_rm_vm_set_address_layout_req``) and Qualcomm's for the
calls only RM and QC know (``gh_vm_set_time_base_req_payload``, ``gh_vm_set_debug_req_payload``).
VM_SET_TIME_BASE and VM_SET_FIRMWARE_MEM append a u32 hypervisor error after a non-zero RM error.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    U8,
    U16,
    U32,
    U64,
    Array,
    Count,
    Layout,
    Pad,
    Struct,
)

HYP_ERROR_REPLY = Struct(
    "HypErrorReply",
    (U32("hyp_error", "hyp_error"),),
    doc="u32 hypervisor error_t that RM appends after a non-zero error code "
    "(RM vm_mgnt_handle_set_time_base, vm_mgnt_handle_set_firmware_mem).",
    summary=("hyp_error",),
)

VM_SET_TIME_BASE_REQ = Struct(
    "VMSetTimeBaseReq",
    (
        U16("vmid", hex=True, doc="0 = the calling VM"),
        Pad("reserved0", 1),
        Pad("reserved1", 1),
        U64("time_base", hex=False, doc="QC: wall clock in ns (ktime_get_real_ts64)"),
        U64("arch_timer_ref", hex=False, doc="QC: arch timer counter sampled with time_base"),
    ),
    doc="QC gh_vm_set_time_base_req_payload {vmid; u8 reserved0; u8 reserved1; time_base_low/high; "
    "arch_timer_ref_low/high} (RM: sys_timer_ref); RM requires len == 20.",
    summary=("vmid", "time_base"),
)

VM_SET_FIRMWARE_MEM_REQ = Struct(
    "VMSetFirmwareMemReq",
    (
        U16("vmid", hex=True),
        Pad("reserved", 2),
        U32("mem_handle", hex=True),
        U64("fw_offset"),
        U64("fw_size"),
    ),
    doc="gh_vm_set_firmware_mem_req {le16 vmid; le16 reserved; le32 mem_handle; le64 fw_offset; "
    "le64 fw_size} (ACK, GY-B; RM vm_set_firmware_mem_t, 24 bytes).",
    summary=("vmid", "mem_handle"),
)

VM_SET_BOOT_CONTEXT_REQ = Struct(
    "VMSetBootContextReq",
    (
        U16("vmid", hex=True),
        U8("reg_set", "boot_context_reg_set"),
        U8("reg_index", doc="X register number; 0 for PC"),
        Pad("_padding", 4),
        U64("value"),
    ),
    doc="gunyah_rm_vm_set_boot_context_req {le16 vmid; u8 reg_set; u8 reg_index; le32 _padding; "
    "le64 value} (L-v15/L-v16/GY-A at 0x5600000C, L-v17/GY-B/L-KVM25 at 0x56000031).",
    summary=("vmid", "reg_set", "reg_index", "value"),
)

MEM_RANGE = Struct(
    "VMDemandPagingRange",
    (U64("base"), U64("size")),
    doc="{le64 base; le64 size} (protocol.md 4.4: L-v15, GY-A, GY-B demand paging ranges).",
)

VM_SET_DEMAND_PAGING_REQ = Struct(
    "VMSetDemandPagingReq",
    (
        U16("vmid", hex=True),
        Pad("_padding", 2),
        Count("range_count", 4, of="ranges"),
        Array("ranges", MEM_RANGE, count="range_count"),
    ),
    doc="gunyah_rm_vm_set_demand_paging_req {le16 vmid; le16 _padding; le32 range_count; "
    "{le64 base; le64 size} ranges[]} (L-v15, GY-A, GY-B).",
    summary=("vmid", "range_count"),
)

VM_SET_ADDRESS_LAYOUT_REQ = Struct(
    "VMSetAddressLayoutReq",
    (
        U16("vmid", hex=True),
        Pad("_padding", 2),
        U32("range_id", "address_range_id"),
        U64("range_base"),
        U64("range_size"),
    ),
    doc="gunyah_rm_vm_set_address_layout_req {le16 vmid; le16 _padding; le32 range_id; "
    "le64 range_base; le64 range_size} (L-v15, GY-B; 24 bytes).",
    summary=("vmid", "range_id", "range_base"),
)

VM_SET_DEBUG_REQ = Struct(
    "VMSetDebugReq",
    (U16("vmid", hex=True), Pad("reserved", 1), U8("debug_enabled", doc="QC sends 1")),
    doc="QC-new gh_vm_set_debug_req_payload {u16 vmid; u8 reserved; u8 debug_enabled}.",
    summary=("vmid", "debug_enabled"),
)

LAYOUTS: dict[str, Layout] = {
    "VM_SET_TIME_BASE": Layout(request=VM_SET_TIME_BASE_REQ, error_reply=HYP_ERROR_REPLY),
    "VM_SET_FIRMWARE_MEM": Layout(request=VM_SET_FIRMWARE_MEM_REQ, error_reply=HYP_ERROR_REPLY),
    "VM_SET_BOOT_CONTEXT_V16": Layout(request=VM_SET_BOOT_CONTEXT_REQ),
    "VM_SET_CONTEXT": Layout(request=VM_SET_BOOT_CONTEXT_REQ),
    "VM_SET_DEMAND_PAGING": Layout(request=VM_SET_DEMAND_PAGING_REQ),
    "VM_SET_ADDRESS_LAYOUT": Layout(request=VM_SET_ADDRESS_LAYOUT_REQ),
    "VM_SET_DEBUG": Layout(request=VM_SET_DEBUG_REQ),
}
