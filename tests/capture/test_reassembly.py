"""Reassembly per (client, direction), following protocol.md 1.5, and every fault it flags."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dissector.capture.reassembly import RawMessage, reassemble
from dissector.capture.record import CaptureProblem, Direction, Record
from dissector.layers import fragment

HYP_RESOURCES = 0x56000020


def _message(payload_len: int, seq: int = 3, msg_type: int = 2, msg_id: int = HYP_RESOURCES) -> bytes:
    payload = bytes((i * 7) & 0xFF for i in range(payload_len))
    return struct.pack("<BBHI", 0x21, msg_type, seq, msg_id) + payload


def _records(
    msgs: list[bytes], client: int = 3, direction: Direction = Direction.FROM_RM, start: int = 1
) -> list[Record]:
    return [
        Record(number=start + i, time_ns=1_000 * (start + i), direction=direction, client_vmid=client, data=m)
        for i, m in enumerate(msgs)
    ]


def _whole(items) -> list[RawMessage]:
    return [m for m in reassemble(items) if isinstance(m, RawMessage)]


@pytest.mark.parametrize("continuations", [1, 2, 62])
def test_reassembles_1_2_and_62_continuations(continuations):
    data = _message(232 * continuations + 5)
    records = _records(fragment(data))
    assert len(records) == continuations + 1
    (msg,) = _whole(records)
    assert msg.data[8:] == data[8:]
    assert msg.data[:8] == records[0].data[:8]  # the first record's header, fragment count included
    assert msg.data[1] >> 2 == continuations
    assert msg.frames == tuple(range(1, continuations + 2))
    assert msg.time_ns == 1_000 and msg.time_end_ns == 1_000 * (continuations + 1)
    assert msg.problems == ()


def test_section_10_hyp_resources_example_headers():
    # 4 (err) + 4 (n) + 6 * 44 = 272 bytes -> 240 + 48
    msgs = fragment(_message(272))
    assert [len(m) for m in msgs] == [240, 48]
    assert msgs[0][:8].hex(" ") == "21 06 03 00 20 00 00 56"
    assert msgs[1][:8].hex(" ") == "21 04 03 00 20 00 00 56"


def test_queues_of_different_clients_and_directions_interleave():
    a = fragment(_message(300, seq=1))
    b = fragment(_message(300, seq=2))
    req = fragment(_message(4, seq=9, msg_type=1, msg_id=0x56000004))
    items = [
        Record(1, 1, Direction.FROM_RM, 3, a[0]),
        Record(2, 2, Direction.FROM_RM, 4, b[0]),
        Record(3, 3, Direction.TO_RM, 3, req[0]),
        Record(4, 4, Direction.FROM_RM, 4, b[1]),
        Record(5, 5, Direction.FROM_RM, 3, a[1]),
    ]
    out = _whole(items)
    assert [(m.client_vmid, m.frames) for m in out] == [(3, (3,)), (4, (2, 4)), (3, (1, 5))]
    assert all(m.problems == () for m in out)


def _kinds(msg: RawMessage) -> list[str]:
    return [p.kind for p in msg.problems]


def test_missing_continuation_at_end_is_reported_with_the_partial_message():
    msgs = fragment(_message(600))
    out = _whole(_records(msgs[:2]))
    assert len(out) == 1 and out[0].frames == (1, 2)
    assert _kinds(out[0]) == ["fragment"]
    assert "1 of 2 continuation(s)" in out[0].problems[0].text and "capture ended" in out[0].problems[0].text


def test_new_message_mid_reassembly_aborts_the_old_one_and_keeps_both():
    first = fragment(_message(600, seq=1))
    second = _message(4, seq=2)
    out = _whole(_records([first[0], second, first[1]]))
    assert [m.frames for m in out] == [(1,), (2,), (3,)]
    assert "new message (frame 2)" in out[0].problems[0].text
    assert out[1].problems == ()
    assert "no message in progress" in out[2].problems[0].text


def test_stray_continuation_is_its_own_message():
    cont = fragment(_message(300))[1]
    (msg,) = _whole(_records([cont]))
    assert msg.data == cont and _kinds(msg) == ["fragment"]


def test_mismatched_continuation_is_flagged_and_the_real_one_still_completes():
    good = fragment(_message(300, seq=1))
    other = fragment(_message(300, seq=2))
    out = _whole(_records([good[0], other[1], good[1]]))
    assert len(out) == 2
    stray, whole = out
    assert stray.frames == (2,) and "does not match" in stray.problems[0].text
    assert whole.frames == (1, 3) and whole.problems == ()


def test_fragment_count_above_62_and_short_and_long_records():
    over = struct.pack("<BBHI", 0x21, (63 << 2) | 2, 1, HYP_RESOURCES) + bytes(232)
    short = b"\x21\x01\x00"
    long = struct.pack("<BBHI", 0x21, 1, 1, 0x56000004) + bytes(300)
    out = _whole(_records([over, short, long]))
    texts = [p.text for m in out for p in m.problems]
    assert any("fragments=63 exceeds" in t for t in texts)
    assert any("shorter than the 8-byte RPC header" in t for t in texts)
    assert any("308 bytes, more than 240" in t for t in texts)


def test_capture_problems_pass_through_in_place():
    problem = CaptureProblem(source="x.pcap:offset 40", reason="corrupt", offset=40, length=8)
    items = [
        *_records([_message(4, msg_type=1)]),
        problem,
        *_records([_message(4, seq=4, msg_type=1)], start=2),
    ]
    out = list(reassemble(items))
    assert isinstance(out[1], CaptureProblem) and [type(o).__name__ for o in out] == [
        "RawMessage",
        "CaptureProblem",
        "RawMessage",
    ]


@given(
    sizes=st.lists(st.integers(0, 1500), min_size=1, max_size=8),
    drop=st.integers(0, 40),
)
def test_nothing_around_damage_is_lost(sizes, drop):
    """Drop one record from a stream: every message not touching it still comes out whole."""
    messages = [_message(size, seq=i) for i, size in enumerate(sizes)]
    pieces = [(i, piece) for i, m in enumerate(messages) for piece in fragment(m)]
    drop %= len(pieces)
    damaged_msg = pieces[drop][0]
    kept = [p for j, p in enumerate(pieces) if j != drop]
    records = [Record(n + 1, n, Direction.FROM_RM, 3, piece) for n, (_, piece) in enumerate(kept)]
    out = _whole(records)
    whole = {(m.data[2:8], m.data[8:]) for m in out if not m.problems}
    for i, m in enumerate(messages):
        if i != damaged_msg:
            assert (m[2:8], m[8:]) in whole
    # and every record appears in exactly one output message
    assert sorted(f for m in out for f in m.frames) == list(range(1, len(kept) + 1))
