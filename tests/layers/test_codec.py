"""The fast codec agrees with the Scapy layers byte for byte, for every layout in the dispatch tables.

Both are generated from the same layout declarations by independent code, so agreement on
random values (hypothesis, strategies derived from the layouts) is strong evidence that both
read the declarations right. A few hand-packed vectors from protocol.md 10 pin the framing.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.packet import Packet

from dissector.layers import (
    ERROR_REPLIES,
    NOTIFICATIONS,
    REPLIES,
    REQUESTS,
    dissect,
    fields_of,
    fragment,
    payload_layer,
)
from dissector.protocol import wire
from dissector.protocol.codec import (
    CodecError,
    codec_for,
    codec_for_struct,
    decode_payload,
    encode_message,
    encode_payload,
)
from tests.strategies import struct_kwargs

CASES = [
    *[("request", msg_id, cls) for msg_id, cls in REQUESTS.items()],
    *[("reply", msg_id, cls) for msg_id, cls in REPLIES.items()],
    *[("error_reply", msg_id, cls) for msg_id, cls in ERROR_REPLIES.items()],
    *[("notification", msg_id, cls) for msg_id, cls in NOTIFICATIONS.items()],
]


def plain(value: Any) -> Any:
    """Entry packets drawn by the strategies -> the dicts the codec takes."""
    if isinstance(value, Packet):
        return {k: plain(v) for k, v in value.fields.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.mark.parametrize(("role", "msg_id", "cls"), CASES, ids=lambda v: getattr(v, "__name__", None))
@given(data=st.data())
def test_codec_agrees_with_scapy(role, msg_id, cls, data):
    kwargs = data.draw(struct_kwargs(cls.layout))
    want = bytes(cls(**kwargs))
    values = {k: plain(v) for k, v in kwargs.items()}
    codec = codec_for(msg_id, role)
    assert codec.encode(values) == want
    assert encode_payload(msg_id, role, values) == want
    # decoding: re-encoding is the identity on the bytes ...
    decoded = decode_payload(msg_id, role, want)
    assert codec.encode(decoded) == want
    # ... and every integer Scapy shows is the one the codec read
    for name, value in fields_of(cls(want)).items():
        if isinstance(value, int):
            assert decoded[name] == value, name


def test_protocol_md_vectors():
    # protocol.md 10, packed by hand there
    assert encode_message(
        1, 5, 0x56000004, encode_payload("VM_START", "request", {"vmid": 0x80})
    ) == bytes.fromhex("21 01 05 00 04 00 00 56 80 00 00 00")
    assert encode_message(2, 9, 0x56000004, b"", err_code=2) == bytes.fromhex(
        "21 02 09 00 04 00 00 56 02 00 00 00"
    )
    stop = encode_payload("VM_STOP", "request", {"vmid": 0x80, "flags": 1, "stop_reason": 3})
    assert encode_message(1, 7, 0x56000005, stop) == bytes.fromhex(
        "21 01 07 00 05 00 00 56 80 00 01 00 03 00 00 00"
    )
    image = {"vmid": 0x80, "mem_handle": 0x1234, "dtb_offset": 0x1000, "dtb_size": 0x2000}
    assert encode_message(
        1, 2, 0x56000009, encode_payload("VM_CONFIG_IMAGE", "request", image)
    ) == bytes.fromhex(
        "21 01 02 00 09 00 00 56 80 00 00 00 34 12 00 00"
        + " 00" * 16
        + " 00 10 00 00 00 00 00 00 00 20 00 00 00 00 00 00"
    )
    exited = encode_payload(
        "VM_EXITED", "notification", {"vmid": 0x80, "exit_type": 4, "exit_reason": {"exit_flags": 1}}
    )
    assert encode_message(3, 0x11, 0x56100001, exited) == bytes.fromhex(
        "21 03 11 00 01 00 10 56 80 00 04 00 04 00 00 00 01 00 00 00"
    )
    assert encode_message(1, 0, 0x56000024) == bytes.fromhex("21 01 00 00 24 00 00 56")


def test_six_resource_reply_splits_like_protocol_md():
    entry = {"type": 4, "partner_vmid": 0x80, "cap_id": 0x10}
    data = encode_payload("VM_GET_HYP_RESOURCES", "reply", {"entries": [entry] * 6})
    assert len(data) == 4 + 6 * 44
    parts = wire.fragment(2, 3, 0x56000020, struct.pack("<I", 0) + data)
    assert [len(p) for p in parts] == [240, 48]
    assert parts[0][:8] == bytes.fromhex("21 06 03 00 20 00 00 56")
    assert parts[1][:8] == bytes.fromhex("21 04 03 00 20 00 00 56")


@given(size=st.integers(0, 63 * 232), seq=st.integers(0, 0xFFFF), msg_type=st.sampled_from([1, 2, 3]))
def test_fragments_equal_the_scapy_fragmenter(size, seq, msg_type):
    payload = bytes(i & 0xFF for i in range(size))
    message = struct.pack("<BBHI", 0x21, msg_type, seq, 0x51000012) + payload
    assert wire.fragment(msg_type, seq, 0x51000012, payload) == fragment(message)
    assert wire.split_message(message) == fragment(message)


def test_tuples_and_dicts_give_the_same_entries():
    sgl = [(0x8_8000_0000 + i * 0x200000, 0x200000) for i in range(600)]
    as_dicts = [{"ipa_base": a, "size": s} for a, s in sgl]
    base = {"acl": [(0x80, 7)], "attrs": []}
    a = encode_payload("MEM_LEND", "request", {**base, "sgl": sgl})
    b = encode_payload("MEM_LEND", "request", {**base, "sgl": as_dicts, "acl": [{"vmid": 0x80, "perms": 7}]})
    assert a == b
    assert struct.unpack_from("<HH", a, 16) == (600, 0)  # SGL count after the 1-entry ACL
    # reserved fields are skipped in tuples: (vmid, perms) for an ACL entry
    assert a[12:16] == bytes((0x80, 0, 7, 0))


def test_the_sim_s_messages_dissect_cleanly():
    values = {
        "mem_handle": 7,
        "mem_type": 0,
        "trans_type": 2,
        "owner_vmid": 3,
        "acl": [(3, 6), (0x80, 6)],
        "sgl": [(0x10000,)],
        "attrs": [],
    }
    wire = encode_message(3, 1, 0x51100011, encode_payload("MEM_SHARED", "notification", values))
    pkt = dissect(wire)
    assert fields_of(payload_layer(pkt))["n_acl_entries"] == 2


def test_errors_name_the_problem():
    with pytest.raises(CodecError, match="need 4 byte"):
        decode_payload("VM_START", "request", b"\x80\x00")
    with pytest.raises(CodecError, match="after the end"):
        decode_payload("VM_START", "request", b"\x80\x00\x00\x00\x00")
    with pytest.raises(CodecError, match="exactly 16"):
        encode_payload("VM_LOOKUP_GUID", "request", {"guid": b"short"})
    with pytest.raises(KeyError):
        codec_for("VM_SET_NAME", "request")  # no layout known
    with pytest.raises(ValueError, match="role"):
        codec_for("VM_START", "answer")


def test_a_codec_is_compiled_once():
    codec = codec_for("VM_START", "request")
    assert codec_for_struct(codec.layout) is codec
