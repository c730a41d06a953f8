"""Which Scapy class decodes which payload: one table, keyed by (message type, msg_id).

The tables at the bottom are built from ``dissector.protocol.layouts``; an id that has no
layout decodes as ``RMUnknownPayload`` (bytes kept, counted as unknown), never as a guess.
"""

from __future__ import annotations

from scapy.fields import StrField
from scapy.packet import Packet

from dissector.protocol import registry
from dissector.protocol.layout import EMPTY, Layout, Struct
from dissector.protocol.layouts import LAYOUTS

from .base import RMStruct
from .build import payload_class
from .header import NOTIFICATION, REPLY, REQUEST, RMReply, RMUnknownPayload


class RMErrorData(RMStruct):
    """Bytes after a non-zero error code where the call's layout declares none (kept, not malformed)."""

    name = "RM error reply data"
    show_summary = False
    role = "error_reply"
    fields_desc = [StrField("data", b"")]

    def post_dissect(self, s: bytes) -> bytes:
        return s


def _layouts_by_id() -> dict[int, Layout]:
    out: dict[int, Layout] = {}
    for name, layout in LAYOUTS.items():
        out[registry.resolve_message(name).msg_id] = layout
    return out


def _classes(role: str) -> dict[int, type[RMStruct]]:
    out: dict[int, type[RMStruct]] = {}
    for msg_id, layout in LAYOUTS_BY_ID.items():
        if not layout.known:
            continue
        struct: Struct | None = getattr(layout, role)
        if role == "reply" and struct is None and layout.request is not None:
            struct = EMPTY  # a standard reply: the error code only
        if struct is not None:
            out[msg_id] = payload_class(struct, role, msg_id)
    return out


def payload_class_for(msg_type: int, msg_id: int, payload: bytes) -> type[Packet]:
    """The layer class of a complete message's payload (after the 8-byte header)."""
    if msg_type == REPLY:
        return RMReply
    table = REQUESTS if msg_type == REQUEST else NOTIFICATIONS if msg_type == NOTIFICATION else {}
    return table.get(msg_id, RMUnknownPayload)


def reply_data_class_for(msg_id: int, err_code: int) -> type[Packet]:
    """The layer class of the reply data after the error code."""
    if err_code != 0:
        return ERROR_REPLIES.get(msg_id, RMErrorData)
    return REPLIES.get(msg_id, RMUnknownPayload)


def required_size(msg_type: int, msg_id: int) -> tuple[int, str]:
    """Bytes a payload of this (type, id) needs at least, and how to name it in a message."""
    name = registry.message_name(msg_id)
    if msg_type == REPLY:
        return 4, f"{name} reply"
    table = REQUESTS if msg_type == REQUEST else NOTIFICATIONS if msg_type == NOTIFICATION else {}
    cls = table.get(msg_id)
    kind = "request" if msg_type == REQUEST else "notification"
    if cls is None or cls.layout is None:
        return 0, f"{name} {kind}"
    return cls.layout.min_size, f"{name} {kind}"


# --- the dispatch table -------------------------------------------------------------------
LAYOUTS_BY_ID: dict[int, Layout] = _layouts_by_id()
REQUESTS: dict[int, type[RMStruct]] = _classes("request")
REPLIES: dict[int, type[RMStruct]] = _classes("reply")
ERROR_REPLIES: dict[int, type[RMStruct]] = _classes("error_reply")
NOTIFICATIONS: dict[int, type[RMStruct]] = _classes("notification")


def dispatch_rows() -> list[tuple[str, int, str, str]]:
    """The whole table as rows (type, msg_id, name, class), for docs and ``ghrm ids``."""
    rows = []
    for kind, table in (
        ("request", REQUESTS),
        ("reply", REPLIES),
        ("error_reply", ERROR_REPLIES),
        ("notification", NOTIFICATIONS),
    ):
        for msg_id, cls in sorted(table.items()):
            rows.append((kind, msg_id, registry.message_name(msg_id), cls.__name__))
    return rows
