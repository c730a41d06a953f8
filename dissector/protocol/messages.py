"""Every RM message id (protocol.md §3), the message-type names (§1.2) and well-known VMIDs.

The header layout, sizes and fragmentation limits live in ``wire.py``.

Names are the Resource Manager's (RM HEAD); Linux (``GH_RM_RPC_*`` / ``GUNYAH_RM_RPC_*``) and
Qualcomm downstream (``GH_RM_RPC_MSG_ID_CALL_*`` / ``GH_RM_NOTIF_*``) names are aliases so a
filter written against any source still finds the message. Names that differ between versions
of the protocol (VM_SHUTDOWN, the two VM_SET_BOOT_CONTEXT ids) are handled by ``dialects.py``.
"""

from __future__ import annotations

from .types import EnumDef, Family, MessageDef, MsgKind
from .wire import MsgType

MSG_TYPES = EnumDef(
    "msg_type",
    {t.value: t.name for t in MsgType},
    aliases={
        MsgType.CONTINUATION.value: (
            "RM_RPC_MSG_TYPE_CONTINUED",
            "RM_RPC_TYPE_CONTINUATION",
            "GH_RM_RPC_TYPE_CONT",
            "CONT",
        ),
        MsgType.REQUEST.value: (
            "RM_RPC_MSG_TYPE_REQUEST",
            "RM_RPC_TYPE_REQUEST",
            "GH_RM_RPC_TYPE_REQ",
            "REQ",
        ),
        MsgType.REPLY.value: ("RM_RPC_MSG_TYPE_REPLY", "RM_RPC_TYPE_REPLY", "GH_RM_RPC_TYPE_RPLY", "RPLY"),
        MsgType.NOTIFICATION.value: (
            "RM_RPC_MSG_TYPE_NOTIFICATION",
            "RM_RPC_TYPE_NOTIF",
            "GH_RM_RPC_TYPE_NOTIF",
            "NOTIF",
        ),
    },
    source="RM include/rm-rpc.h; ACK rsc_mgr.c; QC-old (protocol.md §1.2)",
    note="bits[1:0] of header byte 1",
)

# --- Well-known VMIDs (§1.7) ---------------------------------------------------------------------
VMID_HYP = 0x0
VMID_HLOS = 0x3
VMID_RM = 0xFF
VMID_ANY = 0xFFFE
VMID_PEER_DEFAULT = 0xFFFF
DYNAMIC_VMID_RANGE = range(0x80, 0xC0)
SECONDARY_VMID_LIMIT = 64  # platform ("secondary") VMIDs are < 64
MEM_HANDLE_INVALID = 0xFFFFFFFF

WELL_KNOWN_VMIDS = EnumDef(
    "well_known_vmid",
    {VMID_HYP: "HYP", VMID_HLOS: "HLOS", VMID_RM: "RM", VMID_ANY: "ANY", VMID_PEER_DEFAULT: "PEER_DEFAULT"},
    aliases={
        VMID_HYP: ("VMID_HYP", "SELF", "GH_VMID_SELF"),
        VMID_HLOS: ("VMID_HLOS",),
        VMID_RM: ("VMID_RM",),
        VMID_ANY: ("VMID_ANY",),
        VMID_PEER_DEFAULT: ("VMID_PEER_DEFAULT", "INVALID", "GH_VMID_INVAL"),
    },
    source="RM include/rm_types.h; ACK gunyah_rsc_mgr.h (GH_VMID_INVAL); L-v5 (GH_VMID_SELF)",
    note="0 in a target field means 'the calling VM' where RM checks for it; 0x80-0xBF are dynamic",
)


# --- Message ids (§3) ----------------------------------------------------------------------------
def _linux(short: str) -> tuple[str, ...]:
    """Upstream/ACK (``GH_``) and v15+/GY (``GUNYAH_``) macro names of a call."""
    return (f"GH_RM_RPC_{short}", f"GUNYAH_RM_RPC_{short}")


def _qc(short: str) -> tuple[str, ...]:
    """Qualcomm downstream ``gh_rm_drv`` macro name of a call."""
    return (f"GH_RM_RPC_MSG_ID_CALL_{short}",)


_M, _LC, _Q, _CF = Family.MEMORY, Family.VM_LIFECYCLE, Family.VM_QUERY, Family.CONFIG
_MD, _IRQ, _SV, _FW = Family.MINIDUMP, Family.IRQ, Family.SERVICES, Family.FIRMWARE
_IPA, _MISC = Family.IPA, Family.MISC
_LIN_ALL = "RM, R21, H, QCo, QCn, v11, ACK, v15+, GY"
_CALL, _NOTIF = MsgKind.CALL, MsgKind.NOTIFICATION

