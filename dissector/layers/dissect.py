"""Bytes in, Scapy packet out: the entry points of the layer stage.

``dissect`` takes one complete RM message (the 8-byte header and its whole payload, i.e. a
message-queue message or a reassembled one) and never raises in the default lenient mode;
``strict=True`` raises the first ``Malformation`` as its typed error instead.
"""

from __future__ import annotations

from typing import TypeVar

from scapy.packet import Packet

from dissector.errors import Malformation
from dissector.protocol.wire import MSGQ_MAX_MSG_SIZE

from .base import RMStruct, RMTrailing
from .header import GunyahCapture, RMFragmentData, RMHeader, RMReply, capture_class, header_class

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
    if len(data) - 4 > MSGQ_MAX_MSG_SIZE:
        pkt.note("length", f"message-queue message is {len(data) - 4} bytes, more than {MSGQ_MAX_MSG_SIZE}")
    if strict:
        problems = malformations(pkt) + (malformations(msg) if msg is not None else [])
        if problems:
            raise problems[0].error()
    return pkt


def malformations(pkt: Packet | None) -> list[Malformation]:
    """Every malformation recorded on ``pkt`` and the layers below it, in layer order."""
    found: list[Malformation] = []
    layer = pkt
    while layer is not None and not isinstance(layer, bytes) and layer.__class__.__name__ != "NoPayload":
        collect = getattr(layer, "malformed", None)
        if collect is not None:
            found.extend(collect())
        layer = layer.payload if layer.payload else None
    return found


def payload_layer(header: Packet) -> Packet | None:
    """The payload layer of a message: request/notification fields or reply data (after err)."""
    layer = header.payload if header.payload else None
    if isinstance(layer, RMReply):
        layer = layer.payload if layer.payload else None
    if isinstance(layer, RMTrailing):
        return None
    if layer is None or isinstance(layer, RMStruct | RMFragmentData):
        return layer
    return layer
