"""A fast payload encoder and decoder compiled from the layout declarations.

Why: the Scapy layers build a message in ~100 us; the simulator writes a million messages and
the analysis fast path reads as many, so both need plain ``struct`` code. Writing that code by
hand would spell every offset out a second time; instead each ``Struct`` of
``dissector.protocol.layouts`` is compiled once into a list of steps, and consecutive fixed-size
integers become a single precompiled ``struct.Struct``. The layouts stay the single source of
truth, and ``tests/layers/test_codec.py`` checks the output against the Scapy layers for every
layout in the dispatch tables.

Values are plain Python objects keyed by the layout's field names:

* integers (missing ones are 0, as in the Scapy layers);
* ``Count`` / ``Length`` fields are computed from their list or bytes unless given;
* ``Array`` values are lists of dicts, or, for entries made only of integers, tuples holding the
  entry's non-reserved integers in wire order (``(ipa_base, size)`` for an SGL entry);
* ``Bytes`` take ``bytes`` or ``str`` (UTF-8); an ``align`` pads with zeros; a fixed-length
  ``Bytes`` that is missing is zero-filled; a nested ``Struct`` (VM_EXITED's exit_reason) is a
  dict;
* an ``Optional`` group is written when any of its fields is given (not ``None``), as in the
  Scapy layers, or always (``emit="always"``, RM lists); on decoding it is read when bytes
  remain where it would start;
* a ``When`` group is written and read when its selector field holds one of its values;
* a ``BySize`` layout is decoded with the case whose size is the payload's exact length
  (else the first case) and encoded with the first case, or the case named by ``values["case"]``.

``decode_payload`` returns the same shapes (entries as dicts, bytes as ``bytes``, reserved
fields included) and raises ``CodecError`` on bytes that do not fit; it is strict by design,
the lenient, reporting decoder is the Scapy one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

from . import registry
from .layout import (
    ROLES,
    Array,
    BySize,
    Bytes,
    Count,
    Int,
    Length,
    Optional,
    Struct,
    When,
    leaves,
    unknown_construct,
)
from .layout import Field as LayoutField
from .wire import MsgType, fragment_count, pack_header

__all__ = [
    "ROLES",
    "CodecError",
    "StructCodec",
    "codec_for",
    "compile_struct",
    "decode_payload",
    "encode_message",
    "encode_payload",
]


_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_U32 = struct.Struct("<I")

Values = Mapping[str, Any]
Encoder = Callable[[Values, dict[str, int], list[bytes]], None]
Decoder = Callable[[bytes, int, dict[str, Any]], int]


class CodecError(ValueError):
    """Bytes that do not fit a layout, or values that cannot be encoded in it."""


# --------------------------------------------------------------------------- compiling
class _IntRun:
    """Consecutive integer fields packed with one precompiled ``struct.Struct``.

    A 3-byte integer (``Pad(..., 3)``) has no struct code, so it is packed as a u16 and a u8.
    """

    def __init__(self, fields: list[Int | Count | Length]) -> None:
        self.names = tuple(f.name for f in fields)
        codes: list[str] = []
        self.split3: tuple[int, ...] = tuple(i for i, f in enumerate(fields) if f.size == 3)
        for f in fields:
            codes.append("HB" if f.size == 3 else _FMT[f.size])
        self.struct = struct.Struct("<" + "".join(codes))
        self.size = self.struct.size
        self.zeros = (0,) * len(self.names)
        # no computed counts, no 3-byte fields: pack straight from the values
        self.plain = not self.split3 and not any(isinstance(f, Count | Length) for f in fields)

    def values(self, values: Values, computed: dict[str, int]) -> list[int]:
        out = []
        for name in self.names:
            v = values.get(name)
            if v is None:
                v = computed.get(name, 0)
            out.append(v)
        return self.split(out) if self.split3 else out

    def split(self, row: list[int]) -> list[int]:
        """Replace each 3-byte value by its low u16 and high u8."""
        for i in reversed(self.split3):
            v = row[i]
            row[i : i + 1] = [v & 0xFFFF, v >> 16]
        return row

    def encode(self, values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
        if not self.split3:
            try:  # fast path: every value given, computed, or 0 (an explicit None falls through)
                source = {**computed, **values} if computed and not self.plain else values
                parts.append(self.struct.pack(*map(source.get, self.names, self.zeros)))
                return
            except struct.error:
                pass
        try:
            parts.append(self.struct.pack(*self.values(values, computed)))
        except struct.error as exc:
            raise CodecError(
                f"cannot pack {dict(zip(self.names, self.values(values, computed), strict=False))}: {exc}"
            ) from None

    def decode(self, data: bytes, pos: int, out: dict[str, Any]) -> int:
        end = pos + self.size
        if end > len(data):
            raise CodecError(
                f"fields {', '.join(self.names)} need {self.size} byte(s), {len(data) - pos} left"
            )
        got = list(self.struct.unpack_from(data, pos))
        if self.split3:
            for i in self.split3:
                got[i : i + 2] = [got[i] | (got[i + 1] << 16)]
        out.update(zip(self.names, got, strict=True))
        return end


def _text(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


class StructCodec:
    """The compiled encoder/decoder of one ``Struct``."""

    def __init__(self, layout: Struct) -> None:
        self.layout = layout
        self.name = layout.name
        self._encoders: list[Encoder] = []
        self._decoders: list[Decoder] = []
        # Count/Length fields: name -> (target name, "array" | "bytes")
        self._derived: list[tuple[str, str, str]] = []
        self._fields: dict[str, LayoutField] = {}
        self._compile(layout.fields, self._encoders, self._decoders)
        fixed = layout.fixed_size
        self.fixed_size = fixed
        # entries made only of integers may also be given as tuples of their non-reserved values
        self._int_entry: _IntRun | None = None
        if layout.fields and all(isinstance(f, Int) for f in layout.fields):
            ints: list[Int] = list(layout.fields)  # type: ignore[arg-type]
            self._int_entry = _IntRun(ints)  # type: ignore[arg-type]
            slots: list[int | None] = []
            for f in ints:
                slots.append(None if f.reserved else sum(1 for s in slots if s is not None))
            self._tuple_slots = tuple(slots)
        self._multi: dict[int, struct.Struct] = {}
        self._plain = (
            self._int_entry is not None and None not in self._tuple_slots and not self._int_entry.split3
        )
        self._flat = self._int_entry if self._int_entry is not None and self._int_entry.plain else None

    # ---- compile
    def _compile(
        self, items: tuple[LayoutField, ...], encoders: list[Encoder], decoders: list[Decoder]
    ) -> None:
        run: list[Int | Count | Length] = []

        def close_run() -> None:
            if run:
                packed = _IntRun(list(run))
                encoders.append(packed.encode)
                decoders.append(packed.decode)
                run.clear()

        for item in items:
            match item:
                case Int():
                    run.append(item)
                    continue
                case Count():
                    self._derived.append((item.name, item.of, "array"))
                    run.append(item)
                    continue
                case Length():
                    self._derived.append((item.name, item.of, "bytes"))
                    run.append(item)
                    continue
            close_run()
            match item:
                case Array():
                    encoders.append(self._array_encoder(item))
                    decoders.append(self._array_decoder(item))
                case Bytes():
                    encoders.append(self._bytes_encoder(item))
                    decoders.append(self._bytes_decoder(item))
                case Optional():
                    encoders.append(self._optional_encoder(item))
                    decoders.append(self._optional_decoder(item))
                case When():
                    encoders.append(self._when_encoder(item))
                    decoders.append(self._when_decoder(item))
                case BySize():
                    if len(self.layout.fields) != 1:
                        raise TypeError(f"{self.name}: a BySize must be the only field of its Struct")
                    encoders.append(self._by_size_encoder(item))
                    decoders.append(self._by_size_decoder(item))
                case Int() | Count() | Length():
                    raise AssertionError("integers were handled above")
                case _:
                    unknown_construct(item, f"the codec ({self.name})")
        close_run()

    def _array_encoder(self, item: Array) -> Encoder:
        entry = codec_for_struct(item.entry)
        name = item.name

        def encode(values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
            entries = values.get(name)
            if entries:
                parts.append(entry.encode_entries(entries))

        return encode

    def _array_decoder(self, item: Array) -> Decoder:
        candidates = [codec_for_struct(s) for s in (item.entry, *item.alternatives)]
        name, count_name = item.name, item.count

        def decode(data: bytes, pos: int, out: dict[str, Any]) -> int:
            count = out.get(count_name) if count_name is not None else None
            available = len(data) - pos
            entry = candidates[0]
            if count:
                for c in candidates:
                    if c.fixed_size and count * c.fixed_size == available:
                        entry = c
                        break
            entries: list[dict[str, Any]] = []
            if count is None:
                while pos < len(data):
                    value, pos = entry.decode_at(data, pos)
                    entries.append(value)
            else:
                for _ in range(count):
                    value, pos = entry.decode_at(data, pos)
                    entries.append(value)
            out[name] = entries
            return pos

        return decode

    def _bytes_encoder(self, item: Bytes) -> Encoder:
        name, align, length = item.name, item.align, item.length
        nested = codec_for_struct(item.struct) if item.struct is not None else None

        def encode(values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
            value = values.get(name)
            if nested is not None:
                data = nested.encode(value) if value is not None else b""
            else:
                data = _text(value)
                if isinstance(length, int) and len(data) != length:
                    if value is not None:
                        raise CodecError(
                            f"{self.name}.{name} needs exactly {length} byte(s), got {len(data)}"
                        )
                    data = b"\0" * length
            parts.append(data)
            if align > 1 and len(data) % align:
                parts.append(b"\0" * (-len(data) % align))

        return encode

    def _bytes_decoder(self, item: Bytes) -> Decoder:
        name, align, length = item.name, item.align, item.length
        nested = codec_for_struct(item.struct) if item.struct is not None else None

        def decode(data: bytes, pos: int, out: dict[str, Any]) -> int:
            if length is None:
                size = len(data) - pos
            elif isinstance(length, int):
                size = length
            else:
                size = out.get(length) or 0
            end = pos + size
            if end > len(data):
                raise CodecError(f"{self.name}.{name} needs {size} byte(s), {len(data) - pos} left")
            blob = data[pos:end]
            if nested is not None:
                out[name] = nested.decode(blob) if blob else None
            else:
                out[name] = blob
            pad = -size % align
            if end + pad > len(data):
                raise CodecError(f"{self.name}.{name}: {pad} alignment byte(s) missing")
            return end + pad

        return decode

    def _group_names(self, items: tuple[LayoutField, ...]) -> tuple[str, ...]:
        names: list[str] = []
        for f in leaves(items):
            names.append(f.name)
            if isinstance(f, Bytes) and f.align > 1:
                names.append(f"_{f.name}_pad")
        return tuple(names)

    def _optional_encoder(self, item: Optional) -> Encoder:
        encoders: list[Encoder] = []
        self._compile(item.fields, encoders, [])
        names = self._group_names(item.fields)
        always = item.always

        def encode(values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
            if not always:
                for n in names:
                    if values.get(n) is not None:
                        break
                else:
                    return
            for enc in encoders:
                enc(values, computed, parts)

        return encode

    def _optional_decoder(self, item: Optional) -> Decoder:
        decoders: list[Decoder] = []
        saved = list(self._derived)
        self._compile(item.fields, [], decoders)
        self._derived = saved  # the encoder compile already recorded the group's counts

        def decode(data: bytes, pos: int, out: dict[str, Any]) -> int:
            if pos >= len(data):
                return pos
            for dec in decoders:
                pos = dec(data, pos, out)
            return pos

        return decode

    def _when_encoder(self, item: When) -> Encoder:
        encoders: list[Encoder] = []
        self._compile(item.fields, encoders, [])
        key, wanted = item.field, item.values

        def encode(values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
            v = values.get(key)
            if v is None:
                v = computed.get(key, 0)
            if v in wanted:
                for enc in encoders:
                    enc(values, computed, parts)

        return encode

    def _when_decoder(self, item: When) -> Decoder:
        decoders: list[Decoder] = []
        saved = list(self._derived)
        self._compile(item.fields, [], decoders)
        self._derived = saved
        key, wanted = item.field, item.values

        def decode(data: bytes, pos: int, out: dict[str, Any]) -> int:
            if out.get(key) in wanted:
                for dec in decoders:
                    pos = dec(data, pos, out)
            return pos

        return decode

    def _by_size_encoder(self, item: BySize) -> Encoder:
        cases = {c.name: codec_for_struct(c) for c in item.cases}
        first = cases[item.cases[0].name]

        def encode(values: Values, computed: dict[str, int], parts: list[bytes]) -> None:
            chosen = cases.get(values.get("case") or "", first)
            parts.append(chosen.encode({k: v for k, v in values.items() if k != "case"}))

        return encode

    def _by_size_decoder(self, item: BySize) -> Decoder:
        cases = {c.fixed_size: codec_for_struct(c) for c in item.cases}
        first = codec_for_struct(item.cases[0])

        def decode(data: bytes, pos: int, out: dict[str, Any]) -> int:
            chosen = cases.get(len(data) - pos, first)
            values, end = chosen.decode_at(data, pos)
            out.update(values)
            return end

        return decode

    # ---- public
    def _computed(self, values: Values) -> dict[str, int]:
        computed: dict[str, int] = {}
        for name, target, kind in self._derived:
            if values.get(name) is not None:
                continue
            value = values.get(target)
            if value is None:
                computed[name] = 0
            elif kind == "array":
                computed[name] = len(value)
            else:
                computed[name] = len(self._bytes_of(target, value))
        return computed

    def _bytes_of(self, name: str, value: Any) -> bytes:
        spec = self._fields.get(name)
        if spec is None:
            spec = self._fields[name] = self.layout.field(name)
        if isinstance(spec, Bytes) and spec.struct is not None:
            return codec_for_struct(spec.struct).encode(value) if value is not None else b""
        return _text(value)

    def encode(self, values: Values | None = None) -> bytes:
        """The wire bytes of ``values`` (see the module docstring for the accepted shapes)."""
        values = values or {}
        flat = self._flat
        if flat is not None:  # only integers: one pack, no parts list
            try:
                return flat.struct.pack(*map(values.get, flat.names, flat.zeros))
            except struct.error:
                pass  # an explicit None: the general path says what is wrong
        computed = self._computed(values) if self._derived else {}
        parts: list[bytes] = []
        for enc in self._encoders:
            enc(values, computed, parts)
        return b"".join(parts)

    def encode_entries(self, entries: Any) -> bytes:
        """Several entries back to back (dicts, or tuples for all-integer entries).

        All-integer entries are packed with one ``struct.Struct`` per list length, so a
        512-entry SGL costs one ``pack`` call.
        """
        run = self._int_entry
        if run is None:
            return b"".join(self.encode(e) for e in entries)
        n = len(entries)
        packer = self._multi.get(n)
        if packer is None:
            packer = struct.Struct("<" + run.struct.format[1:] * n)
            if len(self._multi) < 1024:
                self._multi[n] = packer
        if self._plain and n and isinstance(entries[0], tuple):
            try:  # the common case (SGLs): the tuples already are the rows
                return packer.pack(*chain.from_iterable(entries))
            except (struct.error, TypeError):
                pass  # mixed shapes: take the general path below
        try:
            return packer.pack(*chain.from_iterable(self._row(e) for e in entries))
        except struct.error as exc:
            raise CodecError(f"{self.name} entries: {exc}") from None

    def _row(self, entry: Any) -> list[int]:
        run = self._int_entry
        assert run is not None
        if isinstance(entry, tuple | list):
            row = [0 if s is None else entry[s] for s in self._tuple_slots]
        else:
            row = [entry.get(n) or 0 for n in run.names]
        return run.split(row) if run.split3 else row

    def decode_at(self, data: bytes, pos: int = 0) -> tuple[dict[str, Any], int]:
        """Decode from ``pos``; return the values and where they end."""
        out: dict[str, Any] = {}
        for dec in self._decoders:
            pos = dec(data, pos, out)
        return out, pos

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a whole payload; trailing bytes are an error."""
        out, end = self.decode_at(data, 0)
        if end != len(data):
            raise CodecError(f"{self.name}: {len(data) - end} byte(s) after the end of the layout")
        return out