# (id, RM name, kind, family, protocol.md "Seen in", protocol.md section) in protocol.md order
_ROWS: tuple[tuple[int, str, MsgKind, Family, str, str], ...] = (
    # §3.1 requests (client -> RM, reply type 2)
    (0x00000001, "GET_IDENT", _CALL, _MISC, "H, QCo, QCn (defined only; no payload info found)", "4.11"),
    (0x00000002, "GET_FEATURES", _CALL, _MISC, "H, QCo, QCn (defined only)", "4.11"),
    (0x00000005, "GET_LOG", _CALL, _MISC, "QCn rsc_mgr_rpc.c", "4.11"),
    (0x51000010, "MEM_DONATE", _CALL, _M, "RM, QCo, QCn", "4.9"),
    (0x51000011, "MEM_ACCEPT", _CALL, _M, "RM, R21, H, QCo, QCn", "4.9"),
    (0x51000012, "MEM_LEND", _CALL, _M, _LIN_ALL, "4.9"),
    (0x51000013, "MEM_SHARE", _CALL, _M, "same as LEND", "4.9"),
    (0x51000014, "MEM_RELEASE", _CALL, _M, "RM, R21, H, QCo, QCn", "4.9"),
    (0x51000015, "MEM_RECLAIM", _CALL, _M, _LIN_ALL, "4.9"),
    (0x51000017, "MEM_NOTIFY", _CALL, _M, "RM, R21, H, QCo, QCn", "4.9"),
    (0x51000018, "MEM_APPEND", _CALL, _M, "RM (not R21), QCo, QCn, v11, ACK, v15+, GY", "4.9"),
    (0x5100001A, "MEM_QCOM_LOOKUP_SGL", _CALL, _M, "RM (not R21), H, QCo, QCn", "4.9"),
    (0x51000020, "FW_MILESTONE", _CALL, _FW, "RM (since RM-2023a)", "4.10"),
    (0x51000021, "FW_SET_VM_FIRMWARE", _CALL, _FW, "RM (since RM-2023a)", "4.10"),
    (0x56000001, "VM_ALLOCATE", _CALL, _LC, "all", "4.1"),
    (0x56000002, "VM_DEALLOCATE", _CALL, _LC, "RM, R21, QCo, QCn, v10+, ACK, GY", "4.1"),
    (0x56000003, "VM_SET_NAME", _CALL, _LC, "R21 only (removed later)", ""),
    (0x56000004, "VM_START", _CALL, _LC, "all", "4.1"),
    (0x56000005, "VM_STOP", _CALL, _LC, "all except H", "4.1"),
    (0x56000006, "VM_RESET", _CALL, _LC, "RM, QC, v10+, ACK, GY; R21", "4.1"),
    (0x56000007, "VM_SUSPEND", _CALL, _LC, "R21", ""),
    (0x56000008, "VM_RESUME", _CALL, _LC, "R21", ""),
    (0x56000009, "VM_CONFIG_IMAGE", _CALL, _LC, "RM, QCo, QCn, v10+, ACK, GY", "4.1"),
    (0x5600000A, "VM_AUTH_IMAGE", _CALL, _LC, "RM, QCo, QCn", "4.1"),
    (0x5600000B, "VM_INIT", _CALL, _LC, "RM, QCo, QCn, v10+, ACK, GY", "4.1"),
    (0x5600000C, "VM_SET_BOOT_CONTEXT_V16", _CALL, _CF, "Linux only", "4.4"),
    (0x56000010, "VM_GET_ID", _CALL, _Q, "RM, QCo, QCn", "4.2"),
    (0x56000011, "VM_LOOKUP_URI", _CALL, _Q, "RM, QCo, QCn", "4.2"),
    (0x56000012, "VM_LOOKUP_GUID", _CALL, _Q, "RM, QCo, QCn", "4.2"),
    (0x56000013, "VM_LOOKUP_NAME", _CALL, _Q, "RM, QCo, QCn", "4.2"),
    (0x56000015, "VM_GET_OWNER", _CALL, _Q, "RM", "4.2"),
    (0x56000017, "VM_GET_STATE", _CALL, _Q, "RM, R21, H, QCo, QCn", "4.2"),
    (0x56000019, "VM_GET_CRASH_MSG", _CALL, _SV, "RM", "4.7"),
    (0x56000020, "VM_GET_HYP_RESOURCES", _CALL, _Q, "all", "4.3"),
    (0x56000021, "VM_GET_HYP_CAPIDS", _CALL, _Q, "RMd, R21, H, QC", ""),
    (0x56000022, "VM_GET_HYP_IRQS", _CALL, _Q, "RMd, R21, H, QC", ""),
    (0x56000024, "VM_GET_VMID", _CALL, _Q, "RM, QCo, QCn, v5+, ACK, GY", "4.2"),
    (0x56000025, "VM_GET_PEERS", _CALL, _Q, "RM", "4.2"),
    (0x56000030, "VM_SET_TIME_BASE", _CALL, _CF, "RM, QCo, QCn", "4.4"),
    (0x56000031, "VM_SET_CONTEXT", _CALL, _CF, "RMd; Linux", "4.4"),
    (0x56000032, "VM_SET_FIRMWARE_MEM", _CALL, _CF, "RM, ACK, QCn, GY-B", "4.4"),
    (0x56000033, "VM_SET_DEMAND_PAGING", _CALL, _CF, "v15+, GY-A, GY-B", "4.4"),
    (0x56000034, "VM_SET_ADDRESS_LAYOUT", _CALL, _CF, "v15+, GY-A, GY-B", "4.4"),
    (0x56000035, "VM_SET_DEBUG", _CALL, _CF, "QCn only", "4.4"),
    (0x56000040, "VM_MINIDUMP_GET_INFO", _CALL, _MD, "QCo, QCn", "4.5"),
    (0x56000041, "VM_MINIDUMP_REGISTER_RANGE", _CALL, _MD, "QCo, QCn", "4.5"),
    (0x56000042, "VM_MINIDUMP_DEREGISTER_SLOT", _CALL, _MD, "QCo, QCn", "4.5"),
    (0x56000043, "VM_MINIDUMP_GET_SLOT_NUMBER", _CALL, _MD, "QCo, QCn", "4.5"),
    (0x56000050, "VM_IRQ_ACCEPT", _CALL, _IRQ, "RM, R21, H, QC", "4.6"),
    (0x56000051, "VM_IRQ_LEND", _CALL, _IRQ, "RM, R21, H, QC", "4.6"),
    (0x56000052, "VM_IRQ_RELEASE", _CALL, _IRQ, "RM, R21, H, QC", "4.6"),
    (0x56000053, "VM_IRQ_RECLAIM", _CALL, _IRQ, "RM, R21, H, QC", "4.6"),
    (0x56000054, "VM_IRQ_NOTIFY", _CALL, _IRQ, "RM, R21, H, QC", "4.6"),
    (0x56000055, "VM_IRQ_UNMAP", _CALL, _IRQ, 'RMd (handler returns "not handled"), H, QC', "4.6"),
    (0x56000080, "VM_SET_STATUS", _CALL, _SV, "RM, R21, H, QC", "4.7"),
    (0x56000081, "VM_CONSOLE_OPEN", _CALL, _SV, "RM, R21, H, QC, L-v5", "4.7"),
    (0x56000082, "VM_CONSOLE_CLOSE", _CALL, _SV, "same", "4.7"),
    (0x56000083, "VM_CONSOLE_WRITE", _CALL, _SV, "same", "4.7"),
    (0x56000084, "VM_CONSOLE_FLUSH", _CALL, _SV, "same", "4.7"),
    (0x56000085, "VM_EXIT", _CALL, _SV, "RM", "4.7"),
    (0x56000086, "VM_SET_CRASH_MSG", _CALL, _SV, "RM", "4.7"),
    (0x560000A0, "VM_HOST_GET_TYPE", _CALL, _SV, "RM, R21, H, QC", "4.7"),
    (0x560000B0, "IPA_RESERVE", _CALL, _IPA, "RM, QCo, QCn", "4.8"),
    (0x560000B1, "IPA_UNRESERVE", _CALL, _IPA, "RMd (not handled)", ""),
    (0x56000100, "GET_LOG_ADDRESS", _CALL, _MISC, "L-v15 (defined only, never used)", ""),
    # §3.2 notifications (RM -> client, type 3)
    (0x51100011, "MEM_SHARED", _NOTIF, _M, "RM, R21, H, QC", "5"),
    (0x51100012, "MEM_RELEASED", _NOTIF, _M, "RM, R21, H, QC", "5"),
    (0x51100013, "MEM_ACCEPTED", _NOTIF, _M, "RM, R21, H (later), QC", "5"),
    (0x51100014, "MEM_RECALL", _NOTIF, _M, "RM (not R21)", "5"),
    (0x56100001, "VM_EXITED", _NOTIF, _LC, "RM (not R21), QC, v10+, ACK, GY", "5"),
    (0x56100002, "VM_SHUTDOWN", _NOTIF, _LC, "RM (not R21), QC", "5"),
    (0x56100008, "VM_STATUS", _NOTIF, _LC, "all", "5"),
    (0x56100011, "VM_IRQ_LENT", _NOTIF, _IRQ, "RM, R21, H, QC", "5"),
    (0x56100012, "VM_IRQ_RELEASED", _NOTIF, _IRQ, "RM, R21, H, QC", "5"),
    (0x56100013, "VM_IRQ_ACCEPTED", _NOTIF, _IRQ, "RM, R21, H (later), QC", "5"),
    (0x56100080, "VM_CONSOLE_CHARS", _NOTIF, _SV, "RM, R21, H, QC, L-v5", "5"),
)

