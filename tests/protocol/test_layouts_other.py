"""Known-answer vectors for the VM query, hyp resource, config, minidump, IRQ, services, IPA and
misc families (protocol.md 4.2-4.8, 4.11 and 5).

Every expected message is packed by hand with ``struct.pack`` from protocol.md's tables, never
built by the code under test. Each vector is dissected (exact fields, no malformation, exact
bytes back) and then built again from keyword arguments, which must give the same bytes.
"""

from __future__ import annotations

import struct

import pytest

from dissector.errors import CountOverrun, TrailingData, Truncated
from dissector.layers import (
    RMHeader,
    RMReply,
    RMUnknownPayload,
    dissect,
    fields_of,
    layer_class,
    malformations,
    payload_layer,
)
from dissector.layers.build import entry_class
from dissector.protocol.layout import Array, Bytes, Count, Length, Struct
from dissector.protocol.layouts import LAYOUTS
from dissector.protocol.layouts.query import HYP_RESOURCE_2021
from dissector.protocol.messages import MESSAGES
from dissector.protocol.types import Family

REQUEST, REPLY, NOTIFICATION = 1, 2, 3
SEQ = 0x1234


def header(msg_type: int, msg_id: int, frags: int = 0) -> bytes:
    """protocol.md 1.2: api 0x21, fragments:6 | type:2, le16 seq, le32 msg_id."""
    return struct.pack("<BBHI", 0x21, (frags << 2) | msg_type, SEQ, msg_id)


def req(msg_id: int, payload: bytes = b"") -> bytes:
    return header(REQUEST, msg_id) + payload


def rep(msg_id: int, data: bytes = b"", err: int = 0) -> bytes:
    """protocol.md 1.3: a reply payload starts with the u32 RM error code."""
    return header(REPLY, msg_id) + struct.pack("<I", err) + data


def notif(msg_id: int, payload: bytes) -> bytes:
    return header(NOTIFICATION, msg_id) + payload


# message ids (protocol.md 3.1 / 3.2)
GET_LOG = 0x00000005
SET_BOOT_CONTEXT_V16, GET_ID, LOOKUP_URI, LOOKUP_GUID = 0x5600000C, 0x56000010, 0x56000011, 0x56000012
LOOKUP_NAME, GET_OWNER, GET_STATE, GET_CRASH_MSG = 0x56000013, 0x56000015, 0x56000017, 0x56000019
GET_HYP_RESOURCES, GET_VMID, GET_PEERS = 0x56000020, 0x56000024, 0x56000025
SET_TIME_BASE, SET_BOOT_CONTEXT, SET_FIRMWARE_MEM = 0x56000030, 0x56000031, 0x56000032
SET_DEMAND_PAGING, SET_ADDRESS_LAYOUT, SET_DEBUG = 0x56000033, 0x56000034, 0x56000035
MD_GET_INFO, MD_REGISTER, MD_DEREGISTER, MD_GET_SLOT = 0x56000040, 0x56000041, 0x56000042, 0x56000043
IRQ_ACCEPT, IRQ_LEND, IRQ_RELEASE, IRQ_RECLAIM = 0x56000050, 0x56000051, 0x56000052, 0x56000053
IRQ_NOTIFY, IRQ_UNMAP = 0x56000054, 0x56000055
SET_STATUS, CONSOLE_OPEN, CONSOLE_CLOSE, CONSOLE_WRITE = 0x56000080, 0x56000081, 0x56000082, 0x56000083
CONSOLE_FLUSH, VM_EXIT, SET_CRASH_MSG, HOST_GET_TYPE = 0x56000084, 0x56000085, 0x56000086, 0x560000A0
IPA_RESERVE = 0x560000B0
IRQ_LENT, IRQ_RELEASED, IRQ_ACCEPTED, CONSOLE_CHARS = 0x56100011, 0x56100012, 0x56100013, 0x56100080

GUID = bytes(range(0x10, 0x20))
# 44-byte entry: type, res, partner_vmid, handle, label, cap_id, virq_handle, virq, base, size
HYP_RES = "<BBHIIQIIQQ"
HYP_RES_2021 = "<BBHIIQII"  # 28-byte RM-2021 / HAVEN entry: no base, size
MSGQ_TX = {"type": 2, "partner_vmid": 3, "resource_handle": 0x10, "resource_label": 0,
           "cap_id": 0xD00000001, "virq_handle": 0x20, "virq": 0x3C0}  # fmt: skip
VIRTIO = {"type": 6, "partner_vmid": 3, "resource_handle": 0x11, "resource_label": 7,
          "cap_id": 0x2A, "virq_handle": 0x21, "virq": 0x3C1}  # fmt: skip


