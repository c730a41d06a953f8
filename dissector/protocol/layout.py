"""A tiny struct language for RM payloads, so each layout is written once, as data.

A payload is a ``Struct``: fields in wire order, all little-endian. The Scapy layers, the JSON
field export, the fast column decoder and the generated Wireshark Lua dissector are all built
from these declarations; nothing else spells out an offset.

The vocabulary follows the wire, not a parser:

* ``U8/U16/U32/U64`` integers, optionally naming an enum (by its ``EnumDef.name``) or shown in hex;
* ``Pad`` reserved or padding bytes: decoded, kept for round trips, left out of JSON unless non-zero;
* ``Count`` an integer that counts the entries of a later ``Array`` (filled in when building);
* ``Length`` an integer that holds the byte length of a later ``Bytes``;
* ``Array`` a list of ``Struct`` entries, sized by a ``Count`` or by the rest of the payload;
* ``Bytes`` raw bytes, text, or a nested ``Struct`` carried in a length-prefixed blob;
* ``Optional`` a tail group that is present only when bytes remain (RM list rule: a list whose
  header would start exactly at the end of the buffer is empty and may be omitted);
* ``When`` a group present only when an earlier field holds one of some values;
* ``BySize`` the whole layout is one of several fixed-size layouts, picked by the payload's exact
  length (the early-HAVEN packed VM_IRQ_LENT); it must be the only field of its ``Struct``.

Interpreting the language (what every backend needs, declared here once): ``Layout.role`` (the
payload of a message in one role, with the standard-reply ``EMPTY`` default), ``fixed_size``,
``reserved_names``/``text_names`` (what the JSON view hides or renders as text) and ``leaves``.
Every backend (Scapy layer generator, JSON export, summary, filters, codec, compiled and columnar
decoders, Lua generator, reference doc) dispatches over ``Field`` with ``match`` and ends in
``unknown_construct`` (``typing.assert_never``): a new construct is a type error in each backend
that does not handle it, and a ``TypeError`` at run time (``tests/protocol/test_layout_constructs.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Never, NoReturn, Union, assert_never


@dataclass(frozen=True)
class Int:
    """An unsigned little-endian integer of 1, 2, 3, 4 or 8 bytes."""

    name: str
    size: int
    enum: str | None = None  # EnumDef.name from dissector.protocol.enums / errors
    hex: bool = False
    reserved: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Count:
    """An integer holding the number of entries of the ``Array`` named ``of``."""

    name: str
    size: int
    of: str
    doc: str = ""


@dataclass(frozen=True)
class Length:
    """An integer holding the byte length of the ``Bytes`` field named ``of``."""

    name: str
    size: int
    of: str
    doc: str = ""


@dataclass(frozen=True)
class Array:
    """Entries of one ``Struct``; ``count`` names the ``Count`` field, ``None`` means "the rest".

    ``alternatives`` are other entry layouts of the same list in other protocol versions; the
    decoder picks the one whose size makes ``count`` entries fill the remaining bytes exactly
    (the 28- vs 44-byte hyp resource entry), so no flag is needed to read either.
    """

    name: str
    entry: Struct
    count: str | None = None
    alternatives: tuple[Struct, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Bytes:
    """Raw bytes: ``length`` is a ``Length`` field name, a fixed size, or ``None`` for the rest.

    ``align`` zero-pads the data to a multiple of that many bytes (RM strings); ``text`` shows
    the bytes as a string; ``struct`` decodes the blob as a nested ``Struct`` (VM_EXITED's
    exit_reason words).
    """

    name: str
    length: str | int | None = None
    align: int = 1
    text: bool = False
    struct: Struct | None = None
    doc: str = ""


@dataclass(frozen=True)
class Optional:
    """Fields present only when bytes remain where they would start.

    ``emit`` says when building writes the group: ``"given"`` only when one of its fields is
    given (a tail the sender may leave out), ``"always"`` every time (an RM list, whose header
    senders always write, but which a reader treats as empty when the buffer ends before it).
    """

    fields: tuple[Field, ...]
    doc: str = ""
    emit: str = "given"

    @property
    def always(self) -> bool:
        return self.emit == "always"


@dataclass(frozen=True)
class When:
    """Fields present only when the earlier field ``field`` holds one of ``values``."""

    field: str
    values: tuple[int, ...]
    fields: tuple[Field, ...]
    doc: str = ""


@dataclass(frozen=True)
class BySize:
    """The whole payload is one of ``cases`` (fixed-size ``Struct``s), the one whose size equals
    the payload's exact length; any other length is read with the first case (and is then
    truncated or has trailing bytes). Building writes the first case unless told otherwise."""

    cases: tuple[Struct, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        sizes = [c.fixed_size for c in self.cases]
        if not self.cases or None in sizes or len(set(sizes)) != len(sizes):
            raise TypeError(f"BySize needs fixed-size cases of distinct sizes, got {sizes}")

    @property
    def name(self) -> str:
        return self.cases[0].name

    def case_for(self, length: int) -> Struct:
        """The case of a payload of ``length`` bytes (the first case when none fits exactly)."""
        for case in self.cases:
            if case.fixed_size == length:
                return case
        return self.cases[0]


Field = Union[Int, Count, Length, Array, Bytes, Optional, When, BySize]  # noqa: UP007 (used at runtime)
Leaf = Union[Int, Count, Length, Array, Bytes]  # noqa: UP007 -- a named field (groups hold fields)


@dataclass(frozen=True)
class Struct:
    """One payload layout. ``name`` becomes the Scapy class name; ``doc`` cites the source."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    summary: tuple[str, ...] = ()  # fields shown in the one-line summary, in order
    source: str = ""

    def walk(self) -> Iterator[Leaf]:
        """Every leaf field in wire order, descending into ``Optional``/``When`` groups."""
        yield from _walk(self.fields)

    def field(self, name: str) -> Leaf:
        for f in self.walk():
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def fixed_size(self) -> int | None:
        """Wire size when every field has a fixed size and nothing is optional, else ``None``."""
        total = 0
        for f in self.fields:
            size = _fixed_size(f)
            if size is None:
                return None
            total += size
        return total

    @property
    def by_size(self) -> BySize | None:
        """The ``BySize`` choice when this layout is one (it is then the only field)."""
        if len(self.fields) == 1 and isinstance(self.fields[0], BySize):
            return self.fields[0]
        if _holds_by_size(self.fields):  # beside other fields, or inside a group
            raise TypeError(f"{self.name}: a BySize must be the only field of its Struct")
        return None

    @property
    def min_size(self) -> int:
        """Bytes needed before the first optional or variable-length part."""
        choice = self.by_size
        if choice is not None:
            return choice.cases[0].min_size
        total = 0
        for f in self.fields:
            size = _fixed_size(f)
            if size is None:
                if isinstance(f, Array | Bytes) and f.name:
                    continue
                break
            total += size
        return total


