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
from functools import cache
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
from dissector.protocol.messages import MSG_TYPES
from dissector.protocol.wire import (
    CAPTURE_HEADER_SIZE,
    CONTINUATION,
    MAX_FRAGMENTS,
    MSGQ_MAX_MSG_SIZE,
    REPLY,
    REQUEST,
    RPC_API_VERSION,
    RPC_HEADER_SIZE,
    RPC_HEADER_WORDS,
)

from .base import RMStruct, RMTrailing
from .build import _int_field

_DIRECTIONS = {0: "unknown", 1: "to_rm", 2: "from_rm"}


class MsgIdField(XLEIntField):
    """msg_id shown with its name in the packet's dialect, e.g. ``VM_START (0x56000004)``."""

    def i2repr(self, pkt: object, x: int | None) -> str:
        dialect = getattr(pkt, "dialect", "rm")
        return "None" if x is None else f"{registry.message_name(x, dialect)} ({x:#010x})"


def add_payload_layer(layer: Packet, cls: type[Packet], s: bytes) -> None:
    """``layer.add_payload(cls(s))``; a dissector bug keeps the bytes as Raw and says so, but
    running out of memory is not a malformed message: MemoryError propagates (Scapy's own
    ``do_dissect_payload`` would turn it into Raw data silently)."""
    try:
        p = cls(s, _internal=1, _underlayer=layer)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a dissector bug must not lose the bytes
        layer.note("value", f"{cls.__name__} could not be dissected ({exc!r}); kept as raw bytes")
        p = Raw(s, _internal=1, _underlayer=layer)
    layer.add_payload(p)


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
    match_subclass = True  # getlayer(GunyahCapture) finds every dialect's subclass
    dialect: ClassVar[str] = "rm"
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
        add_payload_layer(self, self.guess_payload_class(s), s)

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
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


class RMHeader(_Problems, Packet):
    """The RPC header; its payload class is chosen from (msg_type, msg_id) in ``dispatch``."""

    name = "Gunyah RM RPC"
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
        return payload_class_for(self.msg_type, self.msg_id, payload, self.dialect)

    def do_dissect_payload(self, s: bytes) -> None:
        from .dispatch import required_size

        if self.__dict__.get("wire_length", 0) < RPC_HEADER_SIZE:
            if s:
                self.add_payload(RMTrailing(s, _internal=1, _underlayer=self))
            return

        if not s and not self.is_lone_fragment and self.__dict__.get("wire_length", 0) >= RPC_HEADER_SIZE:
            need, what = required_size(self.msg_type, self.msg_id, self.dialect)
            if need:
                self.note("truncated", f"{what}: payload is empty, its layout needs {need} byte(s)")
            return
        if not s:
            return
        add_payload_layer(self, self.guess_payload_class(s), s)

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
        from .summary import summary_line

        return summary_line(self, self.dialect), [GunyahCapture]


class RMReply(_Problems, Packet):
    """The error code that opens every reply's payload (protocol.md 1.3, 2)."""

    show_summary = False
    match_subclass = True
    dialect: ClassVar[str] = "rm"

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
            from .dispatch import tables

            header = self.underlayer
            replies = tables(self.dialect).replies
            cls = replies.get(header.msg_id) if isinstance(header, RMHeader) else None
            need = cls.layout.min_size if cls is not None and cls.layout is not None else 0
            if need and isinstance(header, RMHeader):
                name = registry.message_name(header.msg_id, self.dialect)
                self.note("truncated", f"{name} reply: reply data is empty, its layout needs {need} byte(s)")
            return
        if s:
            add_payload_layer(self, self.guess_payload_class(s), s)

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        from .dispatch import reply_data_class_for

        header = self.underlayer
        msg_id = header.msg_id if isinstance(header, RMHeader) else 0
        if self.err_code is None:
            return RMFragmentData
        return reply_data_class_for(msg_id, self.err_code, self.dialect)


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


@cache
def _subclass(base: type[Packet], dialect: str) -> type[Packet]:
    return type(base.__name__, (base,), {"dialect": dialect, "__module__": base.__module__})


def _for_dialect(base: type[Packet], dialect: str) -> type[Packet]:
    from dissector.protocol.dialects import DEFAULT_DIALECT, get_dialect

    name = get_dialect(dialect).name
    return base if name == DEFAULT_DIALECT else _subclass(base, name)


def capture_class(dialect: str = "rm") -> type[GunyahCapture]:
    """``GunyahCapture`` whose tree names ids, errors and enum values as ``dialect`` does."""
    return _for_dialect(GunyahCapture, dialect)  # type: ignore[return-value]


def header_class(dialect: str = "rm") -> type[RMHeader]:
    """``RMHeader`` whose payload is dissected and named as ``dialect`` does."""
    return _for_dialect(RMHeader, dialect)  # type: ignore[return-value]


def reply_class(dialect: str = "rm") -> type[RMReply]:
    """``RMReply`` of ``dialect`` (its error names and reply data layouts)."""
    return _for_dialect(RMReply, dialect)  # type: ignore[return-value]


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
