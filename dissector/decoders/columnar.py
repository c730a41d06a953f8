"""The columnar decoder: every message of a capture decoded at once with numpy, no object per message.

Why: a Scapy packet costs ~70 us; a million-message capture must become tables in seconds. The
input is a capture's records as arrays (``RecordArrays``: ``analysis.fastpath`` scans a pcap into
them); the output is ``analysis.columns.MessageColumns``.

1. ``decode`` reads the RPC header of every record at once. Records that are a whole message
   by themselves (the vast majority: not a fragment, not a kernel-log record) become messages
   directly; the few fragment records (plus the one record after each that may abort a message
   in flight) go through the shared ``Reassembler``, so reassembly has one definition.
2. The VMID and the lifecycle fields are gathered at the offsets ``fields.py`` derives from
   the layouts. ``malformed`` must read exactly as Scapy writes it: a message whose payload
   matches its fixed-size layout exactly (or whose id has no layout) cannot be malformed and
   gets null; every other message (variable layouts, wrong lengths, header or reassembly
   faults) is dissected by Scapy, a minority in real captures.

The result must equal ``scapy_path.columns_from_decoded`` column for column (tested on every
bundled trace and on generated message streams).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Protocol

import numpy as np

from dissector.analysis.columns import (
    UNKNOWN,
    CallColumns,
    MessageColumns,
    RecordSource,
    SparseColumns,
    empty_columns,
    payload_dtype,
    usable_ns,
)
from dissector.analysis.fields import Located, allocated_vmid_field, payload_fields, vmid_fields
from dissector.capture.reassembly import MAX_IN_FLIGHT, RawMessage, Reassembler
from dissector.capture.record import Record
from dissector.decoded import DecodedMessage
from dissector.protocol import registry
from dissector.protocol.layout import (
    Array,
    BySize,
    Bytes,
    Count,
    Field,
    Int,
    Length,
    Optional,
    Role,
    Struct,
    When,
    unknown_construct,
)
from dissector.protocol.wire import (
    CONTINUATION,
    FRAGMENTS_SHIFT,
    MAX_FRAGMENTS,
    MSG_TYPE_MASK,
    MSGQ_MAX_MSG_SIZE,
    NOTIFICATION,
    REPLY,
    REPLY_ERROR_SIZE,
    REQUEST,
    RPC_API_BYTE,
    RPC_HEADER_SIZE,
    lone_fragment,
)
from dissector.sorting import isin, stable_order


class RecordArrays(Protocol):
    """What ``decode`` reads of a capture's records (``analysis.fastpath.RecordColumns``):
    ``buf[offset:offset+length]`` is each record's message bytes, ``record(i)`` record i."""

    number: np.ndarray  # int64
    time_ns: np.ndarray  # int64 (0 where unknown)
    time_known: np.ndarray  # bool
    direction: np.ndarray  # int8
    client_vmid: np.ndarray  # int32
    offset: np.ndarray  # int64
    length: np.ndarray  # int64
    synthetic: np.ndarray  # bool
    seq_known: np.ndarray  # bool
    buf: bytes
    source: str  # the capture's name
    listed: list[Record] | None  # the readers' records, or None: ``record`` rebuilds a pcap's ...
    at: int  # ... whose ``buf`` starts at this file offset

    def record(self, i: int) -> Record: ...

    def __len__(self) -> int: ...


class ByteView:
    """Integers at arbitrary byte offsets of one buffer, one gather per read.

    Why: gathering a u32 byte by byte costs four fancy indexes; numpy reads a word at any byte
    offset through a view of stride 1 (one per word size and byte order, no copy). Positions
    past the end read as garbage and must be masked by the caller (they belong to too-short
    messages).
    """

    def __init__(self, buf: bytes | memoryview) -> None:
        self.buf = buf
        self.u8 = np.frombuffer(buf, np.uint8)
        self._views: dict[tuple[int, bool], np.ndarray] = {}

    def _view(self, size: int, big: bool) -> np.ndarray:
        """The word of ``size`` bytes starting at every byte offset where a whole one fits."""
        key = (size, big)
        view = self._views.get(key)
        if view is None:
            count = len(self.buf) - size + 1
            dtype = np.dtype(f"{'>' if big else '<'}u{size}")
            view = np.ndarray((count,), dtype, self.buf, 0, (1,)) if count > 0 else np.zeros(1, dtype)
            self._views[key] = view
        return view

    def read(self, pos: np.ndarray, size: int, big: bool = False) -> np.ndarray:
        """Unsigned integers of ``size`` (1, 2, 4 or 8) bytes at ``pos``, as int64."""
        if len(pos) == 0 or len(self.u8) == 0:
            return np.zeros(len(pos), np.int64)
        if size == 1:
            return self.u8[np.minimum(pos, len(self.u8) - 1)].astype(np.int64)
        if size not in (2, 4, 8):  # odd sizes (a 3-byte reserved field): byte by byte
            out = np.zeros(len(pos), np.int64)
            for k in range(size):
                shift = 8 * (size - 1 - k) if big else 8 * k
                out |= self.read(pos + k, 1) << shift
            return out
        view = self._view(size, big)
        return view[np.minimum(pos, len(view) - 1)].astype(np.int64)


