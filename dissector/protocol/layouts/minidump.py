"""Minidump calls (protocol.md 4.5): Qualcomm downstream only, no handler in the public RM.

Field names are Qualcomm's (``gh_rm_drv_private.h``: ``gh_minidump_*_payload``,
``gh_minidump_register_range_req_hdr``, ``gh_minidump_get_slot_req_payload``). QC packs the
name length and offset into u32 bitfields; the low bytes are declared as their own fields here,
which is the same little-endian layout.
"""

from __future__ import annotations

from dissector.protocol.layout import (
    U8,
    U16,
    U64,
    Bytes,
    Layout,
    Length,
    Pad,
    Struct,
)

GET_INFO_REQ = Struct(
    "MinidumpGetInfoReq",
    (Pad("reserved", 4),),
    doc="QC gh_minidump_get_info_req_payload {u32 reserved}.",
)

SLOT_REPLY = Struct(
    "MinidumpSlotReply",
    (U16("slot_num"), Pad("reserved", 2)),
    doc="QC gh_minidump_get_info_resp_payload / gh_minidump_register_range_resp_payload "
    "{u16 slot_num; u16 reserved}.",
    summary=("slot_num",),
)

REGISTER_RANGE_REQ = Struct(
    "MinidumpRegisterRangeReq",
    (
        U64("base_ipa"),
        U64("region_size"),
        Length("name_size", 1, of="name"),
        U8("name_offset", doc="QC sets 28: counted from the start of the message incl. the header"),
        Pad("reserved", 2),
        Bytes("name", length="name_size", text=True),
    ),
    doc="QC gh_minidump_register_range_req_hdr {u64 base_ipa; u64 region_size; u32 name_size:8, "
    "name_offset:8, reserved:16} (20 bytes), then name[name_size].",
    summary=("base_ipa", "region_size", "name"),
)

DEREGISTER_SLOT_REQ = Struct(
    "MinidumpDeregisterSlotReq",
    (U16("slot_num"), Pad("reserved", 2)),
    doc="QC gh_minidump_deregister_slot_req_payload {u16 slot_num; u16 reserved}.",
    summary=("slot_num",),
)

GET_SLOT_NUMBER_REQ = Struct(
    "MinidumpGetSlotNumberReq",
    (
        Length("name_len", 1, of="name"),
        Pad("reserved1", 3),
        U16("starting_slot"),
        Pad("reserved2", 2),
        Bytes("name", length="name_len", text=True),
    ),
    doc="QC gh_minidump_get_slot_req_payload {u32 name_len:8, reserved1:24; u16 starting_slot; "
    "u16 reserved2}, then name[name_len].",
    summary=("name", "starting_slot"),
)

GET_SLOT_NUMBER_REPLY = Struct(
    "MinidumpGetSlotNumberReply",
    (U16("slot_number"), Pad("reserved", 2)),
    doc="QC gh_minidump_get_slot_resp_payload {u16 slot_number; u16 reserved}.",
    summary=("slot_number",),
)

LAYOUTS: dict[str, Layout] = {
    "VM_MINIDUMP_GET_INFO": Layout(request=GET_INFO_REQ, reply=SLOT_REPLY),
    "VM_MINIDUMP_REGISTER_RANGE": Layout(request=REGISTER_RANGE_REQ, reply=SLOT_REPLY),
    "VM_MINIDUMP_DEREGISTER_SLOT": Layout(request=DEREGISTER_SLOT_REQ),
    "VM_MINIDUMP_GET_SLOT_NUMBER": Layout(request=GET_SLOT_NUMBER_REQ, reply=GET_SLOT_NUMBER_REPLY),
}