# Names other sources give the same id. Qualcomm's GH_RM_RPC_MSG_ID_CALL_* (gh_rm_drv_private.h)
# is added for every call QC defines, GH_RM_NOTIF_* for every notification (see _qc_names).
_ALIASES: dict[int, tuple[str, ...]] = {
    0x00000005: ("GUNYAH_RM_RPC_GET_LOG",),
    0x51000012: _linux("MEM_LEND"),
    0x51000013: _linux("MEM_SHARE"),
    0x51000015: _linux("MEM_RECLAIM"),
    0x51000018: _linux("MEM_APPEND"),
    0x56000001: ("VM_ALLOC_VMID", *_linux("VM_ALLOC_VMID"), *_qc("VM_ALLOCATE")),
    0x56000002: ("VM_DEALLOC_VMID", *_linux("VM_DEALLOC_VMID"), *_qc("VM_DEALLOCATE")),
    0x56000004: _linux("VM_START"),
    0x56000005: _linux("VM_STOP"),
    0x56000006: _linux("VM_RESET"),
    0x56000009: _linux("VM_CONFIG_IMAGE"),
    0x5600000B: _linux("VM_INIT"),
    0x56000020: _linux("VM_GET_HYP_RESOURCES"),
    0x56000021: ("VM_LOOKUP_HYP_CAPIDS", *_qc("VM_LOOKUP_HYP_CAPIDS")),
    0x56000022: ("VM_LOOKUP_HYP_IRQS", *_qc("VM_LOOKUP_HYP_IRQS")),
    0x56000024: _linux("VM_GET_VMID"),
    0x56000031: ("VM_SET_BOOT_CONTEXT", "GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT"),
    0x56000032: _linux("VM_SET_FIRMWARE_MEM"),
    0x56000033: ("GUNYAH_RM_RPC_VM_SET_DEMAND_PAGING",),
    0x56000034: ("GUNYAH_RM_RPC_VM_SET_ADDRESS_LAYOUT",),
    0x56000081: ("GH_RM_RPC_VM_CONSOLE_OPEN_ID",),
    0x56000082: ("GH_RM_RPC_VM_CONSOLE_CLOSE_ID",),
    0x56000083: ("GH_RM_RPC_VM_CONSOLE_WRITE_ID",),
    0x56000084: ("GH_RM_RPC_VM_CONSOLE_FLUSH_ID",),
    0x56000100: ("GUNYAH_RM_RPC_GET_LOG_ADDRESS",),
    0x56100001: ("GH_RM_NOTIFICATION_VM_EXITED", "GUNYAH_RM_NOTIFICATION_VM_EXITED"),
    0x56100008: ("NOTIFY_VM_STATUS", "GH_RM_NOTIFICATION_VM_STATUS", "GUNYAH_RM_NOTIFICATION_VM_STATUS"),
    0x56100080: ("NOTIFY_VM_CONSOLE_CHARS",),
}