class Reassembly:
    """Reassembly state carried from one run of records to the next (a capture read in blocks):
    the shared ``Reassembler``, and the queues whose latest record taking part was a fragment
    (so the next record there is fed too: it may abort the message in flight)."""

    def __init__(self) -> None:
        self.reassembler = Reassembler()
        self.after_fragment: set[int] = set()  # queue keys: client * 4 + direction


# When the streaming path (``reassemble``) yields a message, as one int key (``emitted_key``): the
# number of the record whose arrival emitted it (its last record, or the one that gave it up;
# past the last record: the capture ended) times ``EMITTED_PLACES``, plus its place among what
# that record emitted. One record emits at most a message given up by a new one on its queue,
# one given up for room, one per message in progress shed for weight, and its own message.
EMITTED_PLACES = 1 << (MAX_IN_FLIGHT + 3).bit_length()
_OWN_PLACE = EMITTED_PLACES - 1  # a standalone record's own message: after what it gave up


def emitted_keys(frame: np.ndarray, emitted: dict[int, int]) -> np.ndarray:
    """Every row's emission key from ``MessageColumns.emitted`` (the rows the reassembler
    emitted); any other row is a standalone record's own message."""
    out = frame * EMITTED_PLACES
    out += _OWN_PLACE  # in place: no second array of a million keys
    if emitted:
        n = len(emitted)
        out[np.fromiter(emitted, np.int64, n)] = np.fromiter(emitted.values(), np.int64, n)
    return out


def _reassemble_fragments(
    rc: RecordArrays,
    rtype: np.ndarray,
    rfrags: np.ndarray,
    carry: Reassembly | None = None,
    last: bool = True,
) -> tuple[np.ndarray, list[RawMessage], list[int]]:
    """Which records are whole messages by themselves, the messages made of the others, and when
    the reassembler emitted each of those (``EMITTED_PLACES``).

    A fragment record (continuation, or first of several) goes through ``Reassembler``. So does
    the first ordinary record after it on the same queue, because a new message aborts one in
    flight; that record's own message is dropped from this list (it is kept as a standalone).
    Kernel-log (synthetic) and header-less records never touch the reassembly state. ``carry``
    holds that state across runs of records (whole capture: a fresh one); ``last`` flushes it.
    """
    carry = Reassembly() if carry is None else carry
    standalone_kind = rc.synthetic | (rc.length < RPC_HEADER_SIZE)
    fragment = ~standalone_kind & ((rtype == CONTINUATION) | (rfrags > 0))
    out: list[RawMessage] = []
    emitted: list[int] = []
    if fragment.any() or carry.after_fragment:
        # among records that take part in reassembly, find the record after each fragment, per queue
        part = np.flatnonzero(~standalone_kind)
        queue = rc.client_vmid[part].astype(np.int64) * 4 + rc.direction[part]
        order = stable_order(queue)
        by_queue, q_sorted = part[order], queue[order]
        del order
        is_frag = fragment[by_queue]
        new_queue = np.r_[True, q_sorted[1:] != q_sorted[:-1]] if len(q_sorted) else np.empty(0, bool)
        prev_frag = np.zeros(len(by_queue), bool)
        prev_frag[1:] = is_frag[:-1] & ~new_queue[1:]
        if carry.after_fragment:  # a queue's first record here follows the previous run's last
            prev_frag[new_queue] = np.isin(q_sorted[new_queue], list(carry.after_fragment))
        aborters = by_queue[prev_frag & ~is_frag]
        ends = np.r_[new_queue[1:], True] if len(q_sorted) else new_queue
        for q, frag in zip(q_sorted[ends].tolist(), is_frag[ends].tolist(), strict=True):
            (carry.after_fragment.add if frag else carry.after_fragment.discard)(q)
        feed = np.union1d(np.flatnonzero(fragment), aborters)
        aborter_numbers = set(rc.number[aborters].tolist())
        for i in feed.tolist():
            at = int(rc.number[i]) * EMITTED_PLACES
            for place, raw in enumerate(carry.reassembler.feed(rc.record(i))):
                if len(raw.frames) == 1 and raw.frames[0] in aborter_numbers:
                    continue  # its own message: a standalone row (problems too: cut to 240 bytes)
                out.append(raw)
                emitted.append(at + place)
    if last:
        at = (int(rc.number[-1]) + 1 if len(rc.number) else 0) * EMITTED_PLACES
        for place, raw in enumerate(carry.reassembler.flush()):
            out.append(raw)
            emitted.append(at + place)
    return ~fragment, out, emitted


