"""One-line summaries like Wireshark's Info column.

``Request VM_START seq=6 vmid=0x80``, ``Reply VM_START seq=6 err=NORESOURCE``,
``Notification VM_STATUS seq=16 vmid=0x80 vm_status=RUNNING``.
"""

from __future__ import annotations

from typing import Any

from scapy.packet import Packet

from dissector.protocol import registry
from dissector.protocol.layout import (
    Array,
    BySize,
    Bytes,
    Count,
    Field,
    Int,
    Length,
    Optional,
    When,
    unknown_construct,
)
from dissector.protocol.text import printable
from dissector.protocol.wire import MsgType

from .base import RMStruct
from .reply import RMReply
from .tree import malformations, payload_layer

_TYPE_WORDS = {t.value: t.name.title() for t in MsgType}


def format_value(spec: Field, value: Any, dialect: str = "rm") -> str:
    """A field value as a person reads it: enum names, hex where the layout says so."""
    if value is None:
        return "?"
    match spec:
        case Int() if isinstance(value, int):
            names = registry.value_names(spec.enum, dialect) if spec.enum else None
            if names is not None:
                return names.name_of(value)
            return f"{value:#x}" if spec.hex else str(value)
        case Bytes() if isinstance(value, bytes):
            return '"' + printable(value) + '"' if spec.text else value.hex()
        case Int() | Count() | Length() | Array() | Bytes() | Optional() | When() | BySize():
            if isinstance(value, list):
                return f"[{len(value)}]"
            return value.hex() if isinstance(value, bytes) else str(value)
        case _:
            unknown_construct(spec, "the summary")


def payload_summary(layer: Packet | None, dialect: str = "rm") -> str:
    """``key=value`` pairs for the fields a layout marks as summary fields."""
    if not isinstance(layer, RMStruct) or layer.layout is None:
        return ""
    parts = []
    for name in layer.layout.summary:
        if name not in layer.fields or layer.fields[name] is None:
            continue
        parts.append(f"{name}={format_value(layer.layout.field(name), layer.fields[name], dialect)}")
    return " ".join(parts)


def summary_line(header: Packet, dialect: str | None = None) -> str:
    """The Info column for a message whose top layer is ``RMHeader``."""
    if dialect is None:
        dialect = getattr(header, "dialect", "rm")
    if header.msg_type is None:
        length = header.__dict__.get("wire_length", 0)
        return f"Malformed message ({length} byte(s)): {malformations(header)[0]}"
    msg_type = header.msg_type
    name = registry.message_name(header.msg_id or 0, dialect)
    words = [_TYPE_WORDS.get(msg_type, "?"), name, f"seq={header.seq}"]
    if getattr(header, "is_lone_fragment", False) and header.fragments:
        words.append("fragment")
    reply = header.getlayer(RMReply)
    if reply is not None and reply.err_code is not None:
        words.append(f"err={registry.error_name(reply.err_code, dialect)}")
    extra = payload_summary(payload_layer(header), dialect)
    if extra:
        words.append(extra)
    problems = malformations(header)
    if problems:
        words.append(f"[malformed: {problems[0]}]")
    return " ".join(words)
