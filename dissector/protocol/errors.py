"""RM error codes (first word of every reply) and hypervisor ``error_t`` values (protocol.md §2).

The CLI prints the short RM name (``NORESOURCE``); the full RM name and the Linux names are
aliases. ``LINUX_ERRNO`` tells a reader of a kernel log line ("RM rejected message 56000004.
Error: 2") which errno the Linux driver turned the code into.
"""

from __future__ import annotations

from .types import EnumDef

RM_OK = 0
RM_ERROR_UNIMPLEMENTED = 0xFFFFFFFF

_SHORT: dict[int, str] = {
    0x00: "OK",
    0x01: "NOMEM",
    0x02: "NORESOURCE",
    0x03: "DENIED",
    0x04: "MSG_INVALID",
    0x05: "BUSY",
    0x06: "ARGUMENT_INVALID",
    0x07: "HANDLE_INVALID",
    0x08: "VALIDATE_FAILED",
    0x09: "MAP_FAILED",
    0x0A: "MEM_INVALID",
    0x0B: "MEM_INUSE",
    0x0C: "MEM_RELEASED",
    0x0D: "VMID_INVALID",
    0x0E: "LOOKUP_FAILED",
    0x0F: "IRQ_INVALID",
    0x10: "IRQ_INUSE",
    0x11: "IRQ_RELEASED",
    0x12: "IN_USE",  # RM only
    0x13: "IRQ_NOT_MAPPED",  # RM only
    0x14: "VM_STATE",  # RM only, since RM-2023a
    RM_ERROR_UNIMPLEMENTED: "UNIMPLEMENTED",
}

LINUX_LAST_KNOWN_ERROR = 0x11  # Linux has no names above this


def _aliases(code: int, short: str) -> tuple[str, ...]:
    rm = "RM_OK" if code == RM_OK else f"RM_ERROR_{short}"
    if code == 0x04:  # RM_ERROR_INVALID before RM commit 6f39e70; Linux kept the old name
        return (rm, "INVALID", "RM_ERROR_INVALID", "GH_RM_ERROR_INVALID", "GUNYAH_RM_ERROR_INVALID")
    if code <= LINUX_LAST_KNOWN_ERROR or code == RM_ERROR_UNIMPLEMENTED:
        return (rm, f"GH_RM_ERROR_{short}", f"GUNYAH_RM_ERROR_{short}")
    return (rm,)


RM_ERRORS = EnumDef(
    "rm_error",
    _SHORT,
    aliases={code: _aliases(code, short) for code, short in _SHORT.items()},
    source="RM include/rm_types.h (HEAD); ACK rsc_mgr.c; GY-B (protocol.md §2)",
    note="0x12-0x14 are RM-only; 0x4 was RM_ERROR_INVALID before RM-rename",
)

# gh_rm_remap_error() (ACK rsc_mgr.c, L-v11 include/linux/gunyah_rsc_mgr.h) and
# gunyah_rm_error_remap() (v15+/GY-B rsc_mgr.c), read via the code search: OK -> 0,
# UNIMPLEMENTED -> -EOPNOTSUPP, NOMEM -> -ENOMEM, NORESOURCE -> -ENODEV, DENIED -> -EPERM,
# BUSY -> -EBUSY, INVALID (4) and every code 0x6..0x11 -> -EINVAL, anything else -> -EBADMSG.
_EINVAL_CODES = (0x04, *range(0x06, LINUX_LAST_KNOWN_ERROR + 1))
LINUX_ERRNO: dict[int, str] = {
    RM_OK: "0",
    RM_ERROR_UNIMPLEMENTED: "-EOPNOTSUPP",
    0x01: "-ENOMEM",
    0x02: "-ENODEV",
    0x03: "-EPERM",
    0x05: "-EBUSY",
    **dict.fromkeys(_EINVAL_CODES, "-EINVAL"),
    0x12: "-EBADMSG",
    0x13: "-EBADMSG",
    0x14: "-EBADMSG",
}


def linux_errno(code: int) -> str:
    """Errno the Linux driver returns for RM error ``code`` (``-EBADMSG`` for codes it lacks)."""
    return LINUX_ERRNO.get(code, "-EBADMSG")


HYP_ERROR_UNIMPLEMENTED = 0xFFFFFFFF  # -1 as u32

HYP_ERRORS = EnumDef(
    "hyp_error",
    {
        0: "OK",
        1: "ARGUMENT_INVALID",
        2: "ARGUMENT_SIZE",
        30: "DENIED",
        60: "MSGQUEUE_EMPTY",
        61: "MSGQUEUE_FULL",
        HYP_ERROR_UNIMPLEMENTED: "UNIMPLEMENTED",
    },
    aliases={
        0: ("GH_ERROR_OK",),
        1: ("ERROR_ARGUMENT_INVALID", "GH_ERROR_ARG_INVAL"),
        2: ("ERROR_ARGUMENT_SIZE", "GH_ERROR_ARG_SIZE"),
        30: ("ERROR_DENIED", "GH_ERROR_DENIED"),
        60: ("ERROR_MSGQUEUE_EMPTY",),
        61: ("ERROR_MSGQUEUE_FULL",),
        HYP_ERROR_UNIMPLEMENTED: ("ERROR_UNIMPLEMENTED", "-1", "GH_ERROR_UNIMPLEMENTED"),
    },
    source="RM include/guest_types.h; HYP msgqueue.tc (60/61); QC gh_errno.h (GH_ERROR_*)",
    note="the extra u32 after the RM error in failed VM_SET_TIME_BASE / VM_SET_FIRMWARE_MEM replies",
)
