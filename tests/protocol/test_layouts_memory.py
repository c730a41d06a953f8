"""Known-answer vectors for the memory parcel and firmware layouts (protocol.md 4.9, 4.10, 5, 6.8).

Every expected message is packed by hand with ``struct`` from the protocol.md tables, then
dissected (exact fields, no malformation, exact rebuild) and built again from keyword arguments.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from scapy.packet import Packet

from dissector.errors import CountOverrun, TrailingData, Truncated
from dissector.layers import RMHeader, RMReply, dissect, fields_of, layer_class, malformations, payload_layer
from dissector.layers.build import entry_class
from dissector.protocol.layouts.memory import ACL_ENTRY, ATTR_ENTRY, SGL_ENTRY, SHARED_SGL_ENTRY, VMID_ENTRY

REQUEST, REPLY, NOTIFICATION = 1, 2, 3
MEM_DONATE, MEM_ACCEPT, MEM_LEND, MEM_SHARE = 0x51000010, 0x51000011, 0x51000012, 0x51000013
MEM_RELEASE, MEM_RECLAIM, MEM_NOTIFY, MEM_APPEND = 0x51000014, 0x51000015, 0x51000017, 0x51000018
MEM_QCOM_LOOKUP_SGL, FW_MILESTONE, FW_SET_VM_FIRMWARE = 0x5100001A, 0x51000020, 0x51000021
MEM_SHARED, MEM_RELEASED, MEM_ACCEPTED, MEM_RECALL = 0x51100011, 0x51100012, 0x51100013, 0x51100014

ACL, SGL, ATTR = entry_class(ACL_ENTRY), entry_class(SGL_ENTRY), entry_class(ATTR_ENTRY)
VMID, SIZE = entry_class(VMID_ENTRY), entry_class(SHARED_SGL_ENTRY)


# --- wire bytes, by hand ----------------------------------------------------------------------------
def header(msg_type: int, seq: int, msg_id: int, frags: int = 0) -> bytes:
    return struct.pack("<BBHI", 0x21, (frags << 2) | msg_type, seq, msg_id)


def request(msg_id: int, payload: bytes, seq: int = 1, frags: int = 0) -> bytes:
    return header(REQUEST, seq, msg_id, frags) + payload


def reply(msg_id: int, data: bytes = b"", err: int = 0, seq: int = 1) -> bytes:
    return header(REPLY, seq, msg_id) + struct.pack("<I", err) + data


def notification(msg_id: int, payload: bytes, seq: int = 1) -> bytes:
    return header(NOTIFICATION, seq, msg_id) + payload


def rm_list(fmt: str, entries: list[tuple[int, ...]], reserved: int = 0) -> bytes:
    """RM list: ``u16 count; u16 reserved`` then ``count`` entries packed with ``fmt``."""
    return struct.pack("<HH", len(entries), reserved) + b"".join(struct.pack(fmt, *e) for e in entries)


def acl(*entries: tuple[int, int]) -> bytes:  # {u16 vmid; u8 rights; u8 reserved}
    return rm_list("<HBx", list(entries))


def sgl(*entries: tuple[int, int], map_vmid: int = 0) -> bytes:  # {u64 ipa_base; u64 size}
    return rm_list("<QQ", list(entries), reserved=map_vmid)


def attrs(*entries: tuple[int, int]) -> bytes:  # {u16 attr; u16 vmid}
    return rm_list("<HH", list(entries))


def share_header(mem_type: int, flags: int, label: int) -> bytes:
    """``u8 mem_type; u8 res; u8 flags; u8 res; u32 label``"""
    return struct.pack("<BxBxI", mem_type, flags, label)


# --- the same messages, from keyword arguments -------------------------------------------------------
def build(
    msg_id: int, role: str, seq: int = 1, err: int | None = None, frags: int = 0, **fields: Any
) -> Packet:
    msg_type = {"request": REQUEST, "reply": REPLY, "notification": NOTIFICATION}[role]
    pkt = RMHeader(msg_type=msg_type, seq=seq, msg_id=msg_id, fragments=frags)
    if role == "reply":
        pkt = pkt / RMReply(err_code=err or 0)
        if not fields:
            return pkt  # a standard reply: the error code only
    layer = layer_class(msg_id, role)(**fields)
    # Work around a layer-building bug: Scapy pre-fills list fields with [], which marks an
    # Optional group holding a list as present even when no field of it was given. Leave out the
    # groups the caller did not name (a no-op once RMStruct stops pre-filling them).
    for name in layer.optional_groups:
        if name not in fields:
            layer.fields.pop(name, None)
    return pkt / layer


LEND_SGL = [(0x8000_0000 + 0x1000 * i, 0x1000) for i in range(20)]

# (wire bytes, expected fields_of(payload), the same message built from keyword arguments)
VECTORS = [
    pytest.param(
        request(MEM_DONATE, share_header(0, 0, 0x10) + acl((0x80, 7)) + sgl((0x8000_0000, 0x4000)) + attrs()),
        {
            "mem_type": 0,
            "flags": 0,
            "label": 0x10,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 7}],
            "n_sgl_entries": 1,
            "sgl": [{"ipa_base": 0x8000_0000, "size": 0x4000}],
            "n_mem_attr_entries": 0,
            "attrs": [],
        },
        lambda: build(
            MEM_DONATE,
            "request",
            label=0x10,
            acl=[ACL(vmid=0x80, perms=7)],
            sgl=[SGL(ipa_base=0x8000_0000, size=0x4000)],
            attrs=[],
        ),
        id="MEM_DONATE-request",
    ),
    pytest.param(
        reply(MEM_DONATE, struct.pack("<I", 0x1234)),
        {"mem_handle": 0x1234},
        lambda: build(MEM_DONATE, "reply", mem_handle=0x1234),
        id="MEM_DONATE-reply",
    ),
    pytest.param(
        # Linux: u32 ACL count, attr section sent with count 0
        request(
            MEM_LEND,
            share_header(0, 1, 0)
            + struct.pack("<I", 2)
            + struct.pack("<HBxHBx", 3, 6, 0x80, 7)
            + sgl((0x9000_0000, 0x20_0000))
            + struct.pack("<HH", 0, 0),
            seq=2,
        ),
        {
            "mem_type": 0,
            "flags": 1,
            "label": 0,
            "n_acl_entries": 2,
            "acl": [{"vmid": 3, "perms": 6}, {"vmid": 0x80, "perms": 7}],
            "n_sgl_entries": 1,
            "sgl": [{"ipa_base": 0x9000_0000, "size": 0x20_0000}],
            "n_mem_attr_entries": 0,
            "attrs": [],
        },
        lambda: build(
            MEM_LEND,
            "request",
            seq=2,
            flags=1,
            acl=[ACL(vmid=3, perms=6), ACL(vmid=0x80, perms=7)],
            sgl=[SGL(ipa_base=0x9000_0000, size=0x20_0000)],
            n_mem_attr_entries=0,
        ),
        id="MEM_LEND-request-linux-u32-acl-count",
    ),
    pytest.param(
        # attr list omitted: the buffer ends where its header would start (RM list rule)
        request(MEM_LEND, share_header(1, 0, 7) + acl((0x80, 6)) + sgl((0x1000, 0x1000), (0x3000, 0x2000))),
        {
            "mem_type": 1,
            "flags": 0,
            "label": 7,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 6}],
            "n_sgl_entries": 2,
            "sgl": [{"ipa_base": 0x1000, "size": 0x1000}, {"ipa_base": 0x3000, "size": 0x2000}],
        },
        lambda: build(
            MEM_LEND,
            "request",
            mem_type=1,
            label=7,
            acl=[ACL(vmid=0x80, perms=6)],
            sgl=[SGL(ipa_base=0x1000, size=0x1000), SGL(ipa_base=0x3000, size=0x2000)],
        ),
        id="MEM_LEND-request-no-attr-list",
    ),
    pytest.param(
        # 4 + 8 + 4 + 20 * 16 + 4 = 352 payload bytes: a reassembled two-fragment request
        request(
            MEM_LEND,
            share_header(0, 2, 1) + acl((0x80, 6)) + sgl(*LEND_SGL) + attrs(),
            seq=9,
            frags=1,
        ),
        {
            "mem_type": 0,
            "flags": 2,
            "label": 1,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 6}],
            "n_sgl_entries": 20,
            "sgl": [{"ipa_base": base, "size": size} for base, size in LEND_SGL],
            "n_mem_attr_entries": 0,
            "attrs": [],
        },
        lambda: build(
            MEM_LEND,
            "request",
            seq=9,
            frags=1,
            flags=2,
            label=1,
            acl=[ACL(vmid=0x80, perms=6)],
            sgl=[SGL(ipa_base=base, size=size) for base, size in LEND_SGL],
            attrs=[],
        ),
        id="MEM_LEND-request-reassembled",
    ),
    pytest.param(
        reply(MEM_LEND, struct.pack("<I", 5), seq=2),
        {"mem_handle": 5},
        lambda: build(MEM_LEND, "reply", seq=2, mem_handle=5),
        id="MEM_LEND-reply",
    ),
    pytest.param(
        request(
            MEM_SHARE,
            share_header(0, 3, 0xABCD)
            + acl((3, 6), (0x81, 4))
            + sgl((0x1_0000_0000, 0x1000))
            + attrs((3, 3), (1, 0x81)),
        ),
        {
            "mem_type": 0,
            "flags": 3,
            "label": 0xABCD,
            "n_acl_entries": 2,
            "acl": [{"vmid": 3, "perms": 6}, {"vmid": 0x81, "perms": 4}],
            "n_sgl_entries": 1,
            "sgl": [{"ipa_base": 0x1_0000_0000, "size": 0x1000}],
            "n_mem_attr_entries": 2,
            "attrs": [{"attr": 3, "vmid": 3}, {"attr": 1, "vmid": 0x81}],
        },
        lambda: build(
            MEM_SHARE,
            "request",
            flags=3,
            label=0xABCD,
            acl=[ACL(vmid=3, perms=6), ACL(vmid=0x81, perms=4)],
            sgl=[SGL(ipa_base=0x1_0000_0000, size=0x1000)],
            attrs=[ATTR(attr=3, vmid=3), ATTR(attr=1, vmid=0x81)],
        ),
        id="MEM_SHARE-request-with-attrs",
    ),
    pytest.param(
        reply(MEM_SHARE, struct.pack("<I", 0xFFFF_FFFE)),
        {"mem_handle": 0xFFFF_FFFE},
        lambda: build(MEM_SHARE, "reply", mem_handle=0xFFFF_FFFE),
        id="MEM_SHARE-reply",
    ),
    pytest.param(
        # u32 handle; u8 flags (END); u8 res[3]; u16 sgl_count; u16 res; sgl[]
        request(MEM_APPEND, struct.pack("<IB3x", 0x22, 1) + sgl((0x5000, 0x1000), (0x7000, 0x3000))),
        {
            "mem_handle": 0x22,
            "flags": 1,
            "n_sgl_entries": 2,
            "sgl": [{"ipa_base": 0x5000, "size": 0x1000}, {"ipa_base": 0x7000, "size": 0x3000}],
        },
        lambda: build(
            MEM_APPEND,
            "request",
            mem_handle=0x22,
            flags=1,
            sgl=[SGL(ipa_base=0x5000, size=0x1000), SGL(ipa_base=0x7000, size=0x3000)],
        ),
        id="MEM_APPEND-request",
    ),
    pytest.param(reply(MEM_APPEND), {}, lambda: build(MEM_APPEND, "reply"), id="MEM_APPEND-reply"),
    pytest.param(
        request(MEM_RELEASE, struct.pack("<IB3x", 0x22, 0)),
        {"mem_handle": 0x22, "flags": 0},
        lambda: build(MEM_RELEASE, "request", mem_handle=0x22),
        id="MEM_RELEASE-request",
    ),
    pytest.param(reply(MEM_RELEASE), {}, lambda: build(MEM_RELEASE, "reply"), id="MEM_RELEASE-reply"),
    pytest.param(
        request(MEM_RECLAIM, struct.pack("<IB3x", 0x22, 1)),
        {"mem_handle": 0x22, "flags": 1},
        lambda: build(MEM_RECLAIM, "request", mem_handle=0x22, flags=1),
        id="MEM_RECLAIM-request",
    ),
    pytest.param(
        # "RM rejected message 51000015. Error: 7" (protocol.md 10)
        reply(MEM_RECLAIM, err=7),
        {},
        lambda: build(MEM_RECLAIM, "reply", err=7),
        id="MEM_RECLAIM-reply-HANDLE_INVALID",
    ),
    pytest.param(
        # u32 handle; u8 mem_type, trans_type, flags, res; u32 label; ACL; u16 sgl_count; u16 map_vmid
        request(
            MEM_ACCEPT,
            struct.pack("<IBBBxI", 0x22, 0, 1, 0x84, 0x10) + acl((0x80, 6)) + sgl(map_vmid=0x80),
        ),
        {
            "mem_handle": 0x22,
            "mem_type": 0,
            "trans_type": 1,
            "flags": 0x84,
            "label": 0x10,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 6}],
            "n_sgl_entries": 0,
            "map_vmid": 0x80,
            "sgl": [],
        },
        lambda: build(
            MEM_ACCEPT,
            "request",
            mem_handle=0x22,
            trans_type=1,
            flags=0x84,
            label=0x10,
            acl=[ACL(vmid=0x80, perms=6)],
            map_vmid=0x80,
            sgl=[],
        ),
        id="MEM_ACCEPT-request-rm-picks-ipa",
    ),
    pytest.param(
        request(
            MEM_ACCEPT,
            struct.pack("<IBBBxI", 0x23, 1, 2, 0x0A, 0)
            + acl((0x80, 6), (3, 6))
            + sgl((0x4000_0000, 0x1000), map_vmid=0x81)
            + attrs((1, 0x80)),
            seq=3,
        ),
        {
            "mem_handle": 0x23,
            "mem_type": 1,
            "trans_type": 2,
            "flags": 0x0A,
            "label": 0,
            "n_acl_entries": 2,
            "acl": [{"vmid": 0x80, "perms": 6}, {"vmid": 3, "perms": 6}],
            "n_sgl_entries": 1,
            "map_vmid": 0x81,
            "sgl": [{"ipa_base": 0x4000_0000, "size": 0x1000}],
            "n_mem_attr_entries": 1,
            "attrs": [{"attr": 1, "vmid": 0x80}],
        },
        lambda: build(
            MEM_ACCEPT,
            "request",
            seq=3,
            mem_handle=0x23,
            mem_type=1,
            trans_type=2,
            flags=0x0A,
            acl=[ACL(vmid=0x80, perms=6), ACL(vmid=3, perms=6)],
            map_vmid=0x81,
            sgl=[SGL(ipa_base=0x4000_0000, size=0x1000)],
            attrs=[ATTR(attr=1, vmid=0x80)],
        ),
        id="MEM_ACCEPT-request-map-other-with-attrs",
    ),
    pytest.param(
        # the request named its IPAs: a standard reply
        reply(MEM_ACCEPT, seq=3),
        {},
        lambda: build(MEM_ACCEPT, "reply", seq=3),
        id="MEM_ACCEPT-reply-standard",
    ),
    pytest.param(
        # RM HEAD / QC: u16 sgl_count; u8 flags (INCOMPLETE); u8 res; sgl[]
        reply(
            MEM_ACCEPT,
            struct.pack("<HBx", 2, 1) + struct.pack("<QQQQ", 0x8000_0000, 0x1000, 0x8010_0000, 0x2000),
        ),
        {
            "n_sgl_entries": 2,
            "flags": 1,
            "sgl": [{"ipa_base": 0x8000_0000, "size": 0x1000}, {"ipa_base": 0x8010_0000, "size": 0x2000}],
        },
        lambda: build(
            MEM_ACCEPT,
            "reply",
            flags=1,
            sgl=[SGL(ipa_base=0x8000_0000, size=0x1000), SGL(ipa_base=0x8010_0000, size=0x2000)],
        ),
        id="MEM_ACCEPT-reply-sgl-incomplete",
    ),
    pytest.param(
        # HAVEN / RM-2021: u16 n_sgl_entries; u16 reserved (no flags)
        reply(MEM_ACCEPT, struct.pack("<HH", 1, 0) + struct.pack("<QQ", 0x6000_0000, 0x10_0000)),
        {"n_sgl_entries": 1, "flags": 0, "sgl": [{"ipa_base": 0x6000_0000, "size": 0x10_0000}]},
        lambda: build(MEM_ACCEPT, "reply", sgl=[SGL(ipa_base=0x6000_0000, size=0x10_0000)]),
        id="MEM_ACCEPT-reply-haven-reserved",
    ),
    pytest.param(
        # u32 handle; u8 flags (SHARED); u8 res[3]; u32 mem_info_tag; RM list of {u16 vmid; u16 res}
        request(MEM_NOTIFY, struct.pack("<IB3xI", 0x22, 1, 0x99) + rm_list("<Hxx", [(0x80,), (0x81,)])),
        {
            "mem_handle": 0x22,
            "flags": 1,
            "mem_info_tag": 0x99,
            "n_vmid_entries": 2,
            "vmids": [{"vmid": 0x80}, {"vmid": 0x81}],
        },
        lambda: build(
            MEM_NOTIFY,
            "request",
            mem_handle=0x22,
            flags=1,
            mem_info_tag=0x99,
            vmids=[VMID(vmid=0x80), VMID(vmid=0x81)],
        ),
        id="MEM_NOTIFY-request-shared",
    ),
    pytest.param(
        request(MEM_NOTIFY, struct.pack("<IB3xI", 0x22, 8, 0x99) + rm_list("<Hxx", [(0x80,)])),
        {
            "mem_handle": 0x22,
            "flags": 8,
            "mem_info_tag": 0x99,
            "n_vmid_entries": 1,
            "vmids": [{"vmid": 0x80}],
        },
        lambda: build(
            MEM_NOTIFY, "request", mem_handle=0x22, flags=8, mem_info_tag=0x99, vmids=[VMID(vmid=0x80)]
        ),
        id="MEM_NOTIFY-request-recall",
    ),
    pytest.param(
        # RELEASED / ACCEPTED: the 12-byte header only
        request(MEM_NOTIFY, struct.pack("<IB3xI", 0x22, 2, 0x99)),
        {"mem_handle": 0x22, "flags": 2, "mem_info_tag": 0x99},
        lambda: build(MEM_NOTIFY, "request", mem_handle=0x22, flags=2, mem_info_tag=0x99),
        id="MEM_NOTIFY-request-released",
    ),
    pytest.param(reply(MEM_NOTIFY), {}, lambda: build(MEM_NOTIFY, "reply"), id="MEM_NOTIFY-reply"),
    pytest.param(
        # u8 mem_type; u8 res[3]; u32 label; ACL; SGL; [attr list]
        request(
            MEM_QCOM_LOOKUP_SGL, struct.pack("<B3xI", 0, 0x44) + acl((3, 7)) + sgl((0xA000_0000, 0x8000))
        ),
        {
            "mem_type": 0,
            "label": 0x44,
            "n_acl_entries": 1,
            "acl": [{"vmid": 3, "perms": 7}],
            "n_sgl_entries": 1,
            "sgl": [{"ipa_base": 0xA000_0000, "size": 0x8000}],
        },
        lambda: build(
            MEM_QCOM_LOOKUP_SGL,
            "request",
            label=0x44,
            acl=[ACL(vmid=3, perms=7)],
            sgl=[SGL(ipa_base=0xA000_0000, size=0x8000)],
        ),
        id="MEM_QCOM_LOOKUP_SGL-request",
    ),
    pytest.param(
        request(
            MEM_QCOM_LOOKUP_SGL,
            struct.pack("<B3xI", 1, 0x45) + acl((3, 6)) + sgl((0xB000_0000, 0x1000)) + attrs((1, 3)),
        ),
        {
            "mem_type": 1,
            "label": 0x45,
            "n_acl_entries": 1,
            "acl": [{"vmid": 3, "perms": 6}],
            "n_sgl_entries": 1,
            "sgl": [{"ipa_base": 0xB000_0000, "size": 0x1000}],
            "n_mem_attr_entries": 1,
            "attrs": [{"attr": 1, "vmid": 3}],
        },
        lambda: build(
            MEM_QCOM_LOOKUP_SGL,
            "request",
            mem_type=1,
            label=0x45,
            acl=[ACL(vmid=3, perms=6)],
            sgl=[SGL(ipa_base=0xB000_0000, size=0x1000)],
            attrs=[ATTR(attr=1, vmid=3)],
        ),
        id="MEM_QCOM_LOOKUP_SGL-request-with-attrs",
    ),
    pytest.param(
        reply(MEM_QCOM_LOOKUP_SGL, struct.pack("<I", 0x31)),
        {"mem_handle": 0x31},
        lambda: build(MEM_QCOM_LOOKUP_SGL, "reply", mem_handle=0x31),
        id="MEM_QCOM_LOOKUP_SGL-reply",
    ),
    pytest.param(
        reply(MEM_QCOM_LOOKUP_SGL, err=0xE),
        {},
        lambda: build(MEM_QCOM_LOOKUP_SGL, "reply", err=0xE),
        id="MEM_QCOM_LOOKUP_SGL-reply-LOOKUP_FAILED",
    ),
    pytest.param(
        # fixed 24 B, ACL, sizes-only SGL, attr list (RM HEAD)
        notification(
            MEM_SHARED,
            struct.pack("<IBBBxHxxII", 0x22, 0, 2, 1, 3, 0x10, 0x99)
            + acl((0x80, 6))
            + rm_list("<Q", [(0x1000,), (0x20_0000,)])
            + attrs((0, 0x80)),
            seq=16,
        ),
        {
            "mem_handle": 0x22,
            "mem_type": 0,
            "trans_type": 2,
            "flags": 1,
            "owner_vmid": 3,
            "label": 0x10,
            "mem_info_tag": 0x99,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 6}],
            "n_sgl_entries": 2,
            "sgl": [{"size": 0x1000}, {"size": 0x20_0000}],
            "n_mem_attr_entries": 1,
            "attrs": [{"attr": 0, "vmid": 0x80}],
        },
        lambda: build(
            MEM_SHARED,
            "notification",
            seq=16,
            mem_handle=0x22,
            trans_type=2,
            flags=1,
            owner_vmid=3,
            label=0x10,
            mem_info_tag=0x99,
            acl=[ACL(vmid=0x80, perms=6)],
            sgl=[SIZE(size=0x1000), SIZE(size=0x20_0000)],
            attrs=[ATTR(attr=0, vmid=0x80)],
        ),
        id="MEM_SHARED-notification",
    ),
    pytest.param(
        # RM-2021 hyp-assign parcel: no attr section
        notification(
            MEM_SHARED,
            struct.pack("<IBBBxHxxII", 0x23, 1, 1, 0, 3, 0, 0) + acl((0x80, 6)) + rm_list("<Q", [(0x4000,)]),
        ),
        {
            "mem_handle": 0x23,
            "mem_type": 1,
            "trans_type": 1,
            "flags": 0,
            "owner_vmid": 3,
            "label": 0,
            "mem_info_tag": 0,
            "n_acl_entries": 1,
            "acl": [{"vmid": 0x80, "perms": 6}],
            "n_sgl_entries": 1,
            "sgl": [{"size": 0x4000}],
        },
        lambda: build(
            MEM_SHARED,
            "notification",
            mem_handle=0x23,
            mem_type=1,
            trans_type=1,
            owner_vmid=3,
            acl=[ACL(vmid=0x80, perms=6)],
            sgl=[SIZE(size=0x4000)],
        ),
        id="MEM_SHARED-notification-rm2021-no-attrs",
    ),
    pytest.param(
        # u32 handle; u16 vmid; u16 res; u32 mem_info_tag
        notification(MEM_RELEASED, struct.pack("<IHxxI", 0x22, 0x80, 0x99)),
        {"mem_handle": 0x22, "vmid": 0x80, "mem_info_tag": 0x99},
        lambda: build(MEM_RELEASED, "notification", mem_handle=0x22, vmid=0x80, mem_info_tag=0x99),
        id="MEM_RELEASED-notification",
    ),
    pytest.param(
        notification(MEM_RELEASED, struct.pack("<IHxx", 0x22, 0x80)),
        {"mem_handle": 0x22, "vmid": 0x80},
        lambda: build(MEM_RELEASED, "notification", mem_handle=0x22, vmid=0x80),
        id="MEM_RELEASED-notification-early-haven-8B",
    ),
    pytest.param(
        notification(MEM_ACCEPTED, struct.pack("<IHxxI", 0x22, 0x81, 0)),
        {"mem_handle": 0x22, "vmid": 0x81, "mem_info_tag": 0},
        lambda: build(MEM_ACCEPTED, "notification", mem_handle=0x22, vmid=0x81, mem_info_tag=0),
        id="MEM_ACCEPTED-notification",
    ),
    pytest.param(
        notification(MEM_ACCEPTED, struct.pack("<IHxx", 0x22, 0x81)),
        {"mem_handle": 0x22, "vmid": 0x81},
        lambda: build(MEM_ACCEPTED, "notification", mem_handle=0x22, vmid=0x81),
        id="MEM_ACCEPTED-notification-early-haven-8B",
    ),
    pytest.param(
        # u32 handle; u32 mem_info_tag
        notification(MEM_RECALL, struct.pack("<II", 0x22, 0x99)),
        {"mem_handle": 0x22, "mem_info_tag": 0x99},
        lambda: build(MEM_RECALL, "notification", mem_handle=0x22, mem_info_tag=0x99),
        id="MEM_RECALL-notification",
    ),
    pytest.param(
        request(FW_MILESTONE, b""), {}, lambda: build(FW_MILESTONE, "request"), id="FW_MILESTONE-request"
    ),
    pytest.param(reply(FW_MILESTONE), {}, lambda: build(FW_MILESTONE, "reply"), id="FW_MILESTONE-reply"),
    pytest.param(
        # u16 auth_type; u16 res0; u32 image_mp_handle; u64 image_offset; u64 image_size
        request(FW_SET_VM_FIRMWARE, struct.pack("<HxxIQQ", 2, 0x31, 0, 0x10_0000)),
        {"auth_type": 2, "image_mp_handle": 0x31, "image_offset": 0, "image_size": 0x10_0000},
        lambda: build(FW_SET_VM_FIRMWARE, "request", auth_type=2, image_mp_handle=0x31, image_size=0x10_0000),
        id="FW_SET_VM_FIRMWARE-request",
    ),
    pytest.param(
        reply(FW_SET_VM_FIRMWARE),
        {},
        lambda: build(FW_SET_VM_FIRMWARE, "reply"),
        id="FW_SET_VM_FIRMWARE-reply",
    ),
    pytest.param(
        reply(FW_SET_VM_FIRMWARE, err=0xFFFF_FFFF),
        {},
        lambda: build(FW_SET_VM_FIRMWARE, "reply", err=0xFFFF_FFFF),
        id="FW_SET_VM_FIRMWARE-reply-UNIMPLEMENTED",
    ),
]


@pytest.mark.parametrize(("data", "expected", "built"), VECTORS)
def test_known_answer(data: bytes, expected: dict[str, Any], built: Callable[[], Packet]) -> None:
    pkt = dissect(data)
    assert fields_of(payload_layer(pkt)) == expected
    assert malformations(pkt) == []
    assert bytes(pkt) == data
    assert bytes(built()) == data
    if pkt.msg_type == REPLY:
        assert pkt[RMReply].err_code == struct.unpack_from("<I", data, 8)[0]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            request(
                MEM_ACCEPT, struct.pack("<IBBBxI", 0x22, 0, 1, 0x84, 0) + acl((0x80, 6)) + sgl(map_vmid=0x80)
            ),
            ["Request MEM_ACCEPT", "trans_type=LEND", "flags=VALIDATE_LABEL|DONE", "map_vmid=0x80"],
        ),
        (
            reply(MEM_ACCEPT, struct.pack("<HBx", 0, 1)),
            ["Reply MEM_ACCEPT", "err=OK", "n_sgl_entries=0", "flags=INCOMPLETE"],
        ),
        (
            request(MEM_SHARE, share_header(0, 3, 0x10) + acl((3, 6)) + sgl((0, 0x1000))),
            ["Request MEM_SHARE", "mem_type=NORMAL", "flags=SANITIZE|APPEND", "label=0x10"],
        ),
        (request(MEM_RECLAIM, struct.pack("<IB3x", 0x22, 1)), ["mem_handle=0x22", "flags=SANITIZE"]),
        (reply(MEM_RECLAIM, err=7), ["Reply MEM_RECLAIM", "err=HANDLE_INVALID"]),
        (
            notification(
                MEM_SHARED, struct.pack("<IBBBxHxxII", 0x22, 0, 0, 1, 3, 5, 6) + acl() + rm_list("<Q", [])
            ),
            ["Notification MEM_SHARED", "trans_type=DONATE", "owner_vmid=0x3", "mem_info_tag=0x6"],
        ),
        (request(FW_SET_VM_FIRMWARE, struct.pack("<HxxIQQ", 2, 0x31, 0, 1)), ["auth_type=ANDROID"]),
    ],
)
def test_summary_names_enums_and_flags(data: bytes, words: list[str]) -> None:
    line = dissect(data).summary()
    for word in words:
        assert word in line


def test_nonzero_padding_is_shown() -> None:
    data = request(MEM_RELEASE, struct.pack("<IBBH", 0x22, 0, 5, 0))
    pkt = dissect(data)
    assert fields_of(payload_layer(pkt)) == {"mem_handle": 0x22, "flags": 0, "_padding0": 5}
    assert bytes(pkt) == data


def test_notify_reserved_is_three_bytes() -> None:
    data = request(MEM_NOTIFY, struct.pack("<IBBBBI", 0x22, 2, 0, 0, 1, 0x99))
    pkt = dissect(data)
    assert fields_of(payload_layer(pkt)) == {
        "mem_handle": 0x22,
        "flags": 2,
        "reserved1": 0x10000,
        "mem_info_tag": 0x99,
    }
    assert bytes(pkt) == data


# --- malformed messages: recorded with their numbers, never raised, bytes kept ---------------------
MALFORMED = [
    pytest.param(
        request(MEM_LEND, share_header(0, 0, 0) + struct.pack("<HH", 60000, 0) + b"\x00" * 8),
        "count",
        ["n_acl_entries=60000", "240000", "8 left"],
        CountOverrun,
        id="MEM_LEND-acl-count-overrun",
    ),
    pytest.param(
        request(MEM_SHARE, share_header(0, 0, 0) + acl((3, 6)) + struct.pack("<HH", 4, 0) + b"\x00" * 16),
        "count",
        ["n_sgl_entries=4", "64 bytes", "16 left"],
        CountOverrun,
        id="MEM_SHARE-sgl-count-overrun",
    ),
    pytest.param(
        reply(MEM_ACCEPT, struct.pack("<HBx", 3, 0) + b"\x00" * 16),
        "count",
        ["n_sgl_entries=3", "48 bytes", "16 left"],
        CountOverrun,
        id="MEM_ACCEPT-reply-sgl-count-overrun",
    ),
    pytest.param(
        request(MEM_NOTIFY, struct.pack("<IB3xI", 0x22, 1, 0) + struct.pack("<HHHxx", 2, 0, 0x80)),
        "count",
        ["n_vmid_entries=2", "8 bytes", "4 left"],
        CountOverrun,
        id="MEM_NOTIFY-vmid-count-overrun",
    ),
    pytest.param(
        notification(
            MEM_SHARED,
            struct.pack("<IBBBxHxxII", 0x22, 0, 2, 0, 3, 0, 0)
            + acl()
            + struct.pack("<HH", 9, 0)
            + b"\x00" * 8,
        ),
        "count",
        ["n_sgl_entries=9", "72 bytes", "8 left"],
        CountOverrun,
        id="MEM_SHARED-sgl-count-overrun",
    ),
    pytest.param(
        request(MEM_LEND, b""),
        "truncated",
        ["MEM_LEND request", "8 byte(s)"],
        Truncated,
        id="MEM_LEND-empty",
    ),
    pytest.param(
        request(MEM_ACCEPT, struct.pack("<IBBBx", 0x22, 0, 1, 0)),
        "truncated",
        ["field label", "needs 4 byte(s)", "0 left"],
        Truncated,
        id="MEM_ACCEPT-truncated-header",
    ),
    pytest.param(
        request(MEM_RELEASE, struct.pack("<IBx", 0x22, 0)),
        "truncated",
        ["field _padding1", "needs 2 byte(s)", "0 left"],
        Truncated,
        id="MEM_RELEASE-6-bytes",
    ),
    pytest.param(
        reply(MEM_ACCEPT, struct.pack("<H", 1)),
        "truncated",
        ["field flags", "needs 1 byte(s)", "0 left"],
        Truncated,
        id="MEM_ACCEPT-reply-half-header",
    ),
    pytest.param(
        notification(MEM_RELEASED, struct.pack("<IHxxH", 0x22, 0x80, 0)),
        "truncated",
        ["field mem_info_tag", "needs 4 byte(s)", "2 left"],
        Truncated,
        id="MEM_RELEASED-10-bytes",
    ),
    pytest.param(
        notification(MEM_RECALL, struct.pack("<I", 0x22)),
        "truncated",
        ["field mem_info_tag", "needs 4 byte(s)", "0 left"],
        Truncated,
        id="MEM_RECALL-4-bytes",
    ),
    pytest.param(
        request(FW_SET_VM_FIRMWARE, struct.pack("<HxxIQ", 2, 0x31, 0)),
        "truncated",
        ["field image_size", "needs 8 byte(s)", "0 left"],
        Truncated,
        id="FW_SET_VM_FIRMWARE-16-bytes",
    ),
    pytest.param(
        notification(MEM_RECALL, struct.pack("<III", 0x22, 0x99, 0)),
        "trailing",
        ["4 byte(s) after the end"],
        TrailingData,
        id="MEM_RECALL-12-bytes",
    ),
    pytest.param(
        request(MEM_NOTIFY, struct.pack("<IB3xI", 0x22, 1, 0) + struct.pack("<HH", 0, 0) + b"\x00\x00"),
        "trailing",
        ["2 byte(s) after the end"],
        TrailingData,
        id="MEM_NOTIFY-trailing",
    ),
]


@pytest.mark.parametrize(("data", "kind", "words", "error"), MALFORMED)
def test_malformed(data: bytes, kind: str, words: list[str], error: type[Exception]) -> None:
    pkt = dissect(data)
    problems = malformations(pkt)
    assert [p.kind for p in problems] == [kind]
    for word in words:
        assert word in problems[0].text
    assert bytes(pkt) == data
    with pytest.raises(error):
        dissect(data, strict=True)
