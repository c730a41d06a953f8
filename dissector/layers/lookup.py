"""Find a layer class by message name and role, or by its class name."""

from __future__ import annotations

from dissector.protocol import registry

from .base import RMStruct
from .dispatch import ERROR_REPLIES, NOTIFICATIONS, REPLIES, REQUESTS

_ROLES = {
    "request": REQUESTS,
    "reply": REPLIES,
    "error_reply": ERROR_REPLIES,
    "notification": NOTIFICATIONS,
}


def layer_class(message: str | int, role: str | None = None) -> type[RMStruct]:
    """``layer_class("VM_START", "request")``; ``role`` may be omitted for notifications."""
    msg = registry.resolve_message(message)
    if role is None:
        role = "notification" if msg.is_notification else "request"
    table = _ROLES.get(role)
    if table is None:
        raise ValueError(f"role must be one of {', '.join(_ROLES)}, not {role!r}")
    cls = table.get(msg.msg_id)
    if cls is None:
        raise KeyError(f"{msg.name} has no {role} layout (protocol.md gives none, or it is empty)")
    return cls


def classes_by_name() -> dict[str, type[RMStruct]]:
    """Every generated payload class by its class name (``VMConfigImageReq`` ...)."""
    out: dict[str, type[RMStruct]] = {}
    for table in _ROLES.values():
        for cls in table.values():
            out.setdefault(cls.__name__, cls)
            for case in getattr(cls, "cases", ()):  # the layouts of a BySize choice
                out.setdefault(case.__name__, case)
            for f in cls.fields_desc:
                entry = getattr(getattr(f, "fld", f), "cls", None)
                if isinstance(entry, type) and issubclass(entry, RMStruct):
                    out.setdefault(entry.__name__, entry)
    return out
