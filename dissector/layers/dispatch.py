"""Which Scapy class decodes which payload: one table per dialect, keyed by (message type, msg_id).

The tables are built from ``registry.layout`` (the layouts of ``dissector.protocol.layouts``
with the dialect's replacements); an id that has no layout decodes as ``RMUnknownPayload``
(bytes kept, counted as unknown), never as a guess. ``REQUESTS`` ... are the default (``rm``)
dialect's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from scapy.packet import Packet

from dissector.protocol import registry
from dissector.protocol.dialects import DEFAULT_DIALECT, get_dialect
from dissector.protocol.layout import Role
from dissector.protocol.wire import NOTIFICATION, REPLY, REQUEST

from .base import RMStruct
from .build import payload_class
from .raw import RMErrorData, RMUnknownPayload


@dataclass(frozen=True)
class Tables:
    """The payload classes of one dialect, by msg_id."""

    requests: dict[int, type[RMStruct]]
    replies: dict[int, type[RMStruct]]
    error_replies: dict[int, type[RMStruct]]
    notifications: dict[int, type[RMStruct]]

    def for_type(self, msg_type: int) -> dict[int, type[RMStruct]]:
        if msg_type == REQUEST:
            return self.requests
        if msg_type == NOTIFICATION:
            return self.notifications
        return {}


def _classes(role: Role, dialect: str) -> dict[int, type[RMStruct]]:
    out: dict[int, type[RMStruct]] = {}
    for msg_id in registry.layouts_by_id():
        struct = registry.layout(msg_id, role, dialect)
        if struct is not None:
            out[msg_id] = payload_class(struct, role, msg_id, dialect)
    return out


@cache
def _tables(dialect: str) -> Tables:
    return Tables(*(_classes(role, dialect) for role in ("request", "reply", "error_reply", "notification")))


def tables(dialect: str = DEFAULT_DIALECT) -> Tables:
    """The payload classes of ``dialect`` (built on first use, then cached)."""
    return _tables(get_dialect(dialect).name)


def payload_class_for(msg_type: int, msg_id: int, dialect: str = DEFAULT_DIALECT) -> type[Packet]:
    """The layer class of a request's or notification's payload (after the 8-byte header).

    A reply's payload starts with its error code: ``RMReply`` (``layers/reply.py``) comes
    first and asks ``reply_data_class_for`` for what follows.
    """
    return tables(dialect).for_type(msg_type).get(msg_id, RMUnknownPayload)


def reply_data_class_for(msg_id: int, err_code: int, dialect: str = DEFAULT_DIALECT) -> type[Packet]:
    """The layer class of the reply data after the error code."""
    t = tables(dialect)
    if err_code != 0:
        return t.error_replies.get(msg_id, RMErrorData)
    return t.replies.get(msg_id, RMUnknownPayload)


def required_size(msg_type: int, msg_id: int, dialect: str = DEFAULT_DIALECT) -> tuple[int, str]:
    """Bytes a payload of this (type, id) needs at least, and how to name it in a message."""
    name = registry.message_name(msg_id, dialect)
    if msg_type == REPLY:
        return 4, f"{name} reply"
    cls = tables(dialect).for_type(msg_type).get(msg_id)
    kind = "request" if msg_type == REQUEST else "notification"
    if cls is None or cls.layout is None:
        return 0, f"{name} {kind}"
    return cls.layout.min_size, f"{name} {kind}"


# --- the default dialect's dispatch table ---------------------------------------------------
REQUESTS: dict[int, type[RMStruct]] = tables().requests
REPLIES: dict[int, type[RMStruct]] = tables().replies
ERROR_REPLIES: dict[int, type[RMStruct]] = tables().error_replies
NOTIFICATIONS: dict[int, type[RMStruct]] = tables().notifications


def dispatch_rows(dialect: str = DEFAULT_DIALECT) -> list[tuple[str, int, str, str]]:
    """The whole table as rows (type, msg_id, name, class), for docs and ``ghrm ids``."""
    t = tables(dialect)
    rows = []
    for kind, table in (
        ("request", t.requests),
        ("reply", t.replies),
        ("error_reply", t.error_replies),
        ("notification", t.notifications),
    ):
        for msg_id, cls in sorted(table.items()):
            rows.append((kind, msg_id, registry.message_name(msg_id, dialect), cls.__name__))
    return rows
