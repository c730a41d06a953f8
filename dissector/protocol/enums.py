"""Named values of payload fields (protocol.md §4-§6), RM numbering first.

Each table carries the RM HEAD name as the value name and the Linux / Qualcomm names as
aliases. Where the sources number a field differently (VM status, exit codes) the RM HEAD
numbering is the default and ``dialects.py`` supplies the others as overrides.
"""

from __future__ import annotations

from .errors import HYP_ERRORS, RM_ERRORS
from .messages import MSG_TYPES, WELL_KNOWN_VMIDS
from .types import EnumDef


def _prefixed(
    values: dict[int, str], *prefixes: str, skip: tuple[int, ...] = ()
) -> dict[int, tuple[str, ...]]:
    """Aliases ``<prefix><NAME>`` for every value (except ``skip``), the way C headers spell them."""
    return {v: tuple(p + n for p in prefixes) for v, n in values.items() if v not in skip}


def _merge(*parts: dict[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for part in parts:
        for value, names in part.items():
            out[value] = out.get(value, ()) + tuple(n for n in names if n not in out.get(value, ()))
    return out


# --- §6.1 VM status ------------------------------------------------------------------------------
_VM_STATUS_NAMES = {
    0: "NONE",
    1: "INIT",
    2: "READY",
    3: "RUNNING",
    4: "PAUSED",
    5: "LOAD",
    6: "AUTH",
    7: "RESERVED_7",
    8: "INIT_FAILED",
    9: "EXITED",
    10: "RESETTING",
    11: "RESET",
}
_LINUX_VM_STATUS = {**{v: n for v, n in _VM_STATUS_NAMES.items() if v != 7}, 0: "NO_STATE"}
_VM_STATUS_ALIASES = _merge(
    {0: ("NO_STATE",)},
    _prefixed(_LINUX_VM_STATUS, "GH_RM_VM_STATUS_", "GUNYAH_RM_VM_STATUS_"),
    {7: ("RESERVED",)},
)
VM_STATUS = EnumDef(
    "vm_status",
    _VM_STATUS_NAMES,
    aliases=_VM_STATUS_ALIASES,
    source="RM include/vm_mgnt.h (HEAD); ACK enum gh_rm_vm_status",
    note="RM-2022 had 5-7 reserved; 12 RESET_FAILED is QC-new only (dialect qcom); "
    "see dialects rm-2021, haven-early, linux-v16/v17",
)
VM_STATUS_LINUX = EnumDef(
    "vm_status",
    _LINUX_VM_STATUS,
    aliases={
        v: tuple(a for a in names if a != _LINUX_VM_STATUS.get(v))
        for v, names in _VM_STATUS_ALIASES.items()
        if v in _LINUX_VM_STATUS
    }
    | {0: ("NONE", "GH_RM_VM_STATUS_NO_STATE", "GUNYAH_RM_VM_STATUS_NO_STATE")},
    source="ACK/L-v16/L-v17 enum gh_rm_vm_status / gunyah_rm_vm_status",
    note="the kernel's names: 0 NO_STATE, no value 7 or 12",
)
VM_STATUS_QCOM = EnumDef(
    "vm_status",
    {**_VM_STATUS_NAMES, 12: "RESET_FAILED"},
    aliases={**_VM_STATUS_ALIASES, 12: ("GH_RM_VM_STATUS_RESET_FAILED",)},
    source="QC-new gh_rm_drv.h",
    note="RM HEAD numbering plus QC-new's 12 RESET_FAILED",
)

# --- §6.2 / §6.3 OS and app status ---------------------------------------------------------------
_OS_STATUS_NAMES = {
    0: "NONE",
    1: "EARLY_BOOT",
    2: "BOOT",
    3: "INIT",
    4: "RUN",
    5: "SHUTDOWN",
    6: "HALTED",
    7: "CRASHED",
}
OS_STATUS = EnumDef(
    "os_status",
    _OS_STATUS_NAMES,
    aliases=_prefixed(_OS_STATUS_NAMES, "GH_RM_OS_STATUS_", skip=(5, 6, 7)),
    source="RM os_state_t; QC-new/HAVEN (0-4 only)",
    note="5-7 are RM only; in VM_SET_STATUS 0 means 'no change'",
)
OS_STATUS_0_TO_4 = EnumDef(
    "os_status",
    {v: n for v, n in _OS_STATUS_NAMES.items() if v <= 4},
    aliases=_prefixed(
        {v: n for v, n in _OS_STATUS_NAMES.items() if v <= 4}, "GH_RM_OS_STATUS_", "HH_RM_OS_STATUS_"
    ),
    source="HAVEN hh_rm_drv.h",
    note="HAVEN knows 0-4 only (5-7 SHUTDOWN/HALTED/CRASHED are RM additions)",
)

APP_STATUS = EnumDef(
    "app_status",
    {1: "TUI_SERVICE_BOOT"},
    aliases={1: ("GH_RM_APP_STATUS_TUI_SERVICE_BOOT",)},
    source="QC gh_rm_drv.h",
    note="opaque u16 set by the VM (RM app_status_t); only QC names a value",
)

# --- §6.4 auth mechanism ---------------------------------------------------------------------------
_AUTH_ALIASES = {
    0: ("VM_AUTH_TYPE_NONE", "GH_RM_VM_AUTH_NONE", "GUNYAH_RM_VM_AUTH_NONE", "UNAUTH", "GH_VM_UNAUTH"),
    1: (
        "VM_AUTH_TYPE_PLATFORM",
        "QCOM_PIL_ELF",
        "GH_RM_VM_AUTH_QCOM_PIL_ELF",
        "GUNYAH_RM_VM_AUTH_QCOM_PIL_ELF",
        "PIL_ELF",
        "GH_VM_AUTH_PIL_ELF",
    ),
    2: (
        "VM_AUTH_TYPE_ANDROID",
        "QCOM_ANDROID_PVM",
        "GH_RM_VM_AUTH_QCOM_ANDROID_PVM",
        "GUNYAH_RM_VM_AUTH_QCOM_ANDROID_PVM",
        "ANDROID_PVM",
        "GH_VM_AUTH_ANDROID_PVM",
    ),
}
AUTH_MECH = EnumDef(
    "auth_mech",
    {0: "NONE", 1: "PLATFORM", 2: "ANDROID"},
    aliases=_AUTH_ALIASES,
    source="RM include/rm_types.h; ACK gunyah_rsc_mgr.h; QC-new gh_rm_drv.h",
    note="VM_CONFIG_IMAGE auth_mech and FW_SET_VM_FIRMWARE auth_type (u16)",
)
_LINUX_AUTH = {0: "NONE", 1: "QCOM_PIL_ELF", 2: "QCOM_ANDROID_PVM"}
AUTH_MECH_LINUX = EnumDef(
    "auth_mech",
    _LINUX_AUTH,
    aliases={
        v: tuple(a for a in (*names, AUTH_MECH.values[v]) if a != _LINUX_AUTH[v])
        for v, names in _AUTH_ALIASES.items()
    },
    source="ACK gunyah_rsc_mgr.h enum gh_rm_vm_auth_mechanism; L-v16/L-v17",
    note="the kernel's names (GH_RM_VM_AUTH_*)",
)

AUTH_PARAM_TYPE = EnumDef(
    "auth_param_type",
    {0: "PAS_ID"},
    aliases={0: ("GH_VM_AUTH_PARAM_PAS_ID",)},
    source="QC-new gh_rm_drv.h",
    note="VM_AUTH_IMAGE auth_param_type; PAS = peripheral auth id",
)

# --- §6.5 resource type ------------------------------------------------------------------------------
_LINUX_RSC = {0: "BELL_TX", 1: "BELL_RX", 2: "MSGQ_TX", 3: "MSGQ_RX", 4: "VCPU"}
_LINUX_RSC_V15 = {**_LINUX_RSC, 9: "MEM_EXTENT", 10: "ADDR_SPACE"}
_QC_RSC = {
    0: "DB_TX",
    1: "DB_RX",
    2: "MQ_TX",
    3: "MQ_RX",
    4: "VCPU",
    5: "VPMGRP",
    6: "VIRTIO_MMIO",
    8: "WATCHDOG",
}
_RSC_NAMES = {
    0: "DOORBELL_SRC",
    1: "DOORBELL",
    2: "MSG_QUEUE_SEND",
    3: "MSG_QUEUE_RECV",
    4: "VIRTUAL_CPU",
    5: "VIRTUAL_PM",
    6: "VIRTIO_MMIO",
    7: "VRTC",
    8: "WATCHDOG",
    9: "MEM_EXTENT",
    10: "ADDR_SPACE",
}
RESOURCE_TYPE = EnumDef(
    "resource_type",
    _RSC_NAMES,
    aliases=_merge(
        _prefixed({v: n for v, n in _RSC_NAMES.items() if v <= 8}, "RSC_"),
        {v: (n,) for v, n in _LINUX_RSC.items()},
        _prefixed(_LINUX_RSC, "GH_RESOURCE_TYPE_"),
        _prefixed(_LINUX_RSC_V15, "GUNYAH_RESOURCE_TYPE_"),
        {v: (n,) for v, n in _QC_RSC.items() if n != _RSC_NAMES[v] and v != 4},
        _prefixed(_QC_RSC, "GH_RM_RES_TYPE_"),
    ),
    source="RM include/vm_resource_msg.h; ACK include/linux/gunyah.h; L-v15/GY; QC GH_RM_RES_TYPE_*",
    note="9 and 10 exist only in Linux v15+/GY (no RM name); RM-2021/HAVEN define only 0-5 / 0-3",
)


def narrowed(enum: EnumDef, keep: range, source: str, note: str) -> EnumDef:
    """``enum`` with only the values in ``keep`` (a dialect that knows fewer of them)."""
    return EnumDef(
        enum.name,
        {v: n for v, n in enum.values.items() if v in keep},
        aliases={v: a for v, a in enum.aliases.items() if v in keep},
        flags=enum.flags,
        source=source,
        note=note,
    )


# --- §6.6 / §6.7 exit type, flags and codes ------------------------------------------------------
_EXIT_TYPE_NAMES = {
    0: "VM_EXIT",
    1: "PLATFORM_OFF",
    2: "PLATFORM_RESET",
    3: "PSCI_SYSTEM_RESET2",
    4: "WATCHDOG_BITE",
    5: "SOFTWARE_ERROR",
    6: "ASYNC_HW_ERROR",
    7: "VM_STOP_FORCED",
}
_LINUX_EXIT = {
    1: "PSCI_POWER_OFF",
    2: "PSCI_SYSTEM_RESET",
    4: "WDT_BITE",
    5: "HYP_ERROR",
    6: "ASYNC_EXT_ABORT",
    7: "VM_FORCE_STOPPED",
}
_QC_EXIT = {
    0: "VM_EXIT",
    1: "SYSTEM_OFF",
    2: "SYSTEM_RESET",
    3: "SYSTEM_RESET2",
    4: "WDT_BITE",
    5: "HYP_ERROR",
    6: "ASYNC_EXT_ABORT",
    7: "VM_STOP_FORCED",
}
EXIT_TYPE = EnumDef(
    "exit_type",
    _EXIT_TYPE_NAMES,
    aliases=_merge(
        {v: (n,) for v, n in _LINUX_EXIT.items()},
        {v: (n,) for v, n in _QC_EXIT.items() if n != _EXIT_TYPE_NAMES[v] and n not in _LINUX_EXIT.values()},
        {1: ("PSCI_SYSTEM_OFF",)},
        _prefixed(_QC_EXIT, "GH_RM_VM_EXIT_TYPE_"),
    ),
    source="RM exit_type_t; QEMU-gunyah/crosvm enum gh_vm_exit_type; QC GH_RM_VM_EXIT_TYPE_*; RESET-H",
    note="VM_EXITED exit_type (u16)",
)

EXIT_FLAGS = EnumDef(
    "exit_flags",
    {0x1: "RESTART", 0x2: "SYSTEM", 0x4: "WARM", 0x8: "DUMP", 0x8000: "SMC64"},
    aliases={0x1: ("EXIT_FLAG_RESTART", "TYPE")},
    flags=True,
    source="RM (bit 0, bit 15); QC (bits 0-3)",
    note="bits 15:0 of exit_reason word 0 / VM_EXIT exit_flags. RM: bit0 RESTART, bit15 SMC64 "
    "(SYSTEM_RESET2 only). QC: bit0 TYPE (0 poweroff / 1 restart), bit1 SYSTEM, bit2 WARM, "
    "bit3 DUMP (bits 1-3 have no RM meaning)",
)

EXIT_CODE = EnumDef(
    "exit_code",
    {0: "NORMAL", 1: "SOFTWARE_ERROR", 2: "UNKNOWN_ERROR", 3: "BUS_ERROR", 4: "DEVICE_ERROR"},
    source="RM",
    note="RM numbering (RM rejects 2 in VM_EXIT requests). QC/RESET-H number them "
    "0 NORMAL, 1 SOFTWARE_ERR, 2 BUS_ERR, 3 DEVICE_ERR: see qc_exit_code",
)

_QC_EXIT_CODES = {0: "NORMAL", 1: "SOFTWARE_ERR", 2: "BUS_ERR", 3: "DEVICE_ERR"}
QC_EXIT_CODE = EnumDef(
    "qc_exit_code",
    _QC_EXIT_CODES,
    source="QC-new gh_rm_drv.h; RESET-H",
    note="conflicts with RM exit_code from value 2 on",
)
EXIT_CODE_QCOM = EnumDef(
    "exit_code",
    _QC_EXIT_CODES,
    aliases=_prefixed(_QC_EXIT_CODES, "GH_RM_VM_EXIT_CODE_"),
    source="QC-new gh_rm_drv.h; RESET-H",
    note="Qualcomm numbering (dialect qcom): 2 is BUS_ERR, 3 DEVICE_ERR",
)

# --- §4.1 VM_STOP ----------------------------------------------------------------------------------
STOP_FLAGS = EnumDef(
    "stop_flags",
    {0x1: "FORCE_STOP"},
    aliases={
        0x1: (
            "FORCE",
            "VM_STOP_FLAG_FORCE",
            "GH_RM_VM_STOP_FLAG_FORCE_STOP",
            "GUNYAH_RM_VM_STOP_FLAG_FORCE_STOP",
        )
    },
    flags=True,
    source="RM VM_STOP_FLAG_FORCE; Linux GH_RM_VM_STOP_FLAG_FORCE_STOP",
)

_STOP_REASON_NAMES = {0: "SHUTDOWN", 1: "RESTART", 2: "CRASH", 3: "FORCE_STOP"}
STOP_REASON = EnumDef(
    "stop_reason",
    _STOP_REASON_NAMES,
    aliases=_merge(
        _prefixed(_STOP_REASON_NAMES, "GH_VM_STOP_"),
        {3: ("GH_RM_VM_STOP_REASON_FORCE_STOP", "GUNYAH_RM_VM_STOP_REASON_FORCE_STOP")},
    ),
    source="QC GH_VM_STOP_*",
    note="Linux always sends 3 with the FORCE_STOP flag; also the VM_SHUTDOWN notification payload",
)

# --- §6.8 memory ---------------------------------------------------------------------------------------
MEM_TYPE = EnumDef(
    "mem_type",
    {0: "NORMAL", 1: "IO"},
    aliases=_prefixed({0: "NORMAL", 1: "IO"}, "GH_RM_MEM_TYPE_", "GUNYAH_RM_MEM_TYPE_"),
    source="RM, Linux, QC",
)

TRANS_TYPE = EnumDef(
    "trans_type",
    {0: "DONATE", 1: "LEND", 2: "SHARE"},
    aliases=_prefixed({0: "DONATE", 1: "LEND", 2: "SHARE"}, "GH_RM_TRANS_TYPE_"),
    source="RM, QC",
)

ACL_RIGHTS = EnumDef(
    "acl_rights",
    {0x1: "X", 0x2: "W", 0x4: "R"},
    aliases=_prefixed({0x1: "X", 0x2: "W", 0x4: "R"}, "GH_RM_ACL_", "GUNYAH_RM_ACL_"),
    flags=True,
    source="RM memparcel_msg.h; ACK gunyah_rsc_mgr.h; QC",
    note="RM accepts only R, RX, RW, RWX; IO memory at most RW",
)

_MEM_ATTR_NAMES = {0: "NORMAL", 1: "DEVICE", 2: "UNCACHED", 3: "CACHED"}
MEM_ATTR = EnumDef("mem_attr", _MEM_ATTR_NAMES, aliases=_prefixed(_MEM_ATTR_NAMES, "MEM_ATTR_"), source="RM")

MEM_CREATE_FLAGS = EnumDef(
    "mem_create_flags",
    {0x1: "SANITIZE", 0x2: "APPEND"},
    aliases={0x2: ("GH_MEM_SHARE_REQ_FLAGS_APPEND", "GUNYAH_MEM_SHARE_REQ_FLAGS_APPEND")},
    flags=True,
    source="RM memparcel_create_req_t; Linux",
    note="MEM_LEND/SHARE/DONATE byte 2; SANITIZE not allowed for IO memory",
)

MEM_APPEND_FLAGS = EnumDef(
    "mem_append_flags",
    {0x1: "END"},
    aliases={0x1: ("DONE", "GH_MEM_APPEND_REQ_FLAGS_END")},
    flags=True,
    source="RM memparcel_append_req_t; L-v11",
)

MEM_ACCEPT_FLAGS = EnumDef(
    "mem_accept_flags",
    {
        0x01: "VALIDATE_SANITIZED",
        0x02: "VALIDATE_ACL_ATTRS",
        0x04: "VALIDATE_LABEL",
        0x08: "MAP_OTHER",
        0x10: "MAP_CONTIGUOUS",
        0x20: "SANITIZE",
        0x80: "DONE",
    },
    aliases={0x02: ("VALIDATE_ACL_ATTR",), 0x20: ("SANITIZE_ON_RELEASE",)},
    flags=True,
    source="RM memparcel_accept_req_t; QC-new",
    note="MAP_OTHER and SANITIZE are RM; QC SANITIZE_ON_RELEASE = 0x20 is inferred (value not found)",
)

MEM_ACCEPT_REPLY_FLAGS = EnumDef(
    "mem_accept_reply_flags",
    {0x1: "INCOMPLETE"},
    aliases={0x1: ("GH_MEM_ACCEPT_RESP_INCOMPLETE",)},
    flags=True,
    source="RM HEAD; QC",
    note="absent (reserved byte) in HAVEN and RM-2021",
)

MEM_RELEASE_FLAGS = EnumDef(
    "mem_release_flags",
    {0x1: "SANITIZE"},
    aliases={0x1: ("CLEAR",)},
    flags=True,
    source="RM memparcel_release_req_t; QC (CLEAR)",
    note="MEM_RELEASE and MEM_RECLAIM",
)

MEM_NOTIFY_FLAGS = EnumDef(
    "mem_notify_flags",
    {0x1: "SHARED", 0x2: "RELEASED", 0x4: "ACCEPTED", 0x8: "RECALL"},
    aliases={
        0x1: ("RECIPIENT_SHARED", "GH_RM_MEM_NOTIFY_RECIPIENT_SHARED"),
        0x2: ("OWNER_RELEASED", "GH_RM_MEM_NOTIFY_OWNER_RELEASED"),
        0x4: ("OWNER_ACCEPTED", "GH_RM_MEM_NOTIFY_OWNER_ACCEPTED"),
    },
    flags=True,
    source="RM memparcel_notify; QC",
    note="exactly one bit per MEM_NOTIFY; RECALL is RM only",
)

MEM_SHARED_FLAGS = EnumDef(
    "mem_shared_flags",
    {0x1: "SANITIZED"},
    flags=True,
    source="RM memparcel_shared_notif_t",
    note="MEM_SHARED notification: parcel was sanitized at create",
)

# --- §4.6 IRQ --------------------------------------------------------------------------------------------
_IRQ_NOTIFY_NAMES = {0x1: "LENT", 0x2: "RELEASED", 0x4: "ACCEPTED"}
IRQ_NOTIFY_FLAGS = EnumDef(
    "irq_notify_flags",
    _IRQ_NOTIFY_NAMES,
    aliases=_prefixed(_IRQ_NOTIFY_NAMES, "GH_VM_IRQ_NOTIFY_FLAGS_"),
    flags=True,
    source="RM rm_irq_notify_req_t; QC",
)

# --- §6.9 / §4.8 IPA reserve -----------------------------------------------------------------------
IPA_GENERIC_CONSTRAINTS = EnumDef(
    "ipa_generic_constraints",
    {
        0x0: "NONE",
        0x1: "ECC",
        0x2: "TAGGED",
        0x4: "NORMAL",
        0x8: "IO",
        0x10: "OWNER_VM_VISIBLE",
        0x20: "EXTERNAL_BUS_VISIBLE",
        0x40: "BASE_MEMORY_COMPATIBLE",
    },
    aliases={0x2: ("MEMTAG",), 0x40: ("DEFAULT",)},
    flags=True,
    source="RM include/vm_ipa_message.h; QC-new gh_rm_drv.h (aliases)",
    note="bits 4-6 conflict: QC has bits 4/5 reserved and bit 6 DEFAULT ('the calling VM's default "
    "memory type') where RM has OWNER_VM_VISIBLE, EXTERNAL_BUS_VISIBLE, BASE_MEMORY_COMPATIBLE",
)

IPA_GENERIC_CONSTRAINTS_QCOM = EnumDef(
    "ipa_generic_constraints",
    {0x0: "NONE", 0x1: "ECC", 0x2: "MEMTAG", 0x4: "NORMAL", 0x8: "IO", 0x40: "DEFAULT"},
    aliases={0x2: ("TAGGED",)},
    flags=True,
    source="QC-new gh_rm_drv.h",
    note="Qualcomm names; bits 4/5 reserved, bit 6 DEFAULT ('the calling VM's default memory type')",
)

IPA_PLATFORM_CONSTRAINTS = EnumDef(
    "ipa_platform_constraints",
    {0x0: "NONE", 0x1: "ENCRYPTED", 0x2: "AUTHENTICATED", 0x4: "ANTI_ROLLBACK"},
    flags=True,
    source="RM (NONE only); QC-new gh_rm_drv.h",
    note="RM defines no platform constraint bits; the bit names are QC's",
)

IPA_ALLOC_TYPE = EnumDef(
    "ipa_alloc_type",
    {0: "FIXED_LIST", 1: "ALLOC_LIST"},
    source="RM include/vm_ipa_message.h",
    note="QC only sends 1",
)

# --- §6.10 and §4.4 / §4.7 other ------------------------------------------------------------------------
_ID_TYPE_NAMES = {0: "GUID", 1: "URI", 2: "NAME", 3: "SIGN_AUTH"}
VM_ID_TYPE = EnumDef(
    "vm_id_type",
    _ID_TYPE_NAMES,
    aliases=_prefixed(_ID_TYPE_NAMES, "GH_RM_ID_TYPE_"),
    source="RM vm_id_type_t; QC GH_RM_ID_TYPE_*",
)

BOOT_CONTEXT_REG_SET = EnumDef(
    "boot_context_reg_set",
    {0: "X", 1: "PC", 2: "SP"},
    aliases=_prefixed({0: "X", 1: "PC", 2: "SP"}, "REG_SET_"),
    source="L-v16/L-v17 UAPI enum gunyah_vm_boot_context_reg",
)

ADDRESS_RANGE_ID = EnumDef(
    "address_range_id",
    {0: "IMAGE", 1: "FIRMWARE"},
    aliases=_prefixed({0: "IMAGE", 1: "FIRMWARE"}, "GUNYAH_RM_RANGE_ID_"),
    source="L-v15 enum gunyah_rm_range_id; GY-B",
)

HOST_ARCH = EnumDef(
    "host_arch", {0x64: "AARCH64"}, source="RM vm_mgnt_handle_get_type", note="VM_HOST_GET_TYPE byte 0"
)
HOST_TYPE = EnumDef(
    "host_type",
    {0x01: "GUNYAH_RM"},
    source="RM vm_mgnt_handle_get_type",
    note="VM_HOST_GET_TYPE byte 1 ('Gunyah + RM'); byte 3 is the version (1)",
)

ALL_ENUMS: dict[str, EnumDef] = {
    e.name: e
    for e in (
        MSG_TYPES,
        WELL_KNOWN_VMIDS,
        RM_ERRORS,
        HYP_ERRORS,
        VM_STATUS,
        OS_STATUS,
        APP_STATUS,
        AUTH_MECH,
        AUTH_PARAM_TYPE,
        RESOURCE_TYPE,
        EXIT_TYPE,
        EXIT_FLAGS,
        EXIT_CODE,
        QC_EXIT_CODE,
        STOP_FLAGS,
        STOP_REASON,
        MEM_TYPE,
        TRANS_TYPE,
        ACL_RIGHTS,
        MEM_ATTR,
        MEM_CREATE_FLAGS,
        MEM_APPEND_FLAGS,
        MEM_ACCEPT_FLAGS,
        MEM_ACCEPT_REPLY_FLAGS,
        MEM_RELEASE_FLAGS,
        MEM_NOTIFY_FLAGS,
        MEM_SHARED_FLAGS,
        IRQ_NOTIFY_FLAGS,
        IPA_GENERIC_CONSTRAINTS,
        IPA_PLATFORM_CONSTRAINTS,
        IPA_ALLOC_TYPE,
        VM_ID_TYPE,
        BOOT_CONTEXT_REG_SET,
        ADDRESS_RANGE_ID,
        HOST_ARCH,
        HOST_TYPE,
    )
}
