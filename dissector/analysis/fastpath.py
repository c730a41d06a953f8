"""Record scanning: a capture's records as column arrays, no object per record.

Why: a capture record object costs ~10 us; a million-message capture must become tables in
seconds. ``scan_pcap`` reads a classic pcap (DLT 147) straight into column arrays: a tight loop
finds the record offsets, numpy reads every header field at once. Anything unusual (another
link type, a snapped, corrupt or cut record, a bad capture header) makes it decline, and the
capture goes through the ordinary readers (``open_records``), whose records
``columns_from_records`` turns into the same arrays. ``dissector.decoders.columnar.decode`` turns
the arrays into message columns.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, BinaryIO

import numpy as np

from dissector.capture.pcap import GLOBAL_HEADER_SIZE, MAX_CAPLEN, PCAP_MAGICS, RECORD_HEADER_SIZE
from dissector.capture.record import LINKTYPE_GUNYAH_RM, CaptureProblem, Direction, Record
from dissector.decoders.columnar import ByteView
from dissector.protocol.wire import CAPTURE_HEADER_SIZE, CAPTURE_HEADER_VERSION

from .columns import pcap_record, usable_ns

_DIRECTIONS = tuple(Direction)  # by wire value


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
    listed: list[Record] | None  # the readers' records; None: a pcap's, rebuilt from the arrays
    at: int  # file offset of ``buf`` (where a rebuilt record was, for its ``source``)

    def __len__(self) -> int:
        return len(self.number)

    def record(self, i: int) -> Record:
        """Record ``i`` as the readers would have yielded it.

        Why not a closure over the arrays: a closure kept copies of them alive after the
        decoder was done (~40 MB at 1M messages) and made a ``Trace`` unpicklable."""
        if self.listed is not None:
            return self.listed[i]
        return pcap_record(
            self.source,
            self.buf,
            self.at,
            int(self.number[i]),
            int(self.time_ns[i]),
            int(self.direction[i]),
            int(self.client_vmid[i]),
            int(self.offset[i]),
            int(self.length[i]),
        )


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
            listed=records,
            at=0,
        ),
        problems,
    )


SCAN_CHUNK = 1 << 16  # records scanned at a time: bounds the temporaries of a scan
BLOCK_BYTES = (
    1 << 23
)  # bytes read at a time by ``scan_blocks`` (and ``scan_pcap``'s windows): bounds what a scan holds


@dataclass
class _Chunk:
    """The record columns of one run of consecutive records (narrow dtypes)."""

    time_ns: np.ndarray  # int64
    direction: np.ndarray  # int8
    client_vmid: np.ndarray  # int32
    offset: np.ndarray  # int64: first message byte
    length: np.ndarray  # int32: message bytes (capture header excluded)


def _offsets_in_chunks(data: bytes, endian: str, chunk: int) -> Iterator[np.ndarray | None]:
    """Start of every record, ``chunk`` records at a time; a final None unless the records tile
    the file exactly (then the scan must decline)."""
    unpack = struct.Struct(endian + "I").unpack_from
    pos = GLOBAL_HEADER_SIZE
    while True:
        starts = array("q")
        append = starts.append
        try:  # the loop ends when a record header no longer fits: faster than testing each time
            for _ in range(chunk):
                append(pos)
                pos += RECORD_HEADER_SIZE + unpack(data, pos + 8)[0]
        except struct.error:
            starts.pop()  # ``pos`` is where the last whole record ends
            if len(starts):
                yield np.frombuffer(starts, np.int64)
            if pos != len(data):
                yield None
            return
        yield np.frombuffer(starts, np.int64)


class _Heads:
    """The record header fields at any byte offsets of a buffer (``ByteView`` reads)."""

    def __init__(self, data: bytes | memoryview, endian: str) -> None:
        self.view = ByteView(data)
        self.size = len(data)
        self.big = endian == ">"

    def caplen(self, pos: np.ndarray) -> np.ndarray:
        return self.view.read(pos + 8, 4, self.big)

    def fine(self, pos: np.ndarray, snap_limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Which records starting at ``pos`` ``read_pcap`` reads on its fast branch (not snapped,
        within the snap length, capture header version 1, a known direction), and their caplen.
        Every ``pos`` must start a whole record (past the end, bytes read as garbage: caplen < 4)."""
        caplen = self.caplen(pos)
        body = pos + RECORD_HEADER_SIZE
        fine = (caplen == self.view.read(pos + 12, 4, self.big)) & (caplen >= CAPTURE_HEADER_SIZE)
        fine &= (caplen <= snap_limit) & (self.view.read(body, 1) == CAPTURE_HEADER_VERSION)
        fine &= self.view.read(body + 1, 1) < len(_DIRECTIONS)
        return fine, caplen