def _res(fmt: str, e: dict, *tail: int) -> bytes:
    return struct.pack(fmt, e["type"], 0, e["partner_vmid"], e["resource_handle"], e["resource_label"],
                       e["cap_id"], e["virq_handle"], e["virq"], *tail)  # fmt: skip


def _id_entry(id_type: int, info: bytes) -> bytes:
    """VM_GET_ID entry: u8 id_type; u8 reserved; u16 id_size; data zero-padded to 4."""
    return struct.pack("<BBH", id_type, 0, len(info)) + info + b"\0" * (-len(info) % 4)


# (id, wire bytes, payload class name or None for no payload, fields,
#  keyword-argument overrides for building, or None to build from the fields)
VECTORS = [
    # --- 4.2 VM query -------------------------------------------------------------------------
    ("get_vmid-req", req(GET_VMID), None, {}, None),
    ("get_vmid-req-l-v5", req(GET_VMID, struct.pack("<I", 0)), "VMGetVmidReq", {}, {"_padding": 0}),
    ("get_vmid-rep", rep(GET_VMID, struct.pack("<I", 3)), "VMGetVmidReply", {"vmid": 3}, None),
    # issue 15.1: a u32 (the kernel reads __le32), not u16 + padding
    ("get_vmid-rep-u32", rep(GET_VMID, bytes.fromhex("46000100")), "VMGetVmidReply", {"vmid": 0x10046}, None),
    ("get_owner-req", req(GET_OWNER), None, {}, None),
    ("get_owner-rep", rep(GET_OWNER, struct.pack("<I", 3)), "VMGetOwnerReply", {"owner_vmid": 3}, None),
    ("get_peers-req", req(GET_PEERS), None, {}, None),
    ("get_peers-rep", rep(GET_PEERS, struct.pack("<III", 2, 3, 0x80)), "VMGetPeersReply",
     {"n_entries": 2, "entries": [{"vmid": 3}, {"vmid": 0x80}]}, None),
    ("get_state-req", req(GET_STATE, struct.pack("<HH", 0x80, 0)), "VMCommonVmidReq", {"vmid": 0x80}, None),
    ("get_state-rep", rep(GET_STATE, struct.pack("<BBH", 3, 4, 1)), "VMGetStateReply",
     {"vm_status": 3, "os_status": 4, "app_status": 1}, None),
    ("get_id-req-self", req(GET_ID, struct.pack("<HH", 0, 0)), "VMCommonVmidReq", {"vmid": 0}, None),
    ("get_id-rep",
     rep(GET_ID, struct.pack("<I", 4) + _id_entry(0, GUID) + _id_entry(2, b"svm")
         + _id_entry(1, b"file:/x") + _id_entry(3, b"")),
     "VMGetIdReply",
     {"n_entries": 4, "entries": [
         {"id_type": 0, "id_size": 16, "id_info": GUID.hex()},
         {"id_type": 2, "id_size": 3, "id_info": b"svm".hex()},
         {"id_type": 1, "id_size": 7, "id_info": b"file:/x".hex()},
         {"id_type": 3, "id_size": 0, "id_info": ""},
     ]}, None),
    ("lookup_uri-req", req(LOOKUP_URI, struct.pack("<HH", 11, 0) + b"qcom://vm/1" + b"\0"),
     "VMLookupCharReq", {"size": 11, "data": "71636f6d3a2f2f766d2f31", "data_text": "qcom://vm/1"}, None),
    ("lookup_uri-rep", rep(LOOKUP_URI, struct.pack("<IHH", 1, 0x80, 0)), "VMLookupReply",
     {"n_entries": 1, "entries": [{"vmid": 0x80}]}, None),
    ("lookup_name-req", req(LOOKUP_NAME, struct.pack("<HH", 5, 0) + b"oemvm" + b"\0" * 3),
     "VMLookupCharReq", {"size": 5, "data": "6f656d766d", "data_text": "oemvm"}, None),
    ("lookup_name-req-aligned", req(LOOKUP_NAME, struct.pack("<HH", 4, 0) + b"tuvm"),
     "VMLookupCharReq", {"size": 4, "data": "7475766d", "data_text": "tuvm"}, None),
    ("lookup_name-rep", rep(LOOKUP_NAME, struct.pack("<IHHHH", 2, 0x2D, 0, 0x80, 0)), "VMLookupReply",
     {"n_entries": 2, "entries": [{"vmid": 0x2D}, {"vmid": 0x80}]}, None),
    ("lookup_guid-req", req(LOOKUP_GUID, GUID), "VMLookupGuidReq", {"guid": GUID.hex()}, None),
    ("lookup_guid-rep-none", rep(LOOKUP_GUID, struct.pack("<I", 0)), "VMLookupReply",
     {"n_entries": 0, "entries": []}, None),
    # --- 4.3 VM_GET_HYP_RESOURCES ------------------------------------------------------------------
    ("hyp_res-req", req(GET_HYP_RESOURCES, struct.pack("<HH", 0x80, 0)), "VMCommonVmidReq",
     {"vmid": 0x80}, None),
    ("hyp_res-rep-44",
     rep(GET_HYP_RESOURCES, struct.pack("<I", 2) + _res(HYP_RES, MSGQ_TX, 0, 0)
         + _res(HYP_RES, VIRTIO, 0x1C000000, 0x1000)),
     "VMGetHypResourcesReply",
     {"n_entries": 2, "entries": [{**MSGQ_TX, "base": 0, "size": 0},
                                  {**VIRTIO, "base": 0x1C000000, "size": 0x1000}]}, None),
    ("hyp_res-rep-28-rm2021",
     rep(GET_HYP_RESOURCES, struct.pack("<I", 2) + _res(HYP_RES_2021, MSGQ_TX) + _res(HYP_RES_2021, VIRTIO)),
     "VMGetHypResourcesReply", {"n_entries": 2, "entries": [MSGQ_TX, VIRTIO]}, "2021"),
    ("hyp_res-rep-empty", rep(GET_HYP_RESOURCES, struct.pack("<I", 0)), "VMGetHypResourcesReply",
     {"n_entries": 0, "entries": []}, None),
    # --- 4.4 VM configuration ----------------------------------------------------------------------
    ("set_time_base-req",
     req(SET_TIME_BASE, struct.pack("<HBBQQ", 0x80, 0, 0, 1_700_000_000_123_456_789, 0x1234567890)),
     "VMSetTimeBaseReq",
     {"vmid": 0x80, "time_base": 1_700_000_000_123_456_789, "arch_timer_ref": 0x1234567890}, None),
    ("set_time_base-rep-ok", rep(SET_TIME_BASE), None, {}, None),
    ("set_time_base-rep-hyp_error", rep(SET_TIME_BASE, struct.pack("<I", 1), err=6), "HypErrorReply",
     {"hyp_error": 1}, None),
    ("set_time_base-rep-err-only", rep(SET_TIME_BASE, err=0x14), None, {}, None),
    ("set_firmware_mem-req", req(SET_FIRMWARE_MEM, struct.pack("<HHIQQ", 0x80, 0, 0x42, 0, 0x200000)),
     "VMSetFirmwareMemReq", {"vmid": 0x80, "mem_handle": 0x42, "fw_offset": 0, "fw_size": 0x200000}, None),
    ("set_firmware_mem-rep-ok", rep(SET_FIRMWARE_MEM), None, {}, None),
    ("set_firmware_mem-rep-hyp_error", rep(SET_FIRMWARE_MEM, struct.pack("<I", 1), err=4), "HypErrorReply",
     {"hyp_error": 1}, None),
    ("set_boot_context-v16-pc", req(SET_BOOT_CONTEXT_V16, struct.pack("<HBBIQ", 0x80, 1, 0, 0, 0x80000000)),
     "VMSetBootContextReq", {"vmid": 0x80, "reg_set": 1, "reg_index": 0, "value": 0x80000000}, None),
    ("set_boot_context-v17-x0", req(SET_BOOT_CONTEXT, struct.pack("<HBBIQ", 0x80, 0, 0, 0, 0x80200000)),
     "VMSetBootContextReq", {"vmid": 0x80, "reg_set": 0, "reg_index": 0, "value": 0x80200000}, None),
    ("set_boot_context-v17-sp", req(SET_BOOT_CONTEXT, struct.pack("<HBBIQ", 0x81, 2, 0, 0, 0x8FFF0000)),
     "VMSetBootContextReq", {"vmid": 0x81, "reg_set": 2, "reg_index": 0, "value": 0x8FFF0000}, None),
    ("set_demand_paging-req",
     req(SET_DEMAND_PAGING, struct.pack("<HHI", 0x80, 0, 2) + struct.pack("<QQQQ", 0x80000000, 0x100000,
                                                                          0x90000000, 0x200000)),
     "VMSetDemandPagingReq",
     {"vmid": 0x80, "range_count": 2, "ranges": [{"base": 0x80000000, "size": 0x100000},
                                                 {"base": 0x90000000, "size": 0x200000}]}, None),
    ("set_address_layout-req",
     req(SET_ADDRESS_LAYOUT, struct.pack("<HHIQQ", 0x80, 0, 1, 0x7F000000, 0x400000)),
     "VMSetAddressLayoutReq", {"vmid": 0x80, "range_id": 1, "range_base": 0x7F000000, "range_size": 0x400000},
     None),
    ("set_debug-req", req(SET_DEBUG, struct.pack("<HBB", 0x80, 0, 1)), "VMSetDebugReq",
     {"vmid": 0x80, "debug_enabled": 1}, None),
    # --- 4.5 minidump ------------------------------------------------------------------------------
    ("md_get_info-req", req(MD_GET_INFO, struct.pack("<I", 0)), "MinidumpGetInfoReq", {}, None),
    ("md_get_info-rep", rep(MD_GET_INFO, struct.pack("<HH", 12, 0)),
     "MinidumpSlotReply", {"slot_num": 12}, None),
    ("md_register-req", req(MD_REGISTER, struct.pack("<QQBBH", 0xA0000000, 0x4000, 8, 28, 0) + b"kmsg_log"),
     "MinidumpRegisterRangeReq",
     {"base_ipa": 0xA0000000, "region_size": 0x4000, "name_size": 8, "name_offset": 28,
      "name": "6b6d73675f6c6f67", "name_text": "kmsg_log"},
     None),
    ("md_register-rep", rep(MD_REGISTER, struct.pack("<HH", 3, 0)),
     "MinidumpSlotReply", {"slot_num": 3}, None),
    ("md_deregister-req", req(MD_DEREGISTER, struct.pack("<HH", 3, 0)), "MinidumpDeregisterSlotReq",
     {"slot_num": 3}, None),
    ("md_deregister-rep", rep(MD_DEREGISTER), None, {}, None),
    ("md_get_slot-req", req(MD_GET_SLOT, struct.pack("<IHH", 8, 1, 0) + b"kmsg_log"),
     "MinidumpGetSlotNumberReq",
     {"name_len": 8, "starting_slot": 1, "name": "6b6d73675f6c6f67", "name_text": "kmsg_log"}, None),
    ("md_get_slot-rep", rep(MD_GET_SLOT, struct.pack("<HH", 5, 0)), "MinidumpGetSlotNumberReply",
     {"slot_number": 5}, None),
    # --- 4.6 IRQ lending ---------------------------------------------------------------------------
    ("irq_lend-req", req(IRQ_LEND, struct.pack("<HHII", 0x80, 0, 42, 0x1001)), "VMIrqLendReq",
     {"borrower_vmid": 0x80, "virq": 42, "label": 0x1001}, None),
    ("irq_lend-rep", rep(IRQ_LEND, struct.pack("<I", 7)), "VMIrqHandle", {"virq_handle": 7}, None),
    ("irq_accept-req-any", req(IRQ_ACCEPT, struct.pack("<II", 7, 0xFFFFFFFF)), "VMIrqAcceptReq",
     {"virq_handle": 7, "virq": 0xFFFFFFFF}, None),
    ("irq_accept-rep", rep(IRQ_ACCEPT, struct.pack("<I", 42)), "VMIrqAcceptReply", {"virq": 42}, None),
    ("irq_release-req", req(IRQ_RELEASE, struct.pack("<I", 7)), "VMIrqHandle", {"virq_handle": 7}, None),
    ("irq_release-rep", rep(IRQ_RELEASE), None, {}, None),
    ("irq_reclaim-req", req(IRQ_RECLAIM, struct.pack("<I", 7)), "VMIrqHandle", {"virq_handle": 7}, None),
    ("irq_notify-req-lent",
     req(IRQ_NOTIFY, struct.pack("<IIHH", 7, 1, 1, 0) + struct.pack("<HH", 0x80, 0)), "VMIrqNotifyReq",
     {"virq_handle": 7, "flags": 1, "num_vmids": 1, "vmids": [{"vmid": 0x80}]}, None),
    ("irq_notify-req-lent-no-list", req(IRQ_NOTIFY, struct.pack("<II", 7, 1)), "VMIrqNotifyReq",
     {"virq_handle": 7, "flags": 1}, None),
    ("irq_notify-req-lent-empty-list", req(IRQ_NOTIFY, struct.pack("<IIHH", 7, 1, 0, 0)), "VMIrqNotifyReq",
     {"virq_handle": 7, "flags": 1, "num_vmids": 0, "vmids": []},
     {"virq_handle": 7, "flags": 1, "vmids": []}),
    ("irq_notify-req-released", req(IRQ_NOTIFY, struct.pack("<II", 7, 2)), "VMIrqNotifyReq",
     {"virq_handle": 7, "flags": 2}, None),
    ("irq_notify-req-accepted", req(IRQ_NOTIFY, struct.pack("<II", 7, 4)), "VMIrqNotifyReq",
     {"virq_handle": 7, "flags": 4}, None),
    ("irq_unmap-req", req(IRQ_UNMAP, struct.pack("<QII", 2, 42, 43)), "VMIrqUnmapReq",
     {"virq_entry_cnt": 2, "virq_nums": [{"virq": 42}, {"virq": 43}]}, None),
    ("irq_unmap-rep-unimplemented", rep(IRQ_UNMAP, err=0xFFFFFFFF), None, {}, None),
    ("irq_lent-notif", notif(IRQ_LENT, struct.pack("<HHII", 3, 0, 7, 0x1001)), "VMIrqLentNotif",
     {"owner_vmid": 3, "virq_handle": 7, "virq_label": 0x1001}, None),
    # issue 15.2: early HAVEN's packed 10-byte form, picked by the exact length (BySize)
    ("irq_lent-notif-10-packed", notif(IRQ_LENT, bytes.fromhex("0300" "07000000" "01100000")),
     "VMIrqLentNotifPacked", {"owner_vmid": 3, "virq_handle": 7, "virq_label": 0x1001}, None),
    ("irq_released-notif", notif(IRQ_RELEASED, struct.pack("<I", 7)),
     "VMIrqHandle", {"virq_handle": 7}, None),
    ("irq_accepted-notif", notif(IRQ_ACCEPTED, struct.pack("<I", 7)),
     "VMIrqHandle", {"virq_handle": 7}, None),
    # --- 4.7 VM services ---------------------------------------------------------------------------
    ("set_status-req", req(SET_STATUS, struct.pack("<BBH", 0, 4, 1)), "VMSetStatusReq",
     {"vm_status": 0, "os_status": 4, "app_status": 1}, None),
    ("console_open-req", req(CONSOLE_OPEN, struct.pack("<HH", 0x80, 0)),
     "VMCommonVmidReq", {"vmid": 0x80}, None),
    ("console_close-req", req(CONSOLE_CLOSE, struct.pack("<HH", 0x80, 0)), "VMCommonVmidReq",
     {"vmid": 0x80}, None),
    ("console_flush-req-self", req(CONSOLE_FLUSH, struct.pack("<HH", 0, 0)),
     "VMCommonVmidReq", {"vmid": 0}, None),
    ("console_write-req", req(CONSOLE_WRITE, struct.pack("<HH", 0x80, 6) + b"hello\n"), "VMConsoleWriteReq",
     {"vmid": 0x80, "num_bytes": 6, "data": "68656c6c6f0a", "data_text": "hello\\n"}, None),
    ("console_write-req-228", req(CONSOLE_WRITE, struct.pack("<HH", 0, 228) + b"x" * 228),
     "VMConsoleWriteReq",
     {"vmid": 0, "num_bytes": 228, "data": "78" * 228, "data_text": "x" * 228}, None),
    ("vm_exit-req", req(VM_EXIT, struct.pack("<HBB", 1, 1, 0)),
     "VMExitReq", {"exit_flags": 1, "exit_code": 1},
     None),
    ("set_crash_msg-req", req(SET_CRASH_MSG, struct.pack("<HH", 5, 0) + b"panic\0\0\0"), "VMSetCrashMsgReq",
     {"msg_len": 5, "msg": "70616e6963", "msg_text": "panic"}, None),
    ("get_crash_msg-req", req(GET_CRASH_MSG, struct.pack("<HH", 0x80, 0)), "VMCommonVmidReq",
     {"vmid": 0x80}, None),
    ("get_crash_msg-rep", rep(GET_CRASH_MSG, struct.pack("<HH", 5, 0) + b"panic\0\0\0"), "VMGetCrashMsgReply",
     {"msg_len": 5, "msg": "70616e6963", "msg_text": "panic"}, None),
    ("host_get_type-req", req(HOST_GET_TYPE), None, {}, None),
    ("host_get_type-rep", rep(HOST_GET_TYPE, struct.pack("<BBBB", 0x64, 0x01, 0, 0x01)), "VMHostGetTypeReply",
     {"host_arch": 0x64, "host_type": 1, "version": 1}, None),
    ("console_chars-notif", notif(CONSOLE_CHARS, struct.pack("<HH", 0x80, 3) + b"ok\n"),
     "VMConsoleCharsNotif",
     {"vmid": 0x80, "num_bytes": 3, "bytes": "6f6b0a", "bytes_text": "ok\\n"}, None),
    # --- 4.8 IPA_RESERVE ---------------------------------------------------------------------------
    ("ipa_reserve-req-fixed",
     req(IPA_RESERVE, struct.pack("<BBHIIHH", 0, 0, 0, 0x4, 0, 2, 0)
         + struct.pack("<QQQQ", 0x100000000, 0x10000, 0x200000000, 0x20000)),
     "IpaReserveReq",
     {"alloc_type": 0, "generic_constraints": 4, "platform_constraints": 0, "n_entries": 2,
      "entries": [{"base": 0x100000000, "size": 0x10000}, {"base": 0x200000000, "size": 0x20000}]}, None),
    ("ipa_reserve-rep-fixed", rep(IPA_RESERVE), None, {}, None),
    # QC writes the count as u32 nr_ranges = 1: the same bytes as u16 1; u16 0
    ("ipa_reserve-req-alloc",
     req(IPA_RESERVE, struct.pack("<BBHIII", 1, 0, 0, 0x44, 0x1, 1)
         + struct.pack("<QQQQ", 0, 1 << 39, 0x200000, 0x200000)),
     "IpaReserveReq",
     {"alloc_type": 1, "generic_constraints": 0x44, "platform_constraints": 1, "n_entries": 1,
      "entries": [{"region_base": 0, "region_size": 1 << 39, "size": 0x200000, "alignment": 0x200000}]},
     "alloc"),
    ("ipa_reserve-rep-alloc", rep(IPA_RESERVE, struct.pack("<IQ", 1, 0x40000000)), "IpaReserveReply",
     {"n_entries": 1, "entries": [{"ipa": 0x40000000}]}, None),
    # --- 4.11 misc ---------------------------------------------------------------------------------
    ("get_log-req", req(GET_LOG, struct.pack("<HH", 1, 0)), "GetLogReq", {"log_id": 1}, None),
    ("get_log-rep", rep(GET_LOG, struct.pack("<QQ", 0x80000000, 0x4000)), "GetLogReply",
     {"addr": 0x80000000, "size": 0x4000}, None),
]  # fmt: skip

