"""The fast path: message columns decoded with numpy, no Scapy object per message.

Why: a Scapy packet costs ~70 us and a capture record object ~10 us; a million-message capture
must become tables in seconds. So:

1. ``scan_pcap`` reads a classic pcap (DLT 147) straight into column arrays: a tight loop
   finds the record offsets, numpy reads every header field at once. Anything unusual (another
   link type, a snapped, corrupt or cut record, a bad capture header) makes it decline, and the
   capture goes through the ordinary readers (``open_records``), whose records
   ``columns_from_records`` turns into the same arrays.
2. ``decode`` reads the RPC header of every record at once. Records that are a whole message
   by themselves (the vast majority: not a fragment, not a kernel-log record) become messages
   directly; the few fragment records (plus the one record after each that may abort a message
   in flight) go through the shared ``Reassembler``, so reassembly has one definition.
3. The VMID and the lifecycle fields are gathered at the offsets ``fields.py`` derives from
   the layouts. ``malformed`` must read exactly as Scapy writes it: a message whose payload
   matches its fixed-size layout exactly (or whose id has no layout) cannot be malformed and
   gets null; every other message (variable layouts, wrong lengths, header or reassembly
   faults) is dissected by Scapy, a minority in real captures.

The result must equal ``scapy_path.columns_from_decoded`` column for column (tested on every
bundled trace and on generated message streams).
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from operator import attrgetter

import numpy as np
import pandas as pd

from dissector.capture.pcap import GLOBAL_HEADER_SIZE, MAX_CAPLEN, PCAP_MAGICS, RECORD_HEADER_SIZE
from dissector.capture.reassembly import RawMessage, Reassembler
from dissector.capture.record import LINKTYPE_GUNYAH_RM, CaptureProblem, Direction, Record
from dissector.decoded import DecodedMessage
from dissector.layers.base import RMStruct
from dissector.layers.dispatch import tables
from dissector.protocol.layout import Array, BySize, Bytes, Count, Int, Length, Optional, Struct, When
from dissector.protocol.messages import (
    MAX_FRAGMENTS,
    MSGQ_MAX_MSG_SIZE,
    REPLY_ERROR_SIZE,
    RPC_API_BYTE,
    RPC_HEADER_SIZE,
)

from .columns import UNKNOWN, MessageColumns, empty_columns
from .fields import Located, allocated_vmid_field, payload_fields, vmid_fields

REQUEST, REPLY, NOTIFICATION, CONTINUATION = 1, 2, 3, 0
CAPTURE_HEADER = 4
_DIRECTIONS = (Direction.UNKNOWN, Direction.TO_RM, Direction.FROM_RM)


_INT64 = range(-(2**63), 2**63)


def usable_ns(t: int | None) -> int | None:
    """A record time as int64 nanoseconds, or None when unknown or beyond int64 (past year 2262:
    a corrupt timestamp, which the tables treat as unknown rather than fail on)."""
    return t if t is not None and t in _INT64 else None


@dataclass
class RecordColumns:
    """Capture records as arrays; ``buf[offset:offset+length]`` is each record's message bytes."""

    source: str
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
    record: Callable[[int], Record]  # record i as the readers would have yielded it

    def __len__(self) -> int:
        return len(self.number)


# --- reading records --------------------------------------------------------------------------


