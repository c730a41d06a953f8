"""Known answers from protocol.md section 10 and the header's own rules (section 1.2-1.5)."""

from __future__ import annotations

import struct

import pytest

from dissector.errors import BadHeader, CountOverrun, Truncated
from dissector.layers import (
    GunyahCapture,
    RMHeader,
    RMReply,
    dissect,
    dissect_record,
    fields_of,
    fragment,
    layer_class,
    malformations,
    payload_layer,
)
from dissector.protocol.wire import fragment_count

# (hex from protocol.md section 10, msg_type, seq, msg_id, err_code, fields)
SECTION_10 = [
    ("21 01 01 00 01 00 00 56 00 00 00 00", 1, 1, 0x56000001, None, {"vmid": 0}),
    ("21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00", 2, 1, 0x56000001, 0, {"vmid": 0x80}),
    ("21 01 05 00 04 00 00 56 80 00 00 00", 1, 5, 0x56000004, None, {"vmid": 0x80}),
    ("21 02 05 00 04 00 00 56 00 00 00 00", 2, 5, 0x56000004, 0, {}),
    ("21 02 09 00 04 00 00 56 02 00 00 00", 2, 9, 0x56000004, 2, {}),
    ("21 01 07 00 05 00 00 56 80 00 01 00 03 00 00 00", 1, 7, 0x56000005, None,
     {"vmid": 0x80, "flags": 1, "stop_reason": 3}),
    ("21 01 00 00 24 00 00 56", 1, 0, 0x56000024, None, {}),
    ("21 02 00 00 24 00 00 56 00 00 00 00 03 00 00 00", 2, 0, 0x56000024, 0, {"vmid": 3}),
    (
        "21 01 02 00 09 00 00 56 80 00 00 00 34 12 00 00"
        " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
        " 00 10 00 00 00 00 00 00 00 20 00 00 00 00 00 00",
        1, 2, 0x56000009, None,
        {"vmid": 0x80, "auth_mech": 0, "mem_handle": 0x1234, "image_offset": 0, "image_size": 0,
         "dtb_offset": 0x1000, "dtb_size": 0x2000},
    ),
    ("21 03 10 00 08 00 10 56 80 00 00 00 03 00 00 00", 3, 0x10, 0x56100008, None,
     {"vmid": 0x80, "vm_status": 3, "os_status": 0, "app_status": 0}),
    ("21 03 11 00 01 00 10 56 80 00 00 00 04 00 00 00 01 00 00 00", 3, 0x11, 0x56100001, None,
     {"vmid": 0x80, "exit_type": 0, "exit_reason_size": 4, "exit_reason": {"exit_flags": 1, "exit_code": 0}}),
]  # fmt: skip


@pytest.mark.parametrize(("hexstr", "msg_type", "seq", "msg_id", "err", "fields"), SECTION_10)
def test_section_10_examples(hexstr, msg_type, seq, msg_id, err, fields):
    data = bytes.fromhex(hexstr)
    pkt = dissect(data, strict=True)
    assert (pkt.api_version, pkt.header_words, pkt.fragments) == (1, 2, 0)
    assert (pkt.msg_type, pkt.seq, pkt.msg_id) == (msg_type, seq, msg_id)
    reply = pkt.getlayer(RMReply)
    assert (reply.err_code if reply else None) == err
    assert fields_of(payload_layer(pkt)) == fields
    assert bytes(pkt) == data


def test_summaries_read_like_an_info_column():
    assert dissect(bytes.fromhex("21 01 06 00 04 00 00 56 80 00 00 00")).summary() == (
        "Request VM_START seq=6 vmid=0x80"
    )
    assert dissect(bytes.fromhex("21 02 06 00 04 00 00 56 02 00 00 00")).summary() == (
        "Reply VM_START seq=6 err=NORESOURCE"
    )


def test_building_fills_counts_and_matches_hand_packed_bytes():
    req = RMHeader(msg_type=1, seq=2, msg_id=0x56000009) / layer_class("VM_CONFIG_IMAGE", "request")(
        vmid=0x80, mem_handle=0x1234, dtb_offset=0x1000, dtb_size=0x2000
    )
    hand = struct.pack("<BBHI", 0x21, 1, 2, 0x56000009) + struct.pack(
        "<HHIQQQQ", 0x80, 0, 0x1234, 0, 0, 0x1000, 0x2000
    )
    assert bytes(req) == hand
    exited = RMHeader(msg_type=3, seq=1, msg_id=0x56100001) / layer_class("VM_EXITED")(vmid=0x81, exit_type=4)
    assert bytes(exited)[8:] == struct.pack("<HHI", 0x81, 4, 0)


