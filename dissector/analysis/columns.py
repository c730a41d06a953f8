"""What both engines hand to the table builders: one capture's messages as numpy columns.

Why a plain column bundle: the Scapy path (a packet per message) and the fast path (numpy over
the capture bytes) must give identical tables. They meet here, before anything is derived, so
the equality test compares exactly what each engine decoded and every table after this point
is shared code. Unknown integers are ``-1`` here; the messages table turns them into NA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

import numpy as np

from dissector.capture.pcap import RECORD_HEADER_SIZE
from dissector.capture.reassembly import RawMessage, Reassembler
from dissector.capture.record import Direction, Record
from dissector.protocol.wire import CAPTURE_HEADER_SIZE, NOTIFICATION, REPLY, REQUEST

from .fields import PAYLOAD_FIELDS, payload_fields

UNKNOWN = -1

_INT64 = range(-(2**63), 2**63)


def usable_ns(t: int | None) -> int | None:
    """A record time as int64 nanoseconds, or None when unknown or beyond int64 (past year 2262:
    a corrupt timestamp, which the tables treat as unknown rather than fail on)."""
    return t if t is not None and t in _INT64 else None


@cache
def payload_dtype(column: str) -> type:
    """The narrowest dtype holding a ``PAYLOAD_FIELDS`` column (-1 unknown): int32 unless a
    field of it is 4 bytes or more."""
    return np.int32 if all(w.size <= 3 for w in payload_fields()[column]) else np.int64


class SparseColumns(Mapping[str, np.ndarray]):
    """Integer columns that are ``UNKNOWN`` on most rows, kept as the rows holding a value and
    their values; reading one gives the whole column (a new array each time).

    Why: a lifecycle field (``PAYLOAD_FIELDS``) is in a few messages of a capture, yet its eight
    columns were ~34 MB at 1M messages, held as long as the Trace."""

    def __init__(self, n: int, columns: Iterable[tuple[str, np.ndarray]]) -> None:
        """``columns``: (name, whole column) pairs, consumed one at a time (a generator holds
        one whole column at once)."""
        self.n = n
        self._dtypes: dict[str, np.dtype] = {}
        self._rows: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}
        for name, values in columns:
            rows = np.flatnonzero(values != UNKNOWN)
            self._dtypes[name], self._rows[name], self._values[name] = values.dtype, rows, values[rows]

    def __getitem__(self, name: str) -> np.ndarray:
        out = np.full(self.n, UNKNOWN, self._dtypes[name])
        out[self._rows[name]] = self._values[name]
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._dtypes)

    def __len__(self) -> int:
        return len(self._dtypes)


@dataclass
class MessageColumns:
    """One capture's RM messages in frame order; every array has one entry per message.

    Why ``multi_frames`` instead of a tuple per message: all but the reassembled messages are
    one record, whose number is ``frame``; a million tuples cost ~70 MB that nothing reading
    the columns needs (``frames`` builds them when a table asks).
    """

    capture: str
    frame: np.ndarray  # int64
    multi_frames: dict[int, tuple[int, ...]]  # row -> record numbers, where more than ``frame``
    time_ns: np.ndarray  # int64, 0 where unknown
    time_known: np.ndarray  # bool
    time_end_ns: np.ndarray  # int64
    direction: np.ndarray  # int8: 0 unknown, 1 to_rm, 2 from_rm
    client_vmid: np.ndarray  # int32
    length: np.ndarray  # int32: bytes of the whole message, header included
    msg_type: np.ndarray  # int8, -1 when the header is cut
    fragments: np.ndarray  # int16, -1
    seq: np.ndarray  # int32, -1 unknown
    msg_id: np.ndarray  # int64, -1
    err_code: np.ndarray  # int64, -1 when not a reply or cut
    payload_vmid: np.ndarray  # int32, -1: the request/notification field ``vmid``
    allocated_vmid: np.ndarray  # int32, -1: VMID in a successful VM_ALLOCATE reply
    synthetic: np.ndarray  # bool
    malformed: np.ndarray  # object: None or text
    malformed_kind: np.ndarray  # object: None or the first fault's kind
    payload: Mapping[str, np.ndarray] = field(default_factory=dict)  # PAYLOAD_FIELDS, ``payload_dtype``, -1
    # how to get a message back for full Scapy dissection: row -> RawMessage
    raw_message: Callable[[int], RawMessage] | None = field(default=None, repr=False, compare=False)
    # row -> the message's bytes (``raw_message(row).data``) without building a RawMessage: what
    # a reader of a few payload fields of many rows wants (``context.resource_vms``)
    message_bytes: Callable[[int], bytes] | None = field(default=None, repr=False, compare=False)
    # row -> when ``reassemble`` yielded it (``decoders.columnar.EMITTED_PLACES``), for the rows
    # the reassembler emitted (the others: at their own record, after anything it gave up): the
    # order ``ghrm decode`` prints them in. The columnar decoder's alone (None elsewhere).
    emitted: dict[int, int] | None = field(default=None, repr=False, compare=False)
    # (rows, at) -> the little-endian u32 at byte ``at`` of each row's ``message_bytes``, -1
    # where a single gather cannot read it (``RecordSource.words``): a few payload fields of
    # tens of thousands of rows at once (``context.PayloadReader.prefetch``)
    words: Callable[[np.ndarray, int], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def frames(self) -> np.ndarray:
        """Per message, the tuple of its record numbers (object array, built on each call: for one
        row, ``frames_of``)."""
        out = np.fromiter(zip(self.frame.tolist()), object, len(self.frame))
        for row, frames in self.multi_frames.items():
            out[row] = frames
        return out

    def frames_of(self, row: int) -> tuple[int, ...]:
        """One message's record numbers (``frames[row]`` without building the whole column)."""
        return self.multi_frames.get(row) or (int(self.frame[row]),)

    def take(self, order: np.ndarray) -> MessageColumns:
        """The same messages reordered (or a subset), as a new bundle."""
        rows = np.asarray(order)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out[f.name] = value[order]
            elif f.name in ("multi_frames", "emitted") and value is not None:  # sparse: by row
                out[f.name] = {new: value[old] for new, old in enumerate(rows.tolist()) if old in value}
            elif f.name == "payload":
                out[f.name] = {k: v[order] for k, v in value.items()}
            else:
                out[f.name] = value
        raw, data = self.raw_message, self.message_bytes
        if raw is not None:

            def raw_taken(i: int) -> RawMessage:
                return raw(int(rows[i]))

            out["raw_message"] = raw_taken
        if data is not None:

            def bytes_taken(i: int) -> bytes:
                return data(int(rows[i]))

            out["message_bytes"] = bytes_taken
        words = self.words
        if words is not None:

            def words_taken(i: np.ndarray, at: int) -> np.ndarray:
                return words(rows[np.asarray(i, np.int64)], at)

            out["words"] = words_taken
        return MessageColumns(**out)

    def differences(self, other: MessageColumns) -> list[str]:
        """Names (and first differing row) of columns that differ: the engine-equality check."""
        out = []
        for f in fields(self):
            if f.name in ("raw_message", "message_bytes", "words", "capture", "emitted"):
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "multi_frames":
                rows = sorted(set(a.items()) ^ set(b.items()))
                if rows:
                    out.append(f"frames row {rows[0][0]}: {a.get(rows[0][0])!r} != {b.get(rows[0][0])!r}")
                continue
            if f.name == "payload":
                for k in PAYLOAD_FIELDS:
                    if not np.array_equal(a[k], b[k]):
                        out.append(f"payload.{k} row {_first_diff(a[k], b[k])}")
                continue
            if len(a) != len(b):
                out.append(f"{f.name}: {len(a)} != {len(b)} rows")
            elif a.dtype == object:
                diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
                if diff:
                    out.append(f"{f.name} row {diff[0]}: {a[diff[0]]!r} != {b[diff[0]]!r}")
            elif not np.array_equal(a, b):
                i = _first_diff(a, b)
                out.append(f"{f.name} row {i}: {a[i]!r} != {b[i]!r}")
        return out