def columns_from_records(
    items: Iterable[Record | CaptureProblem], source: str = ""
) -> tuple[RecordColumns, list[CaptureProblem]]:
    """Records from any reader as arrays (one pass per attribute, no per-row dicts)."""
    records: list[Record] = []
    problems: list[CaptureProblem] = []
    for item in items:
        (problems if isinstance(item, CaptureProblem) else records).append(item)  # type: ignore[arg-type]
    n = len(records)
    times = [usable_ns(r.time_ns) for r in records]
    datas = list(map(attrgetter("data"), records))
    length = np.fromiter(map(len, datas), np.int64, n)
    offset = np.zeros(n, np.int64)
    if n:
        np.cumsum(length[:-1], out=offset[1:])
    return (
        RecordColumns(
            source=source,
            number=np.fromiter(map(attrgetter("number"), records), np.int64, n),
            time_ns=np.fromiter((0 if t is None else t for t in times), np.int64, n),
            time_known=np.fromiter((t is not None for t in times), bool, n),
            direction=np.fromiter(map(int, map(attrgetter("direction"), records)), np.int8, n),
            client_vmid=np.fromiter(map(attrgetter("client_vmid"), records), np.int32, n),
            offset=offset,
            length=length,
            synthetic=np.fromiter((r.synthetic is not None for r in records), bool, n),
            seq_known=np.fromiter(map(attrgetter("seq_known"), records), bool, n),
            buf=b"".join(datas),
            record=records.__getitem__,
        ),
        problems,
    )