# Which entry layout to build a list with when it is not the default one (version variants).
_ENTRY_OVERRIDES = {
    "2021": {"entries": HYP_RESOURCE_2021},
    "alloc": {"entries": LAYOUTS["IPA_RESERVE"].request.field("entries").alternatives[0]},
}


def _kwargs(layout: Struct, fields: dict, entries: dict[str, Struct] | None = None) -> dict:
    """Keyword arguments from exported fields: counts and lengths left for the builder to fill."""
    out: dict = {}
    for name, value in fields.items():
        if name.endswith("_text") and name[:-5] in fields:
            continue  # the printable rendering beside a byte array
        spec = layout.field(name)
        if isinstance(spec, Count | Length):
            continue
        if isinstance(spec, Array):
            entry = (entries or {}).get(name, spec.entry)
            out[name] = [entry_class(entry)(**_kwargs(entry, item)) for item in value]
        elif isinstance(spec, Bytes):
            out[name] = bytes.fromhex(value)
        else:
            out[name] = value
    return out


def _role(pkt: RMHeader) -> str:
    if pkt.msg_type == REPLY:
        return "error_reply" if pkt[RMReply].err_code else "reply"
    return "request" if pkt.msg_type == REQUEST else "notification"


def _build(pkt: RMHeader, build: dict | str | None, fields: dict) -> bytes:
    """The same message from keyword arguments; a message without payload bytes is the header only."""
    top = RMHeader(msg_type=pkt.msg_type, seq=pkt.seq, msg_id=pkt.msg_id)
    if pkt.msg_type == REPLY:
        top = top / RMReply(err_code=pkt[RMReply].err_code)
    if payload_layer(pkt) is None:
        return bytes(top)
    cls = layer_class(pkt.msg_id, _role(pkt))
    if cls.layout is not None and cls.layout.by_size is not None:
        cls = type(payload_layer(pkt))  # the case the payload's length picked
    if isinstance(build, dict):
        kwargs = build
    else:
        kwargs = _kwargs(cls.layout, fields, _ENTRY_OVERRIDES.get(build or ""))
    return bytes(top / cls(**kwargs))


