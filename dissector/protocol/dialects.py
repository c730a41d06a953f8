"""Protocol dialects: what changes when a capture comes from an older RM or a given Linux series.

The wire header never changes (protocol.md §7); what does is the name of a few ids, the VM status
numbering and other enum tables, the VM_GET_HYP_RESOURCES entry size and the MEM_ACCEPT reply
header. A dialect records only those differences, so the default tables stay the single source
of truth; ``registry`` applies them for every consumer (Scapy tree, JSON, Lua, docs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .enums import (
    ALL_ENUMS,
    AUTH_MECH_LINUX,
    EXIT_CODE_QCOM,
    IPA_GENERIC_CONSTRAINTS_QCOM,
    OS_STATUS_0_TO_4,
    RESOURCE_TYPE,
    VM_STATUS_LINUX,
    VM_STATUS_QCOM,
    narrowed,
)
from .errors import RM_ERRORS
from .layout import Struct
from .layouts.memory import MEM_ACCEPT_REPLY_NO_FLAGS
from .messages import MESSAGES
from .types import EnumDef

HYP_RESOURCE_ENTRY_SIZE = 44  # RM-2022+, every Linux and QC driver
HYP_RESOURCE_ENTRY_SIZE_2021 = 28  # RM-2021, HAVEN: no base/size fields


@dataclass(frozen=True)
class Dialect:
    """Differences of one protocol variant from the RM HEAD tables.

    ``renames`` maps a message id to ``(name, aliases)``; the aliases *replace* the default
    ones (so a name moved to another id in this dialect does not stay behind), and within the
    dialect a renamed entry wins a name lookup over a default entry with the same name.
    ``enum_overrides`` replaces whole EnumDefs by ``EnumDef.name``; ``opaque`` names the enums
    this dialect gives no names at all (the value is shown as a number: app_status everywhere
    but in ``qcom``). ``layouts`` replaces a message's payload layout: ``(msg_id, role) ->
    Struct``. ``hyp_resource_entry_size`` is None when the size must be inferred as
    ``(len - 4) / n``.
    """

    name: str
    description: str
    renames: Mapping[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    enum_overrides: Mapping[str, EnumDef] = field(default_factory=dict)
    opaque: frozenset[str] = frozenset({"app_status"})
    layouts: Mapping[tuple[int, str], Struct] = field(default_factory=dict)
    hyp_resource_entry_size: int | None = None
    source: str = ""

    @property
    def mem_accept_reply_flags(self) -> bool:
        """MEM_ACCEPT reply byte 2 is flags (RM HEAD, QC), not reserved (HAVEN, RM-2021)."""
        return (0x51000011, "reply") not in self.layouts


_BY_ID = {m.msg_id: m for m in MESSAGES}


def _renamed(msg_id: int, name: str, *extra: str) -> tuple[int, tuple[str, tuple[str, ...]]]:
    """Rename ``msg_id``, keeping its default name and aliases as aliases."""
    base = _BY_ID[msg_id]
    aliases = tuple(dict.fromkeys((*extra, base.name, *base.aliases)))
    return msg_id, (name, tuple(a for a in aliases if a != name))


VM_STATUS_RM_2021 = EnumDef(
    "vm_status",
    {
        0: "NONE",
        1: "INIT",
        2: "READY",
        3: "RUNNING",
        4: "PAUSED",
        5: "SHUTDOWN",
        6: "SHUTOFF",
        7: "CRASHED",
        8: "INIT_FAILED",
    },
    aliases={0: ("NO_STATE",)},
    source="RM-2021 include/vm_mgnt.h; HAVEN hh_rm_drv.h (sm8350)",
    note="5-7 mean SHUTDOWN/SHUTOFF/CRASHED here, LOAD/AUTH/reserved in RM HEAD",
)

VM_STATUS_HAVEN_EARLY = EnumDef(
    "vm_status",
    {0: "NO_STATE", 1: "RUNNING", 2: "PAUSED", 3: "SHUTDOWN", 4: "SHUTOFF", 5: "CRASHED"},
    aliases={0: ("NONE",)},
    source="HAVEN early hh_rm_drv.h (MiCode @01497f5e)",
    note="numbering shared with no later source",
)

RM_ERRORS_RM_2021 = EnumDef(
    RM_ERRORS.name,
    {**RM_ERRORS.values, 0x4: "INVALID"},
    aliases={
        **RM_ERRORS.aliases,
        0x4: tuple(a for a in (*RM_ERRORS.aliases[0x4], "MSG_INVALID") if a != "INVALID"),
    },
    source="RM-2021 include/rm-rpc.h (before RM commit 6f39e70)",
    note=RM_ERRORS.note,
)


RM_ERRORS_BEFORE_2023 = EnumDef(
    RM_ERRORS.name,
    {k: v for k, v in RM_ERRORS_RM_2021.values.items() if k != 0x14},
    aliases={k: v for k, v in RM_ERRORS_RM_2021.aliases.items() if k != 0x14},
    source=RM_ERRORS_RM_2021.source,
    note="0x14 VM_STATE first appears in RM-2023a (981e1e6)",
)
RM_ERRORS_HAVEN = EnumDef(
    RM_ERRORS.name,
    {k: v for k, v in RM_ERRORS.values.items() if k != 0x14},
    aliases={k: v for k, v in RM_ERRORS.aliases.items() if k != 0x14},
    source="HAVEN hh_rm_drv.h era (before RM-2023a)",
    note="0x14 VM_STATE first appears in RM-2023a (981e1e6)",
)


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))


_NO_FLAGS_ACCEPT = _frozen({(0x51000011, "reply"): MEM_ACCEPT_REPLY_NO_FLAGS})
_LINUX_RENAMES = {
    **dict([_renamed(0x56000001, "VM_ALLOC_VMID")]),
    **dict([_renamed(0x56000002, "VM_DEALLOC_VMID")]),
}
_LINUX_ENUMS = {"vm_status": VM_STATUS_LINUX, "auth_mech": AUTH_MECH_LINUX}


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "rm",
            "Resource Manager HEAD (2024-01); the default names and numbering",
            source="quic/gunyah-resource-manager bf31a9ac",
        ),
        Dialect(
            "linux-v16",
            "Linux Gunyah series v15 RFC / v16 and GY-A: VM_SET_BOOT_CONTEXT is 0x5600000C; "
            "the kernel's names (VM_ALLOC_VMID, vm_status NO_STATE, auth QCOM_PIL_ELF ...)",
            renames=_frozen(
                {
                    **_LINUX_RENAMES,
                    0x5600000C: (
                        "VM_SET_BOOT_CONTEXT",
                        ("GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT", "VM_SET_BOOT_CONTEXT_V16"),
                    ),
                    0x56000031: ("VM_SET_CONTEXT", ()),
                }
            ),
            enum_overrides=_frozen(_LINUX_ENUMS),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE,
            source="L-v15, L-v16, GY-A rsc_mgr_rpc.c",
        ),
        Dialect(
            "linux-v17",
            "Linux Gunyah series v17, GY-B, L-KVM25: VM_SET_BOOT_CONTEXT is 0x56000031; "
            "the kernel's names (VM_ALLOC_VMID, vm_status NO_STATE, auth QCOM_PIL_ELF ...)",
            renames=_frozen(
                {
                    **_LINUX_RENAMES,
                    **dict([_renamed(0x56000031, "VM_SET_BOOT_CONTEXT")]),
                }
            ),
            enum_overrides=_frozen(_LINUX_ENUMS),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE,
            source="L-v17, GY-B rsc_mgr_rpc.c",
        ),
        Dialect(
            "qcom",
            "Qualcomm downstream gh_rm_drv (QC-new): Qualcomm exit codes (2 BUS_ERR, 3 DEVICE_ERR), "
            "VM status 12 RESET_FAILED, app_status names, Qualcomm IPA constraint names",
            enum_overrides=_frozen(
                {
                    "exit_code": EXIT_CODE_QCOM,
                    "vm_status": VM_STATUS_QCOM,
                    "ipa_generic_constraints": IPA_GENERIC_CONSTRAINTS_QCOM,
                }
            ),
            opaque=frozenset(),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE,
            source="realme GT8pro gh_rm_drv.h, gh_rm_iface.c (QC-new)",
        ),
        Dialect(
            "rm-2021",
            "RM initial public drop (2021-04): 0x56000006 is VM_SHUTDOWN, old VM status numbering, "
            "28-byte hyp resource entries, resource types 0-5, error 4 INVALID and no 0x14, "
            "no MEM_ACCEPT reply flags",
            renames=_frozen(dict([_renamed(0x56000006, "VM_SHUTDOWN", "VM_RESET")])),
            enum_overrides=_frozen(
                {
                    "vm_status": VM_STATUS_RM_2021,
                    "rm_error": RM_ERRORS_BEFORE_2023,
                    "resource_type": narrowed(
                        RESOURCE_TYPE, range(6), "RM-2021 include/vm_resource_msg.h", "0-5 only"
                    ),
                }
            ),
            layouts=_NO_FLAGS_ACCEPT,
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE_2021,
            source="quic/gunyah-resource-manager a16ed59",
        ),
        Dialect(
            "haven-early",
            "early Haven (hh_) downstream: its own VM status numbering, os_status 0-4, resource "
            "types 0-3, no error 0x14, 28-byte hyp resource entries, no MEM_ACCEPT reply flags "
            "(MEM_RELEASED/ACCEPTED lack mem_info_tag, VM_IRQ_LENT is 10 B packed)",
            enum_overrides=_frozen(
                {
                    "vm_status": VM_STATUS_HAVEN_EARLY,
                    "os_status": OS_STATUS_0_TO_4,
                    "rm_error": RM_ERRORS_HAVEN,
                    "resource_type": narrowed(
                        RESOURCE_TYPE, range(4), "HAVEN hh_rm_drv.h (sm8350)", "0-3 only"
                    ),
                }
            ),
            layouts=_NO_FLAGS_ACCEPT,
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE_2021,
            source="MiCode/Xiaomi_Kernel_OpenSource include/linux/haven/hh_rm_drv.h @01497f5e",
        ),
    )
}
DEFAULT_DIALECT = "rm"
assert all(name in ALL_ENUMS for d in DIALECTS.values() for name in (*d.enum_overrides, *d.opaque))


def get_dialect(name: str | Dialect = DEFAULT_DIALECT) -> Dialect:
    """The dialect called ``name`` (case-insensitive); ``ValueError`` lists the known ones."""
    if isinstance(name, Dialect):
        return name
    dialect = DIALECTS.get(name.strip().lower())
    if dialect is None:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    return dialect
