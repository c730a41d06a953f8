"""Protocol dialects: what changes when a capture comes from an older RM or a given Linux series.

The wire header never changes (protocol.md §7); what does is the name of a few ids, the VM status
numbering, the VM_GET_HYP_RESOURCES entry size and the MEM_ACCEPT reply header. A dialect records
only those differences, so the default tables stay the single source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import RM_ERRORS
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
    ``enum_overrides`` replaces whole EnumDefs by ``EnumDef.name``.
    ``hyp_resource_entry_size`` is None when the size must be inferred as ``(len - 4) / n``.
    """

    name: str
    description: str
    renames: Mapping[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    enum_overrides: Mapping[str, EnumDef] = field(default_factory=dict)
    hyp_resource_entry_size: int | None = None
    mem_accept_reply_flags: bool = True  # MEM_ACCEPT reply byte 2 is flags, not reserved
    source: str = ""


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


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))


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
            "Linux Gunyah series v15 RFC / v16 and GY-A: VM_SET_BOOT_CONTEXT is 0x5600000C",
            renames=_frozen(
                {
                    0x5600000C: (
                        "VM_SET_BOOT_CONTEXT",
                        ("GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT", "VM_SET_BOOT_CONTEXT_V16"),
                    ),
                    0x56000031: ("VM_SET_CONTEXT", ()),
                }
            ),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE,
            source="L-v15, L-v16, GY-A rsc_mgr_rpc.c",
        ),
        Dialect(
            "linux-v17",
            "Linux Gunyah series v17, GY-B, L-KVM25: VM_SET_BOOT_CONTEXT is 0x56000031",
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE,
            source="L-v17, GY-B rsc_mgr_rpc.c",
        ),
        Dialect(
            "rm-2021",
            "RM initial public drop (2021-04): 0x56000006 is VM_SHUTDOWN, old VM status numbering, "
            "28-byte hyp resource entries, error 4 INVALID, no MEM_ACCEPT reply flags",
            renames=_frozen(dict([_renamed(0x56000006, "VM_SHUTDOWN", "VM_RESET")])),
            enum_overrides=_frozen({"vm_status": VM_STATUS_RM_2021, "rm_error": RM_ERRORS_RM_2021}),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE_2021,
            mem_accept_reply_flags=False,
            source="quic/gunyah-resource-manager a16ed59",
        ),
        Dialect(
            "haven-early",
            "early Haven (hh_) downstream: its own VM status numbering, 28-byte hyp resource entries, "
            "no MEM_ACCEPT reply flags (MEM_RELEASED/ACCEPTED lack mem_info_tag, VM_IRQ_LENT is 10 B)",
            enum_overrides=_frozen({"vm_status": VM_STATUS_HAVEN_EARLY}),
            hyp_resource_entry_size=HYP_RESOURCE_ENTRY_SIZE_2021,
            mem_accept_reply_flags=False,
            source="MiCode/Xiaomi_Kernel_OpenSource include/linux/haven/hh_rm_drv.h @01497f5e",
        ),
    )
}
DEFAULT_DIALECT = "rm"


def get_dialect(name: str | Dialect = DEFAULT_DIALECT) -> Dialect:
    """The dialect called ``name`` (case-insensitive); ``ValueError`` lists the known ones."""
    if isinstance(name, Dialect):
        return name
    dialect = DIALECTS.get(name.strip().lower())
    if dialect is None:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    return dialect
