"""The RPC header, capture header and splitter of ``dissector.protocol.wire`` (protocol.md 1.2, 1.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dissector.protocol import wire
from dissector.protocol.wire import MsgType, RpcHeader, fragment, pack_header, parse_header, split_message


def test_header_bytes_match_protocol_md_example():
    # protocol.md 1.5 example: a 6-entry VM_GET_HYP_RESOURCES reply, seq 3, 1 continuation
    assert pack_header(MsgType.REPLY, 3, 0x56000020, fragments=1) == bytes.fromhex("21 06 03 00 20 00 00 56")
    header = parse_header(bytes.fromhex("21 04 03 00 20 00 00 56"))
    assert header == RpcHeader(0x21, MsgType.CONTINUATION, 1, 3, 0x56000020)
    assert (header.api_version, header.header_words, header.well_formed) == (1, 2, True)


def test_parse_header_reads_at_an_offset_and_refuses_short_input():
    data = b"\xaa\xbb" + pack_header(MsgType.NOTIFICATION, 0x11, 0x56100001)
    assert parse_header(data, 2) == RpcHeader(0x21, MsgType.NOTIFICATION, 0, 0x11, 0x56100001)
    assert parse_header(data[:9], 2) is None
    assert parse_header(b"") is None


def test_damaged_header_is_read_as_is():
    header = parse_header(bytes.fromhex("31 fd 00 00 01 00 00 56"))
    assert header is not None
    assert (header.api_version, header.header_words, header.fragments, header.msg_type) == (1, 3, 63, 1)
    assert not header.well_formed
    assert header.pack() == bytes.fromhex("31 fd 00 00 01 00 00 56")


def test_pack_header_wraps_seq_and_refuses_an_unfit_fragment_count():
    assert pack_header(MsgType.REQUEST, 0x1_0005, 1)[2:4] == b"\x05\x00"
    with pytest.raises(ValueError, match="6-bit"):
        pack_header(MsgType.REQUEST, 0, 1, fragments=64)


def test_sizes_follow_from_the_header():
    assert wire.RPC_HEADER_SIZE == 8 and wire.CAPTURE_HEADER_SIZE == 4
    assert wire.MAX_PAYLOAD_PER_MSG == 232 and wire.RM_MAX_MSG_PAYLOAD == 14616
    assert wire.RPC_API_BYTE == 0x21
    assert wire.pack_capture_header(wire.Direction.FROM_RM, 0x80) == b"\x01\x02\x80\x00"


@given(
    size=st.integers(0, wire.RM_MAX_MSG_PAYLOAD),
    seq=st.integers(0, 0xFFFF),
    msg_type=st.sampled_from([1, 2, 3]),
)
def test_fragments_reassemble_to_the_payload(size, seq, msg_type):
    payload = bytes(i & 0xFF for i in range(size))
    parts = fragment(msg_type, seq, 0x51000012, payload)
    headers = [parse_header(p) for p in parts]
    assert len(parts) == wire.fragment_count(size) + 1
    assert all(len(p) <= wire.MSGQ_MAX_MSG_SIZE for p in parts)
    assert b"".join(p[8:] for p in parts) == payload
    assert headers[0].msg_type == msg_type
    assert all(h.msg_type == MsgType.CONTINUATION for h in headers[1:])
    assert {(h.fragments, h.seq, h.msg_id) for h in headers} == {(len(parts) - 1, seq, 0x51000012)}


def test_split_message_keeps_the_api_byte_and_recomputes_fragments():
    message = bytes.fromhex("31 0d 07 00 12 00 00 51") + bytes(300)  # wrong api byte, stale count 3
    parts = split_message(message)
    assert [p[:2] for p in parts] == [b"\x31\x05", b"\x31\x04"]
    with pytest.raises(ValueError, match="8-byte header"):
        split_message(b"\x21\x01")
