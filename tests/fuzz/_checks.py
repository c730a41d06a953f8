"""What every fuzz target asserts about reader and decoder output (shared with the property tests).

Kept free of atheris and hypothesis so the regression replay and the property tests use the
very same checks as the fuzzers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dissector.capture.reassembly import RawMessage
from dissector.capture.record import CaptureProblem, Direction, Record
from dissector.decoded import DecodedMessage, decode_records
from dissector.errors import MalformedMessage
from dissector.layers import dissect, dissect_record, fields_of, malformations, payload_layer
from dissector.layers.summary import summary_line
from dissector.protocol.wire import MAX_FRAGMENTS


def check_reader_items(items: list[object], *, max_record: int) -> list[Record]:
    """Reader output: only records and problems, numbers rising, one fatal problem at most, last."""
    records: list[Record] = []
    for i, item in enumerate(items):
        assert isinstance(item, Record | CaptureProblem), type(item)
        if isinstance(item, Record):
            assert isinstance(item.data, bytes) and len(item.data) <= max_record, len(item.data)
            assert isinstance(item.direction, Direction)
            assert 0 <= item.client_vmid <= 0xFFFF
            records.append(item)
        elif item.fatal:
            assert not any(isinstance(x, Record) for x in items[i + 1 :]), "records after a fatal problem"
    numbers = [r.number for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), numbers
    return records


def check_decoded(msg: DecodedMessage) -> dict[str, object]:
    """A decoded message: its JSON view serialises and its malformations are our kinds."""
    record = msg.to_json()
    json.dumps(record, allow_nan=False)
    msg.summary()
    for problem in msg.problems:
        assert isinstance(problem.error(), MalformedMessage)
    assert (record["malformed"] is None) == (not msg.problems)
    return record


def decode_all(items: Iterable[Record | CaptureProblem]) -> list[DecodedMessage]:
    """Reassemble and decode; every record ends up in exactly one message."""
    records: list[Record] = []

    def tee() -> Iterable[Record | CaptureProblem]:
        for item in items:
            if isinstance(item, Record):
                records.append(item)
            yield item

    messages = []
    for out in decode_records(tee()):
        if isinstance(out, DecodedMessage):
            check_decoded(out)
            messages.append(out)
    frames = [f for m in messages for f in m.raw.frames]
    assert sorted(frames) == sorted(r.number for r in records), "a record was lost or duplicated"
    size = {r.number: len(r.data) for r in records}
    for m in messages:
        assert len(m.raw.frames) <= MAX_FRAGMENTS + 2, m.raw.frames
        assert len(m.raw.data) <= sum(size[f] for f in m.raw.frames), "reassembly invented bytes"
    return messages


def check_message_bytes(data: bytes) -> None:
    """``dissect`` of any bytes: lenient never raises and keeps every byte; strict raises ours."""
    pkt = dissect(data)
    found = malformations(pkt)
    assert bytes(pkt) == data, "lenient dissection lost or changed bytes"
    summary_line(pkt)
    fields_of(payload_layer(pkt))
    pkt.show(dump=True)
    raw = RawMessage((1,), None, None, Direction.UNKNOWN, 0xFFFF, data)
    check_decoded(DecodedMessage(raw))
    try:
        dissect(data, strict=True)
    except MalformedMessage as exc:
        assert found and str(exc) == str(found[0])
    else:
        assert not found, found


def check_record_bytes(data: bytes) -> None:
    """``dissect_record`` of any bytes, as ``check_message_bytes``."""
    pkt = dissect_record(data)
    found = malformations(pkt)
    assert bytes(pkt) == data, "lenient dissection lost or changed bytes"
    pkt.summary()
    pkt.show(dump=True)
    try:
        dissect_record(data, strict=True)
    except MalformedMessage:
        assert found
    else:
        assert not found, found
