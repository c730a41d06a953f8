"""VM services (protocol.md 4.7) and the console notification (5).

Field names are the Linux kernel's where Linux has the call (L-v5 ``gh_vm_console_write_req``
and ``gh_rm_notif_vm_console_chars``; console open/close/flush use ``gh_rm_vm_common_vmid_req``),
Qualcomm's for VM_SET_STATUS (``gh_vm_set_status_req_payload``), and the RM handlers' names
(``vm_mgnt_handle_exit``, ``vm_mgnt_handle_set/get_crash_msg``, ``vm_mgnt_handle_get_type``)
for the RM-only calls.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    EMPTY,
    U8,
    U16,
    Bytes,
    Layout,
    Length,
    Pad,
    Struct,
)

from .lifecycle import VMID_REQ

VM_SET_STATUS_REQ = Struct(
    "VMSetStatusReq",
    (
        U8("vm_status", "vm_status", doc="ignored by RM"),
        U8("os_status", "os_status", doc="0 = no change"),
        U16("app_status", "app_status"),
    ),
    doc="QC gh_vm_set_status_req_payload {u8 vm_status; u8 os_status; u16 app_status} "
    "(RM vm_mgnt_handle_set_state).",
    summary=("vm_status", "os_status", "app_status"),
)

VM_CONSOLE_WRITE_REQ = Struct(
    "VMConsoleWriteReq",
    (
        U16("vmid", hex=True),
        Length("num_bytes", 2, of="data"),
        Bytes("data", length="num_bytes", text=True),
    ),
    doc="L-v5 gh_vm_console_write_req {u16 vmid; u16 num_bytes; u8 data[]} (RM "
    "vm_console_write_req_t): no padding, RM requires len == 4 + num_bytes.",
    summary=("vmid", "num_bytes"),
)

VM_EXIT_REQ = Struct(
    "VMExitReq",
    (
        U16("exit_flags", "exit_flags", hex=True),
        U8("exit_code", "exit_code"),
        Pad("res0", 1),
    ),
    doc="RM vm_mgnt_handle_exit: u16 exit_flags; u8 exit_code; u8 res0 (must be 0); 4 bytes.",
    summary=("exit_flags", "exit_code"),
)

CRASH_MSG = (
    Length("msg_len", 2, of="msg"),
    Pad("reserved", 2),
    Bytes("msg", length="msg_len", align=4, text=True),
)

VM_SET_CRASH_MSG_REQ = Struct(
    "VMSetCrashMsgReq",
    CRASH_MSG,
    doc="RM vm_mgnt_handle_set_crash_msg: u16 msg_len; u16 unused; char msg[msg_len] zero-padded "
    "to 4; RM truncates to 192 (VM_MAX_CRASH_MSG_LEN).",
    summary=("msg",),
)

VM_GET_CRASH_MSG_REPLY = Struct(
    "VMGetCrashMsgReply",
    CRASH_MSG,
    doc="RM vm_mgnt_handle_get_crash_msg reply: u16 len; u16 0; char msg[len] zero-padded to 4.",
    summary=("msg",),
)

VM_HOST_GET_TYPE_REPLY = Struct(
    "VMHostGetTypeReply",
    (
        U8("host_arch", "host_arch", hex=True),
        U8("host_type", "host_type"),
        Pad("reserved", 1),
        U8("version"),
    ),
    doc="RM vm_mgnt_handle_get_type u32: byte 0 0x64 (AArch64), byte 1 0x01 (Gunyah + RM), "
    "byte 2 reserved, byte 3 version (1).",
    summary=("host_arch", "host_type", "version"),
)

VM_CONSOLE_CHARS_NOTIF = Struct(
    "VMConsoleCharsNotif",
    (
        U16("vmid", hex=True, doc="RM 'from': the VM, or 0 when sent to the VM"),
        Length("num_bytes", 2, of="bytes"),
        Bytes("bytes", length="num_bytes", text=True),
    ),
    doc="gh_rm_notif_vm_console_chars {u16 vmid; u16 num_bytes; u8 bytes[]} (L-v5; RM "
    "vm_console_chars_notify_t): no padding.",
    summary=("vmid", "num_bytes"),
)

LAYOUTS: dict[str, Layout] = {
    "VM_SET_STATUS": Layout(request=VM_SET_STATUS_REQ),
    "VM_CONSOLE_OPEN": Layout(request=VMID_REQ),
    "VM_CONSOLE_CLOSE": Layout(request=VMID_REQ),
    "VM_CONSOLE_WRITE": Layout(request=VM_CONSOLE_WRITE_REQ),
    "VM_CONSOLE_FLUSH": Layout(request=VMID_REQ),
    "VM_EXIT": Layout(request=VM_EXIT_REQ),
    "VM_SET_CRASH_MSG": Layout(request=VM_SET_CRASH_MSG_REQ),
    "VM_GET_CRASH_MSG": Layout(request=VMID_REQ, reply=VM_GET_CRASH_MSG_REPLY),
    "VM_HOST_GET_TYPE": Layout(request=EMPTY, reply=VM_HOST_GET_TYPE_REPLY),
    "VM_CONSOLE_CHARS": Layout(notification=VM_CONSOLE_CHARS_NOTIF),
}