def test_replies_answer_their_requests_for_scapy_pairing():
    request = GunyahCapture(client_vmid=3, cap_direction=1) / dissect(
        bytes.fromhex("21 01 05 00 04 00 00 56 80 00 00 00")
    )
    reply = GunyahCapture(client_vmid=3, cap_direction=2) / dissect(
        bytes.fromhex("21 02 05 00 04 00 00 56 00 00 00 00")
    )
    other = GunyahCapture(client_vmid=3, cap_direction=2) / dissect(
        bytes.fromhex("21 02 06 00 04 00 00 56 00 00 00 00")
    )
    assert reply.answers(request) and not request.answers(reply)
    assert not other.answers(request)
    assert reply.hashret() == request.hashret() != other.hashret()


@pytest.mark.parametrize(
    ("hexstr", "kind", "words"),
    [
        ("21 01 05 00 04 00 00 56 80", "truncated", ["vmid", "needs 2", "1 left"]),
        ("21 01 05 00 04 00 00 56", "truncated", ["payload is empty", "needs 4"]),
        ("31 01 05 00 04 00 00 56 80 00 00 00", "header", ["0x31", "header words 3"]),
        ("21 01", "header", ["2 byte(s)", "shorter than the 8-byte RPC header"]),
        (
            "21 03 11 00 01 00 10 56 80 00 00 00 ff 00 00 00 01 00",
            "count",
            ["exit_reason_size=255", "2 byte(s) left"],
        ),
        ("21 02 05 00 04 00 00 56 00 00", "truncated", ["error code needs 4"]),
        ("21 01 05 00 04 00 00 56 80 00 00 00 99", "trailing", ["1 byte(s) after the end"]),
    ],
)
def test_malformed_messages_are_decoded_as_far_as_they_go(hexstr, kind, words):
    data = bytes.fromhex(hexstr)
    pkt = dissect(data)
    problems = malformations(pkt)
    assert problems and problems[0].kind == kind
    for word in words:
        assert word in problems[0].text
    assert bytes(pkt) == data  # every byte kept
    assert "[malformed:" in pkt.summary() or pkt.msg_type is None


def test_strict_mode_raises_typed_errors_with_the_numbers():
    with pytest.raises(Truncated, match="needs 2"):
        dissect(bytes.fromhex("21 01 05 00 04 00 00 56 80"), strict=True)
    with pytest.raises(BadHeader, match="0x31"):
        dissect(bytes.fromhex("31 01 05 00 04 00 00 56 80 00 00 00"), strict=True)
    with pytest.raises(CountOverrun, match="exit_reason_size=255"):
        dissect(bytes.fromhex("21 03 11 00 01 00 10 56 80 00 00 00 ff 00 00 00"), strict=True)


def test_record_longer_than_240_bytes_is_flagged():
    data = bytes.fromhex("01 01 03 00") + bytes.fromhex("21 01 05 00 04 00 00 56") + bytes(240)
    rec = dissect_record(data)
    assert any(p.kind == "length" and "248 bytes" in p.text for p in malformations(rec))


def test_unknown_ids_keep_their_bytes_and_round_trip():
    data = bytes.fromhex("21 01 05 00 78 56 34 12 de ad be ef")
    pkt = dissect(data)
    assert pkt.summary().startswith("Request UNKNOWN_0x12345678 seq=5")
    assert fields_of(payload_layer(pkt)) == {"data": "deadbeef"}
    assert bytes(pkt) == data and malformations(pkt) == []


@pytest.mark.parametrize(
    ("length", "frags"), [(0, 0), (1, 0), (232, 0), (233, 1), (464, 1), (465, 2), (62 * 232 + 1, 62)]
)
def test_fragment_counts_follow_rm(length, frags):
    assert fragment_count(length) == frags
    msgs = fragment(
        struct.pack("<BBHI", 0x21, 2, 7, 0x56000020)
        + bytes(range(256)) * (length // 256)
        + bytes(length % 256)
    )
    assert len(msgs) == frags + 1
    assert all(len(m) <= 240 for m in msgs)
    assert [m[1] & 3 for m in msgs] == [2] + [0] * frags
    assert {m[1] >> 2 for m in msgs} == {frags}
    assert {m[2:8] for m in msgs} == {struct.pack("<HI", 7, 0x56000020)}
    assert b"".join(m[8:] for m in msgs) == bytes(range(256)) * (length // 256) + bytes(length % 256)