_DIRECTIONS = tuple(Direction)  # by wire value


def pcap_record(
    name: str,
    buf: bytes,
    at: int,
    number: int,
    time_ns: int,
    direction: int,
    client: int,
    offset: int,
    length: int,
) -> Record:
    """The record a clean pcap's reader yields for the message bytes at ``buf[offset:offset +
    length]`` (``buf`` starting at file offset ``at``): ``source`` names its record header."""
    return Record(
        number,
        time_ns,
        _DIRECTIONS[direction],
        client,
        buf[offset : offset + length],
        f"{name}:offset {at + offset - RECORD_HEADER_SIZE - CAPTURE_HEADER_SIZE}",
    )


@dataclass(frozen=True)
class RecordSource:
    """Messages given back from a capture's records, for Scapy (``raw_message``) or for a few
    payload fields (``message_bytes``); a ``MessageColumns``' two callables are its methods.

    Why only these, and by message row: what the decoder worked with besides (a copy of the
    capture's bytes with the reassembled messages appended, per-record times, clients, numbers,
    offsets and lengths) is ~80 MB at 1M messages that nothing reads afterwards. A clean pcap's
    record is rebuilt from the message columns (a standalone message is its record: same
    number, time, direction and client) and an offset per row; the readers' records (any other
    source) are kept as they came (``listed``).
    """

    name: str  # the capture, as ``RecordArrays.source``
    buf: bytes  # the records' bytes
    at: int  # file offset of ``buf``
    offset: np.ndarray  # row -> where its record's bytes start in ``buf``; -1 - k: ``assembled[k]``
    length: np.ndarray  # row -> the message's length (``MessageColumns.length``) ...
    cut: dict[int, int]  # ... except these rows' records, longer (cut to a queue message)
    frame: np.ndarray  # row -> the message's columns (shared with ``MessageColumns``)
    time_ns: np.ndarray
    direction: np.ndarray
    client: np.ndarray
    synthetic: np.ndarray
    listed: list[Record] | None  # the readers' records, when not rebuilt ...
    source: np.ndarray | None  # ... and row -> its record among them
    assembled: list[RawMessage]

    def record(self, row: int) -> Record:
        """The record of a message that is one record by itself."""
        if self.listed is not None:
            assert self.source is not None
            return self.listed[int(self.source[row])]
        length = self.cut.get(row) or int(self.length[row])
        return pcap_record(
            self.name,
            self.buf,
            self.at,
            int(self.frame[row]),
            int(self.time_ns[row]),
            int(self.direction[row]),
            int(self.client[row]),
            int(self.offset[row]),
            length,
        )

    def raw_message(self, i: int) -> RawMessage:
        """Message ``i`` as the readers and the reassembler make it."""
        at = int(self.offset[i])
        if at < 0:
            return self.assembled[-1 - at]
        (raw,) = Reassembler().feed(self.record(i))
        return raw

    def message_bytes(self, i: int) -> bytes:
        """``raw_message(i).data``, read straight from the buffer where the reassembler would only
        copy it (a record that is a whole message within the message-queue size, not a log's)."""
        at = int(self.offset[i])
        if at < 0 or self.synthetic[i] or i in self.cut:
            return self.raw_message(i).data
        return bytes(self.buf[at : at + int(self.length[i])])

    def words(self, rows: np.ndarray, at: int) -> np.ndarray:
        """The little-endian u32 at byte ``at`` of each of these rows' ``message_bytes``, in one
        gather; -1 where ``message_bytes`` does not read the buffer straight (a reassembled, log
        or cut message: ask it) or the message is shorter than ``at + 4``."""
        rows = np.asarray(rows, np.int64)
        start = self.offset[rows].astype(np.int64)
        ok = (start >= 0) & ~self.synthetic[rows] & (self.length[rows] >= at + 4)
        if self.cut:
            ok &= ~np.isin(rows, np.fromiter(self.cut, np.int64, len(self.cut)))
        out = np.full(len(rows), -1, np.int64)
        if ok.any():  # then the buffer holds at least 4 bytes
            u32 = np.ndarray((len(self.buf) - 3,), "<u4", self.buf, 0, (1,))  # a word at every byte
            out[ok] = u32[start[ok] + at]
        return out


