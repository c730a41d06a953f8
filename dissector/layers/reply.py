"""The error code that opens every reply's payload (protocol.md 1.3, 2), and what follows it."""

from __future__ import annotations

from typing import ClassVar

from scapy.packet import Packet

from dissector.protocol import registry
from dissector.protocol.layout import Int
from dissector.protocol.wire import REPLY_ERROR_SIZE

from .base import MalformationLog, for_dialect
from .build import _int_field
from .dispatch import reply_data_class_for, tables
from .raw import RMFragmentData
from .scapy_adapter import FixedHeader


class RMReply(MalformationLog, FixedHeader):
    """The u32 RM error code; its payload class comes from the call's reply layouts."""

    show_summary = False
    match_subclass = True
    dialect: ClassVar[str] = "rm"

    name = "RM reply"
    header_size = REPLY_ERROR_SIZE
    explicit_when_short = False
    fields_desc: ClassVar = [_int_field(Int("err_code", REPLY_ERROR_SIZE, "rm_error", hex=True))]

    def pre_dissect(self, s: bytes) -> bytes:
        if len(s) < REPLY_ERROR_SIZE:
            self.note("truncated", f"reply has {len(s)} payload byte(s), the error code needs 4")
        return s

    def _msg_id(self) -> int | None:
        """The msg_id of the RPC header this reply sits on (None when built on its own)."""
        return getattr(self.underlayer, "msg_id", None)

    def post_dissect(self, s: bytes) -> bytes:
        if not s and self.err_code == 0:
            msg_id = self._msg_id()
            cls = tables(self.dialect).replies.get(msg_id) if msg_id is not None else None
            need = cls.layout.min_size if cls is not None and cls.layout is not None else 0
            if need and msg_id is not None:
                name = registry.message_name(msg_id, self.dialect)
                self.note("truncated", f"{name} reply: reply data is empty, its layout needs {need} byte(s)")
        return s

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.err_code is None:
            return RMFragmentData
        return reply_data_class_for(self._msg_id() or 0, self.err_code, self.dialect)


def reply_class(dialect: str = "rm") -> type[RMReply]:
    """``RMReply`` of ``dialect`` (its error names and reply data layouts)."""
    return for_dialect(RMReply, dialect)  # type: ignore[return-value]
