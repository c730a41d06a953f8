"""The payload fields the analysis reads, located once from the layout declarations.

Why here: both engines must read the same bytes. The Scapy path reads these fields from the
dissected packet by name; the fast path gathers them with numpy at the offsets computed below,
from ``dissector.protocol.layouts`` (nothing spells an offset by hand). A field is usable only
where its offset is fixed (every field before it has a fixed size), which is exactly when a
column-wise gather is possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

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
    Role,
    Struct,
    When,
    fixed_size,
    unknown_construct,
)
from dissector.protocol.wire import NOTIFICATION, REPLY, REPLY_ERROR_SIZE, REQUEST

ROLES = {"request": REQUEST, "reply": REPLY, "notification": NOTIFICATION}


@dataclass(frozen=True)
class Located:
    """Where one field sits in a message payload (offsets count from the byte after the header).

    ``offset``/``size``: the field. A field inside a nested, length-prefixed blob is present only
    when ``min(<length field>, payload_len - blob_offset) >= offset - blob_offset + size``;
    ``length_offset``/``length_size``/``blob_offset`` describe that length field (else None).
    """

    msg_id: int
    msg_type: int
    path: tuple[str, ...]
    offset: int
    size: int
    length_offset: int | None = None
    length_size: int | None = None
    blob_offset: int | None = None

    @property
    def end(self) -> int:
        return self.offset + self.size


def _fixed_offsets(struct: Struct) -> dict[str, tuple[int, object]]:
    """Offset of every field that sits at a fixed offset: top level, and inside ``Optional`` tails."""
    out: dict[str, tuple[int, object]] = {}
    offset = 0

    def walk(fields: tuple[Field, ...]) -> bool:
        nonlocal offset
        for f in fields:
            match f:
                case Optional():
                    if not walk(f.fields):
                        return False
                    continue
                case When() | BySize():
                    return False
                case Int() | Count() | Length() | Array() | Bytes():
                    out[f.name] = (offset, f)
                    size = fixed_size(f)
                    if size is None:
                        return False
                    offset += size
                case _:
                    unknown_construct(f, "the field locator")
        return True

    walk(struct.fields)
    return out


def locate(
    struct: Struct | None, path: tuple[str, ...], msg_id: int, msg_type: int, base: int = 0
) -> Located | None:
    """Where ``path`` (a field name, or a blob name and a field of its nested struct) sits, or None
    (also for a message without a layout)."""
    if struct is None:
        return None
    offsets = _fixed_offsets(struct)
    if path[0] not in offsets:
        return None
    offset, f = offsets[path[0]]
    if len(path) == 1:
        if not isinstance(f, Int | Count | Length):
            return None
        return Located(msg_id, msg_type, path, base + offset, f.size)
    if not (isinstance(f, Bytes) and f.struct is not None and isinstance(f.length, str)):
        return None
    inner = locate(f.struct, path[1:], msg_id, msg_type)
    length = offsets.get(f.length)
    if inner is None or length is None or inner.length_offset is not None:
        return None
    length_offset, length_field = length
    assert isinstance(length_field, Length)
    return Located(
        msg_id,
        msg_type,
        path,
        base + offset + inner.offset,
        inner.size,
        base + length_offset,
        length_field.size,
        base + offset,
    )


def _struct_of(msg_id: int, msg_type: int) -> Struct | None:
    """The default dialect's layout (what the dispatch tables hold, without building Scapy classes)."""
    roles: dict[int, Role] = {REQUEST: "request", REPLY: "reply", NOTIFICATION: "notification"}
    return registry.layout(msg_id, roles[msg_type])


# The lifecycle fields the messages table carries: column -> (message, role, path).
PAYLOAD_FIELDS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "vm_status": (("VM_STATUS", "notification", ("vm_status",)),),
    "os_status": (
        ("VM_STATUS", "notification", ("os_status",)),
        ("VM_SET_STATUS", "request", ("os_status",)),
    ),
    "exit_type": (("VM_EXITED", "notification", ("exit_type",)),),
    "exit_flags": (
        ("VM_EXITED", "notification", ("exit_reason", "exit_flags")),
        ("VM_EXIT", "request", ("exit_flags",)),
    ),
    "exit_code": (
        ("VM_EXITED", "notification", ("exit_reason", "exit_code")),
        ("VM_EXIT", "request", ("exit_code",)),
    ),
    "stop_flags": (("VM_STOP", "request", ("flags",)),),
    "stop_reason": (("VM_STOP", "request", ("stop_reason",)),),
    "auth_mech": (("VM_CONFIG_IMAGE", "request", ("auth_mech",)),),
}


@cache
def payload_fields() -> dict[str, tuple[Located, ...]]:
    """Every column of ``PAYLOAD_FIELDS`` located; an unlocatable field is a programming error."""
    out: dict[str, tuple[Located, ...]] = {}
    for column, specs in PAYLOAD_FIELDS.items():
        found = []
        for message, role, path in specs:
            msg_id = registry.resolve_message(message).msg_id
            msg_type = ROLES[role]
            struct = _struct_of(msg_id, msg_type)
            where = None if struct is None else locate(struct, path, msg_id, msg_type)
            if where is None:
                raise LookupError(f"{message} {role} has no field {'.'.join(path)} at a fixed offset")
            found.append(where)
        out[column] = tuple(found)
    return out


@cache
def vmid_fields() -> tuple[Located, ...]:
    """Requests and notifications whose layout has a field ``vmid`` at a fixed offset."""
    out = []
    for msg_type in (REQUEST, NOTIFICATION):
        for msg_id in sorted(registry.layouts_by_id()):
            struct = _struct_of(msg_id, msg_type)
            where = None if struct is None else locate(struct, ("vmid",), msg_id, msg_type)
            if where is not None:
                out.append(where)
    return tuple(out)


@cache
def allocated_vmid_field() -> Located:
    """The VMID RM chose, in a successful VM_ALLOCATE reply (after the error code)."""
    msg_id = registry.resolve_message("VM_ALLOCATE").msg_id
    struct = _struct_of(msg_id, REPLY)
    where = None if struct is None else locate(struct, ("vmid",), msg_id, REPLY, base=REPLY_ERROR_SIZE)
    if where is None:
        raise LookupError("VM_ALLOCATE reply has no vmid at a fixed offset")
    return where


def msg_id_of(name: str) -> int:
    return registry.resolve_message(name).msg_id


__all__ = [
    "PAYLOAD_FIELDS",
    "Located",
    "allocated_vmid_field",
    "locate",
    "msg_id_of",
    "payload_fields",
    "vmid_fields",
]
