"""VM query calls (protocol.md 4.2) and VM_GET_HYP_RESOURCES (4.3).

Field names are the Linux kernel's where Linux has the message (``gh_rm_hyp_resources``,
``gh_rm_hyp_resource``, ``gh_rm_vm_common_vmid_req``, ``gunyah_rm_get_vmid``), Qualcomm's
``gh_rm_drv_private.h`` names for the calls only RM and QC know (``gh_vm_get_state_resp_payload``,
``gh_vm_get_id_resp_entry``, ``gh_vm_lookup_char_req_payload``, ``gh_vm_lookup_resp_entry``),
and the RM's names (``vm_mgnt_handle_get_owner/get_peers``) for the RM-only ones. Counts and
lists are called ``n_entries`` / ``entries`` throughout (design.md 1.4).
"""

from __future__ import annotations

from dissector.protocol.layout import (
    EMPTY,
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

from .lifecycle import VMID_REQ

# --- VM_GET_VMID / VM_GET_OWNER / VM_GET_PEERS ---------------------------------------------------
VM_GET_VMID_REQ = Struct(
    "VMGetVmidReq",
    (Optional((Pad("_padding", 4),), doc="L-v5 sent a 4-byte zero payload; RM requires len 0"),),
    doc="Empty (RM vm_mgnt_handle_get_vmid requires len 0; ACK/GY send none). "
    "L-v5 gh_rm_get_vmid sent `int payload = 0` (4 bytes), kept as an optional reserved word.",
)

VM_GET_VMID_REPLY = Struct(
    "VMGetVmidReply",
    (U32("vmid", hex=True),),
    doc="u32 vmid (protocol.md 4.2: RM vm_mgnt_handle_get_vmid writes u32; the kernel reads an "
    "__le32 and keeps its low 16 bits). L-v5 expected a 2-byte reply: one is reported truncated.",
    summary=("vmid",),
)

VM_GET_OWNER_REPLY = Struct(
    "VMGetOwnerReply",
    (U32("owner_vmid", hex=True),),
    doc="RM vm_mgnt_handle_get_owner: u32 owner_vmid.",
    summary=("owner_vmid",),
)

PEER_ENTRY = Struct("VMPeerEntry", (U32("vmid", hex=True),), doc="RM vm_mgnt_handle_get_peers: u32 vmid.")

VM_GET_PEERS_REPLY = Struct(
    "VMGetPeersReply",
    (Count("n_entries", 4, of="entries"), Array("entries", PEER_ENTRY, count="n_entries")),
    doc="RM vm_mgnt_handle_get_peers: u32 count; u32 vmid[count].",
    summary=("n_entries",),
)

# --- VM_GET_STATE ----------------------------------------------------------------------------------
VM_GET_STATE_REPLY = Struct(
    "VMGetStateReply",
    (U8("vm_status", "vm_status"), U8("os_status", "os_status"), U16("app_status", "app_status")),
    doc="QC gh_vm_get_state_resp_payload {u8 vm_status; u8 os_status; u16 app_status} "
    "(RM vm_mgnt_handle_get_state).",
    summary=("vm_status", "os_status"),
)

# --- VM_GET_ID -------------------------------------------------------------------------------------
VM_ID_ENTRY = Struct(
    "VMIdEntry",
    (
        U8("id_type", "vm_id_type"),
        Pad("reserved", 1),
        Length("id_size", 2, of="id_info"),
        Bytes("id_info", length="id_size", align=4, doc="GUID: 16 raw bytes; URI/NAME: text"),
    ),
    doc="QC gh_vm_get_id_resp_entry {u8 id_type; u8 reserved; u16 id_size; char id_info[]}, "
    "id_info zero-padded to 4 (RM vm_mgnt_handle_get_id).",
)

VM_GET_ID_REPLY = Struct(
    "VMGetIdReply",
    (Count("n_entries", 4, of="entries"), Array("entries", VM_ID_ENTRY, count="n_entries")),
    doc="QC gh_vm_get_id_resp_payload {u32 n_id_entries; entries[]}; RM sends GUID, then NAME "
    "and URI if set, then SIGN_AUTH.",
    summary=("n_entries",),
)

# --- VM_LOOKUP_URI / VM_LOOKUP_NAME / VM_LOOKUP_GUID ------------------------------------------------
VM_LOOKUP_CHAR_REQ = Struct(
    "VMLookupCharReq",
    (Length("size", 2, of="data"), Pad("reserved", 2), Bytes("data", length="size", align=4, text=True)),
    doc="QC gh_vm_lookup_char_req_payload {u16 size; u16 reserved; char data[]}; RM requires "
    "len == 4 + align4(size), size <= 79.",
    summary=("data",),
)

VM_LOOKUP_GUID_REQ = Struct(
    "VMLookupGuidReq",
    (Bytes("guid", length=16),),
    doc="16 raw GUID bytes, exactly 16 (RM vm_mgnt_handle_lookup_guid; QC).",
)

VM_LOOKUP_ENTRY = Struct(
    "VMLookupEntry",
    (U16("vmid", hex=True), Pad("reserved", 2)),
    doc="QC gh_vm_lookup_resp_entry {u16 vmid; u16 reserved}.",
)

VM_LOOKUP_REPLY = Struct(
    "VMLookupReply",
    (Count("n_entries", 4, of="entries"), Array("entries", VM_LOOKUP_ENTRY, count="n_entries")),
    doc="QC gh_vm_lookup_resp_payload {u32 n_id_entries; entries[]} (RM vm_mgnt_lookup_by_id).",
    summary=("n_entries",),
)

# --- VM_GET_HYP_RESOURCES --------------------------------------------------------------------------
_HYP_RESOURCE_HEAD = (
    U8("type", "resource_type"),
    Pad("reserved", 1),
    U16("partner_vmid", hex=True),
    U32("resource_handle", hex=True),
    U32("resource_label", hex=True),
    U64("cap_id"),
    U32("virq_handle", hex=True),
    U32("virq"),
)

HYP_RESOURCE = Struct(
    "HypResource",
    (*_HYP_RESOURCE_HEAD, U64("base"), U64("size")),
    doc="gh_rm_hyp_resource {u8 type; u8 reserved; le16 partner_vmid; le32 resource_handle; "
    "le32 resource_label; le64 cap_id; le32 virq_handle; le32 virq; le64 base; le64 size} "
    "(44 bytes: RM-2022+, ACK, v11, v15, QC).",
)

HYP_RESOURCE_2021 = Struct(
    "HypResource2021",
    _HYP_RESOURCE_HEAD,
    doc="28-byte resource entry of RM-2021 and HAVEN hh_vm_get_hyp_res_resp_entry (no base/size).",
)

VM_GET_HYP_RESOURCES_REPLY = Struct(
    "VMGetHypResourcesReply",
    (
        Count("n_entries", 4, of="entries"),
        Array("entries", HYP_RESOURCE, count="n_entries", alternatives=(HYP_RESOURCE_2021,)),
    ),
    doc="gh_rm_hyp_resources {le32 n_entries; entries[]}; the entry size (44 or 28 bytes) is the one "
    "that makes n_entries entries fill the reply exactly.",
    summary=("n_entries",),
)

_UNIMPLEMENTED = "RM: defined but unimplemented (FIXME: implement in v2); no layout found"

LAYOUTS: dict[str, Layout] = {
    "VM_GET_VMID": Layout(request=VM_GET_VMID_REQ, reply=VM_GET_VMID_REPLY),
    "VM_GET_OWNER": Layout(request=EMPTY, reply=VM_GET_OWNER_REPLY),
    "VM_GET_PEERS": Layout(request=EMPTY, reply=VM_GET_PEERS_REPLY),
    "VM_GET_STATE": Layout(request=VMID_REQ, reply=VM_GET_STATE_REPLY),
    "VM_GET_ID": Layout(request=VMID_REQ, reply=VM_GET_ID_REPLY),
    "VM_LOOKUP_URI": Layout(request=VM_LOOKUP_CHAR_REQ, reply=VM_LOOKUP_REPLY),
    "VM_LOOKUP_NAME": Layout(request=VM_LOOKUP_CHAR_REQ, reply=VM_LOOKUP_REPLY),
    "VM_LOOKUP_GUID": Layout(request=VM_LOOKUP_GUID_REQ, reply=VM_LOOKUP_REPLY),
    "VM_GET_HYP_RESOURCES": Layout(request=VMID_REQ, reply=VM_GET_HYP_RESOURCES_REPLY),
    "VM_GET_HYP_CAPIDS": Layout(known=False, note=_UNIMPLEMENTED),
    "VM_GET_HYP_IRQS": Layout(known=False, note=_UNIMPLEMENTED),
}
