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

A reply's reassembled payload starts with a u32 error code (protocol.md 1.3).
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
    StrField,
    XLEIntField,
    XLEShortField,
)
from scapy.packet import Packet, Raw

from dissector.errors import Malformation
from dissector.protocol import registry
from dissector.protocol.layout import Int
from dissector.protocol.messages import (
    MAX_FRAGMENTS,
    MSG_TYPES,
    MSGQ_MAX_MSG_SIZE,
    RPC_API_VERSION,
    RPC_HEADER_SIZE,
    RPC_HEADER_WORDS,
)

from .base import RMStruct, RMTrailing
from .build import _int_field

REQUEST, REPLY, NOTIFICATION, CONTINUATION = 1, 2, 3, 0
CAPTURE_HEADER_SIZE = 4
_DIRECTIONS = {0: "unknown", 1: "to_rm", 2: "from_rm"}


class MsgIdField(XLEIntField):
    """msg_id shown with its name (default dialect), e.g. ``VM_START (0x56000004)``."""

    def i2repr(self, pkt: object, x: int | None) -> str:
        return "None" if x is None else f"{registry.message_name(x)} ({x:#010x})"


class _Problems:
    """Malformation bookkeeping for the header layers (payload layers get it from RMStruct)."""

    def _problems(self) -> list[Malformation]:
        problems = self.__dict__.get("malformations")
        if problems is None:
            problems = []
            object.__setattr__(self, "malformations", problems)
        return problems

    def note(self, kind: str, text: str) -> None:
        self._problems().append(Malformation(kind, text))

    def malformed(self) -> list[Malformation]:
        return list(self._problems())


class GunyahCapture(_Problems, Packet):
    """The 4-byte capture header of design.md 1.1 (DLT 147).

    The direction field is called ``cap_direction`` here because Scapy's own
    ``Packet.direction`` attribute would shadow it; JSON still says ``direction``.
    """

    name = "Gunyah RM capture header"
    fields_desc: ClassVar = [
        ByteField("version", 1),
        ByteEnumField("cap_direction", 0, _DIRECTIONS),
        XLEShortField("client_vmid", 0xFFFF),
    ]

    def do_dissect(self, s: bytes) -> bytes:
        if len(s) >= CAPTURE_HEADER_SIZE:
            return super().do_dissect(s)
        self.note("header", f"record is {len(s)} byte(s), shorter than the 4-byte capture header")
        for f in self.fields_desc:  # too short to hold the header: every field unknown
            self.fields[f.name] = None
        self.raw_packet_cache = b""
        self.raw_packet_cache_fields = {}
        self.explicit = 1
        return s

    def do_dissect_payload(self, s: bytes) -> None:
        if self.version is None:  # the record was cut inside the capture header: keep its bytes
            if s:
                self.add_payload(RMTrailing(s, _internal=1, _underlayer=self))
            return
        if not s:
            self.note("header", "record holds no message after the capture header")
            return
        super().do_dissect_payload(s)

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return RMHeader

    def hashret(self) -> bytes:
        return struct.pack("<H", self.client_vmid or 0) + self.payload.hashret()

    def answers(self, other: Packet) -> bool:
        return (
            isinstance(other, GunyahCapture)
            and other.client_vmid == self.client_vmid
            and self.payload.answers(other.payload)
        )

    def mysummary(self) -> str:
        if self.client_vmid is None:
            return "capture header cut short"
        return f"vm{self.client_vmid:#x} {_DIRECTIONS.get(self.cap_direction, '?')}"


