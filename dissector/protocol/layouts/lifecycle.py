"""VM lifecycle calls and notifications (protocol.md 4.1 and 5).

Field names are the Linux kernel's (``gh_rm_vm_common_vmid_req``, ``gh_rm_vm_stop_req``,
``gh_rm_vm_config_image_req``, ``gh_rm_vm_status_payload``, ``gh_rm_vm_exited_payload``);
the RM's own names are given in the docs where they differ.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    U8,
    U16,
    U32,
    U64,
    Array,
    Bytes,
    Count,
    Layout,
    Length,
    Optional,
    Pad,
    Struct,
)

VMID_REQ = Struct(
    "VMCommonVmidReq",
    (U16("vmid", hex=True), Pad("_padding", 2)),
    doc="gh_rm_vm_common_vmid_req {le16 vmid; le16 _padding}; RM requires len == 4.",
    summary=("vmid",),
)

VM_ALLOCATE_REQ = Struct(
    "VMAllocateReq",
    (
        U16("vmid", hex=True, doc="0 = allocate a dynamic VMID; 1..63 = that secondary VMID"),
        Pad("_padding", 2),
    ),
    doc="RM vm_mgnt_handle_allocate: caller must be HLOS; total length 4.",
    summary=("vmid",),
)

VM_ALLOCATE_REPLY = Struct(
    "VMAllocateReply",
    (Optional((U16("vmid", hex=True), Pad("_padding", 2))),),
    doc="Reply data only when the request asked for vmid 0: the VMID RM chose "
    "(RM writes u32; Linux reads {le16 vmid; le16 _padding}).",
    summary=("vmid",),
)

VM_STOP_REQ = Struct(
    "VMStopReq",
    (
        U16("vmid", hex=True),
        U8("flags", "stop_flags", hex=True),
        Pad("_padding", 1),
        U32("stop_reason", "stop_reason"),
    ),
    doc="gh_rm_vm_stop_req; RM requires len == 8 and caller == owner. Linux sends flags=1, reason=3.",
    summary=("vmid", "flags", "stop_reason"),
)

VM_CONFIG_IMAGE_REQ = Struct(
    "VMConfigImageReq",
    (
        U16("vmid", hex=True),
        U16("auth_mech", "auth_mech"),
        U32("mem_handle", hex=True),
        U64("image_offset"),
        U64("image_size"),
        U64("dtb_offset"),
        U64("dtb_size"),
    ),
    doc="gh_rm_vm_config_image_req (RM vm_config_image_req_t, 40 bytes exactly).",
    summary=("vmid", "auth_mech", "mem_handle"),
)

AUTH_PARAM = Struct(
    "VMAuthParam",
    (U32("auth_param_type", "auth_param_type"), U32("auth_param", hex=True)),
    doc="vm_auth_param_t {u32 type; u32 value}",
)

VM_AUTH_IMAGE_REQ = Struct(
    "VMAuthImageReq",
    (
        U16("vmid", hex=True),
        Count("num_auth_params", 2, of="auth_params"),
        Array("auth_params", AUTH_PARAM, count="num_auth_params"),
    ),
    doc="RM vm_creation_handle_auth: len must be 4 + 8 * num_auth_params; only for auth PLATFORM.",
    summary=("vmid", "num_auth_params"),
)

VM_STATUS_NOTIF = Struct(
    "VMStatusNotif",
    (
        U16("vmid", hex=True),
        Pad("reserved", 2),
        U8("vm_status", "vm_status"),
        U8("os_status", "os_status"),
        U16("app_status", "app_status"),
    ),
    doc="gh_rm_vm_status_payload {le16 vmid; u16 reserved; u8 vm_status; u8 os_status; "
    "le16 app_status} / RM rm_notify_vm_status_t (8 bytes).",
    summary=("vmid", "vm_status", "os_status"),
)

EXIT_REASON = Struct(
    "VMExitReason",
    (
        U16("exit_flags", "exit_flags", hex=True),
        U8("exit_code", "exit_code"),
        Pad("_reserved", 1),
        Optional(
            (
                U32("reset_type", hex=True),
                U32("cookie_lo", hex=True),
                U32("cookie_hi", hex=True),
            ),
            doc="PSCI_SYSTEM_RESET2 only (RM: exit_reason_size 16)",
        ),
    ),
    doc="exit_reason words (RM vm_mgnt_send_exited): word 0 = exit_flags | exit_code << 16; "
    "for PSCI_SYSTEM_RESET2 RM adds reset_type and a 64-bit cookie.",
)

VM_EXITED_NOTIF = Struct(
    "VMExitedNotif",
    (
        U16("vmid", hex=True),
        U16("exit_type", "exit_type"),
        Length("exit_reason_size", 4, of="exit_reason"),
        Bytes("exit_reason", length="exit_reason_size", struct=EXIT_REASON),
    ),
    doc="gh_rm_vm_exited_payload {le16 vmid; le16 exit_type; le32 exit_reason_size; u8 exit_reason[]}.",
    summary=("vmid", "exit_type"),
)

VM_SHUTDOWN_NOTIF = Struct(
    "VMShutdownNotif",
    (U32("stop_reason", "stop_reason"),),
    doc="Sent by RM to the VM being stopped by a non-force VM_STOP (RM vm_mgnt_handle_stop).",
    summary=("stop_reason",),
)

LAYOUTS: dict[str, Layout] = {
    "VM_ALLOCATE": Layout(request=VM_ALLOCATE_REQ, reply=VM_ALLOCATE_REPLY),
    "VM_DEALLOCATE": Layout(request=VMID_REQ),
    "VM_START": Layout(request=VMID_REQ),
    "VM_STOP": Layout(request=VM_STOP_REQ),
    "VM_RESET": Layout(request=VMID_REQ),
    "VM_CONFIG_IMAGE": Layout(request=VM_CONFIG_IMAGE_REQ),
    "VM_AUTH_IMAGE": Layout(request=VM_AUTH_IMAGE_REQ),
    "VM_INIT": Layout(request=VMID_REQ),
    "VM_SET_NAME": Layout(known=False, note="RM-2021 only; no layout found"),
    "VM_SUSPEND": Layout(known=False, note="RM-2021 only; no layout found"),
    "VM_RESUME": Layout(known=False, note="RM-2021 only; no layout found"),
    "VM_STATUS": Layout(notification=VM_STATUS_NOTIF),
    "VM_EXITED": Layout(notification=VM_EXITED_NOTIF),
    "VM_SHUTDOWN": Layout(notification=VM_SHUTDOWN_NOTIF),
}
