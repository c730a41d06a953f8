"""The three views of the layouts agree on every bundled trace: Scapy, compiled and columnar.

Scapy and columnar are compared column by column (``MessageColumns.differences``), Scapy and
compiled message by message (the jsonl line and the summary); and the compiled view's header
fields, malformation text and lifecycle fields equal the columnar view's columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dissector.analysis.columns import UNKNOWN
from dissector.analysis.fastpath import columns_from_records
from dissector.analysis.fields import PAYLOAD_FIELDS
from dissector.analysis.scapy_path import columns_from_decoded
from dissector.capture.detect import open_records
from dissector.decoded import DecodedMessage, decode_records, jsonl_line
from dissector.decoders import columnar, compiled
from dissector.protocol import registry

TRACES = Path(__file__).resolve().parents[2] / "traces"
CAPTURES = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))
_TYPES = {"request": 1, "reply": 2, "notification": 3}


def _lifecycle_value(record: dict[str, Any], column: str) -> int:
    """The columnar payload column ``column`` as read from a compiled jsonl record (-1 absent)."""
    for message, role, path in PAYLOAD_FIELDS[column]:
        if record["msg_id"] != registry.resolve_message(message).msg_id or record["type"] != role:
            continue
        value: Any = record["fields"]
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return UNKNOWN if value is None else int(value)
    return UNKNOWN


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_three_views_agree(capture: Path) -> None:
    records = list(open_records(str(capture)))
    rc, _ = columns_from_records(records, "c")
    cols = columnar.decode(rc, "c")
    scapy, _ = columns_from_decoded(decode_records(records), "c")
    assert cols.differences(scapy) == []

    views = sorted(
        (m for m in compiled.decode_records(records) if not hasattr(m, "reason")),
        key=lambda m: m.raw.frames[0],
    )
    assert len(views) == len(cols)
    payload = {column: cols.payload[column] for column in PAYLOAD_FIELDS}  # each read builds a column
    for row, view in enumerate(views):
        record = view.to_json()
        reference = DecodedMessage(view.raw)
        assert (jsonl_line(record), view.summary()) == (jsonl_line(reference.to_json()), reference.summary())
        assert record["frame"] == cols.frame[row]
        assert _TYPES.get(record["type"] or "", 0 if record["type"] else UNKNOWN) == cols.msg_type[row]
        assert (UNKNOWN if record["seq"] is None else record["seq"]) == cols.seq[row]
        assert (UNKNOWN if record["msg_id"] is None else record["msg_id"]) == cols.msg_id[row]
        assert (UNKNOWN if record["err_code"] is None else record["err_code"]) == cols.err_code[row]
        assert record["malformed"] == cols.malformed[row]
        if not record["malformed"]:
            for column in PAYLOAD_FIELDS:
                assert _lifecycle_value(record, column) == payload[column][row], column