@pytest.mark.parametrize(
    ("data", "cls_name", "fields", "build"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_known_answer(data, cls_name, fields, build):
    pkt = dissect(data)
    assert malformations(pkt) == []
    layer = payload_layer(pkt)
    assert (type(layer).__name__ if layer is not None else None) == cls_name
    assert fields_of(layer) == fields
    assert bytes(pkt) == data
    assert _build(pkt, build, fields) == data


def test_optional_list_is_left_out_when_not_given():
    """An Optional group holding a list is not built unless given (Scapy pre-fills lists with [])."""
    cls = layer_class("VM_IRQ_NOTIFY", "request")
    assert bytes(cls(virq_handle=7, flags=2)) == struct.pack("<II", 7, 2)


def test_hyp_resource_entry_size_follows_the_reply_length():
    """The same two resources in 44- and 28-byte entries decode to the same head fields."""
    new = dissect(VECTORS[[v[0] for v in VECTORS].index("hyp_res-rep-44")][1])
    old = dissect(VECTORS[[v[0] for v in VECTORS].index("hyp_res-rep-28-rm2021")][1])
    new_entries, old_entries = payload_layer(new).entries, payload_layer(old).entries
    assert [type(e).__name__ for e in new_entries] == ["HypResource"] * 2
    assert [type(e).__name__ for e in old_entries] == ["HypResource2021"] * 2
    for a, b in zip(
        fields_of(payload_layer(new))["entries"], fields_of(payload_layer(old))["entries"], strict=True
    ):
        assert {k: v for k, v in a.items() if k not in ("base", "size")} == b


@pytest.mark.parametrize(
    ("data", "summary"),
    [
        (req(IRQ_LEND, struct.pack("<HHII", 0x80, 0, 42, 0x1001)),
         "Request VM_IRQ_LEND seq=4660 borrower_vmid=0x80 virq=42 label=0x1001"),
        (req(IRQ_NOTIFY, struct.pack("<II", 7, 1)),
         "Request VM_IRQ_NOTIFY seq=4660 virq_handle=0x7 flags=LENT"),
        (rep(SET_TIME_BASE, struct.pack("<I", 1), err=6),
         "Reply VM_SET_TIME_BASE seq=4660 err=ARGUMENT_INVALID hyp_error=ARGUMENT_INVALID"),
        (req(SET_BOOT_CONTEXT, struct.pack("<HBBIQ", 0x80, 1, 0, 0, 0x80000000)),
         "Request VM_SET_CONTEXT seq=4660 vmid=0x80 reg_set=PC reg_index=0 value=0x80000000"),
        (rep(HOST_GET_TYPE, struct.pack("<BBBB", 0x64, 0x01, 0, 0x01)),
         "Reply VM_HOST_GET_TYPE seq=4660 err=OK host_arch=AARCH64 host_type=GUNYAH_RM version=1"),
    ],
)  # fmt: skip
def test_summary_line_names_enums(data, summary):
    assert dissect(data).summary() == summary


# --- malformed messages: reported with the measured numbers, never raised, bytes kept ----------
_ONE_RES = _res(HYP_RES, MSGQ_TX, 0, 0)
MALFORMED = [
    ("hyp_res-count", rep(GET_HYP_RESOURCES, struct.pack("<I", 60000) + _ONE_RES), "count",
     ("n_entries=60000", "44 left")),
    ("hyp_res-fits-no-entry-size", rep(GET_HYP_RESOURCES, struct.pack("<I", 1) + _ONE_RES[:30]), "count",
     ("n_entries=1", "needs 44 bytes", "30 left")),
    ("get_peers-count", rep(GET_PEERS, struct.pack("<II", 60000, 3)), "count", ("n_entries=60000", "4 left")),
    ("get_id-count", rep(GET_ID, struct.pack("<I", 60000) + _id_entry(0, GUID)), "count",
     ("n_entries=60000", "only 1")),
    ("get_id-id_size", rep(GET_ID, struct.pack("<IBBH", 1, 0, 0, 200) + GUID[:4]), "count",
     ("id_size=200", "4 byte(s) left")),
    ("lookup_uri-size", req(LOOKUP_URI, struct.pack("<HH", 60000, 0) + b"abcd"), "count",
     ("size=60000", "4 byte(s) left")),
    ("demand_paging-count", req(SET_DEMAND_PAGING, struct.pack("<HHIQQ", 0x80, 0, 60000, 0x80000000, 0x1000)),
     "count", ("range_count=60000", "16 left")),
    ("md_register-name_size", req(MD_REGISTER, struct.pack("<QQBBH", 0, 0x1000, 200, 28, 0) + b"kmsg"),
     "count",
     ("name_size=200", "4 byte(s) left")),
    ("irq_notify-count", req(IRQ_NOTIFY, struct.pack("<IIHHHH", 7, 1, 60000, 0, 0x80, 0)), "count",
     ("num_vmids=60000", "4 left")),
    ("irq_unmap-count", req(IRQ_UNMAP, struct.pack("<QI", 1 << 40, 42)),
     "count", (f"virq_entry_cnt={1 << 40}",)),
    ("console_write-count", req(CONSOLE_WRITE, struct.pack("<HH", 0x80, 60000) + b"hi\n"), "count",
     ("num_bytes=60000", "3 byte(s) left")),
    ("console_chars-count", notif(CONSOLE_CHARS, struct.pack("<HH", 0x80, 60000) + b"hi"), "count",
     ("num_bytes=60000", "2 byte(s) left")),
    ("ipa_reserve-count", req(IPA_RESERVE, struct.pack("<BBHIIHH", 1, 0, 0, 4, 0, 60000, 0) + bytes(32)),
     "count",
     ("n_entries=60000", "32 left")),
    ("set_time_base-truncated", req(SET_TIME_BASE, struct.pack("<HBBIH", 0x80, 0, 0, 5, 0)), "truncated",
     ("time_base", "needs 8", "6 left")),
    ("irq_lend-truncated", req(IRQ_LEND, struct.pack("<HH", 0x80, 0)),
     "truncated", ("virq", "needs 4", "0 left")),
    ("get_state-rep-truncated", rep(GET_STATE, struct.pack("<BB", 3, 4)),
     "truncated", ("app_status", "needs 2")),
    # L-v5 expected a 2-byte VM_GET_VMID reply: RM sends a u32, so 2 bytes are too few
    ("get_vmid-rep-2-bytes", rep(GET_VMID, struct.pack("<H", 3)), "truncated", ("vmid", "needs 4", "2 left")),
    # VM_IRQ_LENT is 12 or 10 (early HAVEN, packed) bytes: 11 fits neither, read as the 12-byte one
    ("irq_lent-11-bytes", notif(IRQ_LENT, struct.pack("<HHIH", 3, 0, 7, 0x1001) + b"\x00"), "truncated",
     ("virq_label", "needs 4", "3 left")),
    ("set_debug-empty", req(SET_DEBUG), "truncated", ("VM_SET_DEBUG request", "needs 4")),
    ("get_owner-req-trailing", req(GET_OWNER, struct.pack("<I", 0)), "trailing", ("4 byte(s)",)),
    ("address_layout-trailing", req(SET_ADDRESS_LAYOUT, struct.pack("<HHIQQI", 0x80, 0, 0, 0, 0x1000, 9)),
     "trailing", ("4 byte(s)",)),
]  # fmt: skip


@pytest.mark.parametrize(("data", "kind", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_is_reported_with_numbers(data, kind, words):
    pkt = dissect(data)  # must not raise
    problems = malformations(pkt)
    assert problems, "a malformed message was accepted"
    assert problems[0].kind == kind
    for word in words:
        assert word in problems[0].text, (word, problems[0].text)
    assert bytes(pkt) == data


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (MALFORMED[0][1], CountOverrun),
        (req(IRQ_LEND, struct.pack("<HH", 0x80, 0)), Truncated),
        (req(GET_OWNER, struct.pack("<I", 0)), TrailingData),
    ],
)
def test_strict_mode_raises_the_typed_error(data, error):
    with pytest.raises(error):
        dissect(data, strict=True)


# --- ids without a known layout: raw bytes, kept and marked as unknown -------------------------
UNKNOWN = [
    "GET_IDENT",
    "GET_FEATURES",
    "GET_LOG_ADDRESS",
    "VM_GET_HYP_CAPIDS",
    "VM_GET_HYP_IRQS",
    "IPA_UNRESERVE",
]
_ID_OF = {m.name: m.msg_id for m in MESSAGES}


@pytest.mark.parametrize("name", UNKNOWN)
def test_unknown_layouts_decode_as_raw(name):
    msg_id = _ID_OF[name]
    assert not LAYOUTS[name].known and LAYOUTS[name].note
    for data, role in (
        (req(msg_id, b"\x01\x02\x03\x04"), "request"),
        (rep(msg_id, b"\x01\x02\x03\x04"), "reply"),
    ):
        pkt = dissect(data)
        assert isinstance(payload_layer(pkt), RMUnknownPayload)
        assert fields_of(payload_layer(pkt)) == {"data": "01020304"}
        assert malformations(pkt) == []
        assert bytes(pkt) == data
        with pytest.raises(KeyError):
            layer_class(name, role)


_FAMILIES = {
    Family.VM_QUERY,
    Family.CONFIG,
    Family.MINIDUMP,
    Family.IRQ,
    Family.SERVICES,
    Family.IPA,
    Family.MISC,
}


def test_every_message_of_these_families_has_a_layout_and_a_vector():
    ours = {m.name: m.msg_id for m in MESSAGES if m.family in _FAMILIES}
    assert set(ours) <= set(LAYOUTS)
    covered = {dissect(v[1]).msg_id for v in VECTORS} | {_ID_OF[name] for name in UNKNOWN}
    assert {name for name, msg_id in ours.items() if msg_id not in covered} == set()
    # VM_SET_TIME_BASE and VM_SET_FIRMWARE_MEM append a hypervisor error after a failure
    assert {name for name in ours if LAYOUTS[name].error_reply is not None} == {
        "VM_SET_TIME_BASE",
        "VM_SET_FIRMWARE_MEM",
    }