@dataclass
class CallColumns:
    """The calls of one capture (requests and replies with an id, garbage left out), in frame
    order: the narrow columns ``stats`` and ``errors`` read, a fraction of ``MessageColumns``.

    Why a separate bundle: a capture read in blocks keeps only these per message, so memory
    follows the calls, not the bytes; pairing (``transactions.pair``) runs on them unchanged.
    """

    frame: np.ndarray  # int64
    time_ns: np.ndarray  # int64, 0 where unknown
    time_known: np.ndarray  # bool
    client_vmid: np.ndarray  # int32
    seq: np.ndarray  # int32, -1 unknown
    msg_id: np.ndarray  # int64
    msg_type: np.ndarray  # int8: REQUEST or REPLY
    err_code: np.ndarray  # int64, -1 when not a reply or cut
    allocated_vmid: np.ndarray  # int32, -1: VMID in a successful VM_ALLOCATE reply
    payload_vmid: np.ndarray  # int32, -1 (empty unless asked for: the ``vm`` rules)
    first_timed: tuple[int, int] | None = None  # (frame, time_ns) of the first timed message (any kind)
    # frame -> message (its bytes alone unless Scapy may have to dissect it), of the ids asked for
    raw: dict[int, RawMessage | bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def joined(cls, parts: list[CallColumns]) -> CallColumns:
        """Runs of one capture's calls (in record order) as one bundle in frame order (a message
        reassembled in a later run than its first record comes out of order). Consumes ``parts``
        column by column, so the calls are held about once, not twice."""
        names = [f.name for f in fields(cls) if f.name not in ("first_timed", "raw")]
        first = min((p.first_timed for p in parts if p.first_timed is not None), default=None)
        raw = {k: v for p in parts for k, v in p.raw.items()}
        columns = {}
        for name in names:
            columns[name] = np.concatenate([getattr(p, name) for p in parts])
            for p in parts:
                setattr(p, name, None)
        out = cls(**columns, first_timed=first, raw=raw)
        del columns
        if len(out) and not bool(np.all(out.frame[1:] > out.frame[:-1])):
            order = np.argsort(out.frame, kind="stable")
            for name in names:
                column = getattr(out, name)
                if len(column):
                    setattr(out, name, column[order])
        return out

    def rows(self, which: slice) -> CallColumns:
        """These rows of every column (``raw`` and ``first_timed`` kept whole)."""
        names = [f.name for f in fields(self) if f.name not in ("first_timed", "raw")]
        return CallColumns(
            **{n: getattr(self, n)[which] for n in names}, first_timed=self.first_timed, raw=self.raw
        )


def no_text(values: np.ndarray) -> np.ndarray:
    """Which entries of an object column (None or a text, as ``malformed``) are None, compared
    in C (a text never equals None)."""
    return np.asarray(values == None, dtype=bool)  # noqa: E711 (elementwise, not identity)


def plain_messages(cols: MessageColumns, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Which of ``rows`` the compiled decoder reads from the columns' values alone: no
    malformation, from the wire (not a log's), time and seq number known, a request, reply or
    notification, and a reply with its error code."""
    mtype = cols.msg_type[rows]
    return (
        no_text(cols.malformed[rows])
        & ~cols.synthetic[rows]
        & cols.time_known[rows]
        & (cols.seq[rows] >= 0)
        & np.isin(mtype, (REQUEST, REPLY, NOTIFICATION))
        & ((mtype != REPLY) | (cols.err_code[rows] >= 0))
    )


def concat_column(parts: Sequence[Any], name: str) -> np.ndarray:
    """Column ``name`` of several captures' ``MessageColumns`` or ``CallColumns``, end to end;
    of one capture (the usual case), its own column, not a copy."""
    if len(parts) == 1:
        return getattr(parts[0], name)
    return np.concatenate([getattr(c, name) for c in parts])


def _first_diff(a: np.ndarray, b: np.ndarray) -> int:
    if len(a) != len(b):
        return min(len(a), len(b))
    return int(np.flatnonzero(a != b)[0])


def empty_columns(capture: str) -> MessageColumns:
    """A capture with no messages."""
    i64 = np.empty(0, np.int64)
    return MessageColumns(
        capture=capture,
        frame=i64,
        multi_frames={},
        time_ns=i64,
        time_known=np.empty(0, bool),
        time_end_ns=i64,
        direction=np.empty(0, np.int8),
        client_vmid=np.empty(0, np.int32),
        length=np.empty(0, np.int32),
        msg_type=np.empty(0, np.int8),
        fragments=np.empty(0, np.int16),
        seq=np.empty(0, np.int32),
        msg_id=i64,
        err_code=i64,
        payload_vmid=np.empty(0, np.int32),
        allocated_vmid=np.empty(0, np.int32),
        synthetic=np.empty(0, bool),
        malformed=np.empty(0, object),
        malformed_kind=np.empty(0, object),
        payload={k: np.empty(0, payload_dtype(k)) for k in PAYLOAD_FIELDS},
    )


def from_rows(
    capture: str, rows: list[dict], raw_message: Callable[[int], RawMessage] | None = None
) -> MessageColumns:
    """Columns from per-message dicts (the Scapy path; small inputs only)."""
    if not rows:
        cols = empty_columns(capture)
        cols.raw_message = raw_message
        return cols

    n = len(rows)

    def col(name: str, dtype: type) -> np.ndarray:
        return np.fromiter((r[name] for r in rows), dtype=dtype, count=n)

    def payload_col(name: str) -> np.ndarray:
        return np.fromiter((r["payload"][name] for r in rows), payload_dtype(name), n)

    def obj(name: str) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = [r[name] for r in rows]
        return out

    return MessageColumns(
        capture=capture,
        frame=col("frame", np.int64),
        multi_frames={i: f for i, r in enumerate(rows) if (f := tuple(r["frames"])) != (r["frame"],)},
        time_ns=col("time_ns", np.int64),
        time_known=col("time_known", bool),
        time_end_ns=col("time_end_ns", np.int64),
        direction=col("direction", np.int8),
        client_vmid=col("client_vmid", np.int32),
        length=col("length", np.int32),
        msg_type=col("msg_type", np.int8),
        fragments=col("fragments", np.int16),
        seq=col("seq", np.int32),
        msg_id=col("msg_id", np.int64),
        err_code=col("err_code", np.int64),
        payload_vmid=col("payload_vmid", np.int32),
        allocated_vmid=col("allocated_vmid", np.int32),
        synthetic=col("synthetic", bool),
        malformed=obj("malformed"),
        malformed_kind=obj("malformed_kind"),
        payload={k: payload_col(k) for k in PAYLOAD_FIELDS},
        raw_message=raw_message,
    )
