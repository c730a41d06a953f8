"""The capture header, the 8-byte RPC header and the reply error code.

Capture record (design.md 1.1), one per message-queue message::

    0       1       2               4
    +-------+-------+---------------+---------------------------- - -
    |version|  dir  |  client_vmid  |  message-queue message (8..240 bytes)
    +-------+-------+---------------+---------------------------- - -

RPC header (protocol.md 1.2), little-endian, in every message-queue message::

    byte 0: header_words:4 | api_version:4   (0x21)
    byte 1: fragments:6    | msg_type:2
    bytes 2-3: seq          bytes 4-7: msg_id

A reply's reassembled payload starts with a u32 error code (protocol.md 1.3): ``RMReply`` in
``reply.py``. The payload classes are chosen by ``dispatch.py``; the summary line is built by
``summary.py``. Neither imports this module, so the layers have no import circle.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ByteField,
    LEShortField,
    XLEIntField,
    XLEShortField,
)
from scapy.packet import Packet

from dissector.protocol import registry
from dissector.protocol.messages import MSG_TYPES
from dissector.protocol.wire import (
    CAPTURE_HEADER_SIZE,
    CONTINUATION,
    MAX_FRAGMENTS,
    REPLY,
    REQUEST,
    RPC_API_VERSION,
    RPC_HEADER_SIZE,
    RPC_HEADER_WORDS,
    Direction,
    lone_fragment,
)

from .base import MalformationLog, RMTrailing, for_dialect
from .dispatch import payload_class_for, required_size
from .raw import RMFragmentData, RMUnknownPayload
from .reply import RMReply, reply_class
from .scapy_adapter import FixedHeader
from .summary import summary_line

_DIRECTIONS = {d.value: d.label for d in Direction}


class MsgIdField(XLEIntField):
    """msg_id shown with its name in the packet's dialect, e.g. ``VM_START (0x56000004)``."""

    def i2repr(self, pkt: object, x: int | None) -> str:
        dialect = getattr(pkt, "dialect", "rm")
        return "None" if x is None else f"{registry.message_name(x, dialect)} ({x:#010x})"


class GunyahCapture(MalformationLog, FixedHeader):
    """The 4-byte capture header of design.md 1.1 (DLT 147).

    The direction field is called ``cap_direction`` here because Scapy's own
    ``Packet.direction`` attribute would shadow it; JSON still says ``direction``.
    """

    name = "Gunyah RM capture header"
    header_size = CAPTURE_HEADER_SIZE
    match_subclass = True  # getlayer(GunyahCapture) finds every dialect's subclass
    dialect: ClassVar[str] = "rm"
    fields_desc: ClassVar = [
        ByteField("version", 1),
        ByteEnumField("cap_direction", 0, _DIRECTIONS),
        XLEShortField("client_vmid", 0xFFFF),
    ]

    def pre_dissect(self, s: bytes) -> bytes:
        if len(s) < CAPTURE_HEADER_SIZE:
            self.note("header", f"record is {len(s)} byte(s), shorter than the 4-byte capture header")
        return s

    def post_dissect(self, s: bytes) -> bytes:
        if not s and self.version is not None:
            self.note("header", "record holds no message after the capture header")
        return s

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.version is None:  # the record was cut inside the capture header: keep its bytes
            return RMTrailing
        return header_class(self.dialect)

    def hashret(self) -> bytes:
        return struct.pack("<H", self.client_vmid or 0) + self.payload.hashret()

    def answers(self, other: Packet) -> int:
        return (
            isinstance(other, GunyahCapture)
            and other.client_vmid == self.client_vmid
            and self.payload.answers(other.payload)
        )

    def mysummary(self) -> str:
        if self.client_vmid is None:
            return "capture header cut short"
        return f"vm{self.client_vmid:#x} {_DIRECTIONS.get(self.cap_direction, '?')}"


