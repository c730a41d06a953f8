"""Scapy building blocks shared by every RM layer: lenient dissection and its fields.

Scapy silently turns a payload it cannot dissect into ``Raw`` and silently stops a list when
the bytes run out. For a protocol debugger both are wrong: the engineer must see *that* a
message was short and by how much. ``RMStruct`` therefore dissects field by field
(``scapy_adapter.LenientFields``: the overrides of Scapy internals live there), records a
``Malformation`` with the measured numbers for anything that does not fit, keeps every byte
(left-overs become an ``RMTrailing`` layer, so a malformed message still rebuilds to its exact
bytes) and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, ClassVar

from scapy.fields import (
    AnyField,
    ConditionalField,
    FieldLenField,
    PacketLenField,
    PacketListField,
    StrField,
    StrLenField,
)
from scapy.packet import Packet

from dissector.errors import Malformation
from dissector.protocol.codec import CodecError, codec_for_struct
from dissector.protocol.dialects import DEFAULT_DIALECT, get_dialect
from dissector.protocol.layout import Int, Struct

from .entries import EntryList
from .scapy_adapter import LenientFields


class MalformationLog:
    """What a layer records instead of raising: its ``Malformation`` list, kept on the instance.

    One mixin for the header layers and the payload layers; ``_noted`` lets a payload layer
    say which message and role it belongs to.
    """

    def _problems(self) -> list[Malformation]:
        problems = self.__dict__.get("malformations")
        if problems is None:
            problems = []
            object.__setattr__(self, "malformations", problems)
        return problems

    def _noted(self, text: str) -> str:
        return text

    def note(self, kind: str, text: str) -> None:
        """Record that this layer's bytes do not fit what it expects."""
        self._problems().append(Malformation(kind, self._noted(text)))

    def malformed(self) -> list[Malformation]:
        return list(self._problems())


@cache
def _subclass(base: type[Packet], dialect: str) -> type[Packet]:
    return type(base.__name__, (base,), {"dialect": dialect, "__module__": base.__module__})


def for_dialect(base: type[Packet], dialect: str) -> type[Packet]:
    """``base``, or its cached subclass whose ``dialect`` names ids, errors and values."""
    name = get_dialect(dialect).name
    return base if name == DEFAULT_DIALECT else _subclass(base, name)


class RMStruct(MalformationLog, LenientFields):
    """Base of every generated payload layer (and of their list entries)."""

    show_summary = False  # the RPC header's summary line speaks for the whole message
    layout: ClassVar[Struct | None] = None
    # "request" / "reply" / "notification" / "error_reply" / "entry"
    role: ClassVar[str] = ""
    msg_id: ClassVar[int | None] = None
    dialect: ClassVar[str] = "rm"  # names of ids, errors and enum values in the tree

    def _noted(self, text: str) -> str:
        return f"{self.describe()}: {text}"

    def describe(self) -> str:
        """How a malformation names this layer: ``VM_START request`` or the entry's class."""
        if self.msg_id is None:
            return str(self.name)
        from dissector.protocol.registry import message_name

        return f"{message_name(self.msg_id, self.dialect)} {self.role.replace('_', ' ')}"

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return RMTrailing

    def post_dissect(self, s: bytes) -> bytes:
        if s and self.role != "entry" and not self._problems():
            self.note("trailing", f"{len(s)} byte(s) after the end of the layout")
        return s

    def malformed(self) -> list[Malformation]:
        """Malformations of this layer and of the entries and nested structs it holds."""
        found = list(self._problems())
        for f in self.fields_desc:
            value = self.fields.get(f.name)
            if isinstance(value, EntryList):
                continue  # whole fixed-size entries of integers cannot be malformed
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, RMStruct):
                    found.extend(item.malformed())
        return found


class RMEntry(RMStruct):
    """A list entry or nested struct: its left-over bytes belong to whoever holds it."""

    role = "entry"

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        object.__setattr__(self, "remain", s)
        return b"", None


class RMTrailing(Packet):
    """Bytes after the end of a layout, kept so the message rebuilds exactly."""

    name = "Trailing bytes"
    show_summary = False
    fields_desc = [StrField("load", b"")]


def dissect_entry(cls: type[RMEntry], data: bytes, pos: int = 0) -> tuple[RMEntry, int]:
    """Dissect one entry at ``data[pos:]``; return it and where the next one starts.

    The entry gets exactly its own bytes (measured with the compiled codec first): Scapy keeps
    the bytes a packet was made from, so handing it the rest of the payload would keep a copy
    of the rest per entry (quadratic memory on a long list). Only an entry that does not fit
    (the last, truncated one) is dissected from the whole rest.
    """
    end = None
    if cls.layout is not None:
        try:
            end = codec_for_struct(cls.layout).decode_at(data, pos)[1]
        except CodecError:
            end = None
    if end is not None and end > pos:
        return cls(data[pos:end]), end
    entry = cls(data[pos:])
    remain = entry.__dict__.get("remain", b"")
    return entry, len(data) - len(remain)


