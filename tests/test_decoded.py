"""``jsonl_line`` writes what ``json.dumps`` writes, faster: checked on any JSON-able record."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dissector.decoded import ExactTime, jsonl_line

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.integers(0, 2**62).map(ExactTime),
)
_VALUES = st.recursive(
    _SCALARS.filter(lambda v: not isinstance(v, ExactTime)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _reference(record: dict[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        text = value.text if isinstance(value, ExactTime) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{json.dumps(key)}:{text}")
    return "{" + ",".join(parts) + "}"


@given(st.dictionaries(st.text(max_size=8), _SCALARS | _VALUES, max_size=8))
def test_jsonl_line_is_json_dumps(record: dict[str, Any]) -> None:
    assert jsonl_line(record) == _reference(record)


def test_exact_time_keeps_its_decimal_text() -> None:
    assert jsonl_line({"time": ExactTime(1_700_000_000_002_000_000)}) == '{"time":1700000000.002000}'


_CONTRACT = st.fixed_dictionaries(
    {
        "frame": st.integers(0, 2**40),
        "frames": st.lists(st.integers(0, 2**40), min_size=1, max_size=3),
        "time": st.none() | st.integers(0, 2**62).map(ExactTime) | st.floats(),
        "time_end": st.none() | st.integers(0, 2**62).map(ExactTime),
        "direction": st.sampled_from(["to_rm", "from_rm", "unknown"]),
        "client_vmid": st.integers(0, 0xFFFF),
        "type": st.none() | st.text(max_size=12),
        "fields": st.dictionaries(st.text(max_size=5), _VALUES, max_size=4),
        "malformed": st.none() | st.text(),
        "latency": st.none() | st.floats(),
    }
)


@given(_CONTRACT)
def test_jsonl_line_of_a_contract_record_is_json_dumps(record: dict[str, Any]) -> None:
    """The one-call path for records in the design.md 1.3 key order (to_json's) is the same text."""
    assert jsonl_line(record) == _reference(record)