class RMHeader(MalformationLog, FixedHeader):
    """The RPC header; its payload class is chosen from (msg_type, msg_id) in ``dispatch``."""

    name = "Gunyah RM RPC"
    header_size = RPC_HEADER_SIZE
    match_subclass = True
    dialect: ClassVar[str] = "rm"
    fields_desc: ClassVar = [
        BitField("header_words", RPC_HEADER_WORDS, 4),
        BitField("api_version", RPC_API_VERSION, 4),
        BitField("fragments", 0, 6),
        BitEnumField("msg_type", REQUEST, 2, dict(MSG_TYPES.values)),
        LEShortField("seq", 0),
        MsgIdField("msg_id", 0),
    ]

    def pre_dissect(self, s: bytes) -> bytes:
        object.__setattr__(self, "wire_length", len(s))
        if len(s) < RPC_HEADER_SIZE:
            self.note("header", f"message is {len(s)} byte(s), shorter than the 8-byte RPC header")
        return s

    def post_dissect(self, s: bytes) -> bytes:
        length = self.__dict__.get("wire_length", 0)
        if length >= RPC_HEADER_SIZE and (
            self.api_version != RPC_API_VERSION or self.header_words != RPC_HEADER_WORDS
        ):
            self.note(
                "header",
                f"api byte {(self.header_words << 4) | self.api_version:#04x}: version {self.api_version}, "
                f"header words {self.header_words} (expected 0x21)",
            )
        if self.fragments is not None and self.fragments > MAX_FRAGMENTS:
            self.note("header", f"fragments={self.fragments} exceeds the maximum of {MAX_FRAGMENTS}")
        if not s and length >= RPC_HEADER_SIZE and not self.is_lone_fragment:
            need, what = required_size(self.msg_type, self.msg_id, self.dialect)
            if need:
                self.note("truncated", f"{what}: payload is empty, its layout needs {need} byte(s)")
        return s

    @property
    def is_lone_fragment(self) -> bool:
        """True for one piece of a multi-fragment message that was not reassembled."""
        if self.msg_type == CONTINUATION:
            return True
        wire = self.__dict__.get("wire_length")
        return wire is not None and lone_fragment(self.fragments or 0, wire)

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.__dict__.get("wire_length", RPC_HEADER_SIZE) < RPC_HEADER_SIZE:
            return RMTrailing  # bytes of a header cut short: kept as they are
        if self.is_lone_fragment:
            return RMFragmentData
        if self.msg_type == REPLY:
            return reply_class(self.dialect)
        return payload_class_for(self.msg_type, self.msg_id, self.dialect)

    def hashret(self) -> bytes:
        return struct.pack("<HI", self.seq or 0, self.msg_id or 0)

    def answers(self, other: Packet) -> bool:
        return (
            isinstance(other, RMHeader)
            and self.msg_type == REPLY
            and other.msg_type == REQUEST
            and other.seq == self.seq
            and other.msg_id == self.msg_id
        )

    def mysummary(self) -> tuple[str, list[type[Packet]]]:  # type: ignore[override]  # Scapy takes both
        return summary_line(self, self.dialect), [GunyahCapture]


def capture_class(dialect: str = "rm") -> type[GunyahCapture]:
    """``GunyahCapture`` whose tree names ids, errors and enum values as ``dialect`` does."""
    return for_dialect(GunyahCapture, dialect)  # type: ignore[return-value]


def header_class(dialect: str = "rm") -> type[RMHeader]:
    """``RMHeader`` whose payload is dissected and named as ``dialect`` does."""
    return for_dialect(RMHeader, dialect)  # type: ignore[return-value]


# RMFragmentData, RMReply, RMUnknownPayload and reply_class are at home in raw.py / reply.py
# since the layers lost their import circle; still importable from here, as notebooks and
# scripts written before do.
__all__ = [
    "GunyahCapture",
    "RMFragmentData",
    "RMHeader",
    "RMReply",
    "RMUnknownPayload",
    "capture_class",
    "header_class",
    "reply_class",
]
