"""The compiled decoder: one message at a time, plain Python values, no Scapy.

Why: a Scapy dissection costs ~100 us a message; ``ghrm decode`` prints a million. Each payload
``Struct`` is compiled once (per dialect) into a list of steps that read the bytes with
precompiled ``struct.Struct`` objects and build the ``fields`` object exactly as
``dissector.layers.fields_of`` shows the Scapy tree (wire order, reserved fields only when
non-zero, bytes as hex, text bytes with ``<name>_text``), and the one-line summary exactly as
``dissector.layers.summary.summary_line`` writes it.

Malformed messages are the exception: a message that does not fit its layout (or a header or
reassembly fault) raises ``_Misfit`` inside the compiled steps, and ``decode_message`` hands it
to the Scapy view (``DecodedMessage``), whose lenient dissection words every malformation. So
the output is the Scapy path's output, byte for byte, for every message (tested on the bundled
traces and on generated captures of every layout and dialect), and Scapy is imported only when
a capture holds a malformed message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from dissector.capture.reassembly import RawMessage, reassemble
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import ExactTime
from dissector.protocol import registry
from dissector.protocol.dialects import get_dialect
from dissector.protocol.layout import (
    Array,
    BySize,
    Bytes,
    Count,
    Field,
    Int,
    Length,
    Optional,
    Struct,
    When,
    reserved_names,
    text_names,
    unknown_construct,
)
from dissector.protocol.text import printable
from dissector.protocol.wire import (
    FRAGMENTS_SHIFT,
    MAX_FRAGMENTS,
    MSG_TYPE_MASK,
    REPLY,
    REPLY_ERROR_SIZE,
    RPC_API_BYTE,
    RPC_HEADER,
    RPC_HEADER_SIZE,
    Direction,
    MsgType,
    lone_fragment,
)

if TYPE_CHECKING:
    from dissector.decoded import DecodedMessage

TYPE_NAMES = {t.value: t.label for t in MsgType if t != MsgType.CONTINUATION}  # jsonl "type"
_TYPE_WORDS = {t.value: t.label.capitalize() for t in MsgType if t != MsgType.CONTINUATION}
DIRECTION_LABELS = {d: d.label for d in Direction}  # jsonl "direction", by value too (IntEnum)
_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_U32 = struct.Struct("<I")

Values = dict[str, Any]
# a step reads data[pos:end], adds the shown fields to ``out`` and the raw values to ``vals``
Step = Callable[[bytes, int, int, Values, Values], int]


class _Misfit(Exception):
    """The bytes do not fit the layout: the Scapy view must dissect (and word) the message."""


# what sends a message to the Scapy view: a misfit, or (never seen; the equality tests would
# show it) a step that fails on bytes it did not expect, which must not become a traceback
_TO_SCAPY = (_Misfit, struct.error, IndexError, KeyError, ValueError, TypeError, OverflowError)


# --------------------------------------------------------------------------- text helpers


# --------------------------------------------------------------------------- compiling
class _Compiled:
    """The steps of one ``Struct``: ``read(data, pos, end)`` -> (shown fields, raw values, end)."""

    def __init__(self, layout: Struct, dialect: str) -> None:
        self.layout = layout
        self.dialect = dialect
        self.reserved = reserved_names(layout)
        self.text = text_names(layout)
        self.steps: list[Step] = []
        self.min_size = layout.min_size
        self.fixed_size = layout.fixed_size
        self._compile(layout.fields, self.steps)
        self.summary = _summary_formatters(layout, dialect)

    def read(self, data: bytes, pos: int, end: int) -> tuple[Values, Values, int]:
        out: Values = {}
        vals: Values = {}
        for step in self.steps:
            pos = step(data, pos, end, out, vals)
        return out, vals, pos

    # ---- one step per construct
    def _compile(self, items: tuple[Field, ...], steps: list[Step]) -> None:
        run: list[Int | Count | Length] = []
        for item in items:
            match item:
                case Int() | Count() | Length():
                    run.append(item)
                    continue
                case Array():
                    self._close(run, steps)
                    steps.append(self._array(item))
                case Bytes():
                    self._close(run, steps)
                    steps.extend(self._bytes(item))
                case Optional():
                    self._close(run, steps)
                    steps.append(self._optional(item))
                case When():
                    self._close(run, steps)
                    steps.append(self._when(item))
                case BySize():
                    raise TypeError(f"{self.layout.name}: a BySize must be the only field of its Struct")
                case _:
                    unknown_construct(item, "the compiled decoder")
        self._close(run, steps)

    def _close(self, run: list[Int | Count | Length], steps: list[Step]) -> None:
        if run:
            steps.append(_int_run(list(run), self.reserved))
            run.clear()

    def _array(self, item: Array) -> Step:
        candidates = [(_entry(s, self.dialect), s.fixed_size) for s in (item.entry, *item.alternatives)]
        name, count_name = item.name, item.count

        def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
            count = vals.get(count_name, 0) if count_name is not None else None
            entry, size = candidates[0]
            if count:
                for c, s in candidates:
                    if s and count * s == end - pos:
                        entry, size = c, s
                        break
            entries: list[Values] = []
            if size:
                fit = (end - pos) // size
                n = fit if count is None else count
                if n > fit or (count is None and (end - pos) % size):
                    raise _Misfit
                entries = (
                    entry.rows(data, pos, n)
                    if entry.flat
                    else [entry.whole(data, p, p + size) for p in range(pos, pos + n * size, size)]
                )
                pos += n * size
            else:  # variable-size entries, each read to its own end (as the codec measures it)
                while pos < end and (count is None or len(entries) < count):
                    value, _, after = entry.read(data, pos, end)
                    if after <= pos:
                        raise _Misfit
                    entries.append(value)
                    pos = after
                if count is not None and len(entries) < count:
                    raise _Misfit
            out[name] = entries
            vals[name] = entries
            return pos

        return step

    def _bytes(self, item: Bytes) -> list[Step]:
        name, length, align = item.name, item.length, item.align
        text = item.text
        if item.struct is not None:
            if not isinstance(length, str):
                raise TypeError(f"{self.layout.name}.{name}: a nested struct needs a Length field")
            return [self._nested(name, length, _entry(item.struct, self.dialect))]

        def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
            if length is None:
                want = end - pos
            elif isinstance(length, int):
                want = length
            else:
                want = vals.get(length) or 0
            if pos + want > end:
                raise _Misfit
            blob = data[pos : pos + want]
            out[name] = blob.hex()
            if text:
                out[f"{name}_text"] = printable(blob)
            vals[name] = blob
            return pos + want

        steps: list[Step] = [step]
        if align > 1:
            pad_name = f"_{name}_pad"

            def pad(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
                stop = min(pos + (-len(vals[name]) % align), end)  # missing padding is no fault
                blob = data[pos:stop]
                if blob.strip(b"\x00"):
                    out[pad_name] = blob.hex()
                return stop

            steps.append(pad)
        return steps

    def _nested(self, name: str, length: str, inner: _Entry) -> Step:
        def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
            want = vals.get(length) or 0
            if pos + want > end:
                raise _Misfit
            if want:
                value, _, after = inner.read(data, pos, pos + want)
                if after != pos + want:
                    raise _Misfit
                out[name] = value
                vals[name] = value
            else:
                vals[name] = None
            return pos + want

        return step

    def _optional(self, item: Optional) -> Step:
        steps: list[Step] = []
        self._compile(item.fields, steps)

        def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
            if pos >= end:
                return pos
            for inner in steps:
                pos = inner(data, pos, end, out, vals)
            return pos

        return step

    def _when(self, item: When) -> Step:
        steps: list[Step] = []
        self._compile(item.fields, steps)
        key, wanted = item.field, item.values

        def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
            if vals.get(key, 0) in wanted:
                for inner in steps:
                    pos = inner(data, pos, end, out, vals)
            return pos

        return step


def _int_run(fields: list[Int | Count | Length], reserved: frozenset[str]) -> Step:
    """Consecutive integers read with one precompiled ``struct.Struct`` (a 3-byte one as u16+u8)."""
    names = tuple(f.name for f in fields)
    codes = "".join("HB" if f.size == 3 else _FMT[f.size] for f in fields)
    packed = struct.Struct("<" + codes)
    size = packed.size
    unpack = packed.unpack_from
    hidden = tuple(n in reserved or n.startswith("_") for n in names)
    three = tuple(i for i, f in enumerate(fields) if f.size == 3)

    def step(data: bytes, pos: int, end: int, out: Values, vals: Values) -> int:
        if pos + size > end:
            raise _Misfit
        got = unpack(data, pos)
        if three:
            row = list(got)
            for i in reversed(three):
                row[i : i + 2] = [row[i] | (row[i + 1] << 16)]
            got = tuple(row)
        pairs = zip(names, got, strict=True)
        vals.update(pairs)
        if any(hidden):
            for n, v, h in zip(names, got, hidden, strict=True):
                if v or not h:
                    out[n] = v
        else:
            out.update(zip(names, got, strict=True))
        return pos + size

    return step


class _Entry:
    """A list entry or nested struct: ``read`` for variable entries, ``rows`` for flat ones."""

    def __init__(self, layout: Struct, dialect: str) -> None:
        self.compiled = _Compiled(layout, dialect)
        self.read = self.compiled.read
        ints = [f for f in layout.fields if isinstance(f, Int)]
        self.flat = len(ints) == len(layout.fields) and all(f.size in _FMT for f in ints) and bool(ints)
        if self.flat:
            self.row = struct.Struct("<" + "".join(_FMT[f.size] for f in ints))
            self.names = tuple(f.name for f in ints)
            self.hidden = tuple(f.reserved or f.name.startswith("_") for f in ints)

    def whole(self, data: bytes, pos: int, end: int) -> Values:
        value, _, after = self.read(data, pos, end)
        if after != end:
            raise _Misfit
        return value

    def rows(self, data: bytes, pos: int, n: int) -> list[Values]:
        """``n`` all-integer entries as ``EntryList.as_dicts`` reads them."""
        names, hidden = self.names, self.hidden
        it = self.row.iter_unpack(data[pos : pos + n * self.row.size])
        if not any(hidden):
            return [dict(zip(names, row, strict=True)) for row in it]
        return [{k: v for k, v, h in zip(names, row, hidden, strict=True) if v or not h} for row in it]


@cache
def _entry(layout: Struct, dialect: str) -> _Entry:
    return _Entry(layout, dialect)


def _summary_formatters(layout: Struct, dialect: str) -> tuple[tuple[str, Callable[[Any], str]], ...]:
    """``(name, format)`` of the fields ``layout.summary`` shows, as ``layers.summary`` formats them."""
    out = []
    for name in layout.summary:
        out.append((name, _formatter(layout.field(name), dialect)))
    return tuple(out)


def _formatter(spec: Field, dialect: str) -> Callable[[Any], str]:
    match spec:
        case Int():
            names = registry.value_names(spec.enum, dialect) if spec.enum else None
            if names is not None:
                return names.name_of
            return (lambda v: f"{v:#x}") if spec.hex else str
        case Count() | Length():
            return str
        case Array():
            return lambda v: f"[{len(v)}]"
        case Bytes():
            if spec.struct is not None:
                return _unsupported
            return (lambda v: '"' + printable(v) + '"') if spec.text else bytes.hex
        case Optional() | When() | BySize():
            return _unsupported
        case _:
            unknown_construct(spec, "the compiled summary")


def _unsupported(value: Any) -> str:
    raise _Misfit  # a nested struct in a summary: Scapy's repr of it, let Scapy say it


# --------------------------------------------------------------------------- payloads
class _Payload:
    """How one (role, msg_id) payload is read: a compiled struct, BySize cases, or raw bytes."""

    def __init__(self, layout: Struct | None, dialect: str) -> None:
        self.layout = layout
        self.cases: dict[int, _Compiled] = {}
        self.first: _Compiled | None = None
        self.min_size = 0 if layout is None else layout.min_size
        if layout is None:
            return
        choice = layout.by_size
        if choice is not None:
            compiled = [_Compiled(c, dialect) for c in choice.cases]
            self.cases = {c.fixed_size: c for c in compiled if c.fixed_size is not None}
            self.first = compiled[0]
        else:
            self.first = _Compiled(layout, dialect)

    def _read(self, data: bytes, pos: int, end: int) -> tuple[_Compiled | None, Values, Values]:
        """The struct that read ``data[pos:end]`` (None: no layout), its fields object, its values."""
        compiled = self.cases.get(end - pos, self.first) if self.cases else self.first
        if compiled is None:  # no layout: bytes kept whole
            return None, {"data": data[pos:end].hex()}, {}
        out, vals, stop = compiled.read(data, pos, end)
        if stop != end:
            raise _Misfit
        return compiled, out, vals

    def shown(self, data: bytes, pos: int, end: int) -> Values:
        """The fields object of ``data[pos:end]`` (not empty), without the summary words."""
        return self._read(data, pos, end)[1]

    def fields(self, data: bytes, pos: int, end: int | None = None) -> tuple[Values, str]:
        """The fields object and the summary words of ``data[pos:end]`` (not empty; ``end``:
        the end of ``data`` unless given)."""
        end = len(data) if end is None else end
        compiled, out, vals = self._read(data, pos, end)
        if compiled is None:
            return out, ""
        words = []
        for name, fmt in compiled.summary:
            value = vals.get(name)
            if value is not None:
                words.append(f"{name}={fmt(value)}")
        return out, " ".join(words)


_RAW = _Payload(None, "rm")  # an id without a layout: its bytes kept whole, in any dialect
_CACHE_LIMIT = 4096  # names cached per dialect: ids and codes from garbage must not grow memory


class _Dialect:
    """Every payload reader of one dialect, made on first use (ids with a layout only)."""

    def __init__(self, dialect: str) -> None:
        self.name = dialect
        self._payloads: dict[tuple[str, int], _Payload] = {}
        self._names: dict[int, str] = {}
        self._errors: dict[int, str] = {}

    def payload(self, role: str, msg_id: int) -> _Payload:
        key = (role, msg_id)
        found = self._payloads.get(key)
        if found is None:
            layout = registry.layout(msg_id, role, self.name)  # type: ignore[arg-type]
            if layout is None:
                return _RAW
            found = self._payloads[key] = _Payload(layout, self.name)
        return found

    def message_name(self, msg_id: int) -> str:
        name = self._names.get(msg_id)
        if name is None:
            name = registry.message_name(msg_id, self.name)
            if len(self._names) < _CACHE_LIMIT:
                self._names[msg_id] = name
        return name

    def error_name(self, code: int) -> str:
        name = self._errors.get(code)
        if name is None:
            name = registry.error_name(code, self.name)
            if len(self._errors) < _CACHE_LIMIT:
                self._errors[code] = name
        return name


@cache
def _dialect(name: str) -> _Dialect:
    return _Dialect(name)


# --------------------------------------------------------------------------- messages
class CompiledMessage:
    """A well-formed message decoded by the compiled steps: what ``ghrm decode`` prints of it
    (``to_json`` and ``summary`` equal ``DecodedMessage``'s)."""

    __slots__ = ("_json", "_summary", "raw")

    def __init__(self, raw: RawMessage, json: dict[str, Any], summary: str) -> None:
        self.raw = raw
        self._json = json
        self._summary = summary

    def to_json(self) -> dict[str, Any]:
        """The jsonl record (a fresh dict: callers add the generated fields to it)."""
        return self._json.copy()

    def summary(self) -> str:
        return self._summary


def _decode(raw: RawMessage, d: _Dialect) -> CompiledMessage:
    """The compiled view of one message, or ``_Misfit`` when Scapy must word a malformation."""
    if raw.problems:
        raise _Misfit
    words: list[str] = []
    json = message_json(
        raw.data,
        d,
        list(raw.frames),
        raw.time_ns,
        raw.time_end_ns,
        DIRECTION_LABELS[raw.direction],
        raw.client_vmid,
        raw.seq_known,
        words,
    )
    return CompiledMessage(raw, json, " ".join(words))


def message_head(data: bytes, d: _Dialect) -> tuple[int, int, int, int, int | None, _Payload, int]:
    """What the RPC header of a whole message says, as ``message_json`` reads it: (msg_type,
    seq, msg_id, fragments, err_code (None unless a reply), the payload's reader, where the
    payload starts). Raises one of ``MISFITS`` where the Scapy view must word a malformation.

    Why apart: the ledgers read a message's ``fields`` alone (``ledgers.dicts``) with the very
    checks ``message_json`` makes, without the rest of its dict."""
    if len(data) < RPC_HEADER_SIZE:
        raise _Misfit
    api, type_byte, seq, msg_id = RPC_HEADER.unpack_from(data)
    msg_type = type_byte & MSG_TYPE_MASK
    fragments = type_byte >> FRAGMENTS_SHIFT
    if api != RPC_API_BYTE or fragments > MAX_FRAGMENTS or msg_type == 0:
        raise _Misfit
    if lone_fragment(fragments, len(data)):
        raise _Misfit
    err_code = None
    pos = RPC_HEADER_SIZE
    end = len(data)
    if msg_type == REPLY:
        if end < pos + REPLY_ERROR_SIZE:
            raise _Misfit
        err_code = _U32.unpack_from(data, pos)[0]
        pos += REPLY_ERROR_SIZE
        payload = d.payload("reply" if err_code == 0 else "error_reply", msg_id)
        if pos == end and err_code == 0 and payload.min_size:
            raise _Misfit  # reply data is empty, its layout needs bytes
    else:
        payload = d.payload(TYPE_NAMES[msg_type], msg_id)
        if pos == end and payload.min_size:
            raise _Misfit  # payload is empty, its layout needs bytes
    return msg_type, seq, msg_id, fragments, err_code, payload, pos


def message_json(
    data: bytes,
    d: _Dialect,
    frames: list[int],
    time_ns: int | None,
    time_end_ns: int | None,
    direction: str,
    client_vmid: int,
    seq_known: bool = True,
    words: list[str] | None = None,
) -> Values:
    """The jsonl dict of one whole message from its bytes and what the capture says of it
    (frames, times, direction label, client): ``decode_message``'s, and the ledgers' straight
    from the message columns (``ledgers.dicts``). Raises one of ``MISFITS`` where the Scapy view
    must word a malformation. ``words``: a list to receive the summary's words (none are made
    when not given: the ledgers do not print them)."""
    msg_type, seq, msg_id, fragments, err_code, payload, pos = message_head(data, d)
    name = d.message_name(msg_id)
    err_name = None if err_code is None else d.error_name(err_code)
    if words is not None:
        words += (_TYPE_WORDS[msg_type], name, f"seq={seq}")
        if err_name is not None:
            words.append(f"err={err_name}")
    end = len(data)
    fields: Values = {}
    if pos < end:
        if words is None:
            fields = payload.shown(data, pos, end)
        else:
            fields, extra = payload.fields(data, pos, end)
            if extra:
                words.append(extra)
    time = _time(time_ns)
    return {
        "frame": frames[0],
        "frames": frames,
        "time": time,
        "time_end": time if time_end_ns == time_ns else _time(time_end_ns),
        "direction": direction,
        "client_vmid": client_vmid,
        "type": TYPE_NAMES[msg_type],
        "seq": seq if seq_known else None,
        "msg_id": msg_id,
        "msg_name": name,
        "fragments": fragments,
        "err_code": err_code,
        "err_name": err_name,
        "fields": fields,
        "malformed": None,
        "time_ns": time_ns,
    }


def _time(time_ns: int | None) -> ExactTime | None:
    return None if time_ns is None else ExactTime(time_ns)


# --------------------------------------------------------------------------- for lines.py
MISFITS = _TO_SCAPY  # what a reader raises on bytes that do not fit: decode that message alone


def payload_layout(role: str, msg_id: int, dialect: str = "rm") -> Struct | None:
    """The layout a payload of ``role`` and ``msg_id`` is read with (None: bytes kept whole)."""
    return _dialect(get_dialect(dialect).name).payload(role, msg_id).layout


def payload_reader(
    role: str, msg_id: int, dialect: str = "rm"
) -> Callable[[bytes, int, int], tuple[Values, str]]:
    """``read(data, start, end)`` -> (``fields`` object, summary words) of the non-empty payload
    ``data[start:end]``, as ``decode_message`` reads it (raises one of ``MISFITS`` where it
    would go to Scapy)."""
    return _dialect(get_dialect(dialect).name).payload(role, msg_id).fields


def hidden_names(layout: Struct) -> frozenset[str]:
    """Integer fields shown in ``fields`` only when non-zero (reserved, or named ``_...``)."""
    reserved = reserved_names(layout)
    return frozenset(f.name for f in layout.walk() if f.name in reserved or f.name.startswith("_"))


def summary_formatters(layout: Struct, dialect: str = "rm") -> tuple[tuple[str, Callable[[Any], str]], ...]:
    """``(name, format)`` of the fields the summary of ``layout`` shows (see ``_formatter``)."""
    return _summary_formatters(layout, get_dialect(dialect).name)


def names(dialect: str = "rm") -> _Dialect:
    """The dialect's cached ``message_name(msg_id)`` and ``error_name(code)``."""
    return _dialect(get_dialect(dialect).name)


def decode_message(raw: RawMessage, dialect: str = "rm") -> CompiledMessage | DecodedMessage:
    """The compiled view of a well-formed message; the Scapy view of any other."""
    try:
        return _decode(raw, _dialect(get_dialect(dialect).name))
    except _TO_SCAPY:
        from dissector.decoded import DecodedMessage

        return DecodedMessage(raw, dialect)


def decode_records(
    items: Iterable[Record | CaptureProblem], *, dialect: str = "rm"
) -> Iterator[CompiledMessage | DecodedMessage | CaptureProblem]:
    """``dissector.decoded.decode_records`` through the compiled decoder: reassemble and decode,
    capture problems passed through in place."""
    d = _dialect(get_dialect(dialect).name)
    for item in reassemble(items):
        if isinstance(item, CaptureProblem):
            yield item
            continue
        try:
            yield _decode(item, d)
        except _TO_SCAPY:
            from dissector.decoded import DecodedMessage

            yield DecodedMessage(item, dialect)