_BY_STRUCT: dict[int, tuple[Struct, StructCodec]] = {}


def codec_for_struct(layout: Struct) -> StructCodec:
    """The compiled codec of ``layout`` (compiled once, then cached)."""
    hit = _BY_STRUCT.get(id(layout))
    if hit is not None and hit[0] is layout:
        return hit[1]
    codec = StructCodec(layout)
    _BY_STRUCT[id(layout)] = (layout, codec)
    return codec


compile_struct = codec_for_struct


# --------------------------------------------------------------------------- by message
_BY_MESSAGE: dict[tuple[int, str, str], StructCodec] = {}


def codec_for(message: int | str, role: str, dialect: str = "rm") -> StructCodec:
    """The codec of one message's payload: ``codec_for("VM_START", "request")``.

    ``role`` is ``request``, ``reply`` (the reply data after the error code; a standard reply
    has the empty layout), ``error_reply`` (data after a non-zero error code) or
    ``notification``. A name is resolved in ``dialect`` (``VM_SET_BOOT_CONTEXT`` is 0x5600000C
    in ``linux-v16``), and the dialect's layout is used (``rm-2021``'s MEM_ACCEPT reply has no
    flags byte).
    """
    msg_id = message if isinstance(message, int) else registry.resolve_message(message, dialect).msg_id
    key = (msg_id, role, dialect)
    hit = _BY_MESSAGE.get(key)
    if hit is not None:
        return hit
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    layout = registry.layouts_by_id().get(msg_id)
    if layout is None or not layout.known:
        raise KeyError(f"{registry.message_name(msg_id, dialect)} has no known payload layout")
    found = registry.layout(msg_id, role, dialect)
    if found is None:
        raise KeyError(f"{registry.message_name(msg_id, dialect)} has no {role} layout")
    codec = codec_for_struct(found)
    _BY_MESSAGE[key] = codec
    return codec


def encode_payload(message: int | str, role: str, values: Values | None = None, dialect: str = "rm") -> bytes:
    """Payload bytes of one message (for a reply: the data after the error code)."""
    return codec_for(message, role, dialect).encode(values)


def decode_payload(message: int | str, role: str, data: bytes, dialect: str = "rm") -> dict[str, Any]:
    """Values of a whole payload (strict: ``CodecError`` on bytes that do not fit)."""
    return codec_for(message, role, dialect).decode(data)


# --------------------------------------------------------------------------- framing
def encode_message(
    msg_type: int, seq: int, msg_id: int, payload: bytes = b"", err_code: int | None = None
) -> bytes:
    """One complete RM message: 8-byte header (fragments computed), [error code], payload.

    A reply (``msg_type`` 2) always gets the u32 error code (0 when ``err_code`` is None); the
    fragment count in the header is the one its first message-queue message would carry.
    """
    if msg_type == MsgType.REPLY:
        payload = _U32.pack(0 if err_code is None else err_code & 0xFFFFFFFF) + payload
    return pack_header(msg_type, seq, msg_id, fragment_count(len(payload))) + payload