# Ids whose RM name is also the Qualcomm downstream macro name: GH_RM_RPC_MSG_ID_CALL_<name>
# (gh_rm_drv_private.h) for calls, GH_RM_NOTIF_<name> (gh_rm_drv.h) for notifications.
def _ids(text: str) -> frozenset[int]:
    return frozenset(int(word, 16) for word in text.split())


_QC_CALLS = _ids(
    """
    00000001 00000002 51000010 51000011 51000012 51000013 51000014 51000015 51000017 51000018 5100001A
    56000004 56000005 56000006 56000009 5600000A 5600000B 56000010 56000011 56000012 56000013 56000017
    56000020 56000024 56000030 56000040 56000041 56000042 56000043 56000050 56000051 56000052 56000053
    56000054 56000055 56000080 56000081 56000082 56000083 56000084 560000A0 560000B0
    """
)
_QC_NOTIFS = _ids("51100011 51100012 51100013 56100001 56100002 56100008 56100011 56100012 56100013 56100080")

_RAW = "no payload layout known: decoded as raw"
_NO_RM_HANDLER = "RM has no handler (replies UNIMPLEMENTED)"
_MINIDUMP = "QC downstream only; no handler in public RM"
_NOTES: dict[int, str] = {
    0x00000001: _RAW,
    0x00000002: _RAW,
    0x00000005: "QC-new only",
    0x51000010: "exactly one ACL entry",
    0x51000011: "reply header byte 2 is flags (RM HEAD, QC) or reserved (HAVEN, RM-2021)",
    0x56000001: "reply carries a u32 vmid only when the request asked for vmid 0",
    0x56000003: f"RM-2021 only; {_RAW}",
    0x56000004: "RM denies it when sent by VMID 0",
    0x56000006: "named VM_SHUTDOWN in RM-2021 (dialect rm-2021)",
    0x56000007: f"RM-2021 only (commented out in RM HEAD); {_RAW}",
    0x56000008: f"RM-2021 only (commented out in RM HEAD); {_RAW}",
    0x5600000C: "VM_SET_BOOT_CONTEXT of L-v15/L-v16/GY-A (GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT there); "
    f"dialect linux-v16 prints that name; {_NO_RM_HANDLER}",
    0x56000020: "resource entry is 44 B (RM-2022+, Linux, QC) or 28 B (RM-2021, HAVEN)",
    0x56000021: f"RM: unimplemented (FIXME: implement in v2); {_RAW}",
    0x56000022: f"RM: unimplemented (FIXME: implement in v2); {_RAW}",
    0x56000024: "L-v5 sent a 4-byte zero request and expected a 2-byte reply",
    0x56000030: "a failure reply appends a u32 hypervisor error (hyp_error)",
    0x56000031: "RM's name (RM has no handler: replies UNIMPLEMENTED); VM_SET_BOOT_CONTEXT of "
    "L-v17, GY-B, L-KVM25 (dialect linux-v17 prints that name)",
    0x56000032: "a failure reply appends a u32 hypervisor error (hyp_error)",
    0x56000033: f"Linux only; {_NO_RM_HANDLER}",
    0x56000034: f"Linux only; {_NO_RM_HANDLER}",
    0x56000035: "QC-new only",
    0x56000040: _MINIDUMP,
    0x56000041: _MINIDUMP,
    0x56000042: _MINIDUMP,
    0x56000043: _MINIDUMP,
    0x56000055: "RM: declared but not handled (replies UNIMPLEMENTED)",
    0x560000B1: f"RM: defined but not handled (replies UNIMPLEMENTED); {_RAW}",
    0x56000100: f"L-v15 only; {_RAW}",
    0x51100011: "attr section optional in RM-2021 (hyp-assign parcels)",
    0x51100012: "8 B without mem_info_tag in early HAVEN",
    0x51100013: "8 B without mem_info_tag in early HAVEN",
    0x51100014: "RM only",
    0x56100002: "sent to the VM being stopped (non-force VM_STOP)",
    0x56100011: "10 B packed in one early HAVEN header",
}


def _qc_names(msg_id: int, name: str) -> tuple[str, ...]:
    if msg_id in _QC_NOTIFS:
        return (f"GH_RM_NOTIF_{name}",)
    return _qc(name) if msg_id in _QC_CALLS else ()


def _build(row: tuple[int, str, MsgKind, Family, str, str]) -> MessageDef:
    msg_id, name, kind, family, seen_in, section = row
    aliases = tuple(dict.fromkeys((*_ALIASES.get(msg_id, ()), *_qc_names(msg_id, name))))
    return MessageDef(msg_id, name, kind, family, aliases, seen_in, section, _NOTES.get(msg_id, ""))


MESSAGES: tuple[MessageDef, ...] = tuple(_build(row) for row in _ROWS)
