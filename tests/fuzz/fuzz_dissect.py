"""Fuzz target: one message or one capture record -> Scapy layers (lenient and strict).

Promises checked: lenient ``dissect``/``dissect_record`` never raise and rebuild the exact
input bytes; the JSON view serialises; strict mode raises only ``MalformedMessage`` subclasses,
and does so exactly when lenient mode found a malformation.
"""

from __future__ import annotations

from _harness import instrumented, run

with instrumented(__name__):
    from _checks import check_message_bytes, check_record_bytes

    from dissector.layers import NOTIFICATIONS, REPLIES, REQUESTS, RMHeader, RMReply

DICTIONARY = (
    b"\x21",
    b"\x01\x01\x03\x00",
    b"\x00\x00\x56",
    b"\x10\x56",
    b"\x00\x00\x51",
    b"\xff\xff\xff\xff",
)


def seeds() -> list[bytes]:
    """A default instance of every payload class, bare and behind a capture header."""
    out = []
    for msg_type, table in ((1, REQUESTS), (3, NOTIFICATIONS)):
        for msg_id, cls in table.items():
            out.append(bytes(RMHeader(msg_type=msg_type, msg_id=msg_id) / cls()))
    for msg_id, cls in REPLIES.items():
        out.append(bytes(RMHeader(msg_type=2, msg_id=msg_id) / RMReply(err_code=0) / cls()))
    return out + [b"\x01\x01\x03\x00" + m for m in out[::7]]


def test_one_input(data: bytes) -> None:
    """Dissect ``data`` as a message and as a capture record."""
    check_message_bytes(data)
    check_record_bytes(data)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
