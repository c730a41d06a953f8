"""Every generated payload class round-trips: build -> bytes -> dissect -> same fields, same bytes.

The classes are enumerated from the dispatch table, so a layout added later is covered without
touching this file.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dissector.layers import (
    ERROR_REPLIES,
    NOTIFICATIONS,
    REPLIES,
    REQUESTS,
    RMHeader,
    RMReply,
    dissect,
    fields_of,
    malformations,
    payload_layer,
)
from dissector.protocol.messages import MSGQ_MAX_MSG_SIZE, RM_MAX_MSG_PAYLOAD
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
    assert type(layer).__name__ == cls.__name__
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
