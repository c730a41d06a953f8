"""Payload layers -> plain Python values (the ``fields`` object of design.md 1.3/1.4).

Integers stay integers, lists become lists of objects, text becomes ``str``, other bytes a hex
string. Reserved and padding fields are left out unless non-zero, which is worth seeing.
"""

from __future__ import annotations

from typing import Any

from scapy.packet import Packet

from dissector.protocol.layout import Bytes, Int
from dissector.protocol.layout import Struct as LayoutStruct

from .base import RMStruct


def _layout_meta(layout: LayoutStruct | None) -> tuple[set[str], set[str]]:
    reserved: set[str] = set()
    text: set[str] = set()
    if layout is None:
        return reserved, text
    for f in layout.walk():
        if isinstance(f, Int) and f.reserved:
            reserved.add(f.name)
        elif isinstance(f, Bytes):
            reserved.add(f"_{f.name}_pad")
            if f.text:
                text.add(f.name)
    return reserved, text


def _value(value: Any, name: str, text: set[str]) -> Any:
    if isinstance(value, RMStruct):
        return fields_of(value)
    if isinstance(value, list):
        return [_value(v, name, text) for v in value]
    if isinstance(value, bytes):
        if name in text:
            return value.decode("utf-8", errors="replace")
        return value.hex()
    return value


def fields_of(layer: Packet | None) -> dict[str, Any]:
    """The decoded fields of one payload layer, in wire order."""
    if layer is None:
        return {}
    layout = getattr(layer, "layout", None)
    reserved, text = _layout_meta(layout)
    out: dict[str, Any] = {}
    for f in layer.fields_desc:
        if f.name not in layer.fields:
            continue  # an absent optional group
        value = layer.fields[f.name]
        if value is None:
            continue  # not decoded (truncated)
        is_reserved = f.name in reserved or f.name.startswith("_")
        if is_reserved and (not value or (isinstance(value, bytes) and not value.strip(b"\x00"))):
            continue
        out[f.name] = _value(value, f.name, text)
    return out