class RMArrayField(PacketListField):
    """A list of entries sized by a count field (or by the rest), overruns recorded, not hidden."""

    __slots__ = ("alternatives", "count_field")

    def __init__(
        self,
        name: str,
        cls: type[RMEntry],
        count_field: str | None,
        alternatives: tuple[type[RMEntry], ...] = (),
    ) -> None:
        count_from: Callable[[Packet], int] | None = None
        if count_field is not None:

            def count_from(pkt: Packet) -> int:
                return pkt.getfieldval(count_field)

        super().__init__(name, [], cls, count_from=count_from)
        self.count_field = count_field
        self.alternatives = (cls, *alternatives)

    def _entry_class(self, count: int | None, available: int) -> type[RMEntry]:
        if count:
            for cls in self.alternatives:
                size = cls.layout.fixed_size if cls.layout else None
                if size and count * size == available:
                    return cls
        return self.alternatives[0]

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, list[Any]]:
        count = self.count_from(pkt) if self.count_from else None
        if count is None and self.count_field is not None:
            count = 0
        cls = self._entry_class(count, len(s))
        size = cls.layout.fixed_size if cls.layout else None
        entries: list[Packet] = []
        if size:
            fit = len(s) // size
            n = fit if count is None else min(count, fit)
            if count is not None and count > fit:
                pkt.note(
                    "count",
                    f"{self.count_field}={count} needs {count * size} bytes for {self.name}, {len(s)} left",
                )
            rest = s[n * size :]
            if count is None and rest:
                pkt.note("trailing", f"{len(rest)} byte(s) after the last whole {self.name} entry")
            if _all_ints(cls):
                return rest, EntryList(cls, s[: n * size], size, n)
            return rest, [cls(s[i * size : (i + 1) * size]) for i in range(n)]
        # variable-size entries: dissect one at a time, each from its own bytes
        pos = 0
        while pos < len(s) and (count is None or len(entries) < count):
            entry, after = dissect_entry(cls, s, pos)
            entries.append(entry)
            if after <= pos:
                break
            pos = after
        if count is not None and len(entries) < count:
            pkt.note("count", f"{self.count_field}={count} but only {len(entries)} {self.name} entries fit")
        return s[pos:], entries

    def i2count(self, pkt: Packet | None, x: Any) -> int:
        return len(x) if isinstance(x, list) else 0


def _all_ints(cls: type[RMEntry]) -> bool:
    """Entries made only of integers: kept as one bytes object, made into packets on demand."""
    return cls.layout is not None and all(isinstance(f, Int) for f in cls.layout.fields)


class RMBytesField(StrLenField):
    """Bytes whose length comes from a field; an overrun keeps what is there and says so."""

    __slots__ = ("fixed", "length_field")

    def __init__(self, name: str, length_field: str | None, fixed: int | None = None) -> None:
        self.length_field = length_field
        self.fixed = fixed

        def length_from(pkt: Packet) -> int | None:
            if fixed is not None:
                return fixed
            if length_field is None:
                return None
            return pkt.getfieldval(length_field) or 0

        super().__init__(name, b"", length_from=length_from)  # type: ignore[arg-type]  # None: to the end

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, bytes]:
        want = self.length_from(pkt)  # type: ignore[misc]  # set in __init__
        if want is None:
            return b"", s
        if want > len(s):
            source = self.length_field or "layout"
            pkt.note("count", f"{source}={want} but only {len(s)} byte(s) left for {self.name}")
        return s[want:], s[:want]


class RMAlignPadField(StrLenField):
    """Zero padding that aligns the preceding ``Bytes`` to 4 (or ``align``); kept for round trips."""

    __slots__ = ("align", "data_field")

    def __init__(self, name: str, data_field: str, align: int) -> None:
        def length_from(pkt: Packet) -> int:
            data = pkt.getfieldval(data_field) or b""
            return -len(data) % align

        super().__init__(name, None, length_from=length_from)  # type: ignore[arg-type]
        self.data_field = data_field
        self.align = align

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, bytes]:
        want = self.length_from(pkt)  # type: ignore[misc]  # set in __init__
        return s[want:], s[:want]

    def i2m(self, pkt: Packet | None, x: bytes | None) -> bytes:
        if x is None:
            data = pkt.getfieldval(self.data_field) if pkt is not None else b""
            return b"\x00" * (-len(data or b"") % self.align)
        return x


class RMNestedField(PacketLenField):
    """A nested struct carried in a length-prefixed blob (VM_EXITED exit_reason)."""

    __slots__ = ("length_field",)

    def __init__(self, name: str, cls: type[RMEntry], length_field: str) -> None:
        super().__init__(name, None, cls, length_from=lambda pkt: pkt.getfieldval(length_field) or 0)  # type: ignore[arg-type]
        self.length_field = length_field

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, Packet | None]:
        want = self.length_from(pkt)
        if want > len(s):
            pkt.note("count", f"{self.length_field}={want} but only {len(s)} byte(s) left for {self.name}")
        blob, rest = s[:want], s[want:]
        if not blob:
            return rest, None
        entry = self.cls(blob)
        leftover = entry.__dict__.get("remain", b"")
        if leftover:
            entry.note("trailing", f"{len(leftover)} byte(s) after the decoded words")
        return rest, entry


class RMCountField(FieldLenField):
    """A count or length that is computed from its list or bytes when building."""


def optional_field(fld: AnyField, group: tuple[str, ...]) -> ConditionalField:
    """Wrap a field of an ``Optional`` group: built only when a field of the group was given."""

    def present(pkt: Packet) -> bool:
        return any(pkt.fields.get(name) is not None for name in group)

    return ConditionalField(fld, present)
