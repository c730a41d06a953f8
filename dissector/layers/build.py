"""Turn a ``dissector.protocol.layout.Struct`` into a Scapy layer class.

The layouts are the single declaration of every payload; this module is the only place that
knows how each layout construct maps onto Scapy fields. The classes it makes are ordinary
Scapy packets: ``show()``, ``summary()``, building with keyword arguments and ``bytes()`` all
work, and counts and lengths are filled in when left unset.
"""

from __future__ import annotations

from functools import cache

from scapy.fields import (
    ByteField,
    ConditionalField,
    Field,
    LEIntField,
    LELongField,
    LEShortField,
    LEThreeBytesField,
    StrField,
)

from dissector.protocol import registry
from dissector.protocol.layout import Array, Bytes, Count, Int, Length, Optional, Struct, When
from dissector.protocol.layout import Field as LayoutField

from .base import (
    RMAlignPadField,
    RMArrayField,
    RMBytesField,
    RMCountField,
    RMEntry,
    RMNestedField,
    RMStruct,
    optional_field,
)

_INT_FIELDS: dict[int, type[Field]] = {
    1: ByteField,
    2: LEShortField,
    3: LEThreeBytesField,
    4: LEIntField,
    8: LELongField,
}
_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


def _int_field(spec: Int) -> Field:
    base = _INT_FIELDS[spec.size]
    enum = registry.enum(spec.enum) if spec.enum else None
    hex_ = spec.hex

    class _Shown(base):  # type: ignore[valid-type, misc]
        def i2repr(self, pkt: object, x: int | None) -> str:
            if x is None:
                return "None"
            number = f"{x:#x}" if hex_ else str(x)
            return f"{enum.name_of(x)} ({number})" if enum is not None else number

    _Shown.__name__ = f"{base.__name__}"
    default = 0
    return _Shown(spec.name, default)


def _fields(
    struct: Struct, items: tuple[LayoutField, ...], groups: dict[str, tuple[str, ...]]
) -> list[Field]:
    out: list[Field] = []
    for item in items:
        if isinstance(item, Optional):
            inner = _fields(struct, item.fields, groups)
            names = tuple(f.name for f in inner)
            for f in inner:
                groups[f.name] = names
                out.append(optional_field(f, names))
        elif isinstance(item, When):
            if any(isinstance(f, Optional | When) for f in item.fields):
                raise TypeError(f"{struct.name}: an Optional or When cannot sit inside a When")
            inner = _fields(struct, item.fields, groups)
            key, values = item.field, item.values
            for f in inner:
                out.append(ConditionalField(f, lambda pkt, k=key, v=values: pkt.getfieldval(k) in v))
        else:
            out.extend(_leaf(struct, item))
    return out


def _leaf(struct: Struct, item: LayoutField) -> list[Field]:
    if isinstance(item, Int):
        return [_int_field(item)]
    if isinstance(item, Count):
        return [RMCountField(item.name, None, count_of=item.of, fmt=_FMT[item.size])]
    if isinstance(item, Length):
        return [RMCountField(item.name, None, length_of=item.of, fmt=_FMT[item.size])]
    if isinstance(item, Array):
        alternatives = tuple(entry_class(alt) for alt in item.alternatives)
        return [RMArrayField(item.name, entry_class(item.entry), item.count, alternatives)]
    if isinstance(item, Bytes):
        if item.struct is not None:
            if not isinstance(item.length, str):
                raise TypeError(f"{struct.name}.{item.name}: a nested struct needs a Length field")
            return [RMNestedField(item.name, entry_class(item.struct), item.length)]
        if item.length is None:
            return [StrField(item.name, b"")]
        fixed = item.length if isinstance(item.length, int) else None
        length_field = item.length if isinstance(item.length, str) else None
        fields: list[Field] = [RMBytesField(item.name, length_field, fixed)]
        if item.align > 1:
            fields.append(RMAlignPadField(f"_{item.name}_pad", item.name, item.align))
        return fields
    raise TypeError(f"{struct.name}: unknown layout item {item!r}")


def _make(struct: Struct, base: type[RMStruct], role: str, msg_id: int | None) -> type[RMStruct]:
    groups: dict[str, tuple[str, ...]] = {}
    fields = _fields(struct, struct.fields, groups)
    doc = struct.doc or struct.name
    attrs = {
        "name": struct.name,
        "fields_desc": fields,
        "layout": struct,
        "optional_groups": groups,
        "role": role,
        "msg_id": msg_id,
        "__doc__": doc,
        "__module__": "dissector.layers",
    }
    return type(struct.name, (base,), attrs)


@cache
def entry_class(struct: Struct) -> type[RMEntry]:
    """The Scapy class of a list entry or nested struct (one class per ``Struct``)."""
    return _make(struct, RMEntry, "entry", None)  # type: ignore[return-value]


@cache
def payload_class(struct: Struct, role: str, msg_id: int) -> type[RMStruct]:
    """The Scapy class of a top-level payload (request, reply data or notification)."""
    return _make(struct, RMStruct, role, msg_id)
