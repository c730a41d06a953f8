"""``ghrm decode``'s jsonl and text lines of a whole capture, made a kind of message at a time.

Why: the compiled decoder (``compiled.py``) still builds a dict per message and encodes it;
at a million messages that is most of the command. Here the capture is read once into message
columns (``analysis.fastpath`` + ``decoders.columnar``, the engine of the tables), and the
messages are formatted by kind (type, id, error or not):

* a fixed-size layout of plain integers (most messages) has its line written as a format
  template once, its payload read for all its messages at once with a numpy record dtype;
* a message without a layout has its bytes as hex;
* a message of a variable layout has its ``fields`` read by the compiled decoder's reader of
  that payload (the same code as ``compiled.decode_message``), the rest of its line templated;
* anything else (malformed, reassembled from fragments, a kernel-log record, an unknown time or
  sequence number, a non-zero reserved field) is decoded one message at a time by
  ``compiled.decode_message`` (Scapy for the malformed), exactly as the streaming path does.

The lines come out in the order the streaming path prints them (``reassemble`` yields a message
when its last record arrives, or when it is given up), and are byte-identical to it: tests
compare both on every bundled trace, every dialect and generated captures of every layout.
``decode_lines`` returns None when a capture cannot take this path (the caller streams it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.columns import plain_messages
from dissector.analysis.context import GENERATED  # the generated fields: numpy only, no pandas
from dissector.capture.record import CaptureProblem
from dissector.decoded import ExactTime, json_str, json_text, jsonl_line
from dissector.decoders import compiled
from dissector.protocol.layout import Bytes, Count, Int, Length, Struct
from dissector.protocol.text import printable
from dissector.protocol.wire import NOTIFICATION, REPLY, REPLY_ERROR_SIZE, REQUEST, RPC_HEADER_SIZE, MsgType

if TYPE_CHECKING:
    from dissector.analysis.columns import MessageColumns
    from dissector.analysis.context import Exchange
    from dissector.decoded import DecodedMessage
    from dissector.decoders.compiled import CompiledMessage

CHUNK = 1 << 16  # messages formatted at a time: memory stays flat on any size
_ROLES: dict[int, str] = {REQUEST: "request", NOTIFICATION: "notification"}
_TYPES: dict[int, str] = {t.value: t.label for t in MsgType}
_WORDS: dict[int, str] = {t.value: t.label.capitalize() for t in MsgType}
_DIRECTIONS = ("unknown", "to_rm", "from_rm")  # by wire value
_ARROWS = {"to_rm": "->RM", "from_rm": "RM->", "unknown": " ?? "}
_NP = {1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}


# --------------------------------------------------------------------------- one message
def text_line(msg: DecodedMessage | CompiledMessage, start_ns: int | None) -> str:
    """The ``ghrm decode`` text line of one message (``start_ns``: the capture's first time)."""
    raw = msg.raw
    t = None if raw.time_ns is None or start_ns is None else (raw.time_ns - start_ns) / 1e9
    when = "       -    " if t is None else f"{t:12.6f}"
    client = "vm?" if raw.client_vmid == 0xFFFF else f"vm{raw.client_vmid:#x}"
    return f"{raw.frame:6d} {when} {_ARROWS[raw.direction.label]} {client:>7} {msg.summary()}"


# --------------------------------------------------------------------------- emission order
def emission_order(cols: MessageColumns) -> np.ndarray | None:
    """Rows in the order ``reassemble`` yields them: a message when its last record arrives; one
    given up, where the record that gave it up arrives, before that record's own message; those
    still waiting at the end last. The columnar decoder records that moment per message
    (``cols.emitted``); None when the columns do not carry it (then stream the capture)."""
    from dissector.decoders.columnar import emitted_keys

    if cols.emitted is None:
        return None
    return np.argsort(emitted_keys(cols.frame, cols.emitted), kind="stable")


# --------------------------------------------------------------------------- payload kinds
@dataclass
class _Flat:
    """A fixed-size layout of plain integers: its numpy record dtype and its line pieces."""

    dtype: np.dtype
    shown: tuple[str, ...]  # fields always in ``fields``
    hidden: tuple[str, ...]  # reserved fields: in ``fields`` only when non-zero (then: one at a time)
    template: str  # ``fields`` object with %d for each shown field
    summary: tuple[tuple[str, Callable[[Any], str]], ...]


def _flat(layout: Struct, dialect: str) -> _Flat | None:
    """``layout`` as a ``_Flat``, or None when it is not a fixed run of 1/2/4/8-byte integers."""
    if layout.by_size is not None or layout.fixed_size is None:
        return None
    fields = layout.fields
    ints = [f for f in fields if isinstance(f, Int | Count | Length) and f.size in _NP]
    if len(ints) != len(fields):
        return None
    names = [f.name for f in ints]
    if len(set(names)) != len(names):
        return None
    hidden_names = compiled.hidden_names(layout)
    shown = tuple(n for n in names if n not in hidden_names)
    hidden = tuple(n for n in names if n in hidden_names)
    dtype = np.dtype([(f.name, _NP[f.size]) for f in ints])
    template = "{" + ",".join(f'"{n}":%d' for n in shown) + "}"
    return _Flat(dtype, shown, hidden, template, compiled.summary_formatters(layout, dialect))


@dataclass
class _Tail:
    """Integers then the bytes one of them counts, to the payload's end (console text): the
    integers read for all messages at once as in ``_Flat``, the bytes as hex (and text)."""

    dtype: np.dtype  # the integers
    length: str  # the integer that counts the bytes
    name: str  # the bytes field
    text: bool  # shown as ``<name>_text`` too
    template: str  # ``fields`` object: %d per integer, then %s for the hex and %s for the text
    summary: tuple[tuple[str, Callable[[Any], str]], ...]


def _tail(layout: Struct, dialect: str) -> _Tail | None:
    """``layout`` as a ``_Tail``, or None when it is not 1/2/4/8-byte integers (none hidden when
    zero) then a ``Bytes`` whose ``Length`` is one of them (no alignment, no nested struct)."""
    if layout.by_size is not None or len(layout.fields) < 2:
        return None
    *head, last = layout.fields
    if not isinstance(last, Bytes) or last.struct is not None or last.align != 1:
        return None
    ints = [f for f in head if isinstance(f, Int | Count | Length) and f.size in _NP]
    if len(ints) != len(head):
        return None
    names = [f.name for f in ints]
    if len(set(names)) != len(names) or last.length not in names or compiled.hidden_names(layout):
        return None
    if {last.name, f"{last.name}_text"} & set(names):
        return None
    dtype = np.dtype([(f.name, _NP[f.size]) for f in ints])
    template = "{" + "".join(f'"{n}":%d,' for n in names) + f'"{last.name}":"%s"'
    template += f',"{last.name}_text":%s}}' if last.text else "}"
    summary = compiled.summary_formatters(layout, dialect)
    return _Tail(dtype, str(last.length), last.name, last.text, template, summary)


class _Kinds:
    """What each (type, id, error) kind of one dialect is read with, made on first use."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._flat: dict[tuple[str, int], _Flat | None] = {}
        self._tail: dict[tuple[str, int], _Tail | None] = {}

    def role(self, msg_type: int, err_code: int) -> str:
        return _ROLES[msg_type] if msg_type != REPLY else "reply" if err_code == 0 else "error_reply"

    def flat(self, role: str, msg_id: int) -> _Flat | None:
        key = (role, msg_id)
        if key not in self._flat:
            layout = compiled.payload_layout(role, msg_id, self.dialect)
            self._flat[key] = None if layout is None else _flat(layout, self.dialect)
        return self._flat[key]

    def tail(self, role: str, msg_id: int) -> _Tail | None:
        key = (role, msg_id)
        if key not in self._tail:
            layout = compiled.payload_layout(role, msg_id, self.dialect)
            self._tail[key] = None if layout is None else _tail(layout, self.dialect)
        return self._tail[key]


# --------------------------------------------------------------------------- the capture
@dataclass
class Capture:
    """One capture decoded into columns, with its records' bytes (for the payloads)."""

    cols: MessageColumns
    problems: list[CaptureProblem]
    data: bytes  # the records' bytes
    buf: np.ndarray  # ``data`` as uint8
    record_offset: np.ndarray  # per message row: where its bytes start in ``buf`` (-1: reassembled)
    start_ns: int | None  # the first record's time: what text lines count from
    dialect: str


def read_capture(path: str, dialect: str) -> Capture | None:
    """``path`` as message columns, or None when it is not a plain file (stdin, a pipe)."""
    from dissector.analysis import fastpath
    from dissector.decoders import columnar

    if path == "-" or not os.path.isfile(path):
        return None
    rc, problems = fastpath.read_records(path, path)
    cols = columnar.decode(rc, path, dialect)
    at = np.searchsorted(rc.number, cols.frame)
    at = np.minimum(at, max(len(rc) - 1, 0))
    single = (cols.fragments == 0) & (cols.msg_type > 0)
    if len(rc):
        single &= rc.number[at] == cols.frame
    offset = np.where(single, rc.offset[at] if len(rc) else 0, -1)
    known = np.flatnonzero(rc.time_known)
    start = int(rc.time_ns[known[0]]) if len(known) else None
    return Capture(cols, problems, rc.buf, np.frombuffer(rc.buf, np.uint8), offset, start, dialect)


_GENERATED_TAIL = "".join(f',"{name}":%s' for name in GENERATED)  # a line's generated keys, to fill


class Generated:
    """The generated fields of every message (``GENERATED`` order), kept as compact columns and
    written as JSON texts a chunk of rows at a time.

    Why not a text per message made up front: at a million messages those strings (and the
    lists they are made from) were ~400 MB of the command's peak; a chunk's texts are small."""

    def __init__(self, ex: Exchange) -> None:
        from dissector.analysis.context import errno_names

        codes, names = errno_names(ex.err)
        self.columns: list[_Named | _Ints | _Floats] = [
            _Named(*_small_ints(ex.vm)),
            _Ints(ex.request_frame),
            _Ints(ex.reply_frame),
            _Floats(ex.latency),
            _Named(codes, [jsonl_value(n) for n in names]),
        ]

    def texts(self, rows: np.ndarray) -> list[list[str]]:
        """Per generated field, the JSON texts of ``rows``."""
        return [column.texts(rows) for column in self.columns]

    def tails(self, rows: np.ndarray) -> list[str]:
        """The end of each of ``rows``' jsonl lines: ``,"vm":...,"errno":...``."""
        return [_GENERATED_TAIL % values for values in zip(*self.texts(rows), strict=True)]


def _small_ints(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integers of few distinct values (-1: null) as codes into their texts."""
    uniques, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), ["null" if v < 0 else int.__repr__(v) for v in uniques.tolist()]


class _Named:
    """A column of few distinct texts: a code per row into ``names``."""

    def __init__(self, codes: np.ndarray, names: list[str]) -> None:
        self.codes = codes
        self.names = np.array(names, object)

    def texts(self, rows: np.ndarray) -> list[str]:
        return self.names[self.codes[rows]].tolist()


@dataclass
class _Ints:
    """Integers (-1: null), as ``jsonl_line`` writes them."""

    values: np.ndarray

    def texts(self, rows: np.ndarray) -> list[str]:
        values = self.values[rows]
        out = list(map(int.__repr__, values.tolist()))
        for k in np.flatnonzero(values < 0).tolist():
            out[k] = "null"
        return out


@dataclass
class _Floats:
    """Floats (NaN: null), as ``jsonl_line`` writes them."""

    values: np.ndarray

    def texts(self, rows: np.ndarray) -> list[str]:
        values = self.values[rows]
        out = list(map(float.__repr__, values.tolist()))
        for k in np.flatnonzero(~np.isfinite(values)).tolist():
            out[k] = "null" if values[k] != values[k] else jsonl_value(float(values[k]))
        return out


def generated_columns(capture: Capture) -> Generated:
    """The generated fields of every message (``analysis.context.exchange_fields``)."""
    from dissector.analysis.context import exchange_fields

    return Generated(exchange_fields(capture.cols, capture.dialect))


def jsonl_value(value: Any) -> str:
    """One value as ``jsonl_line`` writes it (numpy scalars as Python's)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value):
        return "null"
    return jsonl_line({"v": value})[5:-1]


# --------------------------------------------------------------------------- the lines
def _time_texts(ns: np.ndarray) -> list[str]:
    """``ExactTime(ns).text`` of each time (int64 ns): 6 digits unless sub-microsecond, then 9."""
    sec, frac = np.divmod(ns, 1_000_000_000)
    out = np.empty(len(ns), object)
    for rows, fmt, scale in ((frac % 1000 != 0, "%d.%09d", 1), (frac % 1000 == 0, "%d.%06d", 1000)):
        at = np.flatnonzero(rows & (ns >= 0))
        if len(at):
            pairs = zip(sec[at].tolist(), (frac[at] // scale).tolist(), strict=True)
            out[at] = list(map(fmt.__mod__, pairs))
    for i in np.flatnonzero(ns < 0).tolist():  # before 1970: the sign in front (ExactTime's rule)
        out[i] = ExactTime(int(ns[i])).text
    return out.tolist()


def _words(name: str, fmt: Callable[[Any], str], values: list[Any]) -> list[str]:
    """``name=<formatted value>`` of each value, as ``compiled`` writes a summary word (each
    distinct value formatted once)."""
    memo: dict[Any, str] = {}
    texts = []
    for v in values:
        t = memo.get(v)
        if t is None:
            t = memo[v] = f"{name}={fmt(v)}"
        texts.append(t)
    return texts


class _Writer:
    """Formats the lines of one capture's rows (``lines(rows)``), jsonl or text."""

    def __init__(self, capture: Capture, jsonl: bool, generated: Generated | None) -> None:
        self.c = capture
        self.jsonl = jsonl
        self.generated = generated
        self.kinds = _Kinds(capture.dialect)
        self.names = compiled.names(capture.dialect)
        cols = capture.cols
        payload_len = cols.length.astype(np.int64) - RPC_HEADER_SIZE
        self.skip = np.where(cols.msg_type == REPLY, REPLY_ERROR_SIZE, 0)
        self.payload_len = payload_len - self.skip
        # rows that may be templated: whole single-record messages the streaming path decodes
        # without Scapy and without a value this path cannot see (unknown time or seq number)
        self.easy = plain_messages(cols) & (capture.record_offset >= 0) & (self.payload_len >= 0)

    # ---- one at a time (the streaming path's code)
    def one(self, i: int, tail: str | None = None) -> str:
        """Row ``i``'s line; ``tail``: its generated fields' text (``Generated.tails``), if known."""
        msg = compiled.decode_message(self.c.cols.raw_message(i), self.c.dialect)  # type: ignore[misc]
        if not self.jsonl:
            return text_line(msg, self.c.start_ns)
        line = jsonl_line(msg.to_json())
        if self.generated is None:
            return line
        if tail is None:
            (tail,) = self.generated.tails(np.array([i]))
        return line[:-1] + tail + "}"  # as if added to the record: its last keys

    # ---- many at once
    def lines(self, rows: np.ndarray) -> list[str]:
        """The lines of ``rows`` (in that order)."""
        out: list[str] = [""] * len(rows)
        cols = self.c.cols
        easy = self.easy[rows]
        slow = np.flatnonzero(~easy)
        fast = np.flatnonzero(easy)
        at = rows[fast]
        role_code = np.where(cols.msg_type[at] == REPLY, np.where(cols.err_code[at] == 0, 2, 3), 0)
        role_code = np.where(cols.msg_type[at] == NOTIFICATION, 1, role_code)
        kind = cols.msg_id[at] * 4 + role_code
        order = np.argsort(kind, kind="stable")
        bounds = np.flatnonzero(np.diff(kind[order])) + 1
        for group in np.split(order, bounds) if len(order) else []:
            where = fast[group]
            left = self._group(rows[where], where, out)
            slow = np.concatenate([slow, left]) if len(left) else slow
        at = rows[slow]
        if self.jsonl and self.generated is not None and len(at):
            for k, i, tail in zip(slow.tolist(), at.tolist(), self.generated.tails(at), strict=True):
                out[k] = self.one(i, tail)
        else:
            for k, i in zip(slow.tolist(), at.tolist(), strict=True):
                out[k] = self.one(i)
        return out

    def _group(self, rows: np.ndarray, where: np.ndarray, out: list[str]) -> np.ndarray:
        """Lines of one kind's rows written into ``out`` at ``where``; returns the positions in
        ``out`` left for the one-at-a-time path."""
        cols = self.c.cols
        first = int(rows[0])
        msg_type, msg_id, err0 = int(cols.msg_type[first]), int(cols.msg_id[first]), int(cols.err_code[first])
        role = self.kinds.role(msg_type, err0)
        layout = compiled.payload_layout(role, msg_id, self.c.dialect)
        plen = self.payload_len[rows]
        fields: list[str]
        extra: list[str] | None = None
        keep = np.ones(len(rows), bool)
        if layout is None:  # bytes kept whole
            fields = self._raw(rows, plen)
        else:
            flat = self.kinds.flat(role, msg_id)
            if flat is not None:
                keep = plen == flat.dtype.itemsize
                got = self._flat(flat, rows[keep])
                if got is None:
                    return where
                fields, extra, zero = got
                sel = np.flatnonzero(keep)
                keep[sel[~zero]] = False
                fields = [f for f, z in zip(fields, zero.tolist(), strict=True) if z]
                if extra is not None:
                    extra = [e for e, z in zip(extra, zero.tolist(), strict=True) if z]
            elif (tail := self.kinds.tail(role, msg_id)) is not None:
                fields, extra, keep = self._tail(tail, rows, plen)
            else:
                empty = role == "error_reply" or not layout.min_size  # an empty payload reads as {}
                fields, extra, ok = self._variable(role, msg_id, rows, plen, empty)
                keep = ok
        done = where[keep]
        left = where[~keep]
        rows = rows[keep]
        if not len(rows):
            return left
        name = self.names.message_name(msg_id)
        if self.jsonl:
            lines = self._jsonl(rows, msg_type, msg_id, name, fields)
        else:
            lines = self._text(rows, msg_type, name, extra)
        for k, line in zip(done.tolist(), lines, strict=True):
            out[k] = line
        return left

    # ---- payloads
    def _slices(self, rows: np.ndarray, width: int) -> np.ndarray:
        """The payload bytes of ``rows`` (all ``width`` long) as a (rows, width) uint8 matrix."""
        start = self.c.record_offset[rows] + RPC_HEADER_SIZE + self.skip[rows]
        return self.c.buf[start[:, None] + np.arange(width)]

    def _raw(self, rows: np.ndarray, plen: np.ndarray) -> list[str]:
        start = (self.c.record_offset[rows] + RPC_HEADER_SIZE + self.skip[rows]).tolist()
        buf = self.c.buf
        return [
            '{"data":"' + buf[s : s + n].tobytes().hex() + '"}' if n else "{}"
            for s, n in zip(start, plen.tolist(), strict=True)
        ]

    def _flat(self, flat: _Flat, rows: np.ndarray) -> tuple[list[str], list[str] | None, np.ndarray] | None:
        """Fields texts (and summary words) of a flat layout; ``zero``: rows whose reserved
        fields are all zero (the others go one at a time)."""
        size = flat.dtype.itemsize
        if size == 0:
            n = len(rows)
            return ["{}"] * n, ([""] * n if not self.jsonl else None), np.ones(n, bool)
        table = self._slices(rows, size).copy().view(flat.dtype).reshape(-1)
        zero = np.ones(len(rows), bool)
        for h in flat.hidden:
            zero &= table[h] == 0
        columns = [table[n].tolist() for n in flat.shown]
        if self.jsonl:
            template = flat.template
            if not columns:  # every field reserved
                return [template] * len(rows), None, zero
            return [template % values for values in zip(*columns, strict=True)], None, zero
        words = [_words(name, fmt, table[name].tolist()) for name, fmt in flat.summary]
        extra = [" ".join(w) for w in zip(*words, strict=True)] if words else [""] * len(rows)
        return [""] * len(rows), extra, zero

    def _tail(
        self, tail: _Tail, rows: np.ndarray, plen: np.ndarray
    ) -> tuple[list[str], list[str], np.ndarray]:
        """Fields texts and summary words of a ``_Tail`` layout; ``keep``: the rows whose bytes
        are exactly the integers and the bytes they count (the others go one at a time, as
        ``compiled`` sends them to Scapy)."""
        size = tail.dtype.itemsize
        keep = plen >= size
        table = self._slices(rows[keep], size).copy().view(tail.dtype).reshape(-1)
        fit = np.flatnonzero(keep)
        good = plen[fit] == size + table[tail.length].astype(np.int64)
        keep[fit[~good]] = False
        table = table[good]
        rows = rows[keep]
        start = (self.c.record_offset[rows] + RPC_HEADER_SIZE + self.skip[rows] + size).tolist()
        stop = (np.array(start, np.int64) + table[tail.length].astype(np.int64)).tolist()
        data = self.c.data
        blobs = [data[a:b] for a, b in zip(start, stop, strict=True)]
        n = len(blobs)
        if not self.jsonl:
            words = [
                _words(name, fmt, blobs if name == tail.name else table[name].tolist())
                for name, fmt in tail.summary
            ]
            extra = [" ".join(w) for w in zip(*words, strict=True)] if words else [""] * n
            return [""] * n, extra, keep
        columns: list[list[Any]] = [table[name].tolist() for name in tail.dtype.names or ()]
        columns.append([b.hex() for b in blobs])
        if tail.text:
            columns.append([json_str(printable(b)) for b in blobs])
        template = tail.template
        return [template % values for values in zip(*columns, strict=True)], [""] * n, keep

    def _variable(
        self, role: str, msg_id: int, rows: np.ndarray, plen: np.ndarray, empty: bool
    ) -> tuple[list[str], list[str], np.ndarray]:
        """Fields texts and summary words read by the compiled decoder's reader of this payload;
        ``empty``: an empty payload is ``{}`` without words (``compiled.decode_message``'s rule:
        an error reply's, or one whose layout needs no bytes), else it goes one at a time.
        Equal payloads are read once (a VM_ALLOCATE reply, VM_GET_VMID, VM_EXITED repeat)."""
        reader = compiled.payload_reader(role, msg_id, self.c.dialect)
        start = (self.c.record_offset[rows] + RPC_HEADER_SIZE + self.skip[rows]).tolist()
        data = self.c.data
        fields, extra = [], []
        ok = np.ones(len(rows), bool)
        encode = json_text
        seen: dict[bytes, tuple[str, str] | None] = {}  # payload -> (fields text, words); None: misfit
        for k, (s, n) in enumerate(zip(start, plen.tolist(), strict=True)):
            if n == 0:
                if empty:
                    fields.append("{}" if self.jsonl else "")
                    extra.append("")
                else:
                    ok[k] = False  # the layout needs bytes: Scapy words what is missing
                continue
            payload = data[s : s + n]
            if payload in seen:
                got = seen[payload]
            else:
                try:
                    values, words = reader(payload, 0, n)
                    got = seen[payload] = (encode(values) if self.jsonl else "", words)
                except compiled.MISFITS:
                    got = seen[payload] = None
            if got is None:
                ok[k] = False
                continue
            fields.append(got[0])
            extra.append(got[1])
        return fields, extra, ok

    # ---- whole lines
    def _jsonl(self, rows: np.ndarray, msg_type: int, msg_id: int, name: str, fields: list[str]) -> list[str]:
        cols = self.c.cols
        head = '{"frame":%d,"frames":[%d],"time":%s,"time_end":%s,"direction":"%s","client_vmid":%d,'
        kind = f'"type":"{_TYPES[msg_type]}","seq":%d,"msg_id":{msg_id},"msg_name":{jsonl_value(name)},'
        kind += '"fragments":0,'
        if msg_type == REPLY:
            errors: dict[int, str] = {}
            err_texts = []
            for code in cols.err_code[rows].tolist():
                t = errors.get(code)
                if t is None:
                    t = errors[code] = (
                        f'"err_code":{code},"err_name":{jsonl_value(self.names.error_name(code))},'
                    )
                err_texts.append(t)
            kind += "%s"
        else:
            kind += '"err_code":null,"err_name":null,'
        tail = '"fields":%s,"malformed":null,"time_ns":%d'
        if self.generated is not None:
            tail += _GENERATED_TAIL
        template = head + kind + tail + "}"
        frame = cols.frame[rows].tolist()
        times = _time_texts(cols.time_ns[rows])
        time_ns = cols.time_ns[rows].tolist()
        direction = [_DIRECTIONS[d] for d in cols.direction[rows].tolist()]
        client = cols.client_vmid[rows].tolist()
        seq = cols.seq[rows].tolist()
        parts: list[list[Any]] = [frame, frame, times, times, direction, client, seq]
        if msg_type == REPLY:
            parts.append(err_texts)
        parts += [fields, time_ns]
        if self.generated is not None:
            parts += self.generated.texts(rows)
        return [template % values for values in zip(*parts, strict=True)]

    def _text(self, rows: np.ndarray, msg_type: int, name: str, extra: list[str] | None) -> list[str]:
        cols = self.c.cols
        start = self.c.start_ns
        time_ns = cols.time_ns[rows]
        when = [f"{t:12.6f}" for t in ((time_ns - start) / 1e9).tolist()] if start is not None else None
        if when is None:
            when = ["       -    "] * len(rows)
        arrows = [_ARROWS[_DIRECTIONS[d]] for d in cols.direction[rows].tolist()]
        clients: dict[int, str] = {}
        client = []
        for v in cols.client_vmid[rows].tolist():
            t = clients.get(v)
            if t is None:
                t = clients[v] = f"{'vm?' if v == 0xFFFF else f'vm{v:#x}':>7}"
            client.append(t)
        word = f"{_WORDS[msg_type]} {name} seq="
        seq = cols.seq[rows].tolist()
        if msg_type == REPLY:
            errors: dict[int, str] = {}
            errs = []
            for code in cols.err_code[rows].tolist():
                t = errors.get(code)
                if t is None:
                    t = errors[code] = f" err={self.names.error_name(code)}"
                errs.append(t)
        else:
            errs = [""] * len(rows)
        extra = extra if extra is not None else [""] * len(rows)
        frame = cols.frame[rows].tolist()
        return [
            f"{f:6d} {w} {a} {c} {word}{s}{e}{' ' + x if x else ''}"
            for f, w, a, c, s, e, x in zip(frame, when, arrows, client, seq, errs, extra, strict=True)
        ]


Whole = tuple[list[CaptureProblem], int, Iterator[list[str]]]


def decode_lines(path: str, dialect: str, jsonl: bool) -> Whole | None:
    """The capture's problems, its message count and its lines (jsonl or text, without the
    newline) in lists of ``CHUNK``, in the streaming path's order; None when ``path`` must be
    streamed instead."""
    from dissector.errors import GhrmError

    try:
        capture = read_capture(path, dialect)
    except (GhrmError, OSError):
        return None  # the streaming path says what is wrong with it
    if capture is None:
        return None
    order = emission_order(capture.cols)
    if order is None:
        return None
    generated = None
    if jsonl:
        try:  # as ``analysis.decode_context.exchange_context``: no table, no two passes
            generated = generated_columns(capture)
        except (GhrmError, OSError, ValueError):
            return None
    writer = _Writer(capture, jsonl, generated)

    def lines() -> Iterator[list[str]]:
        for k in range(0, len(order), CHUNK):
            yield writer.lines(order[k : k + CHUNK])

    return capture.problems, len(capture.cols), lines()
