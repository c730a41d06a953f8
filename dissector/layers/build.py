"""Turn a ``dissector.protocol.layout.Struct`` into a Scapy layer class.

The layouts are the single declaration of every payload; this module is the only place that
knows how each layout construct maps onto Scapy fields. The classes it makes are ordinary
Scapy packets: ``show()``, ``summary()``, building with keyword arguments and ``bytes()`` all
work, and counts and lengths are filled in when left unset.

Classes are made per dialect (``dialect`` class attribute): the tree names ids, errors and
enum values as that dialect does, and a dialect may replace a layout (``registry.layout``).
A ``BySize`` layout becomes one class per case and a chooser class whose ``dispatch_hook``
returns the case whose size is the payload's exact length.
"""

from __future__ import annotations

from functools import cache

from scapy.fields import (
    AnyField,
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
from dissector.protocol.layout import (
    Array,
    BySize,
    Bytes,
    Count,
    Int,
    Length,
    Optional,
    Struct,
    When,
    unknown_construct,
)
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
    """An integer field shown with its enum names in the dialect of the packet holding it."""
    base = _INT_FIELDS[spec.size]
    enum_name = spec.enum
    hex_ = spec.hex

    class _Shown(base):  # type: ignore[valid-type, misc]
        def i2repr(self, pkt: object, x: int | None) -> str:
            if x is None:
                return "None"
            number = f"{x:#x}" if hex_ else str(x)
            if enum_name is None:
                return number
            names = registry.value_names(enum_name, getattr(pkt, "dialect", "rm"))
            return f"{names.name_of(x)} ({number})" if names is not None else number

    _Shown.__name__ = f"{base.__name__}"
    default = 0
    return _Shown(spec.name, default)


def _fields(
    struct: Struct,
    items: tuple[LayoutField, ...],
    groups: dict[str, tuple[str, ...]],
    given: set[str],
    dialect: str,
) -> list[AnyField]:
    out: list[AnyField] = []
    for item in items:
        match item:
            case Optional():
                if any(isinstance(f, Optional | When | BySize) for f in item.fields):
                    raise TypeError(f"{struct.name}: an Optional cannot hold another group")
                inner = _fields(struct, item.fields, groups, given, dialect)
                names = tuple(f.name for f in inner)
                for f in inner:
                    groups[f.name] = names
                    if item.always:  # built every time; absent only when dissected without bytes
                        out.append(f)
                    else:
                        given.add(f.name)
                        out.append(optional_field(f, names))
            case When():
                if any(isinstance(f, Optional | When | BySize) for f in item.fields):
                    raise TypeError(f"{struct.name}: an Optional or When cannot sit inside a When")
                inner = _fields(struct, item.fields, groups, given, dialect)
                key, values = item.field, item.values
                for f in inner:
                    out.append(ConditionalField(f, lambda pkt, k=key, v=values: pkt.getfieldval(k) in v))  # type: ignore[misc]
            case BySize():
                raise TypeError(f"{struct.name}: a BySize must be the only field of its Struct")
            case Int():
                out.append(_int_field(item))
            case Count():
                out.append(RMCountField(item.name, None, count_of=item.of, fmt=_FMT[item.size]))
            case Length():
                out.append(RMCountField(item.name, None, length_of=item.of, fmt=_FMT[item.size]))
            case Array():
                alternatives = tuple(entry_class(alt, dialect) for alt in item.alternatives)
                out.append(
                    RMArrayField(item.name, entry_class(item.entry, dialect), item.count, alternatives)
                )
            case Bytes():
                out.extend(_bytes_fields(struct, item, dialect))
            case _:
                unknown_construct(item, f"the Scapy layer generator ({struct.name})")
    return out


def _bytes_fields(struct: Struct, item: Bytes, dialect: str) -> list[Field]:
    if item.struct is not None:
        if not isinstance(item.length, str):
            raise TypeError(f"{struct.name}.{item.name}: a nested struct needs a Length field")
        return [RMNestedField(item.name, entry_class(item.struct, dialect), item.length)]
    if item.length is None:
        return [StrField(item.name, b"")]
    fixed = item.length if isinstance(item.length, int) else None
    length_field = item.length if isinstance(item.length, str) else None
    fields: list[Field] = [RMBytesField(item.name, length_field, fixed)]
    if item.align > 1:
        fields.append(RMAlignPadField(f"_{item.name}_pad", item.name, item.align))
    return fields


def _make(
    struct: Struct, base: type[RMStruct], role: str, msg_id: int | None, dialect: str
) -> type[RMStruct]:
    choice = struct.by_size
    if choice is not None:
        return _chooser(struct, choice, base, role, msg_id, dialect)
    groups: dict[str, tuple[str, ...]] = {}
    given: set[str] = set()
    fields = _fields(struct, struct.fields, groups, given, dialect)
    doc = struct.doc or struct.name
    attrs = {
        "name": struct.name,
        "fields_desc": fields,
        "layout": struct,
        "optional_groups": groups,
        "given_groups": frozenset(given),
        "role": role,
        "msg_id": msg_id,
        "dialect": dialect,
        "__doc__": doc,
        "__module__": "dissector.layers",
    }
    return type(struct.name, (base,), attrs)


def _chooser(
    struct: Struct, choice: BySize, base: type[RMStruct], role: str, msg_id: int | None, dialect: str
) -> type[RMStruct]:
    """A class that becomes the case of ``choice`` whose size is the payload's exact length."""
    if base is not RMStruct:
        raise TypeError(f"{struct.name}: a BySize layout must be a whole payload, not an entry")
    cases = {c.fixed_size: _make(c, base, role, msg_id, dialect) for c in choice.cases}
    default = cases[choice.cases[0].fixed_size]

    def dispatch_hook(cls: type, _pkt: bytes | None = None, *args: object, **kwargs: object) -> type:
        if _pkt is None:
            return default
        return cases.get(len(_pkt), default)

    attrs = {
        "name": struct.name,
        "fields_desc": [],
        "layout": struct,
        "role": role,
        "msg_id": msg_id,
        "dialect": dialect,
        "cases": tuple(cases.values()),
        "dispatch_hook": classmethod(dispatch_hook),
        "__doc__": struct.doc or struct.name,
        "__module__": "dissector.layers",
    }
    return type(struct.name, (base,), attrs)


@cache
def entry_class(struct: Struct, dialect: str = "rm") -> type[RMEntry]:
    """The Scapy class of a list entry or nested struct (one class per ``Struct`` and dialect)."""
    return _make(struct, RMEntry, "entry", None, dialect)  # type: ignore[return-value]


@cache
def payload_class(struct: Struct, role: str, msg_id: int, dialect: str = "rm") -> type[RMStruct]:
    """The Scapy class of a top-level payload (request, reply data or notification)."""
    return _make(struct, RMStruct, role, msg_id, dialect)
