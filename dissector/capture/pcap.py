"""Classic pcap reader: both byte orders, micro- and nanosecond timestamps, DLT 147 and 252.

Why hand-written instead of Scapy's ``RawPcapReader``: we need the reader to survive damaged
files (report the bad byte range, resynchronise, keep every record before a truncation), to
follow a growing file, and to go fast; ``struct.unpack_from`` over a chunk window reads a few
hundred thousand records a second here.

Behaviour on bad input (all reported as ``CaptureProblem``, never silently):

* a record whose caplen is absurd (> 64 KiB) or that runs past the end of the file while a
  plausible record header follows it: the header is corrupt; we scan forward for a plausible
  header (sane caplen/len, sub-second field in range, and the header after it plausible too;
  times are not compared, a damaged header's time is garbage) and report the skipped range.
  The scan is vectorised (numpy over the window), so megabytes of garbage cost milliseconds;
* a DLT 147 record longer than a message-queue record (244 bytes) inside which two well-formed
  records start: its caplen is corrupt (it would swallow them); resumed at the first of them;
* a record cut by the end of the file: a fatal problem naming its offset and the missing bytes;
  every earlier record was already yielded;
* caplen < len (snapped): the record is yielded and a problem says it is cut; caplen > len
  (impossible): the record is yielded with a problem;
* capture header version != 1 or direction > 2: the record is yielded (direction unknown if
  invalid) with a problem; fewer than 4 bytes: only a problem.

``Record.number`` is the record's position in the file (Wireshark's frame number), so a record
skipped with a problem leaves a gap. ``thiszone`` is ignored (it is 0 in every real file).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import numpy as np

from dissector.protocol.wire import CAPTURE_HEADER_SIZE, CAPTURE_HEADER_VERSION, RPC_API_BYTE

from ._stream import ByteSource, ChunkBuffer, source_name
from .errors import UnsupportedCapture
from .linklayer import (
    DIRECTIONS,
    SUPPORTED_LINKTYPES,
    linktype_label,
    split_link_payload,
    supported_linktypes_text,
)
from .record import LINKTYPE_GUNYAH_RM, CaptureProblem, Record

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
GLOBAL_HEADER_SIZE = 24
RECORD_HEADER_SIZE = 16
MAX_CAPLEN = 0x10000  # 64 KiB: far above any RM record (4 + 240 bytes); more means corruption
MAX_ORIGLEN = 0x40000
# A capture header (version 1, direction 0..2, client VMID) then the RPC api byte: what the start
# of an embedded record looks like. Searched (in C) inside records big enough to hide one.
_EMBEDDED = re.compile(rb"\x01[\x00-\x02]..\x21", re.S).search
_EMBED_MIN = 2 * (RECORD_HEADER_SIZE + 12)
SCAN_BLOCK = 1 << 14  # offsets tested per numpy pass: small arrays, bounded memory
MAX_MESSAGE_RECORD = 4 + 240  # capture header + the largest message-queue message (design.md 1.1)

# First four file bytes -> (struct byte-order char, nanosecond timestamps)
PCAP_MAGICS: dict[bytes, tuple[str, bool]] = {
    struct.pack("<I", PCAP_MAGIC_US): ("<", False),
    struct.pack(">I", PCAP_MAGIC_US): (">", False),
    struct.pack("<I", PCAP_MAGIC_NS): ("<", True),
    struct.pack(">I", PCAP_MAGIC_NS): (">", True),
}

PcapItem = Record | CaptureProblem


def read_pcap(f: ByteSource, source: str | None = None) -> Iterator[PcapItem]:
    """Records and problems of a classic pcap stream, in file order.

    Reads the 24-byte global header at once, so a wrong magic or an unsupported link type
    raises ``UnsupportedCapture`` here, before any iteration; everything after that is
    reported in the stream.
    """
    src = source or source_name(f, "<pcap>")
    b = ChunkBuffer(f)
    b.fill(GLOBAL_HEADER_SIZE)
    head = b.buf[:GLOBAL_HEADER_SIZE]
    if len(head) < 4:
        return iter(
            [
                CaptureProblem(
                    src,
                    f"input holds {len(head)} bytes, too short for a pcap file header",
                    offset=0,
                    length=len(head),
                    fatal=True,
                )
            ]
        )
    kind = PCAP_MAGICS.get(head[:4])
    if kind is None:
        raise UnsupportedCapture(f"{src}: not a pcap file (magic {head[:4].hex()})")
    endian, nano = kind
    if len(head) < GLOBAL_HEADER_SIZE:
        return iter(
            [
                CaptureProblem(
                    src,
                    f"pcap file header cut short: {len(head)} of {GLOBAL_HEADER_SIZE} bytes",
                    offset=0,
                    length=len(head),
                    fatal=True,
                )
            ]
        )
    _magic, _vmaj, _vmin, _zone, _sigfigs, snaplen, network = struct.unpack_from(endian + "IHHiIII", head)
    linktype = network & 0xFFFF
    if linktype not in SUPPORTED_LINKTYPES:
        raise UnsupportedCapture(
            f"{src}: pcap link type {linktype_label(linktype)} is not supported; "
            f"supported: {supported_linktypes_text()}"
        )
    b.pos = GLOBAL_HEADER_SIZE
    return _records(b, src, endian, nano, snaplen, linktype)


def _records(
    b: ChunkBuffer, src: str, endian: str, nano: bool, snaplen: int, linktype: int
) -> Iterator[PcapItem]:
    unpack = struct.Struct(endian + "IIII").unpack_from
    frac_ns = 1 if nano else 1000
    frac_limit = 1_000_000_000 if nano else 1_000_000
    snap_limit = snaplen if 0 < snaplen < MAX_CAPLEN else MAX_CAPLEN
    fast = linktype == LINKTYPE_GUNYAH_RM
    dirs = DIRECTIONS
    number = 0
    buf = b.buf
    pos = b.pos
    while True:
        if len(buf) - pos < RECORD_HEADER_SIZE:
            b.pos = pos
            ok = b.fill(RECORD_HEADER_SIZE)
            buf = b.buf
            pos = b.pos
            if not ok:
                rem = len(buf) - pos
                if rem:
                    yield CaptureProblem(
                        f"{src}:offset {b.offset}",
                        f"file ends inside the header of record {number + 1} at offset {b.offset}: "
                        f"{rem} of {RECORD_HEADER_SIZE} bytes present ({RECORD_HEADER_SIZE - rem} missing)",
                        offset=b.offset,
                        length=rem,
                        fatal=True,
                    )
                return
        sec, frac, caplen, origlen = unpack(buf, pos)
        end = pos + RECORD_HEADER_SIZE + caplen
        if fast and caplen < 4:  # a short record, or a misaligned or damaged header?
            next_ok = _next_plausible(b, pos, caplen, endian, snap_limit, frac_limit)
            buf, pos = b.buf, b.pos
            end = pos + RECORD_HEADER_SIZE + caplen if next_ok else -1
        if caplen > MAX_CAPLEN or end > len(buf) or end < 0:
            bad = None if caplen <= MAX_CAPLEN else f"caplen {caplen} exceeds {MAX_CAPLEN}"
            if end < 0:
                bad = f"caplen {caplen} is shorter than the 4-byte capture header"
            if bad is None:
                b.pos = pos
                ok = b.fill(RECORD_HEADER_SIZE + caplen)
                buf = b.buf
                pos = b.pos
                end = pos + RECORD_HEADER_SIZE + caplen
                if not ok:
                    bad = "it runs past the end of the file"
            if bad is not None:
                b.pos = pos
                start = b.offset
                rem = b.available()
                found = _resync(b, unpack, endian, snap_limit, frac_limit, linktype)
                buf = b.buf
                pos = b.pos
                if found is None:
                    if caplen <= MAX_CAPLEN:
                        yield CaptureProblem(
                            f"{src}:offset {start}",
                            f"file ends inside record {number + 1} at offset {start}: it needs "
                            f"{RECORD_HEADER_SIZE + caplen} bytes, {rem} present "
                            f"({RECORD_HEADER_SIZE + caplen - rem} missing)",
                            offset=start,
                            length=rem,
                            fatal=True,
                        )
                    else:
                        skipped = b.offset - start
                        yield CaptureProblem(
                            f"{src}:offset {start}",
                            f"record header at offset {start} is corrupt ({bad}) and no plausible "
                            f"record header follows; skipped the last {skipped} bytes",
                            offset=start,
                            length=skipped,
                            fatal=True,
                        )
                    return
                number += 1
                yield CaptureProblem(
                    f"{src}:offset {start}",
                    f"record {number} header at offset {start} is corrupt ({bad}); skipped "
                    f"{found - start} bytes to the next plausible record header at offset {found}",
                    offset=start,
                    length=found - start,
                )
                continue
        if fast and caplen >= _EMBED_MIN and _EMBEDDED(buf, pos + RECORD_HEADER_SIZE + 12, end):
            inside = _record_inside(buf, pos + 1, end, endian, snap_limit, frac_limit)
            if inside is not None:
                number += 1
                start = b.base + pos
                yield CaptureProblem(
                    f"{src}:offset {start}",
                    f"record {number} header at offset {start} claims {caplen} bytes, more than a "
                    f"message-queue record ({MAX_MESSAGE_RECORD}), and well-formed records start inside "
                    f"it at offset {b.base + inside}: the header is corrupt; skipped {inside - pos} bytes",
                    offset=start,
                    length=inside - pos,
                )
                pos = inside
                continue
        number += 1
        p = pos + RECORD_HEADER_SIZE
        if (
            fast
            and caplen == origlen
            and CAPTURE_HEADER_SIZE <= caplen <= snap_limit
            and buf[p] == CAPTURE_HEADER_VERSION
            and buf[p + 1] <= 2
        ):
            yield Record(
                number,
                sec * 1_000_000_000 + frac * frac_ns,
                dirs[buf[p + 1]],
                buf[p + 2] | (buf[p + 3] << 8),
                buf[p + CAPTURE_HEADER_SIZE : end],
                f"{src}:offset {b.base + pos}",
            )
        else:
            yield from _slow_record(
                number, b.base + pos, src, linktype, buf[p:end], sec, frac * frac_ns, caplen, origlen, snaplen
            )
        pos = end


def _slow_record(
    number: int,
    offset: int,
    src: str,
    linktype: int,
    payload: bytes,
    sec: int,
    frac_ns: int,
    caplen: int,
    origlen: int,
    snaplen: int,
) -> Iterator[PcapItem]:
    """A record off the fast path: other link type, odd header, snapped or oversize record."""
    where = f"{src}:offset {offset}"
    res = split_link_payload(linktype, payload)
    if res.message is not None:
        t = sec * 1_000_000_000 + frac_ns
        yield Record(number, t, res.direction, res.client_vmid, res.message, where)
    reasons = list(res.problems)
    if caplen < origlen:
        reasons.append(f"captured {caplen} of {origlen} bytes (snapped); the message is cut")
    elif caplen > origlen:
        reasons.append(f"caplen {caplen} exceeds the original length {origlen}; the record header is damaged")
    if 0 < snaplen < caplen:
        reasons.append(f"caplen {caplen} exceeds the file's snaplen {snaplen}")
    for reason in reasons:
        yield CaptureProblem(where, f"record {number}: {reason}", offset=offset, length=caplen + 16)


def _u32s(a: np.ndarray, k: int, count: int, endian: str) -> np.ndarray:
    """The u32 at offsets ``k .. k+count-1`` of byte array ``a``, each read unaligned."""
    b0, b1, b2, b3 = (a[k + i : k + i + count].astype(np.uint32) for i in range(4))
    if endian == "<":
        return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)
    return b3 | (b2 << 8) | (b1 << 16) | (b0 << 24)


def plausible_offsets(
    buf: bytes, start: int, stop: int, endian: str, snap_limit: int, frac_limit: int, ours: bool
) -> np.ndarray:
    """Offsets ``start <= o < stop`` where a plausible record header may start, vectorised.

    Plausible: caplen within ``4`` (``8`` for other link types) and the snap limit, origlen at
    least caplen and at most ``MAX_ORIGLEN``, the sub-second field in range, and for DLT 147 a
    capture header (version 1, direction 0..2) right after it. The caller needs
    ``stop + RECORD_HEADER_SIZE + 2 <= len(buf)``. One numpy pass over the window instead of a
    Python step per byte: megabytes of garbage take milliseconds.
    """
    found = [_plausible_block(buf, o, min(o + SCAN_BLOCK, stop), endian, snap_limit, frac_limit, ours)
             for o in range(start, stop, SCAN_BLOCK)]  # fmt: skip
    return np.concatenate(found) if found else np.empty(0, np.int64)


def _plausible_block(
    buf: bytes, start: int, stop: int, endian: str, snap_limit: int, frac_limit: int, ours: bool
) -> np.ndarray:
    # a header at offset o reads bytes o .. o+17 (16-byte record header, version, direction)
    count = max(0, min(stop - start, len(buf) - start - RECORD_HEADER_SIZE - 1))
    if count == 0:
        return np.empty(0, np.int64)
    a = np.frombuffer(buf, np.uint8, count=count + RECORD_HEADER_SIZE + 1, offset=start)
    if ours:  # the capture header first: cheap bytes, and it rules out most garbage
        ok = (a[16 : 16 + count] == CAPTURE_HEADER_VERSION) & (a[17 : 17 + count] <= 2)
        if not ok.any():
            return np.empty(0, np.int64)
    else:
        ok = np.ones(count, bool)
    frac = _u32s(a, 4, count, endian)
    caplen = _u32s(a, 8, count, endian)
    origlen = _u32s(a, 12, count, endian)
    ok &= (caplen >= (4 if ours else 8)) & (caplen <= snap_limit) & (origlen >= caplen)
    ok &= (origlen <= MAX_ORIGLEN) & (frac < frac_limit)
    return np.flatnonzero(ok) + start


def _next_plausible(
    b: ChunkBuffer, pos: int, caplen: int, endian: str, snap_limit: int, frac_limit: int
) -> bool:
    """Whether a plausible header (or the end of the file) follows a record of ``caplen`` bytes."""
    b.pos = pos
    b.fill(2 * RECORD_HEADER_SIZE + caplen + 2)
    nxt = b.pos + RECORD_HEADER_SIZE + caplen
    if nxt + RECORD_HEADER_SIZE + 2 > len(b.buf):
        return True  # the file ends here: nothing to compare with
    return len(plausible_offsets(b.buf, nxt, nxt + 1, endian, snap_limit, frac_limit, True)) > 0


def _record_inside(
    buf: bytes, start: int, stop: int, endian: str, snap_limit: int, frac_limit: int
) -> int | None:
    """Where two well-formed DLT 147 records in a row start inside ``buf[start:stop]``, or None.

    Well-formed: a plausible header, whole (len == caplen), holding an RPC header (api byte
    0x21), and followed by another such header. Used to tell a corrupt, too-large caplen (which
    would swallow the records after it) from a merely oversized record.
    """
    limit = min(stop, len(buf) - RECORD_HEADER_SIZE - 6)
    lens = struct.Struct(endian + "III").unpack_from
    for c in plausible_offsets(buf, start, limit, endian, snap_limit, frac_limit, True).tolist():
        _frac, caplen, origlen = lens(buf, c + 4)
        if (
            caplen != origlen
            or caplen < 12
            or buf[c + RECORD_HEADER_SIZE + CAPTURE_HEADER_SIZE] != RPC_API_BYTE
        ):
            continue
        nxt = c + RECORD_HEADER_SIZE + caplen
        if nxt + RECORD_HEADER_SIZE + 6 > len(buf):
            continue
        frac, caplen, origlen = lens(buf, nxt + 4)
        p = nxt + RECORD_HEADER_SIZE
        if (
            caplen == origlen
            and 12 <= caplen <= snap_limit
            and frac < frac_limit
            and buf[p] == CAPTURE_HEADER_VERSION
            and buf[p + 1] <= 2
            and buf[p + CAPTURE_HEADER_SIZE] == RPC_API_BYTE
        ):
            return c
    return None


def _resync(
    b: ChunkBuffer,
    unpack: object,
    endian: str,
    snap_limit: int,
    frac_limit: int,
    linktype: int,
    *,
    limit: int | None = None,
) -> int | None:
    """Scan forward from ``b.offset + 1`` for a plausible record header.

    Plausible (see ``plausible_offsets``), and the record after it plausible too (or ending
    exactly at the end of the file). A DLT 147 record that is whole (len == caplen) and holds an
    RPC header (api byte 0x21) is taken even when what follows it is damaged too, so a good record
    between two damaged stretches is not skipped with them. Times are not compared: a damaged
    header's time is garbage, and a genuine gap of days is no damage. On success ``b.pos``
    points at it and its absolute offset is returned; otherwise ``b`` is left at the end of the
    stream (or at absolute offset ``limit``, when given, where the search stops) and None returned.
    """
    upk = unpack  # struct.Struct.unpack_from
    ours = linktype == LINKTYPE_GUNYAH_RM
    min_caplen = 4 if ours else 8

    def plausible(buf: bytes, o: int) -> int | None:
        if o + RECORD_HEADER_SIZE > len(buf):
            return None
        _sec, frac, caplen, origlen = upk(buf, o)  # type: ignore[operator]
        if not min_caplen <= caplen <= snap_limit or origlen < caplen or origlen > MAX_ORIGLEN:
            return None
        if frac >= frac_limit:
            return None
        p = o + RECORD_HEADER_SIZE
        if ours and p + 2 <= len(buf) and (buf[p] != 1 or buf[p + 1] > 2):
            return None
        return RECORD_HEADER_SIZE + caplen

    need = RECORD_HEADER_SIZE + MAX_CAPLEN + RECORD_HEADER_SIZE + 4
    b.pos += 1
    while True:
        if not b.eof:
            b.fill(need)
        buf = b.buf
        o = b.pos
        n = len(buf)
        end = n - RECORD_HEADER_SIZE - 2 if b.eof else n - need
        if limit is not None:
            end = min(end, limit - b.base)
        if end <= o:
            if b.eof or (limit is not None and b.base + o >= limit):
                b.pos = n if limit is None else max(o, min(n, limit - b.base))
                return None
            end = o + 1
        for c in plausible_offsets(buf, o, end, endian, snap_limit, frac_limit, ours).tolist():
            size = plausible(buf, c)
            if size is None:  # pragma: no cover - the vectorised test is the same
                continue
            nxt = c + size
            if (nxt == n and b.eof) or plausible(buf, nxt) is not None:
                b.pos = c
                return b.offset
            if ours and nxt <= n and size >= RECORD_HEADER_SIZE + 12:
                caplen, origlen = struct.unpack_from(endian + "II", buf, c + 8)
                if caplen == origlen and buf[c + RECORD_HEADER_SIZE + CAPTURE_HEADER_SIZE] == RPC_API_BYTE:
                    b.pos = c
                    return b.offset
        b.pos = end
