"""Bytes in, Scapy packet out: the entry points of the layer stage.

``dissect`` takes one complete RM message (the 8-byte header and its whole payload, i.e. a
message-queue message or a reassembled one) and never raises in the default lenient mode;
``strict=True`` raises the first ``Malformation`` as its typed error instead.
"""

from __future__ import annotations

from typing import TypeVar

from scapy.packet import Packet

from dissector.protocol.wire import CAPTURE_HEADER_SIZE, MSGQ_MAX_MSG_SIZE

from .header import GunyahCapture, RMHeader, capture_class, header_class
from .tree import malformations, payload_layer

P = TypeVar("P", bound=Packet)


def _dissected(cls: type[P], data: bytes) -> P:
    """``cls(data)``, except that empty input is dissected too (Scapy would build defaults)."""
    if data:
        return cls(data)
    pkt = cls()
    pkt.dissect(b"")
    return pkt


def dissect(data: bytes, *, strict: bool = False, dialect: str = "rm") -> RMHeader:
    """Dissect one complete RM message (header + payload), named and laid out as ``dialect``."""
    pkt = _dissected(header_class(dialect), bytes(data))
    if strict:
        problems = malformations(pkt)
        if problems:
            raise problems[0].error()
    return pkt


def dissect_record(data: bytes, *, strict: bool = False, dialect: str = "rm") -> GunyahCapture:
    """Dissect one capture record (4-byte capture header + one message-queue message)."""
    data = bytes(data)
    pkt = _dissected(capture_class(dialect), data)
    msg = pkt.getlayer(RMHeader)
    size = len(data) - CAPTURE_HEADER_SIZE
    if size > MSGQ_MAX_MSG_SIZE:
        pkt.note("length", f"message-queue message is {size} bytes, more than {MSGQ_MAX_MSG_SIZE}")
    if strict:
        problems = malformations(pkt) + (malformations(msg) if msg is not None else [])
        if problems:
            raise problems[0].error()
    return pkt


__all__ = ["dissect", "dissect_record", "malformations", "payload_layer"]