def _holds_by_size(fields: tuple[Field, ...]) -> bool:
    """Whether a ``BySize`` sits among ``fields`` or in one of their groups (``walk`` yields only
    the named fields, so it cannot tell)."""
    for f in fields:
        match f:
            case BySize():
                return True
            case Optional() | When():
                if _holds_by_size(f.fields):
                    return True
            case Int() | Count() | Length() | Array() | Bytes():
                pass
            case _:
                unknown_construct(f, "Struct.by_size")
    return False


def _walk(fields: tuple[Field, ...]) -> Iterator[Leaf]:
    for f in fields:
        match f:
            case Optional() | When():
                yield from _walk(f.fields)
            case BySize():
                seen: set[str] = set()
                for case in f.cases:
                    for leaf in case.walk():
                        if leaf.name not in seen:
                            seen.add(leaf.name)
                            yield leaf
            case Int() | Count() | Length() | Array() | Bytes():
                yield f
            case _:
                unknown_construct(f, "Struct.walk")


def fixed_size(f: Field) -> int | None:
    """Wire size of one construct when it never varies (alignment padding included), else None."""
    match f:
        case Int() | Count() | Length():
            return f.size
        case Bytes():
            return f.length + (-f.length % f.align) if isinstance(f.length, int) else None
        case Array() | Optional() | When() | BySize():
            return None
        case _:
            unknown_construct(f, "fixed_size")


_fixed_size = fixed_size  # the name older callers import


def unknown_construct(item: Never, backend: str) -> NoReturn:
    """The last ``case _:`` of every backend's ``match`` over ``Field``.

    Typed ``Never`` like ``typing.assert_never``, so a type checker reports each backend whose
    ``match`` misses a construct; at run time a ``TypeError`` names the backend and the construct.
    """
    try:
        assert_never(item)
    except AssertionError:
        raise TypeError(f"{backend} does not know the layout construct {item!r}") from None


