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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from dissector.capture.pcap import GLOBAL_HEADER_SIZE, MAX_CAPLEN, PCAP_MAGICS, RECORD_HEADER_SIZE
from dissector.capture.record import LINKTYPE_GUNYAH_RM, CaptureProblem, Direction, Record
from dissector.decoders.columnar import ByteView
from dissector.protocol.wire import CAPTURE_HEADER_SIZE

from .columns import usable_ns

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
    fine = (caplen == origlen) & (caplen >= CAPTURE_HEADER_SIZE) & (caplen <= snap_limit)
    fine &= (version == 1) & (direction <= 2)
    if not bool(fine.all()):
        return None
    n = len(pos)
    client = view.read(body + 2, 2).astype(np.int32)
    time_ns = sec * 1_000_000_000 + frac * (1 if nano else 1000)
    number = np.arange(1, n + 1, dtype=np.int64)
    offset = body + CAPTURE_HEADER_SIZE
    length = caplen - CAPTURE_HEADER_SIZE
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
