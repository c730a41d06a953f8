"""Every generated payload class round-trips: build -> bytes -> dissect -> same fields, same bytes.

The classes are enumerated from the dispatch table, so a layout added later is covered without
touching this file. Messages with lists are also built long (64+ entries), fragmented into
msgq messages, reassembled and dissected; and whole sessions go through the pcap and pcapng
writers and back to the same ``--format jsonl`` objects.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dissector.capture.detect import open_records
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.decoded import decode_records
from dissector.layers import (
    ERROR_REPLIES,
    NOTIFICATIONS,
    REPLIES,
    REQUESTS,
    RMHeader,
    RMReply,
    dissect,
    fields_of,
    fragment,
    malformations,
    payload_layer,
)
from dissector.protocol.layout import Array
from dissector.protocol.wire import MSGQ_MAX_MSG_SIZE, RM_MAX_MSG_PAYLOAD
from tests.strategies import struct_kwargs

CASES = [
    *[("request", 1, msg_id, cls) for msg_id, cls in REQUESTS.items()],
    *[("reply", 2, msg_id, cls) for msg_id, cls in REPLIES.items()],
    *[("error_reply", 2, msg_id, cls) for msg_id, cls in ERROR_REPLIES.items()],
    *[("notification", 3, msg_id, cls) for msg_id, cls in NOTIFICATIONS.items()],
]


def _build(role: str, msg_type: int, msg_id: int, cls: type, seq: int, err: int, kwargs: dict) -> bytes:
    top = RMHeader(msg_type=msg_type, seq=seq, msg_id=msg_id)
    if msg_type == 2:
        top = top / RMReply(err_code=err if role == "error_reply" else 0)
    return bytes(top / cls(**kwargs))


@pytest.mark.parametrize(
    ("role", "msg_type", "msg_id", "cls"), CASES, ids=lambda v: getattr(v, "__name__", None)
)
@given(data=st.data(), seq=st.integers(0, 0xFFFF), err=st.integers(1, 0x14))
def test_build_dissect_build_is_identity(role, msg_type, msg_id, cls, data, seq, err):
    kwargs = data.draw(struct_kwargs(cls.layout))
    wire = _build(role, msg_type, msg_id, cls, seq, err, kwargs)
    if len(wire) - 8 > RM_MAX_MSG_PAYLOAD:
        return  # larger than RM can send; not a valid message
    pkt = dissect(wire)
    assert malformations(pkt) == [], (cls.__name__, wire.hex())
    assert bytes(pkt) == wire
    layer = payload_layer(pkt)
    if layer is None:  # every field optional and absent: nothing after the header (and err)
        assert len(wire) == (12 if msg_type == 2 else 8)
        return
    assert type(layer).__name__ == cls.__name__ or type(layer) in getattr(cls, "cases", ())
    # the dissected fields rebuild to the same bytes once more
    again = _build(role, msg_type, msg_id, cls, seq, err, {k: v for k, v in layer.fields.items()})
    assert again == wire
    # every integer the user gave comes back unchanged
    decoded = fields_of(layer)
    for name, value in kwargs.items():
        if isinstance(value, int) and not name.startswith("_"):
            assert decoded.get(name, 0) == value, name


def test_there_is_a_layer_for_every_call_and_notification():
    # a guard against an empty dispatch table making the test above vacuous
    assert len(REQUESTS) >= 8 and len(NOTIFICATIONS) >= 3
    assert MSGQ_MAX_MSG_SIZE == 240


# --- large messages: fragment -> reassemble -> dissect, and jsonl through the capture writers ---
def _min_list(layout) -> int:
    """Entries per top-level list that make the payload longer than one msgq message."""
    sizes = [f.entry.fixed_size or 8 for f in layout.walk() if isinstance(f, Array)]
    return -(-MSGQ_MAX_MSG_SIZE // sum(sizes)) if sizes else 0


LIST_CASES = [c for c in CASES if _min_list(c[3].layout)]


@given(case=st.sampled_from(LIST_CASES), data=st.data(), seq=st.integers(0, 0xFFFF))
def test_fragment_reassemble_dissect_is_identity(case, data, seq):
    """A message too long for one msgq message survives fragmentation and reassembly exactly."""
    role, msg_type, msg_id, cls = case
    n = _min_list(cls.layout)
    kwargs = data.draw(struct_kwargs(cls.layout, max_list=n + 4, min_list=n))
    wire = _build(role, msg_type, msg_id, cls, seq, 5, kwargs)
    assume(MSGQ_MAX_MSG_SIZE < len(wire) <= 8 + RM_MAX_MSG_PAYLOAD)
    pieces = fragment(wire)
    assert len(pieces) > 1 and all(len(p) <= MSGQ_MAX_MSG_SIZE for p in pieces)
    records = [Record(i, i, Direction.FROM_RM, 3, p) for i, p in enumerate(pieces, 1)]
    (msg,) = decode_records(records)
    whole = pieces[0][:8] + wire[8:]  # the first fragment's header (fragment count set) + all payload
    assert msg.raw.data == whole and msg.raw.frames == tuple(range(1, len(pieces) + 1))
    assert msg.problems == [], msg.malformed
    assert bytes(msg.packet) == whole
    assert msg.packet.fragments == len(pieces) - 1
    assert msg.to_json()["fields"] == fields_of(payload_layer(dissect(wire)))


def _session(draw: st.DrawFn) -> list[Record]:
    """A few valid messages of any class, some long enough to be fragmented, as records."""
    records: list[Record] = []
    for _ in range(draw(st.integers(1, 4))):
        role, msg_type, msg_id, cls = draw(st.sampled_from(CASES))
        n = draw(st.sampled_from([0, _min_list(cls.layout)]))
        kwargs = draw(struct_kwargs(cls.layout, max_list=max(n, 2) + 2, min_list=n))
        wire = _build(role, msg_type, msg_id, cls, draw(st.integers(0, 0xFFFF)), 5, kwargs)
        if len(wire) - 8 > RM_MAX_MSG_PAYLOAD:
            continue
        direction = draw(st.sampled_from([Direction.TO_RM, Direction.FROM_RM]))
        vmid = draw(st.integers(0, 0xFFFF))
        for piece in fragment(wire):
            i = len(records) + 1
            records.append(Record(i, 1_767_225_600_000_000_000 + i * 1_001, direction, vmid, piece))
    return records


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@given(data=st.data())
def test_jsonl_round_trips_through_the_capture_writers(fmt, data):
    """Records -> pcap/pcapng writer -> reader -> decode gives the same JSON as decoding directly."""
    records = _session(data.draw)
    buf = io.BytesIO()
    write_capture(buf, records, fmt)
    direct = [m.to_json() for m in decode_records(records)]
    with open_records(io.BytesIO(buf.getvalue())) as stream:
        assert stream.format == fmt
        read = [m.to_json() for m in decode_records(stream)]
    assert read == direct
    assert all(m["malformed"] is None for m in read)
