"""pcapng reader: sections in either byte order, interfaces, EPB/SPB/OPB, comments, direction.

Why hand-written: pcapng is where our metadata lives (the interface name of each queue pair,
the EPB direction flag, per-packet comments, nanosecond timestamps), and we want to keep it all,
survive damaged files and follow a growing file, at a few hundred thousand records a second.

What is read:

* SHB: byte order from the byte-order magic; a new SHB starts a new section (interfaces reset).
* IDB: link type, snaplen, ``if_name`` (2), ``if_tsresol`` (9, both the power-of-10 and the
  power-of-2 form), ``if_tsoffset`` (14). ``Record.interface`` is ``if_name`` or ``if<N>``.
* EPB (6), OPB (2, obsolete) and SPB (3, no timestamp: ``time_ns`` None): ``opt_comment`` (1,
  several are joined by newlines) becomes ``Record.comment``; the flags word (2) gives the
  direction (inbound = from the RM, outbound = to the RM, from the client's point of view),
  used only when the capture header says "unknown" (the header wins, design.md 1.1).
  A comment ``ghrm-synthetic: ...`` restores ``Record.synthetic``, and ``ghrm-synthetic; seq
  unknown: ...`` also ``seq_known=False``, only in a section whose SHB names ghrm as the writing
  application (``shb_userappl`` ``ghrm``, as our writer puts it): anywhere else it is an
  ordinary comment, since anyone can type one (a forged one would hide seq and skip reassembly).
* NRB, ISB, DSB, custom and any other block types: skipped silently (they are legitimate).

Packets on an interface whose link type is neither 147 nor 252 are skipped: one problem for
the first such packet of each interface, and one summary with the count at the end. (Unlike
pcap, where the one link type is known up front and an unsupported one raises.)

Damage (the scan for the next block is vectorised with numpy, so garbage costs milliseconds per
megabyte): a block length that is impossible (not a multiple of 4, < 12, absurdly large, past the
end of the file while a plausible block follows, or a trailing length that differs from the
leading one) is reported and we resynchronise on the next plausible block (a known block type
whose leading and trailing lengths agree), reporting the skipped byte range. A block cut by the
end of the file is a fatal problem naming its offset and the missing bytes; every earlier
record was already yielded.

``Record.number`` counts packet blocks (EPB/SPB/OPB) from 1, like Wireshark's frame numbers,
so a skipped packet leaves a gap; ``Record.source`` is ``"file:block N"`` (N counts all blocks).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import numpy as np

from dissector.protocol.wire import CAPTURE_HEADER_SIZE, CAPTURE_HEADER_VERSION

from ._stream import ByteSource, ChunkBuffer, source_name
from .errors import UnsupportedCapture
from .linklayer import (
    DIRECTIONS,
    SUPPORTED_LINKTYPES,
    linktype_label,
    split_link_payload,
    supported_linktypes_text,
)
from .pcap import SCAN_BLOCK, _u32s
from .record import (
    LINKTYPE_GUNYAH_RM,
    CaptureProblem,
    Direction,
    Record,
)

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_OPB = 0x00000002
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_DSB = 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
# Block types a resynchronisation may land on: the standard ones and the common extras
# (IRIG timestamp 7, ARINC 429 8, systemd journal 9, DSB 10, Sysdig 0x204..., custom blocks).
KNOWN_BLOCK_TYPES = frozenset(
    {BT_SHB, BT_IDB, BT_OPB, BT_SPB, BT_NRB, BT_ISB, BT_EPB, 7, 8, 9, BT_DSB, 0xBAD, 0x40000BAD}
    | set(range(0x204, 0x20A))
)
MAX_BLOCK = 16 << 20  # 16 MiB; a larger block length is taken as corruption
MAX_INTERFACES = 4096  # per section; later IDBs are counted, not kept (memory stays bounded)
MAX_OPTIONS = 256  # per block; real blocks carry a handful, a block of tiny options is hostile
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
OPT_SHB_USERAPPL = 4
GHRM_APPLICATION = b"ghrm"  # what our writer puts in shb_userappl
OPT_FLAGS = 2
EPB_DIR_INBOUND = 1
EPB_DIR_OUTBOUND = 2
SYNTHETIC_COMMENT = re.compile(r"^ghrm-synthetic(?P<sequnknown>; seq unknown)?: (?P<text>.*)$", re.S)

FLAG_DIRECTION: tuple[Direction, Direction, Direction, Direction] = (
    Direction.UNKNOWN,
    Direction.FROM_RM,  # inbound to the capturing client
    Direction.TO_RM,  # outbound from the client
    Direction.UNKNOWN,
)

PcapngItem = Record | CaptureProblem


class _Interface:
    """What an IDB says about the packets that name it."""

    __slots__ = (
        "div",
        "fast",
        "linktype",
        "mul",
        "name",
        "offset_ns",
        "shift",
        "simple",
        "snaplen",
        "supported",
    )

    def __init__(self, linktype: int, snaplen: int, name: str) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.name = name
        self.supported = linktype in SUPPORTED_LINKTYPES
        self.fast = linktype == LINKTYPE_GUNYAH_RM
        # timestamp units -> ns: (ts * mul // div) >> shift
        self.mul = 1000  # default resolution: microseconds
        self.div = 1
        self.shift = 0
        self.offset_ns = 0
        self.simple = True  # ns = ts * mul + offset_ns

    def set_tsresol(self, v: int) -> None:
        if v & 0x80:
            self.mul, self.div, self.shift = 1_000_000_000, 1, v & 0x7F
        elif v <= 9:
            self.mul, self.div, self.shift = 10 ** (9 - v), 1, 0
        else:
            self.mul, self.div, self.shift = 1, 10 ** (v - 9), 0
        self.simple = self.div == 1 and self.shift == 0

    def ns(self, ts: int) -> int:
        return ((ts * self.mul // self.div) >> self.shift) + self.offset_ns


def read_pcapng(f: ByteSource, source: str | None = None) -> Iterator[PcapngItem]:
    """Records and problems of a pcapng stream, in file order.

    Checks the first block type at once, so a non-pcapng input raises ``UnsupportedCapture``
    here, before any iteration.
    """
    src = source or source_name(f, "<pcapng>")
    b = ChunkBuffer(f)
    b.fill(12)
    head = b.buf[:4]
    if len(head) == 4 and struct.unpack("<I", head)[0] != BT_SHB:
        raise UnsupportedCapture(f"{src}: not a pcapng file (first block type {head.hex()})")
    return _Reader(b, src).run()


_KNOWN_TYPES = np.array(sorted(KNOWN_BLOCK_TYPES - {BT_SHB}), np.uint32)


def _block_candidates(buf: bytes, start: int, endian: str) -> np.ndarray:
    """Offsets ``>= start`` in ``buf`` where a plausible block may start, in order."""
    stop = len(buf) - 11  # a block needs 12 bytes
    whole = np.frombuffer(buf, np.uint8)
    found = []
    for lo in range(start, stop, SCAN_BLOCK):
        count = min(SCAN_BLOCK, stop - lo)
        a = whole[lo : lo + count + 11]
        btype = _u32s(a, 0, count, endian)
        blen = _u32s(a, 4, count, endian)
        ok = np.isin(btype, _KNOWN_TYPES) & (blen % 4 == 0) & (blen >= 12) & (blen <= MAX_BLOCK)
        idx = np.flatnonzero(ok)
        if len(idx):
            ends = lo + idx + blen[idx].astype(np.int64)
            inside = ends <= len(buf)
            trail = idx[inside]
            t_at = ends[inside] - 4
            trailer = (
                whole[t_at].astype(np.uint32)
                | (whole[t_at + 1].astype(np.uint32) << 8)
                | (whole[t_at + 2].astype(np.uint32) << 16)
                | (whole[t_at + 3].astype(np.uint32) << 24)
            )
            if endian == ">":
                trailer = trailer.byteswap()
            good = np.ones(len(idx), bool)
            good[np.flatnonzero(inside)] = trailer == blen[trail]
            idx = idx[good]
        shb = (
            (a[:count] == 0x0A)
            & (a[1 : count + 1] == 0x0D)
            & (a[2 : count + 2] == 0x0D)
            & (a[3 : count + 3] == 0x0A)
        )
        found.append(np.union1d(idx, np.flatnonzero(shb)) + lo)
    return np.concatenate(found).astype(np.int64) if found else np.empty(0, np.int64)


class _Reader:
    """One pass over a pcapng stream; state is per section (byte order, interfaces)."""

    def __init__(self, b: ChunkBuffer, src: str) -> None:
        self.b = b
        self.src = src
        self.endian = "<"
        self.interfaces: list[_Interface] = []
        self.number = 0  # packet blocks seen
        self.block = 0  # blocks seen
        self.section = 0
        self.ours = False  # this section's SHB says ghrm wrote it: its provenance comments count
        self._window: bytes | None = None  # the buffer _window_cands were computed for
        self._window_from = 0
        self._window_cands = np.empty(0, np.int64)
        self.skipped: dict[str, int] = {}  # unsupported-interface packets per interface
        self.extra_interfaces = 0  # IDBs of this section beyond MAX_INTERFACES

    # ------------------------------------------------------------------ framing
    def run(self) -> Iterator[PcapngItem]:
        b = self.b
        src = self.src
        while True:
            yield from self._fast_epbs()
            if b.available() < 12 and not b.fill(12):
                rem = b.available()
                if rem:
                    yield CaptureProblem(
                        f"{src}:offset {b.offset}",
                        f"file ends inside a block header at offset {b.offset}: {rem} of 12 bytes "
                        f"present ({12 - rem} missing)",
                        offset=b.offset,
                        length=rem,
                        fatal=True,
                    )
                break
            buf = b.buf
            pos = b.pos
            btype = struct.unpack_from(self.endian + "I", buf, pos)[0]
            if btype == BT_SHB:
                endian = self._shb_endian(buf, pos)
                if endian is None:
                    yield from self._resync("section header block with an invalid byte-order magic")
                    if b.available() == 0:
                        break
                    continue
                self.endian = endian
            btype, blen = struct.unpack_from(self.endian + "II", buf, pos)
            why = None
            if blen % 4 or blen < 12:
                why = f"block length {blen} is {'not a multiple of 4' if blen % 4 else 'below 12'}"
            elif blen > MAX_BLOCK:
                why = f"block length {blen} exceeds {MAX_BLOCK}"
            elif not b.fill(blen):
                rem = b.available()
                start = b.offset
                found = self._scan(start + 1)
                if found is None:
                    yield CaptureProblem(
                        f"{src}:offset {start}",
                        f"file ends inside block {self.block + 1} (type 0x{btype:08x}) at offset {start}: "
                        f"it needs {blen} bytes, {rem} present ({blen - rem} missing)",
                        offset=start,
                        length=rem,
                        fatal=True,
                    )
                    break
                self.block += 1
                if btype in (BT_EPB, BT_SPB, BT_OPB):
                    self.number += 1  # as in _count_lost
                yield CaptureProblem(
                    f"{src}:offset {start}",
                    f"block {self.block} at offset {start} claims {blen} bytes, past the end of the file; "
                    f"skipped {found - start} bytes to the next plausible block at offset {found}",
                    offset=start,
                    length=found - start,
                )
                continue
            else:
                buf = b.buf
                pos = b.pos
                trail = struct.unpack_from(self.endian + "I", buf, pos + blen - 4)[0]
                if trail != blen:
                    why = f"trailing block length {trail} differs from the leading {blen}"
            if why is not None:
                yield from self._resync(why)
                continue
            self.block += 1
            end = pos + blen
            if btype == BT_EPB:
                yield from self._epb(buf, pos, blen)
            elif btype == BT_SHB:
                self.interfaces = []
                self.extra_interfaces = 0
                self.section += 1
                self.ours = self._written_by_ghrm(buf, pos, blen)
            elif btype == BT_IDB:
                yield from self._idb(buf, pos, blen)
            elif btype == BT_SPB:
                yield from self._spb(buf, pos, blen)
            elif btype == BT_OPB:
                yield from self._opb(buf, pos, blen)
            b.pos = end
        for name, count in self.skipped.items():
            yield CaptureProblem(
                src,
                f"{count} packet(s) on interface {name} skipped: its link type is not supported",
            )

    def _fast_epbs(self) -> Iterator[PcapngItem]:
        """The hot loop: consecutive well-formed EPBs already in the window.

        Handles the common case inline (DLT 147 interface, full capture, valid capture header
        with a known direction, no comment option) and hands anything else to ``_epb``. Stops
        at the first block that is not a complete, consistent EPB; ``run`` takes it from there.
        """
        b = self.b
        buf = b.buf
        pos = b.pos
        n = len(buf)
        u32 = struct.Struct(self.endian + "I").unpack_from
        u32x2 = struct.Struct(self.endian + "II").unpack_from
        epb = struct.Struct(self.endian + "IIIII").unpack_from
        opt = struct.Struct(self.endian + "HH").unpack_from
        ifaces = self.interfaces
        nif = len(ifaces)
        dirs = DIRECTIONS
        src = self.src
        try:
            while pos + 12 <= n:
                btype, blen = u32x2(buf, pos)
                if (
                    btype != BT_EPB
                    or blen < 32
                    or blen & 3
                    or pos + blen > n
                    or u32(buf, pos + blen - 4)[0] != blen
                ):
                    break
                self.block += 1
                ifid, ts_hi, ts_lo, caplen, origlen = epb(buf, pos + 8)
                d = pos + 28
                end = pos + blen - 4
                o = d + ((caplen + 3) & ~3)
                iface = ifaces[ifid] if ifid < nif else None
                fast = (
                    iface is not None
                    and iface.fast
                    and caplen == origlen
                    and caplen >= CAPTURE_HEADER_SIZE
                    and o <= end
                    and buf[d] == CAPTURE_HEADER_VERSION
                    and 0 < buf[d + 1] <= 2
                )
                nopts = 0
                while fast and o + 4 <= end:
                    code, length = opt(buf, o)
                    if code == OPT_ENDOFOPT:
                        break
                    o += 4 + ((length + 3) & ~3)
                    nopts += 1
                    if code != OPT_FLAGS or o > end or nopts > 2:
                        fast = False
                if not fast:
                    b.pos = pos
                    yield from self._epb(buf, pos, blen)
                    pos += blen
                    continue
                self.number += 1
                ts = (ts_hi << 32) | ts_lo
                yield Record(
                    self.number,
                    ts * iface.mul + iface.offset_ns if iface.simple else iface.ns(ts),  # type: ignore[union-attr]
                    dirs[buf[d + 1]],
                    buf[d + 2] | (buf[d + 3] << 8),
                    buf[d + CAPTURE_HEADER_SIZE : d + caplen],
                    f"{src}:block {self.block}",
                    iface.name,  # type: ignore[union-attr]
                )
                pos += blen
        finally:
            b.pos = pos

    def _written_by_ghrm(self, buf: bytes, pos: int, blen: int) -> bool:
        """Whether the SHB's ``shb_userappl`` (option 4) is ghrm's (``ghrm`` or ``ghrm ...``)."""
        opts, _err = self._options(buf, pos + 24, pos + blen - 4)
        for code, value in opts:
            if code == OPT_SHB_USERAPPL:
                app = value.rstrip(b"\0")
                return app == GHRM_APPLICATION or app.startswith(GHRM_APPLICATION + b" ")
        return False

    def _shb_endian(self, buf: bytes, pos: int) -> str | None:
        if not self.b.fill(12):
            return None
        buf = self.b.buf
        pos = self.b.pos
        bom = buf[pos + 8 : pos + 12]
        if bom == b"\x4d\x3c\x2b\x1a":
            return "<"
        if bom == b"\x1a\x2b\x3c\x4d":
            return ">"
        return None

    def _resync(self, why: str) -> Iterator[CaptureProblem]:
        b = self.b
        start = b.offset
        self._count_lost(start)
        found = self._scan(start + 1)
        self.block += 1
        if found is None:
            skipped = b.offset - start
            yield CaptureProblem(
                f"{self.src}:offset {start}",
                f"block {self.block} at offset {start} is corrupt ({why}) and no plausible block "
                f"follows; skipped the last {skipped} bytes",
                offset=start,
                length=skipped,
                fatal=True,
            )
            return
        yield CaptureProblem(
            f"{self.src}:offset {start}",
            f"block {self.block} at offset {start} is corrupt ({why}); skipped {found - start} bytes "
            f"to the next plausible block at offset {found}",
            offset=start,
            length=found - start,
        )

    def _count_lost(self, start: int) -> None:
        """A corrupt block whose type still reads as a packet block was a packet: count it.

        That keeps the numbers of later packets equal to their frame numbers in the original.
        """
        b = self.b
        rel = start - b.base
        if rel >= 0 and rel + 4 <= len(b.buf):
            btype = struct.unpack_from(self.endian + "I", b.buf, rel)[0]
            if btype in (BT_EPB, BT_SPB, BT_OPB):
                self.number += 1

    def _next_candidate(self, buf: bytes, o: int) -> int | None:
        """The first offset >= ``o`` where a plausible block may start (vectorised, cached per window).

        A candidate has a known block type, a sane length and, when the block fits in the
        window, an agreeing trailing length; or it is a section header magic. ``_plausible``
        then decides. One numpy pass per window instead of a Python step per candidate byte.
        """
        if self._window is not buf or o < self._window_from:
            self._window = buf
            self._window_from = o
            self._window_cands = _block_candidates(buf, o, self.endian)
        cands = self._window_cands
        i = int(np.searchsorted(cands, o))
        return int(cands[i]) if i < len(cands) else None

    def _plausible(self, buf: bytes, o: int) -> bool | None:
        """Whether a block at ``o`` has a known type and agreeing lengths (None: need bytes)."""
        n = len(buf)
        if o + 12 > n:
            return None
        endian = self.endian
        if buf[o : o + 4] == b"\x0a\x0d\x0d\x0a":
            bom = buf[o + 8 : o + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else ""
            if not endian:
                return False
        btype, blen = struct.unpack_from(endian + "II", buf, o)
        if btype not in KNOWN_BLOCK_TYPES or blen % 4 or blen < 12 or blen > MAX_BLOCK:
            return False
        if o + blen > n:
            return None
        return struct.unpack_from(endian + "I", buf, o + blen - 4)[0] == blen

    def _scan(self, start: int) -> int | None:
        """Find the next plausible block at or after absolute offset ``start``.

        Leaves ``self.b`` positioned on it and returns its offset, or leaves it at the end of
        the stream and returns None. Memory stays bounded: consumed bytes are dropped as the
        scan advances.
        """
        b = self.b
        b.pos = start - b.base
        while True:
            if not b.eof:
                b.fill(1 << 16)
            buf = b.buf
            o = b.pos
            found = self._next_candidate(buf, o)
            if found is None:
                if b.eof:
                    b.pos = len(buf)
                    return None
                b.pos = max(o, len(buf) - 11)
                b.fill_some()
                continue
            o = found
            b.pos = o
            verdict = self._plausible(buf, o)
            if verdict is None and not b.eof:
                btype_len = struct.unpack_from(self.endian + "I", buf, o + 4)[0] if o + 8 <= len(buf) else 12
                b.fill(min(max(btype_len, 12), MAX_BLOCK))
                buf = b.buf
                o = b.pos
                verdict = self._plausible(buf, o)
            if verdict:
                return b.offset
            b.pos = o + 1

    # ------------------------------------------------------------------ blocks
    def _options(self, buf: bytes, off: int, end: int) -> tuple[list[tuple[int, bytes]], str | None]:
        """Options from ``off`` to ``end``; a problem text if they overrun or are too many."""
        out: list[tuple[int, bytes]] = []
        unpack = struct.Struct(self.endian + "HH").unpack_from
        while off + 4 <= end:
            code, length = unpack(buf, off)
            off += 4
            if code == OPT_ENDOFOPT:
                return out, None
            if off + length > end:
                return out, f"option {code} claims {length} bytes, only {end - off} left in the block"
            if len(out) == MAX_OPTIONS:
                return out, f"more than {MAX_OPTIONS} options; the rest of the block's options skipped"
            out.append((code, buf[off : off + length]))
            off += (length + 3) & ~3
        return out, None

    def _idb(self, buf: bytes, pos: int, blen: int) -> Iterator[CaptureProblem]:
        index = len(self.interfaces)
        if index >= MAX_INTERFACES:
            self.extra_interfaces += 1
            if self.extra_interfaces == 1:
                yield self._problem(
                    pos,
                    blen,
                    f"more than {MAX_INTERFACES} interfaces in section {self.section}; interface "
                    f"{index} and later are not kept, their packets are skipped",
                )
            return
        if blen < 20:
            self.interfaces.append(_Interface(-1, 0, f"if{index}"))
            yield self._problem(pos, blen, f"interface block of {blen} bytes is too short (20 needed)")
            return
        linktype, _res, snaplen = struct.unpack_from(self.endian + "HHI", buf, pos + 8)
        iface = _Interface(linktype, snaplen, f"if{index}")
        opts, err = self._options(buf, pos + 16, pos + blen - 4)
        for code, value in opts:
            if code == OPT_IF_NAME:
                iface.name = value.rstrip(b"\0").decode("utf-8", "replace") or iface.name
            elif code == OPT_IF_TSRESOL and value:
                iface.set_tsresol(value[0])
            elif code == OPT_IF_TSOFFSET and len(value) >= 8:
                iface.offset_ns = struct.unpack_from(self.endian + "q", value)[0] * 1_000_000_000
        self.interfaces.append(iface)
        if err:
            yield self._problem(pos, blen, f"interface {index}: {err}")

    def _problem(self, pos: int, blen: int, reason: str) -> CaptureProblem:
        off = self.b.base + pos
        return CaptureProblem(f"{self.src}:block {self.block}", reason, offset=off, length=blen)

    def _interface(self, pos: int, blen: int, ifid: int) -> tuple[_Interface | None, CaptureProblem | None]:
        if ifid >= len(self.interfaces):
            if ifid < len(self.interfaces) + self.extra_interfaces:
                return None, self._problem(
                    pos,
                    blen,
                    f"packet {self.number} names interface {ifid}, beyond the first {MAX_INTERFACES} "
                    "interfaces that are kept; skipped",
                )
            return None, self._problem(
                pos,
                blen,
                f"packet {self.number} names interface {ifid}, but the section defines "
                f"{len(self.interfaces)} interface(s); skipped",
            )
        iface = self.interfaces[ifid]
        if not iface.supported:
            name = iface.name
            if name not in self.skipped and len(self.skipped) >= MAX_INTERFACES:
                name = "(others)"  # keep the tally bounded across many sections
            count = self.skipped.get(name, 0)
            self.skipped[name] = count + 1
            if count == 0:
                return None, self._problem(
                    pos,
                    blen,
                    f"interface {ifid} ({iface.name}) has link type {linktype_label(iface.linktype)}; "
                    f"supported: {supported_linktypes_text()}; its packets are skipped",
                )
            return None, None
        return iface, None

    def _epb(self, buf: bytes, pos: int, blen: int) -> Iterator[PcapngItem]:
        return self._timed_packet(buf, pos, blen, "IIIII")  # interface id (u32), ts, caplen, origlen

    def _opb(self, buf: bytes, pos: int, blen: int) -> Iterator[PcapngItem]:
        return self._timed_packet(buf, pos, blen, "HHIIII")  # interface id (u16), drops, ts, lens

    def _timed_packet(self, buf: bytes, pos: int, blen: int, head: str) -> Iterator[PcapngItem]:
        """An enhanced or obsolete packet block: they differ only in the fields before the
        timestamp (``head`` unpacks from the interface id to the original length)."""
        self.number += 1
        if blen < 32:
            yield self._problem(pos, blen, f"packet block of {blen} bytes is too short (32 needed)")
            return
        fields = struct.unpack_from(self.endian + head, buf, pos + 8)
        ifid = fields[0]
        ts_hi, ts_lo, caplen, origlen = fields[-4:]
        iface, problem = self._interface(pos, blen, ifid)
        if iface is None:
            if problem is not None:
                yield problem
            return
        data_off = pos + 28
        opt_off = data_off + ((caplen + 3) & ~3)
        end = pos + blen - 4
        if opt_off > end:
            yield self._problem(
                pos, blen, f"packet {self.number}: caplen {caplen} runs past the end of its block; skipped"
            )
            return
        ts_ns = iface.ns((ts_hi << 32) | ts_lo)
        yield from self._packet(buf, pos, blen, iface, data_off, caplen, origlen, ts_ns, opt_off, end)

    def _spb(self, buf: bytes, pos: int, blen: int) -> Iterator[PcapngItem]:
        self.number += 1
        if blen < 16:
            yield self._problem(pos, blen, f"simple packet block of {blen} bytes is too short (16 needed)")
            return
        iface, problem = self._interface(pos, blen, 0)
        if iface is None:
            if problem is not None:
                yield problem
            return
        origlen = struct.unpack_from(self.endian + "I", buf, pos + 8)[0]
        room = blen - 16
        caplen = min(origlen, room)
        if iface.snaplen:
            caplen = min(caplen, iface.snaplen)
        end = pos + blen - 4
        yield from self._packet(buf, pos, blen, iface, pos + 12, caplen, origlen, None, end, end)

    def _packet(
        self,
        buf: bytes,
        pos: int,
        blen: int,
        iface: _Interface,
        data_off: int,
        caplen: int,
        origlen: int,
        ts_ns: int | None,
        opt_off: int,
        end: int,
    ) -> Iterator[PcapngItem]:
        """Turn one packet block's bytes into a record (+ problems)."""
        flags_dir = Direction.UNKNOWN
        comments: list[str] | None = None
        synthetic: str | None = None
        seq_known = True
        problems: list[str] = []
        if opt_off + 4 <= end:
            opts, err = self._options(buf, opt_off, end)
            if err:
                problems.append(err)
            for code, value in opts:
                if code == OPT_COMMENT:
                    text = value.decode("utf-8", "replace")
                    m = SYNTHETIC_COMMENT.match(text) if self.ours else None
                    if m:
                        synthetic = m.group("text")
                        seq_known = m.group("sequnknown") is None
                    else:
                        (comments := comments or []).append(text)
                elif code == OPT_FLAGS and len(value) >= 4:
                    flags_dir = FLAG_DIRECTION[struct.unpack_from(self.endian + "I", value)[0] & 3]
        number = self.number
        where = f"{self.src}:block {self.block}"
        comment = "\n".join(comments) if comments else None
        if (
            iface.linktype == LINKTYPE_GUNYAH_RM
            and caplen >= CAPTURE_HEADER_SIZE
            and buf[data_off] == CAPTURE_HEADER_VERSION
            and 0 < buf[data_off + 1] <= 2
        ):
            p = data_off
            yield Record(
                number,
                ts_ns,
                DIRECTIONS[buf[p + 1]],
                buf[p + 2] | (buf[p + 3] << 8),
                buf[p + CAPTURE_HEADER_SIZE : p + caplen],
                where,
                iface.name,
                comment,
                synthetic,
                seq_known,
            )
        else:
            res = split_link_payload(iface.linktype, buf[data_off : data_off + caplen], flags_dir)
            problems[:0] = res.problems
            if res.message is not None:
                yield Record(
                    number,
                    ts_ns,
                    res.direction,
                    res.client_vmid,
                    res.message,
                    where,
                    iface.name,
                    comment,
                    synthetic,
                    seq_known,
                )
        if caplen < origlen:
            problems.append(f"captured {caplen} of {origlen} bytes (snapped); the message is cut")
        elif caplen > origlen:
            problems.append(f"caplen {caplen} exceeds the original length {origlen}; the block is damaged")
        for reason in problems:
            yield self._problem(pos, blen, f"packet {number}: {reason}")