class ByteView:
    """Integers at arbitrary byte offsets of one buffer, read as whole words.

    Why: gathering a u32 byte by byte costs four fancy indexes; numpy reads a word per index
    from a typed view, one view per alignment (offset modulo the word size). Positions past the
    end read as garbage and must be masked by the caller (they belong to too-short messages).
    """

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.u8 = np.frombuffer(buf, np.uint8)
        self._views: dict[tuple[int, int, bool], np.ndarray] = {}

    def _view(self, size: int, align: int, big: bool) -> np.ndarray:
        key = (size, align, big)
        view = self._views.get(key)
        if view is None:
            count = max((len(self.buf) - align) // size, 0)
            dtype = np.dtype(f"{'>' if big else '<'}u{size}")
            view = np.frombuffer(self.buf, dtype, count=count, offset=align) if count else np.zeros(1, dtype)
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
        rem = pos & (size - 1)
        first = int(rem[0])
        if (rem == first).all():
            view = self._view(size, first, big)
            return view[np.minimum((pos - first) // size, len(view) - 1)].astype(np.int64)
        out = np.empty(len(pos), np.int64)
        for align in range(size):
            sel = np.flatnonzero(rem == align)
            if len(sel):
                view = self._view(size, align, big)
                out[sel] = view[np.minimum((pos[sel] - align) // size, len(view) - 1)]
        return out


def _record_offsets(data: bytes, endian: str) -> list[int] | None:
    """Start of every record, or None unless the records tile the file exactly."""
    unpack = struct.Struct(endian + "I").unpack_from
    pos = GLOBAL_HEADER_SIZE
    out: list[int] = []
    append = out.append
    try:  # the loop ends when a record header no longer fits: faster than testing each time
        while True:
            append(pos)
            pos += RECORD_HEADER_SIZE + unpack(data, pos + 8)[0]
    except struct.error:
        pass
    out.pop()
    if not out:
        return out if len(data) == GLOBAL_HEADER_SIZE else None
    last = out[-1]
    end = last + RECORD_HEADER_SIZE + unpack(data, last + 8)[0]
    return out if end == len(data) and last + RECORD_HEADER_SIZE <= len(data) else None


def scan_pcap(data: bytes, source: str) -> RecordColumns | None:
    """A clean classic pcap of DLT 147 as record columns; None when the full reader is needed.

    Accepted only when every record is what ``read_pcap`` turns into a ``Record`` on its fast
    branch (not snapped, capture header version 1, direction 0..2, within the snap length) and
    the records end exactly at the end of the file: then both give the same records.
    """
    kind = PCAP_MAGICS.get(data[:4])
    if kind is None or len(data) < GLOBAL_HEADER_SIZE:
        return None
    endian, nano = kind
    *_, snaplen, network = struct.unpack_from(endian + "IHHiIII", data)
    if network & 0xFFFF != LINKTYPE_GUNYAH_RM:
        return None
    starts = _record_offsets(data, endian)
    if starts is None:
        return None
    view = ByteView(data)
    pos = np.asarray(starts, np.int64)
    big = endian == ">"
    sec = view.read(pos, 4, big)
    frac = view.read(pos + 4, 4, big)
    caplen = view.read(pos + 8, 4, big)
    origlen = view.read(pos + 12, 4, big)
    snap_limit = snaplen if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN
    body = pos + RECORD_HEADER_SIZE
    version = view.read(body, 1)
    direction = view.read(body + 1, 1)
    fine = (caplen == origlen) & (caplen >= CAPTURE_HEADER) & (caplen <= snap_limit)
    fine &= (version == 1) & (direction <= 2)
    if not bool(fine.all()):
        return None
    n = len(pos)
    client = view.read(body + 2, 2).astype(np.int32)
    time_ns = sec * 1_000_000_000 + frac * (1 if nano else 1000)
    number = np.arange(1, n + 1, dtype=np.int64)
    offset = body + CAPTURE_HEADER
    length = caplen - CAPTURE_HEADER
    direction8 = direction.astype(np.int8)

    def record(i: int) -> Record:
        o, ln = int(offset[i]), int(length[i])
        return Record(
            int(number[i]),
            int(time_ns[i]),
            _DIRECTIONS[direction8[i]],
            int(client[i]),
            data[o : o + ln],
            f"{source}:offset {int(pos[i])}",
        )

    return RecordColumns(
        source=source,
        number=number,
        time_ns=time_ns,
        time_known=np.ones(n, bool),
        direction=direction8,
        client_vmid=client,
        offset=offset,
        length=length,
        synthetic=np.zeros(n, bool),
        seq_known=np.ones(n, bool),
        buf=data,
        record=record,
    )


def scan_file(path: str | os.PathLike[str]) -> RecordColumns | None:
    """``scan_pcap`` of a file on disk; None for anything but a clean classic pcap."""
    try:
        with open(path, "rb") as f:
            if f.read(4) not in PCAP_MAGICS:
                return None
            f.seek(0)
            data = f.read()
    except OSError as exc:
        from dissector.errors import InputError

        raise InputError(f"ghrm: error: cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    return scan_pcap(data, os.fspath(path))


# --- records -> messages ----------------------------------------------------------------------


def _reassemble_fragments(
    rc: RecordColumns, rtype: np.ndarray, rfrags: np.ndarray
) -> tuple[np.ndarray, list[RawMessage]]:
    """Which records are whole messages by themselves, and the messages made of the others.

    A fragment record (continuation, or first of several) goes through ``Reassembler``. So does
    the first ordinary record after it on the same queue, because a new message aborts one in
    flight; that record's own message is dropped from this list (it is kept as a standalone).
    Kernel-log (synthetic) and header-less records never touch the reassembly state.
    """
    n = len(rc)
    standalone_kind = rc.synthetic | (rc.length < RPC_HEADER_SIZE)
    fragment = ~standalone_kind & ((rtype == CONTINUATION) | (rfrags > 0))
    if not fragment.any():
        return np.ones(n, bool), []
    # among records that take part in reassembly, find the record after each fragment, per queue
    part = np.flatnonzero(~standalone_kind)
    queue = rc.client_vmid[part].astype(np.int64) * 4 + rc.direction[part]
    by_queue = part[np.argsort(queue, kind="stable")]
    q_sorted = np.sort(queue, kind="stable")
    is_frag = fragment[by_queue]
    follows = np.zeros(len(by_queue), bool)
    follows[1:] = is_frag[:-1] & ~is_frag[1:] & (q_sorted[1:] == q_sorted[:-1])
    aborters = by_queue[follows]
    feed = np.union1d(np.flatnonzero(fragment), aborters)
    aborter_numbers = set(rc.number[aborters].tolist())
    reassembler = Reassembler()
    out: list[RawMessage] = []
    for i in feed.tolist():
        for raw in reassembler.feed(rc.record(i)):
            if len(raw.frames) == 1 and raw.frames[0] in aborter_numbers and not raw.problems:
                continue
            out.append(raw)
    out.extend(reassembler.flush())
    return ~fragment, out


@cache
def _payload_rule(msg_type: int, msg_id: int, err_nonzero: bool, dialect: str = "rm") -> int | None:
    """Payload bytes (after a reply's error code) at which this message cannot be malformed.

    -1: any length (no layout: bytes kept raw); None: variable layout, ask Scapy.
    """
    if msg_type not in (REQUEST, REPLY, NOTIFICATION):
        return None
    cls = _class_of(msg_type, msg_id, err_nonzero, dialect)
    if cls is None or cls.layout is None:
        return -1
    return cls.layout.fixed_size


def _class_of(msg_type: int, msg_id: int, err_nonzero: bool, dialect: str) -> type[RMStruct] | None:
    """The Scapy class ``dissector.layers`` dissects this payload with, in ``dialect``."""
    t = tables(dialect)
    if msg_type == REPLY:
        return (t.error_replies if err_nonzero else t.replies).get(msg_id)
    return t.for_type(msg_type).get(msg_id)


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


def _kinds(decodable: np.ndarray, msg_type: np.ndarray, msg_id: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of the decodable messages grouped by ``msg_id * 4 + msg_type``, in row order."""
    rows = np.flatnonzero(decodable)
    codes, uniques = pd.factorize(msg_id[rows] * 4 + msg_type[rows])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {int(u): rows[order[bounds[i] : bounds[i + 1]]] for i, u in enumerate(uniques.tolist())}


def decode(rc: RecordColumns, capture: str, dialect: str = "rm") -> MessageColumns:
    """Message columns of one capture's records (see the module docstring), laid out and named
    as ``dialect`` does (a dialect may replace a layout, and malformation texts name messages)."""
    n = len(rc)
    if n == 0:
        return empty_columns(capture)
    view = ByteView(rc.buf)
    has_header = rc.length >= RPC_HEADER_SIZE
    type_byte = view.read(rc.offset + 1, 1)
    rtype = np.where(has_header, type_byte & 3, UNKNOWN)
    rfrags = np.where(has_header, type_byte >> 2, UNKNOWN)
    alone, assembled = _reassemble_fragments(rc, rtype, rfrags)

    # message-level arrays: standalone records first, then reassembled messages
    rows = np.flatnonzero(alone)
    k = len(assembled)
    extra = b"".join(m.data for m in assembled)
    if extra:
        view = ByteView(rc.buf + extra)
    ext_len = np.fromiter((len(m.data) for m in assembled), np.int64, k)
    ext_off = np.zeros(k, np.int64)
    if k:
        np.cumsum(ext_len[:-1], out=ext_off[1:])
    ext_off += len(rc.buf)

    def both(a: np.ndarray, b: Iterable, dtype: type) -> np.ndarray:
        return np.concatenate([a[rows].astype(dtype), np.fromiter(b, dtype, k)])

    frame = both(rc.number, (m.frames[0] for m in assembled), np.int64)
    time_known = both(rc.time_known, (usable_ns(m.time_ns) is not None for m in assembled), bool)
    time_ns = both(rc.time_ns, (usable_ns(m.time_ns) or 0 for m in assembled), np.int64)
    time_end_ns = both(rc.time_ns, (usable_ns(m.time_end_ns) or 0 for m in assembled), np.int64)
    direction = both(rc.direction, (int(m.direction) for m in assembled), np.int8)
    client = both(rc.client_vmid, (m.client_vmid for m in assembled), np.int32)
    length = both(rc.length, ext_len.tolist(), np.int64)
    moff = np.concatenate([rc.offset[rows], ext_off])
    synthetic = both(rc.synthetic, (m.synthetic is not None for m in assembled), bool)
    seq_known = both(rc.seq_known, (m.seq_known for m in assembled), bool)
    problems = np.concatenate(
        [np.zeros(len(rows), bool), np.fromiter((bool(m.problems) for m in assembled), bool, k)]
    )
    frames = np.fromiter(
        itertools.chain(zip(frame[: len(rows)].tolist()), (m.frames for m in assembled)), object, len(frame)
    )

    # the RPC header of every message
    hdr = length >= RPC_HEADER_SIZE
    api = view.read(moff, 1)
    type_byte = view.read(moff + 1, 1)
    msg_type = np.where(hdr, type_byte & 3, UNKNOWN)
    fragments = np.where(hdr, type_byte >> 2, UNKNOWN)
    seq = np.where(hdr & seq_known, view.read(moff + 2, 2), UNKNOWN)
    msg_id = np.where(hdr, view.read(moff + 4, 4), UNKNOWN)
    payload_len = np.maximum(length - RPC_HEADER_SIZE, 0)
    lone_fragment = (fragments > 0) & (length <= MSGQ_MAX_MSG_SIZE)
    decodable = hdr & (msg_type != CONTINUATION) & ~lone_fragment
    is_reply = decodable & (msg_type == REPLY) & (payload_len >= REPLY_ERROR_SIZE)
    err_code = np.full(len(frame), UNKNOWN, np.int64)
    idx = np.flatnonzero(is_reply)
    err_code[idx] = view.read(moff[idx] + RPC_HEADER_SIZE, 4)

    kinds = _kinds(decodable, msg_type, msg_id)

    def gather(places: Iterable[Located], cond: np.ndarray | None = None) -> np.ndarray:
        return _gather(view, moff, payload_len, kinds, places, cond)

    payload_vmid = gather(vmid_fields())
    allocated_vmid = gather((allocated_vmid_field(),), err_code == 0)
    payload = {column: gather(places) for column, places in payload_fields().items()}

    # which messages need Scapy to say whether (and how) they are malformed
    hard = ~decodable | problems | synthetic | (api != RPC_API_BYTE) | (fragments > MAX_FRAGMENTS)
    hard |= alone_too_long(length, len(rows))
    hard |= (msg_type == REPLY) & (payload_len < REPLY_ERROR_SIZE)
    check = np.flatnonzero(~hard)
    if len(check):
        key = msg_id[check] * 8 + msg_type[check] * 2 + (err_code[check] > 0)
        inverse, uniq = pd.factorize(key)
        sizes = np.array([_size_of(int(u), dialect) for u in uniq], np.int64)
        want = sizes[inverse]
        skip = np.where(msg_type[check] == REPLY, REPLY_ERROR_SIZE, 0)
        data_len = payload_len[check] - skip
        easy = (want == -1) | (want == data_len)
        # variable layouts (or wrong lengths): walk the layout over each kind's messages at once
        for code in np.unique(inverse[~easy]).tolist():
            kind = np.flatnonzero(~easy & (inverse == code))
            at = check[kind]
            layout = _layout_of(int(uniq[code]), dialect)
            fits = (
                None
                if layout is None
                else walk(layout, view, moff[at] + RPC_HEADER_SIZE + skip[kind], moff[at] + length[at])
            )
            if fits is not None:
                easy[kind[fits]] = True
        hard[check[~easy]] = True

    malformed = np.full(len(frame), None, object)
    malformed_kind = np.full(len(frame), None, object)
    source_row = np.concatenate([rows, np.full(k, -1, np.int64)])

    def raw_message(i: int) -> RawMessage:
        r = int(source_row[i])
        if r < 0:
            return assembled[i - len(rows)]
        (raw,) = Reassembler().feed(rc.record(r))
        return raw

    for i in np.flatnonzero(hard).tolist():
        msg = DecodedMessage(raw_message(i), dialect)
        malformed[i] = msg.malformed
        found = msg.problems
        malformed_kind[i] = found[0].kind if found else None

    cols = MessageColumns(
        capture=capture,
        frame=frame,
        frames=frames,
        time_ns=time_ns,
        time_known=time_known,
        time_end_ns=time_end_ns,
        direction=direction,
        client_vmid=client,
        length=length.astype(np.int32),
        msg_type=msg_type.astype(np.int8),
        fragments=fragments.astype(np.int16),
        seq=seq.astype(np.int32),
        msg_id=msg_id,
        err_code=err_code,
        payload_vmid=payload_vmid,
        allocated_vmid=allocated_vmid,
        synthetic=synthetic,
        malformed=malformed,
        malformed_kind=malformed_kind,
        payload=payload,
        raw_message=raw_message,
    )
    return cols.sorted()


def _layout_of(key: int, dialect: str = "rm") -> Struct | None:
    """The payload layout a message kind (``msg_id * 8 + type * 2 + err_nonzero``) is dissected with."""
    msg_id, rest = divmod(key, 8)
    cls = _class_of(rest >> 1, msg_id, bool(rest & 1), dialect)
    return None if cls is None else cls.layout


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
    fields: tuple,
    view: ByteView,
    pos: np.ndarray,
    end: np.ndarray,
    ok: np.ndarray,
    values: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray] | None:
    for f in fields:
        if isinstance(f, Int | Count | Length):
            fits = pos + f.size <= end
            ok &= fits
            values[f.name] = view.read(np.where(fits, pos, 0), f.size)
            pos = np.where(fits, pos + f.size, end)
        elif isinstance(f, Array):
            size = f.entry.fixed_size
            sizes = [alt.fixed_size for alt in f.alternatives]
            if not size or not all(sizes) or (sizes and f.count is None):
                return None
            if f.count is None:
                ok &= (end - pos) % size == 0
                pos = end.copy()
            else:
                count = values[f.count]
                # Scapy takes the alternative entry whose size makes the count fill the rest exactly
                exact = np.zeros(len(pos), bool)
                for alt in sizes:
                    exact |= (count > 0) & (count * alt == end - pos)
                need = count * size
                ok &= exact | (pos + need <= end)
                pos = np.where(exact, end, np.minimum(pos + need, end))
        elif isinstance(f, Bytes):
            if f.struct is not None:  # a nested struct in a length-prefixed blob: fully used
                if not isinstance(f.length, str):
                    return None
                want = values[f.length]
                ok &= pos + want <= end
                stop = np.minimum(pos + want, end)
                inner = _walk(f.struct.fields, view, pos.copy(), stop, ok.copy(), {})
                if inner is None:
                    return None
                used = stop > pos  # an empty blob decodes as nothing
                ok = np.where(used, inner[1] & (inner[0] == stop), ok)
                pos = stop
                continue
            if f.length is None:
                pos = end.copy()
                continue
            want = np.full(len(pos), f.length) if isinstance(f.length, int) else values[f.length]
            ok &= pos + want <= end
            pos = np.minimum(pos + want, end)
            if f.align > 1:  # zero padding: missing padding is not a fault
                pos = np.minimum(pos + (-want % f.align), end)
        elif isinstance(f, Optional | When):
            present = pos < end if isinstance(f, Optional) else np.isin(values[f.field], f.values)
            inner = _walk(f.fields, view, pos.copy(), end, ok.copy(), values)
            if inner is None:
                return None
            pos = np.where(present, inner[0], pos)
            ok = np.where(present, inner[1], ok)
        elif isinstance(f, BySize):  # the case whose size is the rest's exact length, else the first
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
        else:
            raise TypeError(f"the fast path does not know the layout construct {f!r}")
    return pos, ok


def alone_too_long(length: np.ndarray, standalone: int) -> np.ndarray:
    """Standalone records over 240 bytes (the reassembler flags them; reassembled ones may be longer)."""
    out = np.zeros(len(length), bool)
    out[:standalone] = length[:standalone] > MSGQ_MAX_MSG_SIZE
    return out


def _size_of(key: int, dialect: str = "rm") -> int:
    msg_id, rest = divmod(key, 8)
    size = _payload_rule(rest >> 1, msg_id, bool(rest & 1), dialect)
    return -2 if size is None else size