def leaves(fields: tuple[Field, ...]) -> Iterator[Leaf]:
    """The leaf fields in wire order, descending into ``Optional``/``When`` (not ``BySize``)."""
    for f in fields:
        match f:
            case Optional() | When():
                yield from leaves(f.fields)
            case BySize():
                raise TypeError("a BySize must be the only field of its Struct")
            case Int() | Count() | Length() | Array() | Bytes():
                yield f
            case _:
                unknown_construct(f, "leaves")


def nested_structs(f: Field) -> tuple[Struct, ...]:
    """The ``Struct``s a construct holds: list entries (and their alternatives), the struct of a
    nested blob, the cases of a ``BySize``; groups hold fields, not structs (see ``leaves``)."""
    match f:
        case Array():
            return (f.entry, *f.alternatives)
        case Bytes():
            return () if f.struct is None else (f.struct,)
        case BySize():
            return f.cases
        case Int() | Count() | Length() | Optional() | When():
            return ()
        case _:
            unknown_construct(f, "nested_structs")


def reserved_names(struct: Struct) -> frozenset[str]:
    """Fields the JSON view leaves out unless non-zero: reserved integers and alignment padding
    (``_<name>_pad``, the bytes after an aligned ``Bytes``)."""
    out: set[str] = set()
    for f in struct.walk():
        if isinstance(f, Int) and f.reserved:
            out.add(f.name)
        elif isinstance(f, Bytes):
            out.add(f"_{f.name}_pad")
    return frozenset(out)


def text_names(struct: Struct) -> frozenset[str]:
    """``Bytes`` fields shown as text too (``<name>_text`` beside the hex)."""
    return frozenset(f.name for f in struct.walk() if isinstance(f, Bytes) and f.text)


Role = Literal["request", "reply", "error_reply", "notification"]
ROLES: tuple[Role, ...] = ("request", "reply", "error_reply", "notification")


@dataclass(frozen=True)
class Layout:
    """The payload layouts of one message id.

    For a call, ``request`` and ``reply`` (the reply data after the 4-byte error code; ``None``
    for a standard reply that carries only the error code) and ``error_reply`` (data some
    handlers append after a non-zero error code). For a notification, ``notification``.
    ``EMPTY`` marks a payload that is empty on the wire (distinct from ``None`` = unknown).
    """

    request: Struct | None = None
    reply: Struct | None = None
    error_reply: Struct | None = None
    notification: Struct | None = None
    known: bool = True  # False: protocol.md gives no layout, payload kept raw
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def role(self, role: Role) -> Struct | None:
        """The payload layout in ``role``; a call with a request layout and no reply layout has a
        standard reply (``EMPTY``: the error code only). None: no layout (bytes kept raw)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not self.known:
            return None
        struct: Struct | None = getattr(self, role)
        if struct is None and role == "reply" and self.request is not None:
            return EMPTY
        return struct


EMPTY = Struct("Empty", (), doc="No payload bytes.")


# Constructors that read like a C struct declaration.
def U8(name: str, enum: str | None = None, *, hex: bool = False, doc: str = "") -> Int:
    return Int(name, 1, enum, hex, False, doc)


def U16(name: str, enum: str | None = None, *, hex: bool = False, doc: str = "") -> Int:
    return Int(name, 2, enum, hex, False, doc)


def U32(name: str, enum: str | None = None, *, hex: bool = False, doc: str = "") -> Int:
    return Int(name, 4, enum, hex, False, doc)


def U64(name: str, enum: str | None = None, *, hex: bool = True, doc: str = "") -> Int:
    return Int(name, 8, enum, hex, False, doc)


def Pad(name: str, size: int, doc: str = "") -> Int:
    """Reserved/padding bytes (1-4 bytes: shown as an integer; keep names as in the structs)."""
    return Int(name, size, None, True, True, doc)


def rm_list(
    count_name: str,
    entries: str,
    entry: Struct,
    *,
    pad_name: str | None = None,
    emit: str = "always",
    doc: str = "",
) -> tuple[Field, ...]:
    """An RM RPC list: ``u16 count; u16 reserved; entry[count]``.

    protocol.md 1.7 (RM ``rm_rpc_read_list``): a list whose header would start exactly at the
    end of the buffer is empty, so every RM list is an ``Optional`` group. Senders write it
    (``emit="always"``) unless the layout says the tail may be left out (``"given"``).
    """
    return (
        Optional(
            (
                Count(count_name, 2, of=entries),
                Pad(pad_name or f"_{entries}_reserved", 2),
                Array(entries, entry, count=count_name),
            ),
            doc=doc or "empty when the buffer ends where its header would start (protocol.md 1.7)",
            emit=emit,
        ),
    )
