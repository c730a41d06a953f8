"""Memory parcel calls and notifications (protocol.md 4.9, 5 and 6.8).

Field names are the Linux kernel's where Linux has the message (``gh_rm_mem_share_req_header``,
``gh_rm_mem_acl_entry``, ``gh_rm_mem_entry``, ``gh_rm_mem_attr_entry``, ``gh_rm_mem_release_req``,
``gh_rm_mem_append_req_header``), else Qualcomm's ``gh_rm_drv`` names (``n_sgl_entries``,
``n_mem_attr_entries``, ``n_vmid_entries``, ``mem_info_tag``) or the RM's (``memparcel_*_t`` in
RM ``include/memparcel_msg.h``). Every parcel handle is ``mem_handle`` (RM ``handle``, QC
``memparcel_handle``) so one filter finds a parcel in every message that names it.

Every list uses the RM list encoding (``u16 count; u16 reserved``; protocol.md 1.7). Linux writes
the ACL count as a u32 ``n_entries`` (``gh_rm_mem_share_req_acl_section``) and QC as u32
``n_acl_entries`` (``gh_acl_desc``), where RM reads u16 count + u16 reserved: the u16 + pad form
declared here reads the same bytes for every count below 65536. A trailing attr list whose header
would start at the very end of the payload is empty and may be omitted (RM ``rm_rpc_read_list``),
hence the ``Optional`` around it.
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
    Optional,
    Pad,
    Struct,
    rm_list,
)

# --- list entries (protocol.md 4.9 "Common entry types") -----------------------------------------
ACL_ENTRY = Struct(
    "MemAclEntry",
    (U16("vmid", hex=True), U8("perms", "acl_rights", hex=True), Pad("_padding", 1)),
    doc="gh_rm_mem_acl_entry {le16 vmid; u8 perms; u8 _padding} (RM acl_entry_t: vmid, rights, res0).",
    summary=("vmid", "perms"),
)

SGL_ENTRY = Struct(
    "MemEntry",
    (U64("ipa_base"), U64("size")),
    doc="gh_rm_mem_entry {le64 ipa_base; le64 size} (v15+ names the first field phys_addr; "
    "RM sgl_entry_t: ipa, size).",
    summary=("ipa_base", "size"),
)

ATTR_ENTRY = Struct(
    "MemAttrEntry",
    (U16("attr", "mem_attr"), U16("vmid", hex=True)),
    doc="gh_rm_mem_attr_entry {le16 attr; le16 vmid} (RM attr_entry_t).",
    summary=("attr", "vmid"),
)

VMID_ENTRY = Struct(
    "MemVmidEntry",
    (U16("vmid", hex=True), Pad("reserved", 2)),
    doc="QC gh_notify_vmid_entry {u16 vmid; u16 reserved} (RM vmid_entry_t).",
    summary=("vmid",),
)

SHARED_SGL_ENTRY = Struct(
    "MemSharedSglEntry",
    (U64("size"),),
    doc="MEM_SHARED SGL entry: the size only, no IPA (RM memparcel_notify_shared; "
    "QC gh_rm_mem_shared_sgl_entry splits it into sgl_size_low/sgl_size_high, same bytes).",
    summary=("size",),
)


_ACL = rm_list("n_acl_entries", "acl", ACL_ENTRY)
_SGL = rm_list("n_sgl_entries", "sgl", SGL_ENTRY)
_ATTRS = rm_list(
    "n_mem_attr_entries",
    "attrs",
    ATTR_ENTRY,
    emit="given",
    doc="may be omitted when empty (RM list rule); Linux sends count 0",
)

# --- MEM_DONATE / MEM_LEND / MEM_SHARE -----------------------------------------------------------
MEM_SHARE_REQ = Struct(
    "MemShareReq",
    (
        U8("mem_type", "mem_type"),
        Pad("_padding0", 1),
        U8("flags", "mem_create_flags", hex=True),
        Pad("_padding1", 1),
        U32("label", hex=True),
        *_ACL,
        *_SGL,
        *_ATTRS,
    ),
    doc="gh_rm_mem_share_req_header + acl/mem/attr sections (RM memparcel_create_req_t). "
    "The ACL count is the u32 n_entries of Linux, read as u16 + reserved as RM does. "
    "MEM_DONATE takes exactly one ACL entry.",
    summary=("mem_type", "flags", "label", "n_acl_entries", "n_sgl_entries"),
)

MEM_HANDLE_REPLY = Struct(
    "MemHandleReply",
    (U32("mem_handle", hex=True),),
    doc="RM memparcel_handle_resp_t {u32 handle} (Linux reads le32 mem_handle; "
    "QC gh_mem_share_resp_payload / gh_mem_qcom_lookup_sgl_resp_payload).",
    summary=("mem_handle",),
)

# --- MEM_APPEND ----------------------------------------------------------------------------------
MEM_APPEND_REQ = Struct(
    "MemAppendReq",
    (
        U32("mem_handle", hex=True),
        U8("flags", "mem_append_flags", hex=True),
        Pad("_padding0", 1),
        Pad("_padding1", 2),
        *_SGL,
    ),
    doc="gh_rm_mem_append_req_header + gh_rm_mem_share_req_mem_section (RM memparcel_append_req_t).",
    summary=("mem_handle", "flags", "n_sgl_entries"),
)

# --- MEM_RELEASE / MEM_RECLAIM -------------------------------------------------------------------
MEM_RELEASE_REQ = Struct(
    "MemReleaseReq",
    (
        U32("mem_handle", hex=True),
        U8("flags", "mem_release_flags", hex=True),
        Pad("_padding0", 1),
        Pad("_padding1", 2),
    ),
    doc="gh_rm_mem_release_req {le32 mem_handle; u8 flags; u8 _padding0; le16 _padding1} "
    "(RM memparcel_release_req_t, 8 bytes; also MEM_RECLAIM).",
    summary=("mem_handle", "flags"),
)

# --- MEM_ACCEPT ----------------------------------------------------------------------------------
MEM_ACCEPT_REQ = Struct(
    "MemAcceptReq",
    (
        U32("mem_handle", hex=True),
        U8("mem_type", "mem_type"),
        U8("trans_type", "trans_type"),
        U8("flags", "mem_accept_flags", hex=True),
        Pad("reserved1", 1),
        U32("label", hex=True, doc="checked when flags has VALIDATE_LABEL (QC validate_label)"),
        *_ACL,
        Optional(
            (
                Count("n_sgl_entries", 2, of="sgl"),
                U16(
                    "map_vmid",
                    hex=True,
                    doc="second half of the SGL list header: the VM to map the parcel for (MAP_OTHER)",
                ),
                Array("sgl", SGL_ENTRY, count="n_sgl_entries"),
            ),
            doc="an RM list: empty when the buffer ends where its header would start",
            emit="always",
        ),
        *_ATTRS,
    ),
    doc="RM memparcel_accept_req_t (QC gh_mem_accept_req_payload_hdr + gh_acl_desc + gh_sgl_desc "
    "+ gh_mem_attr_desc; no Linux struct). The SGL list header's reserved half carries map_vmid "
    "(RM reads it at offset 18 + 4 * n_acl_entries). With n_sgl_entries 0 RM picks the IPAs.",
    summary=("mem_handle", "mem_type", "trans_type", "flags", "map_vmid"),
)

MEM_ACCEPT_REPLY = Struct(
    "MemAcceptReply",
    (
        Optional(
            (
                Count("n_sgl_entries", 2, of="sgl"),
                U8("flags", "mem_accept_reply_flags", hex=True),
                Pad("reserved", 1),
                Array("sgl", SGL_ENTRY, count="n_sgl_entries"),
            ),
            doc="only when the request's n_sgl_entries was 0 (RM chose the IPAs)",
        ),
    ),
    doc="RM memparcel_accept_sgl_resp_t {u16 sgl_entries; u8 flags; u8 res0; sgl_entry_t[]} "
    "(QC gh_mem_accept_resp_payload). HAVEN and RM-2021 have a u16 reserved where flags is: "
    "see MEM_ACCEPT_REPLY_NO_FLAGS (dialects rm-2021, haven-early).",
    summary=("n_sgl_entries", "flags"),
)

MEM_ACCEPT_REPLY_NO_FLAGS = Struct(
    "MemAcceptReplyNoFlags",
    (
        Optional(
            (
                Count("n_sgl_entries", 2, of="sgl"),
                Pad("reserved", 2),
                Array("sgl", SGL_ENTRY, count="n_sgl_entries"),
            ),
            doc="only when the request's n_sgl_entries was 0 (RM chose the IPAs)",
        ),
    ),
    doc="HAVEN hh_mem_accept_resp_payload {u16 n_sgl_entries; u16 reserved} and RM-2021 "
    "memparcel_accept_sgl_resp_t {uint16_t sgl_entries; uint16_t res0}: no flags byte.",
    summary=("n_sgl_entries",),
)

# --- MEM_NOTIFY ----------------------------------------------------------------------------------
MEM_NOTIFY_REQ = Struct(
    "MemNotifyReq",
    (
        U32("mem_handle", hex=True),
        U8("flags", "mem_notify_flags", hex=True),
        Pad("reserved1", 3),
        U32("mem_info_tag", hex=True),
        *rm_list(
            "n_vmid_entries", "vmids", VMID_ENTRY, emit="given", doc="RM reads it for SHARED and RECALL only"
        ),
    ),
    doc="RM memparcel_notify_req_t (QC gh_mem_notify_req_payload {memparcel_handle; flags:8; "
    "reserved1:24; mem_info_tag}) + gh_notify_vmid_desc for SHARED and RECALL (RM get_vmid_list).",
    summary=("mem_handle", "flags", "mem_info_tag"),
)

# --- MEM_QCOM_LOOKUP_SGL -------------------------------------------------------------------------
MEM_LOOKUP_SGL_REQ = Struct(
    "MemLookupSglReq",
    (
        U8("mem_type", "mem_type"),
        Pad("reserved", 3),
        U32("label", hex=True),
        *_ACL,
        *_SGL,
        *_ATTRS,
    ),
    doc="RM memparcel_lookup_req_t (QC gh_mem_qcom_lookup_sgl_req_payload_hdr {mem_type:8; "
    "reserved:24; label} + gh_acl_desc + gh_sgl_desc + optional gh_mem_attr_desc).",
    summary=("mem_type", "label", "n_sgl_entries"),
)

# --- notifications (protocol.md 5) ---------------------------------------------------------------
MEM_SHARED_NOTIF = Struct(
    "MemSharedNotif",
    (
        U32("mem_handle", hex=True),
        U8("mem_type", "mem_type"),
        U8("trans_type", "trans_type"),
        U8("flags", "mem_shared_flags", hex=True),
        Pad("reserved1", 1),
        U16("owner_vmid", hex=True),
        Pad("reserved2", 2),
        U32("label", hex=True),
        U32("mem_info_tag", hex=True),
        *_ACL,
        *rm_list("n_sgl_entries", "sgl", SHARED_SGL_ENTRY),
        *rm_list(
            "n_mem_attr_entries",
            "attrs",
            ATTR_ENTRY,
            emit="given",
            doc="always sent by RM HEAD; omitted by RM-2021 for hyp-assign parcels",
        ),
    ),
    doc="RM memparcel_shared_notif_t (QC gh_rm_notif_mem_shared_payload + ACL, size-only SGL and "
    "attr lists). RM-2021 declared the ACL count as u32 acl_entries (same bytes).",
    summary=("mem_handle", "trans_type", "owner_vmid", "label", "mem_info_tag"),
)

MEM_OWNER_NOTIF = Struct(
    "MemOwnerNotif",
    (
        U32("mem_handle", hex=True),
        U16("vmid", hex=True, doc="the participant that released or accepted (QC participant_vmid)"),
        Pad("reserved", 2),
        Optional((U32("mem_info_tag", hex=True),), doc="absent in early HAVEN (8-byte payload)"),
    ),
    doc="RM memparcel_owner_notif_t {u32 handle; vmid_t vmid; u8 res0[2]; u32 mem_info_tag} "
    "(QC gh_rm_notif_mem_released_payload); early HAVEN hh_rm_notif_mem_released_payload had no tag.",
    summary=("mem_handle", "vmid", "mem_info_tag"),
)

MEM_RECALL_NOTIF = Struct(
    "MemRecallNotif",
    (U32("mem_handle", hex=True), U32("mem_info_tag", hex=True)),
    doc="RM memparcel_recall_notif_t {u32 handle; u32 mem_info_tag} (8 bytes; RM only).",
    summary=("mem_handle", "mem_info_tag"),
)

LAYOUTS: dict[str, Layout] = {
    "MEM_DONATE": Layout(request=MEM_SHARE_REQ, reply=MEM_HANDLE_REPLY),
    "MEM_ACCEPT": Layout(request=MEM_ACCEPT_REQ, reply=MEM_ACCEPT_REPLY),
    "MEM_LEND": Layout(request=MEM_SHARE_REQ, reply=MEM_HANDLE_REPLY),
    "MEM_SHARE": Layout(request=MEM_SHARE_REQ, reply=MEM_HANDLE_REPLY),
    "MEM_RELEASE": Layout(request=MEM_RELEASE_REQ),
    "MEM_RECLAIM": Layout(request=MEM_RELEASE_REQ),
    "MEM_NOTIFY": Layout(request=MEM_NOTIFY_REQ),
    "MEM_APPEND": Layout(request=MEM_APPEND_REQ),
    "MEM_QCOM_LOOKUP_SGL": Layout(request=MEM_LOOKUP_SGL_REQ, reply=MEM_HANDLE_REPLY),
    "MEM_SHARED": Layout(notification=MEM_SHARED_NOTIF),
    "MEM_RELEASED": Layout(notification=MEM_OWNER_NOTIF),
    "MEM_ACCEPTED": Layout(notification=MEM_OWNER_NOTIF),
    "MEM_RECALL": Layout(notification=MEM_RECALL_NOTIF),
}