class RMHeader(_Problems, Packet):
    """The RPC header; its payload class is chosen from (msg_type, msg_id) in ``dispatch``."""

    name = "Gunyah RM RPC"
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

    def do_dissect(self, s: bytes) -> bytes:
        if len(s) >= RPC_HEADER_SIZE:
            return super().do_dissect(s)
        for f in self.fields_desc:  # too short to hold a header: every field unknown
            self.fields[f.name] = None
        self.raw_packet_cache = b""
        self.raw_packet_cache_fields = {}
        self.explicit = 1
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
        return s

    @property
    def is_lone_fragment(self) -> bool:
        """True for one piece of a multi-fragment message that was not reassembled."""
        if self.msg_type == CONTINUATION:
            return True
        wire = self.__dict__.get("wire_length")
        return bool(self.fragments) and wire is not None and wire <= MSGQ_MAX_MSG_SIZE

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        from .dispatch import payload_class_for

        if self.is_lone_fragment:
            return RMFragmentData
        return payload_class_for(self.msg_type, self.msg_id, payload)

    def do_dissect_payload(self, s: bytes) -> None:
        from .dispatch import required_size

        if self.__dict__.get("wire_length", 0) < RPC_HEADER_SIZE:
            if s:
                self.add_payload(RMTrailing(s, _internal=1, _underlayer=self))
            return

        if not s and not self.is_lone_fragment and self.__dict__.get("wire_length", 0) >= RPC_HEADER_SIZE:
            need, what = required_size(self.msg_type, self.msg_id)
            if need:
                self.note("truncated", f"{what}: payload is empty, its layout needs {need} byte(s)")
            return
        if not s:
            return
        cls = self.guess_payload_class(s)
        try:
            p = cls(s, _internal=1, _underlayer=self)
        except Exception as exc:  # a dissector bug must not lose the bytes
            self.note("value", f"{cls.__name__} could not be dissected ({exc!r}); kept as raw bytes")
            p = Raw(s, _internal=1, _underlayer=self)
        self.add_payload(p)

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

    def mysummary(self) -> tuple[str, list[type[Packet]]]:
        from .summary import summary_line

        return summary_line(self), [GunyahCapture]


class RMReply(_Problems, Packet):
    """The error code that opens every reply's payload (protocol.md 1.3, 2)."""

    show_summary = False

    name = "RM reply"
    fields_desc: ClassVar = [_int_field(Int("err_code", 4, "rm_error", hex=True))]

    def pre_dissect(self, s: bytes) -> bytes:
        if len(s) < 4:
            self.note("truncated", f"reply has {len(s)} payload byte(s), the error code needs 4")
        return s

    def do_dissect(self, s: bytes) -> bytes:
        if len(s) < 4:
            self.fields["err_code"] = None
            self.raw_packet_cache = b""
            self.raw_packet_cache_fields = {}
            return s
        return super().do_dissect(s)

    def do_dissect_payload(self, s: bytes) -> None:
        if not s and self.err_code == 0:
            from .dispatch import REPLIES

            header = self.underlayer
            cls = REPLIES.get(header.msg_id) if isinstance(header, RMHeader) else None
            need = cls.layout.min_size if cls is not None and cls.layout is not None else 0
            if need:
                name = registry.message_name(header.msg_id)
                self.note("truncated", f"{name} reply: reply data is empty, its layout needs {need} byte(s)")
            return
        super().do_dissect_payload(s)

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        from .dispatch import reply_data_class_for

        header = self.underlayer
        msg_id = header.msg_id if isinstance(header, RMHeader) else 0
        if self.err_code is None:
            return RMFragmentData
        return reply_data_class_for(msg_id, self.err_code)


class RMFragmentData(Packet):
    """Payload bytes of one fragment (a continuation, or a first fragment not reassembled)."""

    show_summary = False

    name = "RM fragment data"
    fields_desc: ClassVar = [StrField("load", b"")]


class RMUnknownPayload(RMStruct):
    """Payload of a message id whose layout is unknown: kept whole, so it still round-trips."""

    name = "RM unknown payload"
    fields_desc: ClassVar = [StrField("data", b"")]
    role = "unknown"

    def post_dissect(self, s: bytes) -> bytes:
        return s


__all__ = [
    "GunyahCapture",
    "RMFragmentData",
    "RMHeader",
    "RMReply",
    "RMUnknownPayload",
]