_ROLE_OF_TYPE: dict[int, Role] = {REQUEST: "request", NOTIFICATION: "notification"}


@cache
def _layout_for(msg_type: int, msg_id: int, err_nonzero: bool, dialect: str) -> Struct | None:
    """The payload layout this message is read with in ``dialect`` (a reply's: after the error
    code; None: no layout, bytes kept raw), as ``registry.layout`` declares it for every view."""
    if msg_type == REPLY:
        role: Role = "error_reply" if err_nonzero else "reply"
    elif msg_type in _ROLE_OF_TYPE:
        role = _ROLE_OF_TYPE[msg_type]
    else:
        return None
    return registry.layout(msg_id, role, dialect)


@cache
def _payload_rule(msg_type: int, msg_id: int, err_nonzero: bool, dialect: str = "rm") -> int | None:
    """Payload bytes (after a reply's error code) at which this message cannot be malformed.

    -1: any length (no layout: bytes kept raw); None: variable layout, ask Scapy.
    """
    if msg_type not in (REQUEST, REPLY, NOTIFICATION):
        return None
    layout = _layout_for(msg_type, msg_id, err_nonzero, dialect)
    return -1 if layout is None else layout.fixed_size


def _gather(
    view: ByteView,
    moff: np.ndarray,
    payload_len: np.ndarray,
    kinds: dict[int, np.ndarray],
    places: Iterable[Located],
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """One int64 column (-1 absent) holding the field at ``places`` for the messages that carry it.

    ``kinds`` maps ``msg_id * 4 + msg_type`` to the rows of decodable messages of that kind, so
    a field of a message absent from the capture costs nothing.
    """
    out = np.full(len(moff), UNKNOWN, np.int64)
    for where in places:
        idx = kinds.get(where.msg_id * 4 + where.msg_type)
        if idx is None:
            continue
        keep = payload_len[idx] >= where.end
        if extra is not None:
            keep &= extra[idx]
        if where.length_offset is not None:
            assert where.length_size is not None and where.blob_offset is not None
            keep &= payload_len[idx] >= where.length_offset + where.length_size
            idx = idx[keep]
            blob_len = view.read(moff[idx] + RPC_HEADER_SIZE + where.length_offset, where.length_size)
            avail = np.minimum(blob_len, payload_len[idx] - where.blob_offset)
            idx = idx[avail >= where.end - where.blob_offset]
        else:
            idx = idx[keep]
        if len(idx):
            out[idx] = view.read(moff[idx] + RPC_HEADER_SIZE + where.offset, where.size)
    return out


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values (every use here is order-free): pandas' hash table when pandas is
    loaded anyway (the ``Trace`` path), else numpy's sort, so ``ghrm stats`` need not load it."""
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        codes, uniques = pandas.factorize(values)
        return codes, np.asarray(uniques)
    uniques, codes = np.unique(values, return_inverse=True)
    return codes, uniques


def _kinds(decodable: np.ndarray, msg_type: np.ndarray, msg_id: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of the decodable messages grouped by ``msg_id * 4 + msg_type``, in row order."""
    rows = np.flatnonzero(decodable)
    codes, uniques = _factorize(msg_id[rows] * 4 + msg_type[rows])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {int(u): rows[order[bounds[i] : bounds[i + 1]]] for i, u in enumerate(uniques.tolist())}


@dataclass
class _Messages:
    """Message-level arrays in frame order: standalone records and reassembled messages merged."""

    rc: RecordArrays
    source: np.ndarray  # per message: its record index (standalone), or -1 - k for ``assembled[k]``
    assembled: list[RawMessage]
    view: ByteView  # over the records' bytes and, after them, the reassembled messages'
    moff: np.ndarray  # where each message starts in ``view``
    frame: np.ndarray
    multi_frames: dict[int, tuple[int, ...]]  # rows whose records are more than their own frame
    time_ns: np.ndarray
    time_known: np.ndarray
    time_end_ns: np.ndarray
    direction: np.ndarray
    client: np.ndarray
    length: np.ndarray
    synthetic: np.ndarray
    seq_known: np.ndarray
    problems: np.ndarray  # reassembly faults
    assembled_emitted: np.ndarray  # per ``assembled`` message: when it was emitted (``EMITTED_PLACES``)

    def emitted(self) -> dict[int, int]:
        """Row -> emission key (``EMITTED_PLACES``) of the messages the reassembler emitted."""
        back = np.flatnonzero(self.source < 0)
        keys = self.assembled_emitted[-1 - self.source[back]]
        return dict(zip(back.tolist(), keys.tolist(), strict=True))

    @property
    def standalone(self) -> np.ndarray:
        """Messages that are one record by themselves (not through the reassembler)."""
        return self.source >= 0

    @cached_property
    def records(self) -> RecordSource:
        """Messages given back from the records (``raw_message``, ``message_bytes``), by row; its
        ``length`` is the messages' (``_decoded_length``)."""
        rc, source = self.rc, self.source
        length = _decoded_length(self)
        cut = np.flatnonzero(length != self.length)
        wide = np.int64 if len(rc.buf) >= 1 << 31 else np.int32
        listed = rc.listed
        return RecordSource(
            name=rc.source,
            buf=rc.buf,
            at=rc.at,
            offset=np.where(source < 0, source, self.moff).astype(wide),
            length=length.astype(np.int32),
            cut=dict(zip(cut.tolist(), self.length[cut].tolist(), strict=True)),
            frame=self.frame,
            time_ns=self.time_ns,
            direction=self.direction,
            client=self.client,
            synthetic=self.synthetic,
            listed=listed,
            source=None if listed is None else source,
            assembled=self.assembled,
        )

    def raw_message(self, i: int) -> RawMessage:
        """Message ``i`` as the readers and the reassembler make it, for Scapy."""
        return self.records.raw_message(i)

    def message_bytes(self, i: int) -> bytes:
        """``raw_message(i).data`` without building a RawMessage where the buffer holds it."""
        return self.records.message_bytes(i)


@dataclass
class _Headers:
    """The RPC header of every message (-1 where the header is cut)."""

    api: np.ndarray
    msg_type: np.ndarray
    fragments: np.ndarray
    seq: np.ndarray
    msg_id: np.ndarray
    err_code: np.ndarray
    payload_len: np.ndarray
    decodable: np.ndarray  # a whole message with a header: not a continuation or lone fragment


def _messages(rc: RecordArrays, carry: Reassembly | None = None, last: bool = True) -> _Messages:
    """Job 1: records -> messages (fragments through the shared ``Reassembler``), in frame order.

    The reassembled messages (few) are slotted between the standalone records by their first
    frame, so every column is built once, in its final order (no reordering copy afterwards).
    """
    view = ByteView(rc.buf)
    has_header = rc.length >= RPC_HEADER_SIZE
    type_byte = view.read(rc.offset + 1, 1)
    rtype = np.where(has_header, type_byte & MSG_TYPE_MASK, UNKNOWN)
    rfrags = np.where(has_header, type_byte >> FRAGMENTS_SHIFT, UNKNOWN)
    alone, assembled, emitted = _reassemble_fragments(rc, rtype, rfrags, carry, last)
    del type_byte, rtype, rfrags, has_header
    rows = np.flatnonzero(alone)
    by_first = sorted(range(len(assembled)), key=lambda j: assembled[j].frames[0])
    assembled = [assembled[j] for j in by_first]
    k = len(assembled)
    n = len(rows) + k
    extra = b"".join(m.data for m in assembled)
    if extra:
        view = ByteView(rc.buf + extra)
    ext_len = np.fromiter((len(m.data) for m in assembled), np.int64, k)
    ext_off = np.zeros(k, np.int64)
    if k:
        np.cumsum(ext_len[:-1], out=ext_off[1:])
    ext_off += len(rc.buf)
    ext_frame = np.fromiter((m.frames[0] for m in assembled), np.int64, k)
    # where each reassembled message goes among the standalone ones (frames are unique)
    at_ext = np.searchsorted(rc.number[rows], ext_frame) + np.arange(k)
    at_alone = np.ones(n, bool)
    at_alone[at_ext] = False

    def both(a: np.ndarray, b: Iterable, dtype: type) -> np.ndarray:
        out: np.ndarray = np.empty(n, dtype)
        out[at_alone] = a[rows]
        out[at_ext] = np.fromiter(b, dtype, k)
        return out

    source = both(np.arange(len(rc), dtype=np.int64), range(-1, -1 - k, -1), np.int64)
    multi = {int(p): m.frames for p, m in zip(at_ext.tolist(), assembled, strict=True) if len(m.frames) > 1}
    return _Messages(
        rc=rc,
        source=source,
        assembled=assembled,
        view=view,
        moff=both(rc.offset, ext_off.tolist(), np.int64),
        frame=both(rc.number, ext_frame.tolist(), np.int64),
        multi_frames=multi,
        time_known=both(rc.time_known, (usable_ns(m.time_ns) is not None for m in assembled), bool),
        time_ns=both(rc.time_ns, (usable_ns(m.time_ns) or 0 for m in assembled), np.int64),
        time_end_ns=both(rc.time_ns, (usable_ns(m.time_end_ns) or 0 for m in assembled), np.int64),
        direction=both(rc.direction, (int(m.direction) for m in assembled), np.int8),
        client=both(rc.client_vmid, (m.client_vmid for m in assembled), np.int32),
        length=both(rc.length, ext_len.tolist(), np.int64),
        synthetic=both(rc.synthetic, (m.synthetic is not None for m in assembled), bool),
        seq_known=both(rc.seq_known, (m.seq_known for m in assembled), bool),
        problems=both(np.zeros(len(rc), bool), (bool(m.problems) for m in assembled), bool),
        assembled_emitted=np.array([emitted[j] for j in by_first], np.int64),
    )


def _headers(m: _Messages) -> _Headers:
    """Job 2: the RPC header (and a reply's error code) of every message at once."""
    view, moff, length = m.view, m.moff, m.length
    hdr = length >= RPC_HEADER_SIZE
    type_byte = view.read(moff + 1, 1)
    msg_type = np.where(hdr, type_byte & MSG_TYPE_MASK, UNKNOWN)
    fragments = np.where(hdr, type_byte >> FRAGMENTS_SHIFT, UNKNOWN)
    payload_len = np.maximum(length - RPC_HEADER_SIZE, 0)
    decodable = hdr & (msg_type != CONTINUATION) & ~lone_fragment(fragments, length)
    err_code = np.full(len(length), UNKNOWN, np.int64)
    idx = np.flatnonzero(decodable & (msg_type == REPLY) & (payload_len >= REPLY_ERROR_SIZE))
    err_code[idx] = view.read(moff[idx] + RPC_HEADER_SIZE, 4)
    return _Headers(
        api=view.read(moff, 1),
        msg_type=msg_type,
        fragments=fragments,
        seq=np.where(hdr & m.seq_known, view.read(moff + 2, 2), UNKNOWN),
        msg_id=np.where(hdr, view.read(moff + 4, 4), UNKNOWN),
        err_code=err_code,
        payload_len=payload_len,
        decodable=decodable,
    )


def _payload_columns(m: _Messages, h: _Headers) -> tuple[np.ndarray, np.ndarray, SparseColumns]:
    """Job 3: the VMID, the VM_ALLOCATE reply's VMID and the lifecycle fields, gathered at the
    fixed offsets ``analysis.fields`` derives from the layouts."""
    kinds = _kinds(h.decodable, h.msg_type, h.msg_id)

    def gather(places: Iterable[Located], cond: np.ndarray | None = None) -> np.ndarray:
        return _gather(m.view, m.moff, h.payload_len, kinds, places, cond)

    payload = SparseColumns(
        len(m.frame), ((c, gather(places).astype(payload_dtype(c))) for c, places in payload_fields().items())
    )
    return gather(vmid_fields()), gather((allocated_vmid_field(),), h.err_code == 0), payload


def _needs_scapy(m: _Messages, h: _Headers, dialect: str, only: np.ndarray | None = None) -> np.ndarray:
    """Job 4: which messages may be malformed, so Scapy must dissect them to say how.

    Not those whose payload fills their fixed-size layout exactly, or has no layout, or fits
    their variable layout with every count and length consistent (``walk``). ``only``: look
    at these messages only (the others come out False)."""
    hard = ~h.decodable | m.problems | m.synthetic | (h.api != RPC_API_BYTE) | (h.fragments > MAX_FRAGMENTS)
    hard |= m.standalone & (m.length > MSGQ_MAX_MSG_SIZE)  # the reassembler flags them
    hard |= (h.msg_type == REPLY) & (h.payload_len < REPLY_ERROR_SIZE)
    if only is not None:
        hard &= only
    check = np.flatnonzero(~hard if only is None else ~hard & only)
    if not len(check):
        return hard
    key = h.msg_id[check] * 8 + h.msg_type[check] * 2 + (h.err_code[check] > 0)
    inverse, uniq = _factorize(key)
    want = np.array([_size_of(int(u), dialect) for u in uniq], np.int64)[inverse]
    skip = np.where(h.msg_type[check] == REPLY, REPLY_ERROR_SIZE, 0)
    easy = (want == -1) | (want == h.payload_len[check] - skip)
    # variable layouts (or wrong lengths): walk the layout over each kind's messages at once
    for code in np.unique(inverse[~easy]).tolist():
        kind = np.flatnonzero(~easy & (inverse == code))
        at = check[kind]
        layout = _layout_of(int(uniq[code]), dialect)
        start = m.moff[at] + RPC_HEADER_SIZE + skip[kind]
        fits = None if layout is None else walk(layout, m.view, start, m.moff[at] + m.length[at])
        if fits is not None:
            easy[kind[fits]] = True
    hard[check[~easy]] = True
    return hard


def _malformations(m: _Messages, hard: np.ndarray, dialect: str) -> tuple[np.ndarray, np.ndarray]:
    """Job 5: the malformation text and first kind of the messages Scapy must look at (else None)."""
    malformed = np.full(len(m.frame), None, object)
    kind = np.full(len(m.frame), None, object)
    for i in np.flatnonzero(hard).tolist():
        msg = DecodedMessage(m.raw_message(i), dialect)
        malformed[i] = msg.malformed
        found = msg.problems
        kind[i] = found[0].kind if found else None
    return malformed, kind


def _decoded_length(m: _Messages) -> np.ndarray:
    """Each message's length as the reassembler passes it on: a wire record longer than a
    message-queue message is cut to its first 240 bytes (and flagged); a log's is whole."""
    cut = m.standalone & ~m.synthetic & (m.length > MSGQ_MAX_MSG_SIZE)
    return np.where(cut, MSGQ_MAX_MSG_SIZE, m.length)


def decode(rc: RecordArrays, capture: str, dialect: str = "rm") -> MessageColumns:
    """Message columns of one capture's records (see the module docstring), laid out and named
    as ``dialect`` does (a dialect may replace a layout, and malformation texts name messages)."""
    if len(rc) == 0:
        return empty_columns(capture)
    m = _messages(rc)
    h = _headers(m)
    payload_vmid, allocated_vmid, payload = _payload_columns(m, h)
    malformed, malformed_kind = _malformations(m, _needs_scapy(m, h, dialect), dialect)
    source = m.records  # not ``m``'s methods: its buffer copy and offsets would stay alive
    cols = MessageColumns(
        capture=capture,
        frame=m.frame,
        multi_frames=m.multi_frames,
        time_ns=m.time_ns,
        time_known=m.time_known,
        time_end_ns=m.time_end_ns,
        direction=m.direction,
        client_vmid=m.client,
        length=source.length,
        msg_type=h.msg_type.astype(np.int8),
        fragments=h.fragments.astype(np.int16),
        seq=h.seq.astype(np.int32),
        msg_id=h.msg_id,
        err_code=h.err_code,
        payload_vmid=payload_vmid.astype(np.int32),
        allocated_vmid=allocated_vmid.astype(np.int32),
        synthetic=m.synthetic,
        malformed=malformed,
        malformed_kind=malformed_kind,
        payload=payload,
        raw_message=source.raw_message,
        message_bytes=source.message_bytes,
        words=source.words,
        emitted=m.emitted(),
    )
    return cols  # in frame order already (``_messages``)


def decode_calls(
    rc: RecordArrays,
    dialect: str = "rm",
    carry: Reassembly | None = None,
    last: bool = True,
    vmids: bool = False,
    keep: tuple[np.ndarray, np.ndarray] | None = None,
) -> CallColumns:
    """The calls among one run of a capture's records (``CallColumns``), by the same jobs as
    ``decode`` minus what calls do not need: no payload fields (``payload_vmid`` only with
    ``vmids``), and Scapy only for the messages that may be garbage (a broken header and an id
    no source defines: the messages table's ``transactions.garbage``). ``carry``/``last``: a
    capture read in runs (``Reassembly``); the runs' calls joined are the whole capture's.
    ``keep``: (request ids, reply ids) of the requests and successful replies kept whole
    (``CallColumns.raw``, by frame)."""
    from dissector.analysis.transactions import known_ids

    m = _messages(rc, carry, last)
    h = _headers(m)
    timed = np.flatnonzero(m.time_known)
    first = (int(m.frame[timed[0]]), int(m.time_ns[timed[0]])) if len(timed) else None
    call = ((h.msg_type == REQUEST) | (h.msg_type == REPLY)) & (h.msg_id >= 0)
    for i in np.flatnonzero(_needs_scapy(m, h, dialect, only=call & ~isin(h.msg_id, known_ids()))).tolist():
        found = DecodedMessage(m.raw_message(i), dialect).problems
        call[i] = not (found and found[0].kind == "header")  # garbage is no call
    rows = np.flatnonzero(call)
    alloc = allocated_vmid_field()
    kinds = {
        alloc.msg_id * 4 + alloc.msg_type: rows[
            (h.msg_id[rows] == alloc.msg_id) & (h.msg_type[rows] == alloc.msg_type)
        ]
    }
    allocated = _gather(m.view, m.moff, h.payload_len, kinds, (alloc,), h.err_code == 0)
    payload_vmid = np.empty(0, np.int32)
    if vmids:
        places = vmid_fields()
        wanted = isin(h.msg_id[rows] * 4 + h.msg_type[rows], [w.msg_id * 4 + w.msg_type for w in places])
        asked = np.zeros(len(m.frame), bool)
        asked[rows[wanted]] = True
        kinds = _kinds(asked, h.msg_type, h.msg_id)
        payload_vmid = _gather(m.view, m.moff, h.payload_len, kinds, places)[rows].astype(np.int32)
    kept: dict[int, RawMessage | bytes] = {}
    if keep is not None:
        requests, replies = keep
        wanted = (h.msg_type[rows] == REQUEST) & isin(h.msg_id[rows], requests)
        wanted |= (h.msg_type[rows] == REPLY) & (h.err_code[rows] == 0) & isin(h.msg_id[rows], replies)
        at = rows[wanted]
        whole = _kept_whole(m, h, dialect, at)
        kept = {
            int(m.frame[i]): m.raw_message(i) if w else m.message_bytes(i)
            for i, w in zip(at.tolist(), whole.tolist(), strict=True)
        }
    return CallColumns(
        frame=m.frame[rows],
        time_ns=np.where(m.time_known[rows], m.time_ns[rows], 0),
        time_known=m.time_known[rows],
        client_vmid=m.client[rows],
        seq=h.seq[rows].astype(np.int32),
        msg_id=h.msg_id[rows],
        msg_type=h.msg_type[rows].astype(np.int8),
        err_code=h.err_code[rows],
        allocated_vmid=allocated[rows].astype(np.int32),
        payload_vmid=payload_vmid,
        first_timed=first,
        raw=kept,
    )


def _kept_whole(m: _Messages, h: _Headers, dialect: str, at: np.ndarray) -> np.ndarray:
    """Which of the messages ``at`` ``decode_calls`` keeps as a ``RawMessage`` rather than its
    bytes: those a payload reader may hand to Scapy (``_needs_scapy``, or no layout to decode
    with), and the reassembled ones (already built). Building a message per standalone record
    costs ~30 us; its bytes come straight from the buffer."""
    only = np.zeros(len(m.frame), bool)
    only[at] = True
    whole = _needs_scapy(m, h, dialect, only=only)[at] | (m.source[at] < 0)
    key = h.msg_id[at] * 8 + h.msg_type[at] * 2 + (h.err_code[at] > 0)
    inverse, uniq = _factorize(key)
    whole |= np.array([_layout_of(int(u), dialect) is None for u in uniq.tolist()], bool)[inverse]
    return whole


def _layout_of(key: int, dialect: str = "rm") -> Struct | None:
    """The payload layout a message kind (``msg_id * 8 + type * 2 + err_nonzero``) is read with."""
    msg_id, rest = divmod(key, 8)
    return _layout_for(rest >> 1, msg_id, bool(rest & 1), dialect)


def walk(layout: Struct, view: ByteView, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """Which payloads (``start``..``end`` in ``view``) fill ``layout`` exactly, with every count and
    length consistent: those Scapy dissects without a malformation. None if the layout uses
    something this walk does not model (variable-size list entries), so Scapy must look at every
    message of it."""
    state = _walk(layout.fields, view, start.copy(), end, np.ones(len(start), bool), {})
    if state is None:
        return None
    pos, ok = state
    return ok & (pos == end)


def _walk(
    fields: tuple[Field, ...],
    view: ByteView,
    pos: np.ndarray,
    end: np.ndarray,
    ok: np.ndarray,
    values: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray] | None:
    for f in fields:
        match f:
            case Int() | Count() | Length():
                fits = pos + f.size <= end
                ok &= fits
                values[f.name] = view.read(np.where(fits, pos, 0), f.size)
                pos = np.where(fits, pos + f.size, end)
            case Array():
                state = _walk_array(f, pos, end, ok, values)
                if state is None:
                    return None
                pos, ok = state
            case Bytes():
                state = _walk_bytes(f, view, pos, end, ok, values)
                if state is None:
                    return None
                pos, ok = state
            case Optional() | When():
                present = pos < end if isinstance(f, Optional) else np.isin(values[f.field], f.values)
                inner = _walk(f.fields, view, pos.copy(), end, ok.copy(), values)
                if inner is None:
                    return None
                pos = np.where(present, inner[0], pos)
                ok = np.where(present, inner[1], ok)
            case BySize():  # the case whose size is the rest's exact length, else the first
                walked = []
                for case in f.cases:
                    inner = _walk(case.fields, view, pos.copy(), end, ok.copy(), dict(values))
                    if inner is None:
                        return None
                    walked.append(inner)
                pick = np.zeros(len(pos), np.int64)
                for i, case in enumerate(f.cases[1:], start=1):
                    pick[end - pos == case.fixed_size] = i
                pos = np.choose(pick, [w[0] for w in walked])
                ok = np.choose(pick, [w[1] for w in walked])
            case _:
                unknown_construct(f, "the columnar decoder")
    return pos, ok


def _walk_array(
    f: Array, pos: np.ndarray, end: np.ndarray, ok: np.ndarray, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """A list of fixed-size entries (None: variable-size entries, not modelled)."""
    size = f.entry.fixed_size
    sizes = [alt.fixed_size for alt in f.alternatives]
    if not size or not all(sizes) or (sizes and f.count is None):
        return None
    if f.count is None:
        return end.copy(), ok & ((end - pos) % size == 0)
    count = values[f.count]
    # Scapy takes the alternative entry whose size makes the count fill the rest exactly
    exact = np.zeros(len(pos), bool)
    for alt in sizes:
        exact |= (count > 0) & (count * alt == end - pos)
    need = count * size
    ok = ok & (exact | (pos + need <= end))
    return np.where(exact, end, np.minimum(pos + need, end)), ok


def _walk_bytes(
    f: Bytes, view: ByteView, pos: np.ndarray, end: np.ndarray, ok: np.ndarray, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw bytes (fixed, length-prefixed or the rest), or a nested struct in a length-prefixed blob."""
    if f.struct is not None:  # a nested struct in a length-prefixed blob: fully used
        if not isinstance(f.length, str):
            return None
        want = values[f.length]
        ok = ok & (pos + want <= end)
        stop = np.minimum(pos + want, end)
        inner = _walk(f.struct.fields, view, pos.copy(), stop, ok.copy(), {})
        if inner is None:
            return None
        used = stop > pos  # an empty blob decodes as nothing
        return stop, np.where(used, inner[1] & (inner[0] == stop), ok)
    if f.length is None:
        return end.copy(), ok
    want = np.full(len(pos), f.length) if isinstance(f.length, int) else values[f.length]
    ok = ok & (pos + want <= end)
    pos = np.minimum(pos + want, end)
    if f.align > 1:  # zero padding: missing padding is not a fault
        pos = np.minimum(pos + (-want % f.align), end)
    return pos, ok


def _size_of(key: int, dialect: str = "rm") -> int:
    msg_id, rest = divmod(key, 8)
    size = _payload_rule(rest >> 1, msg_id, bool(rest & 1), dialect)
    return -2 if size is None else size