def _scan_chunk(heads: _Heads, pos: np.ndarray, nano: bool, snap_limit: int) -> _Chunk | None:
    """Record columns of the records starting at ``pos``; None if one needs the full reader."""
    fine, caplen = heads.fine(pos, snap_limit)
    if not bool(fine.all()):
        return None
    return _columns(heads, pos, caplen, nano)


def _columns(heads: _Heads, pos: np.ndarray, caplen: np.ndarray, nano: bool) -> _Chunk:
    """The columns of the fine records starting at ``pos`` (``caplen``: theirs)."""
    read, big = heads.view.read, heads.big
    body = pos + RECORD_HEADER_SIZE
    return _Chunk(
        time_ns=read(pos, 4, big) * 1_000_000_000 + read(pos + 4, 4, big) * (1 if nano else 1000),
        direction=read(body + 1, 1).astype(np.int8),
        client_vmid=read(body + 2, 2).astype(np.int32),  # the capture header is little-endian
        offset=body + CAPTURE_HEADER_SIZE,
        length=(caplen - CAPTURE_HEADER_SIZE).astype(np.int32),
    )


def scan_pcap(
    data: bytes, source: str, chunk: int = SCAN_CHUNK, window: int = BLOCK_BYTES
) -> RecordColumns | None:
    """A clean classic pcap of DLT 147 as record columns; None when the full reader is needed.

    Accepted only when every record is what ``read_pcap`` turns into a ``Record`` on its fast
    branch (not snapped, capture header version 1, direction 0..2, within the snap length) and
    the records end exactly at the end of the file: then both give the same records. Records
    are scanned ``chunk`` at a time, so the temporaries stay small whatever the file size; the
    result does not depend on ``chunk`` (records never straddle chunks: a chunk is whole
    records, and reassembly runs afterwards on the joined columns).

    First the records are looked for without a Python step per record (``_chained_offsets``,
    ``window`` bytes at a time; 0: not); only when that cannot vouch for the whole file does the
    loop walk the record headers (~80 ms at 1M records) to decide.
    """
    kind = _clean_pcap_kind(data[:GLOBAL_HEADER_SIZE])
    if kind is None:
        return None
    endian, nano, snap_limit = kind
    heads = _Heads(data, endian)
    found = _chained_offsets(data, endian, snap_limit, window) if window else None
    if found is not None:  # every record fine, tiling the file: what the loop below would find
        return _block_columns(_columns(heads, *found, nano), data, source, first=1, at=0)
    chunks: list[_Chunk] = []
    for pos in _offsets_in_chunks(data, endian, max(chunk, 1)):
        part = None if pos is None else _scan_chunk(heads, pos, nano, snap_limit)
        if part is None:
            return None
        chunks.append(part)

    def joined(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in chunks]) if chunks else np.empty(0, dtype)

    whole = _Chunk(
        time_ns=joined("time_ns", np.int64),
        direction=joined("direction", np.int8),
        client_vmid=joined("client_vmid", np.int32),
        offset=joined("offset", np.int64),
        length=joined("length", np.int32),
    )
    chunks.clear()
    return _block_columns(whole, data, source, first=1, at=0)  # the whole file as one block


def _clean_pcap_kind(head: bytes) -> tuple[str, bool, int] | None:
    """Byte order, nanosecond times and snap limit of a classic pcap global header of DLT 147;
    None for anything else (another format or link type, a cut header)."""
    kind = PCAP_MAGICS.get(head[:4])
    if kind is None or len(head) < GLOBAL_HEADER_SIZE:
        return None
    endian, nano = kind
    *_, snaplen, network = struct.unpack_from(endian + "IHHiIII", head)
    if network & 0xFFFF != LINKTYPE_GUNYAH_RM:
        return None
    return endian, nano, snaplen if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN


def _chained_offsets(
    data: bytes, endian: str, snap_limit: int, window: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """File offsets and caplen of every record of a classic pcap's ``data`` (global header
    first), found by ``_chained_records`` ``window`` bytes at a time (views, no copy), when every
    record is one ``_scan_chunk`` accepts and they end exactly at the end of the file; None
    otherwise (the loop must decide: a bad or cut record, or none at all)."""
    body = memoryview(data)[GLOBAL_HEADER_SIZE:]
    size, at = len(body), 0
    starts, caplens = [], []
    while at < size:
        found = _chained_records(_Heads(body[at : at + window], endian), snap_limit)
        if found is None or found[2] == 0:
            return None
        start, caplen, end = found
        if at + window >= size and at + end != size:  # the last window: what follows is no record
            return None
        starts.append(start + (at + GLOBAL_HEADER_SIZE))
        caplens.append(caplen)
        at += end
    if not starts:
        return None
    return np.concatenate(starts), np.concatenate(caplens)


class Declined(Exception):
    """A record the block scan cannot vouch for (the full readers must read the file)."""


def _whole_records(data: bytes, endian: str) -> tuple[np.ndarray, int]:
    """Starts of the whole records of ``data`` (which starts at a record) and where the first
    incomplete one (or the end) is."""
    unpack = struct.Struct(endian + "I").unpack_from
    starts = array("q")
    append = starts.append
    pos = 0
    try:  # as in ``_offsets_in_chunks``: ends when a record header no longer fits
        while True:
            append(pos)
            pos += RECORD_HEADER_SIZE + unpack(data, pos + 8)[0]
    except struct.error:
        pos = starts.pop()
    if len(starts) and pos > len(data):  # the last header fits, its body does not
        pos = starts.pop()
    return np.frombuffer(starts, np.int64), pos


def _chained_records(heads: _Heads, snap_limit: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``_whole_records`` of a buffer (the starts, with their caplen, and the end) without a
    Python step per record, when every record it finds is one ``_scan_chunk`` accepts; None
    otherwise (then the loop must decide).

    Records chain by length, so the loop finds them one after another. Here every offset where
    a fine record (``_Heads.fine``) starts whole is found at once (the capture header version
    byte first, then the record header read there), each such candidate points to the offset
    after its record, and the chain from offset 0 is followed through these pointers (a
    candidate inside another record's bytes is never on it: ``_on_chain``). The chain is
    exactly the loop's when it ends where no whole record starts; if one does start there, it
    is a record ``fine`` rejects, and the loop and ``_scan_chunk`` must say so.
    """
    size = heads.size
    if size < RECORD_HEADER_SIZE + CAPTURE_HEADER_SIZE:
        return None
    start = np.flatnonzero(
        heads.view.u8[RECORD_HEADER_SIZE : size - CAPTURE_HEADER_SIZE + 1] == CAPTURE_HEADER_VERSION
    )
    if not len(start) or start[0] != 0:
        return None
    fine, caplen = heads.fine(start, snap_limit)
    after = start + RECORD_HEADER_SIZE + caplen
    fine &= after <= size  # whole records only
    start, after = start[fine], after[fine]
    del fine, caplen
    if not len(start) or start[0] != 0:
        return None
    on = _on_chain(start, after)
    if on is not None:
        start, after = start[on], after[on]
    end = int(after[-1])
    # the loop reads a caplen at ``end``: a whole record there is not a fine one
    if end + 12 <= size and end + RECORD_HEADER_SIZE + int(heads.caplen(np.array([end]))[0]) <= size:
        return None
    return start, after - start - RECORD_HEADER_SIZE, end


def _on_chain(start: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    """Which of the candidate records (``start`` ascending, from 0; each ends at ``after``) the
    chain from the first visits; None: all of them.

    Most candidates lead to the next one; where one does not (a candidate inside another
    record's bytes, or the record before it) a run ends. The chain goes along a run to its end,
    then on from the candidate that end leads to: a walk over run ends only (few), by doubling.
    """
    n = len(start)
    breaks = np.flatnonzero(after[:-1] != start[1:])
    if not len(breaks):
        return None
    ends = np.append(breaks, n - 1)  # the last candidate leads out of the buffer
    resume = np.searchsorted(start, after[ends])  # the candidate each run end leads to (n: none)
    resume[start[np.minimum(resume, n - 1)] != after[ends]] = n
    visited = np.flatnonzero(_reachable(np.searchsorted(ends, resume)))  # run ends on the chain
    marks = np.zeros(n + 1, np.int64)  # +1 where a stretch of the chain begins, -1 after it
    np.add.at(marks, np.r_[0, resume[visited[:-1]]], 1)
    np.add.at(marks, ends[visited] + 1, -1)
    return np.flatnonzero(np.cumsum(marks[:n]) > 0)


def _reachable(nxt: np.ndarray) -> np.ndarray:
    """Which nodes the chain from node 0 visits, where node i leads to ``nxt[i]`` (> i; len: the
    end). By doubling: after k rounds, ``on`` holds the nodes 0..2**k - 1 steps from node 0
    and ``jump`` leads 2**k steps."""
    n = len(nxt)
    jump = np.append(nxt, n)  # the end leads to itself
    on = np.zeros(n + 1, bool)
    on[0] = True
    steps = 1
    while steps < n:
        on[jump[on]] = True
        jump = jump[jump]
        steps *= 2
    return on[:n]


def scan_blocks(
    path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES
) -> Iterator[RecordColumns] | None:
    """A clean classic pcap of DLT 147 as record columns, ``block_bytes`` of the file at a time
    (record numbers run on across blocks; each block's ``buf`` is its own bytes); None when the
    file is not such a pcap. A record ``scan_pcap`` would decline raises ``Declined`` when its
    block is reached. The blocks together hold exactly the records of ``scan_pcap``.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 -- closed by the generator
        head = f.read(GLOBAL_HEADER_SIZE)
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    kind = _clean_pcap_kind(head)
    if kind is None:
        f.close()
        return None
    endian, nano, snap_limit = kind
    return _blocks(f, os.fspath(path), endian, nano, snap_limit, max(block_bytes, 1))


def _cannot_read(path: str | os.PathLike[str], exc: OSError) -> Exception:
    from dissector.errors import InputError

    return InputError(f"ghrm: error: cannot read {os.fspath(path)}: {exc.strerror or exc}")


def _blocks(
    f: BinaryIO, source: str, endian: str, nano: bool, snap_limit: int, size: int
) -> Iterator[RecordColumns]:
    with f:
        tail, at, first = b"", GLOBAL_HEADER_SIZE, 1  # file offset of ``tail``, its first record's number
        while True:
            try:
                more = f.read(size)
            except OSError as exc:
                raise _cannot_read(source, exc) from None
            if not more:
                if tail:
                    raise Declined(f"{source}: a cut record at offset {at}")
                return
            data = tail + more
            heads = _Heads(data, endian)
            found = _chained_records(heads, snap_limit)
            if found is not None:  # records all fine: no need to look again
                starts, caplen, end = found
                part: _Chunk | None = _columns(heads, starts, caplen, nano)
            else:
                starts, end = _whole_records(data, endian)
                if not len(starts):
                    tail = data
                    continue
                part = _scan_chunk(heads, starts, nano, snap_limit)
            if part is None:
                raise Declined(f"{source}: a record the fast path does not read, near offset {at}")
            yield _block_columns(part, data, source, first, at)
            tail, at, first = data[end:], at + end, first + len(starts)


def _block_columns(part: _Chunk, data: bytes, source: str, first: int, at: int) -> RecordColumns:
    """One block's record columns (numbers from ``first``; ``at``: the file offset of ``data``,
    whose bytes ``part``'s offsets index)."""
    n = len(part.offset)
    return RecordColumns(
        source=source,
        number=np.arange(first, first + n, dtype=np.int64),
        time_ns=part.time_ns,
        time_known=np.ones(n, bool),
        direction=part.direction,
        client_vmid=part.client_vmid,
        offset=part.offset,
        length=part.length.astype(np.int64),
        synthetic=np.zeros(n, bool),
        seq_known=np.ones(n, bool),
        buf=data,
        listed=None,
        at=at,
    )


def no_records(source: str) -> RecordColumns:
    """Record columns of no record (what follows the last block: reassembly's flush)."""
    i64 = np.empty(0, np.int64)
    none = np.empty(0, bool)
    return RecordColumns(
        source, i64, i64, none, np.empty(0, np.int8), np.empty(0, np.int32), i64, i64, none, none, b"", [], 0
    )


def read_records(
    source: Any, capture: str, fmt: str | None = None
) -> tuple[RecordColumns, list[CaptureProblem]]:
    """A capture's records as columns, and what the readers could not read: ``scan_file`` for a
    clean classic pcap file, else the full readers (``open_records``: any format, stdin, a file
    object) through ``columns_from_records``."""
    from dissector.capture.detect import open_records

    if isinstance(source, str | os.PathLike) and os.fspath(source) != "-" and fmt in (None, "pcap"):
        rc = scan_file(source) if os.path.isfile(source) else None
        if rc is not None:
            return rc, []
    with open_records(source, fmt=fmt) as stream:
        return columns_from_records(stream, capture)


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
