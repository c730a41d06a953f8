"""Payload layers -> plain Python values (the ``fields`` object of design.md 1.3/1.4).

Integers stay integers, lists become lists of objects, bytes a hex string. Byte arrays the
layouts mark as text (console data, crash messages, names) are u8 arrays on the wire: they are
kept exactly as hex too, with a printable rendering beside them as ``<name>_text`` (see
``printable``), so a NUL or a byte that is not UTF-8 is never lost. Reserved and padding fields
are left out unless non-zero, which is worth seeing.
"""

from __future__ import annotations

from typing import Any

from scapy.packet import Packet

from dissector.protocol.layout import Struct as LayoutStruct
from dissector.protocol.layout import reserved_names, text_names
from dissector.protocol.text import printable

from .base import RMStruct
from .entries import EntryList


def _layout_meta(layout: LayoutStruct | None) -> tuple[frozenset[str], frozenset[str]]:
    if layout is None:
        return frozenset(), frozenset()
    return reserved_names(layout), text_names(layout)


def _value(value: Any, name: str, text: frozenset[str]) -> Any:
    if isinstance(value, RMStruct):
        return fields_of(value)
    if isinstance(value, EntryList):
        rows = value.as_dicts()
        return rows if rows is not None else [fields_of(p) for p in value]
    if isinstance(value, list):
        return [_value(v, name, text) for v in value]
    if isinstance(value, bytes):
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
        if f.name in text and isinstance(value, bytes):
            out[f"{f.name}_text"] = printable(value)
    return out
