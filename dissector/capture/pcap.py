"""Classic pcap reader: both byte orders, micro- and nanosecond timestamps, DLT 147 and 252.

Why hand-written instead of Scapy's ``RawPcapReader``: we need the reader to survive damaged
files (report the bad byte range, resynchronise, keep every record before a truncation), to
follow a growing file, and to go fast; ``struct.unpack_from`` over a chunk window reads a few
hundred thousand records a second here.

Behaviour on bad input (all reported as ``CaptureProblem``, never silently):

* a record whose caplen is absurd (> 64 KiB) or that runs past the end of the file while a
  plausible record header follows it: the header is corrupt; we scan forward byte by byte for
  a plausible header (sane caplen/len, sub-second field in range, time within a day of the last
  good record, and the header after it plausible too) and report the skipped range;
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
from functools import cache

from ._stream import ByteSource, ChunkBuffer, source_name
from .errors import UnsupportedCapture
from .linklayer import (
    DIRECTIONS,
    RPC_API_BYTE,
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
RESYNC_TIME_WINDOW_S = 86400

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
    last_sec: int | None = None
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
        if caplen > MAX_CAPLEN or end > len(buf):
            bad = None if caplen <= MAX_CAPLEN else f"caplen {caplen} exceeds {MAX_CAPLEN}"
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
                found = _resync(b, unpack, endian, snap_limit, frac_limit, last_sec, linktype)
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
        number += 1
        last_sec = sec
        p = pos + RECORD_HEADER_SIZE
        if fast and caplen == origlen and 4 <= caplen <= snap_limit and buf[p] == 1 and buf[p + 1] <= 2:
            yield Record(
                number,
                sec * 1_000_000_000 + frac * frac_ns,
                dirs[buf[p + 1]],
                buf[p + 2] | (buf[p + 3] << 8),
                buf[p + 4 : end],
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


@cache
def _candidates(endian: str, min_caplen: int, ours: bool) -> tuple[re.Pattern[bytes], int]:
    """Where a plausible record header may start: a pattern, and how far before its match.

    A necessary condition only (``plausible`` decides), so that scanning a long damaged stretch
    is a C loop rather than a Python one per byte. For DLT 147 it is the capture header that
    follows a record header (version 1, direction 0..2: a literal the regex engine scans for
    quickly, 16 bytes after the header's start); for other link types caplen in
    ``min_caplen..65536`` and origlen at most ``MAX_ORIGLEN`` (0x40000).
    """
    if ours:
        return re.compile(b"\x01[\x00-\x02]"), RECORD_HEADER_SIZE
    lo = re.escape(bytes((min_caplen,)))
    if endian == "<":
        caplen = b"(?:[" + lo + b"-\xff].|.[\x01-\xff])\x00\x00|\x00\x00\x01\x00"
        origlen = b"..[\x00-\x04]\x00"
    else:
        caplen = b"\x00\x00(?:.[" + lo + b"-\xff]|[\x01-\xff].)|\x00\x01\x00\x00"
        origlen = b"\x00[\x00-\x04].."
    return re.compile(b"(?=.{8}(?:" + caplen + b")" + origlen + b")", re.S), 0


def _resync(
    b: ChunkBuffer,
    unpack: object,
    endian: str,
    snap_limit: int,
    frac_limit: int,
    last_sec: int | None,
    linktype: int,
) -> int | None:
    """Scan forward from ``b.offset + 1`` for a plausible record header.

    Plausible: caplen within the snap limit and at least a capture header, len >= caplen, the
    sub-second field in range, the time within a day of the last good record, for DLT 147 a
    capture header with version 1 and a valid direction, and the record after it plausible too
    (or ending exactly at the end of the file). A DLT 147 record that is whole (len == caplen)
    and holds an RPC header (api byte 0x21) is taken even when what follows it is damaged too,
    so a good record between two damaged stretches is not skipped with them. On success
    ``b.pos`` points at it and its absolute offset is returned; otherwise ``b`` is left at the
    end of the stream.
    """
    upk = unpack  # struct.Struct.unpack_from
    ours = linktype == LINKTYPE_GUNYAH_RM
    min_caplen = 4 if ours else 8

    def plausible(buf: bytes, o: int) -> int | None:
        if o + RECORD_HEADER_SIZE > len(buf):
            return None
        sec, frac, caplen, origlen = upk(buf, o)  # type: ignore[operator]
        if not min_caplen <= caplen <= snap_limit or origlen < caplen or origlen > MAX_ORIGLEN:
            return None
        if frac >= frac_limit or (last_sec is not None and abs(sec - last_sec) > RESYNC_TIME_WINDOW_S):
            return None
        p = o + RECORD_HEADER_SIZE
        if ours and p + 2 <= len(buf) and (buf[p] != 1 or buf[p + 1] > 2):
            return None
        return RECORD_HEADER_SIZE + caplen

    need = RECORD_HEADER_SIZE + MAX_CAPLEN + RECORD_HEADER_SIZE + 4
    pattern, back = _candidates(endian, min_caplen, ours)
    search = pattern.search
    b.pos += 1
    while True:
        if not b.eof:
            b.fill(need)
        buf = b.buf
        o = b.pos
        n = len(buf)
        if n - o < RECORD_HEADER_SIZE:
            b.pos = n
            return None
        m = search(buf, o + back)
        if m is None:  # no candidate in the window: keep only a header that may straddle its end
            if b.eof:
                b.pos = n
                return None
            b.pos = max(o + 1, n - RECORD_HEADER_SIZE - 2)
            continue
        if m.start() - back > o:
            b.pos = m.start() - back
            continue  # refill the window from the candidate, so the record after it is visible
        size = plausible(buf, o)
        if size is not None:
            nxt = o + size
            if (nxt == n and b.eof) or plausible(buf, nxt) is not None:
                return b.offset
            if ours and nxt <= n and size >= RECORD_HEADER_SIZE + 12:
                caplen, origlen = struct.unpack_from(endian + "II", buf, o + 8)
                if caplen == origlen and buf[o + RECORD_HEADER_SIZE + 4] == RPC_API_BYTE:
                    return b.offset
        b.pos = o + 1
