"""Kernel log reader: the Qualcomm RM driver's ``print_hex_dump`` output (design.md 1.2).

Why: on shipping devices the only record of RM traffic is often the kernel log with dynamic
debug enabled for ``gh_rm_core.c``. That driver prints (protocol.md §9):

* ``gh_rm_recv: 00000000: 21 02 01 00 ...``: every raw message received from the RM, 8-byte
  RPC header included, 16 bytes a row (``DUMP_PREFIX_OFFSET``). Yielded as ``FROM_RM`` records
  exactly as dumped.
* ``gh_rm_call TX msg_id: 56000004`` then ``gh_rm_call TX: 00000000: ...`` (older trees:
  ``@__func__ TX: ``; Haven trees: ``hh_rm_call TX: ``): a request payload *before*
  fragmentation, without its RPC header. Yielded as one ``TO_RM`` record whose header is made
  up: api 0x21, type REQUEST, ``fragments = max(0, ceil(len/232) - 1)``, seq 0, that msg_id;
  ``synthetic`` says so and ``seq_known`` is False. The payload may exceed 232 bytes (it is
  one record, before fragmentation). A ``TX msg_id`` line with no dump after it is a request
  with an empty payload (``print_hex_dump`` prints nothing for zero bytes).
* ``gh_rm_call RX: ...`` (``@__func__ RX: ``): the reassembled reply payload without header and
  error code. Every byte of it is already in the ``gh_rm_recv`` dumps of the same reply, so
  these dumps are parsed (and reported if broken) but yield nothing: yielding them would
  double every reply.
* ``RM rejected message 56000004. Error: 2`` (upstream/ACK drivers): a synthetic ``FROM_RM``
  REPLY record (header 0x21, type REPLY, fragments 0, seq 0, msg_id) whose payload is the u32le
  error code.

Matching is tolerant: the tag may follow a dmesg timestamp ``[   12.345678]`` (becomes
``time_ns``, seconds since boot; no timestamp gives ``None``), a ``<7>`` level, a syslog or
journal prefix, or dynamic-debug function/module prefixes. Bytes may also be printed in groups
of 2/4/8 (``groupsize``); groups are read as little-endian (AArch64), as the kernel prints them.
The client VMID is unknown (0xFFFF): the log is the host's own view.

Every line is one step of a state machine (``HexLogParser.feed``), so following a growing log
only means feeding more lines. Dumps with different prefixes may interleave (one buffer per
prefix). A dump ends at the next offset-00000000 row of its prefix, at a row shorter than the
first, or at the end of the input. Records come out in the order their first line appears.

Unrelated lines are ignored silently. A line that looks like a dump row (tag, hex offset,
colon) but does not parse (non-hex garbage, odd digit counts, an offset that is not the byte
count so far) gives a ``CaptureProblem`` with its line number; the message being assembled is
yielded as far as it got (a cut message is still information; the decoder marks it malformed)
and the rest of that dump is skipped up to the next offset-00000000 row.

Bounds (a hostile or broken log cannot make the parser hold more than a few MiB): a dump that
grows past ``MAX_DUMP_BYTES`` (no RM message comes near it) is cut there with a problem and its
further rows are skipped; at most ``MAX_OPEN_DUMPS`` dumps (one per prefix) are in progress, the
oldest is completed when another starts; a dump still open after ``MAX_QUEUED`` later items is
completed as it is (output never waits on it without limit); a line longer than
``MAX_LINE_CHARS`` is read up to that length and reported.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Iterable, Iterator

from dissector.protocol.wire import FRAGMENTS_FIELD_MAX, REPLY, REQUEST, fragment_count, pack_header

from ._stream import MAX_LINE_CHARS, cut_long_line, strip_eol
from .record import UNKNOWN_VMID, CaptureProblem, Direction, Record

MAX_DUMP_BYTES = 1 << 14  # > the largest RM payload (63 * 232 = 14616 bytes) + header
MAX_OPEN_DUMPS = 64  # prefixes with a dump in progress at once
MAX_QUEUED = 4096  # items waiting behind a dump that is still open
SYNTH_TX = "RPC header synthesised from 'TX msg_id' + 'gh_rm_call TX' dump; seq unknown"
SYNTH_TX_EMPTY = (
    "RPC header synthesised from a 'TX msg_id' line without payload dump (empty payload); seq unknown"
)
SYNTH_TX_NO_ID = (
    "RPC header synthesised from a 'gh_rm_call TX' dump without 'TX msg_id' line; msg_id and seq unknown"
)
SYNTH_REJECT = "reply synthesised from 'RM rejected message' log line; seq unknown"

# One pass finds whichever marker a line holds.
_MARK = re.compile(
    r"(?P<tag>[gh]h_rm_recv|[gh]h_rm_call (?:TX|RX)|@[^\s:@]+ (?:TX|RX)): (?P<rest>.*)"
    r"|\bTX msg_id: (?:0x)?(?P<msgid>[0-9A-Fa-f]{1,8})(?![0-9A-Fa-f])"
    r"|RM rejected message (?:0x)?(?P<rejid>[0-9A-Fa-f]{1,8})\. Error: (?P<err>-?\d{1,20})(?!\d)"
)
_ROW = re.compile(r"(?P<off>[0-9A-Fa-f]{1,16}):(?:\s(?P<hex>.*))?$")
_TIMESTAMP = re.compile(r"\[\s*(\d{1,12})\.(\d{1,9})\]")  # numbers bounded: no 4,300-digit int()
_HEX = frozenset("0123456789abcdefABCDEF")

_RECV, _TX, _RX = "recv", "tx", "rx"

Item = Record | CaptureProblem


def _kind(tag: str) -> str:
    if tag.endswith("recv"):
        return _RECV
    return _TX if tag.endswith("TX") else _RX


def synthesise_header(msg_type: int, payload_len: int, msg_id: int, seq: int = 0) -> bytes:
    """An 8-byte RPC header for a payload the log printed without one."""
    fragments = min(fragment_count(payload_len), FRAGMENTS_FIELD_MAX)
    return pack_header(msg_type, seq, msg_id & 0xFFFFFFFF, fragments)


def parse_hex_bytes(text: str) -> tuple[bytes, str | None]:
    """The bytes of a dump row's hex column, or what is wrong with it.

    The hex column ends at the first double space (where ``print_hex_dump`` puts the ASCII
    column). Tokens of 2 digits are bytes; 4/8/16 digits are little-endian groups.
    """
    hexpart = text.split("  ", 1)[0].strip()
    try:  # fast path: single-spaced 2-digit bytes, as print_hex_dump prints with groupsize 1
        data = bytes.fromhex(hexpart)
        if len(data) * 3 - 1 == len(hexpart):
            return data, None
    except ValueError:
        pass
    tokens = hexpart.split()
    if not tokens:
        return b"", "no hex bytes after the offset"
    out = bytearray()
    for tok in tokens:
        if not _HEX.issuperset(tok):
            return bytes(out), f"non-hex token {tok!r}"
        n = len(tok)
        if n == 2:
            out.append(int(tok, 16))
        elif n in (4, 8, 16):
            out += bytes.fromhex(tok)[::-1]
        else:
            return bytes(out), f"hex token {tok!r} has {n} digits"
    return bytes(out), None


class _Slot:
    """A place in the output order, reserved when a message's first line is seen."""

    __slots__ = ("item", "ready")

    def __init__(self) -> None:
        self.item: Item | tuple | None = None
        self.ready = False


class _Dump:
    """A message being assembled from the rows of one prefix."""

    __slots__ = ("data", "kind", "line", "msg_id", "rowsize", "slot", "synthetic", "time_ns")

    def __init__(self, kind: str, line: int, time_ns: int | None, slot: _Slot | None) -> None:
        self.kind = kind
        self.line = line
        self.time_ns = time_ns
        self.slot = slot
        self.data = bytearray()
        self.rowsize = 0
        self.msg_id: int | None = None
        self.synthetic = SYNTH_TX


class HexLogParser:
    """Line-driven state machine over a kernel log; ``feed`` one line at a time.

    ``feed`` and ``finish`` return the items that became complete; ``finish`` flushes every
    dump still in progress (end of input).
    """

    def __init__(self, source: str = "<log>") -> None:
        self.source = source
        self._dumps: dict[str, _Dump] = {}
        self._skipping: set[str] = set()
        self._queue: deque[_Slot] = deque()
        self._pending_tx: tuple[int, int, int | None, _Slot] | None = None  # msg_id, line, time, slot
        self._number = 0

    # ------------------------------------------------------------------ public
    def feed(self, line: str, lineno: int) -> list[Item]:
        """Process one line (1-based ``lineno``); return the items now complete, in order."""
        if len(line) >= MAX_LINE_CHARS:  # maybe cut by iter_lines (a LongLine), or too long
            line, why = cut_long_line(line)
            if why is not None:
                self._problem(lineno, why)
        if not ("rm_" in line or "TX" in line or "RX" in line or "rejected" in line):
            return self._drain() if self._queue else []
        m = _MARK.search(line)
        if m is None:
            return self._drain() if self._queue else []
        tag = m.group("tag")
        if tag is not None:
            self._row(tag, m.group("rest"), line, m.start(), lineno)
        elif m.group("msgid") is not None:
            self._msgid(int(m.group("msgid"), 16), _time(line, m.start()), lineno)
        else:
            self._rejected(m, line, lineno)
        return self._drain()

    def finish(self) -> list[Item]:
        """End of input: complete every dump in progress and any pending ``TX msg_id``."""
        for tag in list(self._dumps):
            self._complete(tag)
        self._flush_pending_tx()
        return self._drain()

    # ------------------------------------------------------------------ ordering
    def _reserve(self) -> _Slot:
        slot = _Slot()
        self._queue.append(slot)
        return slot

    def _ready(self, slot: _Slot, item: Item | tuple | None) -> None:
        slot.item = item
        slot.ready = True

    def _problem(self, lineno: int, reason: str) -> None:
        slot = self._reserve()
        self._ready(slot, CaptureProblem(f"{self.source}:{lineno}", reason, line=lineno))

    def _drain(self) -> list[Item]:
        q = self._queue
        if len(q) > MAX_QUEUED and not q[0].ready:
            self._unblock(q[0])
        out: list[Item] = []
        while q and q[0].ready:
            item = q.popleft().item
            if isinstance(item, tuple):
                self._number += 1
                item = Record(self._number, *item)
            if item is not None:
                out.append(item)
        return out

    def _unblock(self, slot: _Slot) -> None:
        """Complete whatever holds ``slot``: an open dump or a pending ``TX msg_id``.

        A dump whose rows were all full stays open until its prefix prints again; completing
        it after ``MAX_QUEUED`` later items only bounds how long output waits for it (a row of
        it that still comes later is then reported as a row without its dump's start).
        """
        for tag, dump in self._dumps.items():
            if dump.slot is slot:
                self._complete(tag)
                return
        if self._pending_tx is not None and self._pending_tx[3] is slot:
            self._flush_pending_tx()

    # ------------------------------------------------------------------ lines
    def _row(self, tag: str, rest: str, line: str, at: int, lineno: int) -> None:
        rm = _ROW.match(strip_eol(rest))
        if rm is None:
            return  # "gh_rm_recv: something else": not a dump row
        off_text = rm.group("off")
        data, err = parse_hex_bytes(rm.group("hex") or "")
        if len(off_text) != 8:
            err = f"offset {off_text!r} is not 8 hex digits"
            data = b""
        offset = int(off_text, 16)
        if offset == 0:
            self._start(tag, _kind(tag), _time(line, at), lineno)
        cur = self._dumps.get(tag)
        if cur is None:
            self._orphan(tag, lineno, off_text, err)
            return
        if offset != len(cur.data):
            what = f" ({err})" if err else ""
            self._cut(
                tag,
                lineno,
                f"{tag} dump row at offset {off_text}{what}, but {len(cur.data)} bytes were dumped so far",
            )
            return
        if len(cur.data) + len(data) > MAX_DUMP_BYTES:
            cur.data += data[: MAX_DUMP_BYTES - len(cur.data)]
            self._cut(
                tag,
                lineno,
                f"{tag} dump grows past {MAX_DUMP_BYTES} bytes at offset {off_text} (no RM message "
                "is that long; a missing offset-00000000 row?)",
            )
            return
        cur.data += data
        if err is not None:
            self._cut(tag, lineno, f"{tag} dump row at offset {off_text} does not parse: {err}")
            return
        if not cur.rowsize:
            cur.rowsize = len(data) if len(data) in (16, 32) else 16
        if len(data) < cur.rowsize:
            self._complete(tag)

    def _start(self, tag: str, kind: str, time_ns: int | None, lineno: int) -> None:
        if tag in self._dumps:
            self._complete(tag)
        elif len(self._dumps) >= MAX_OPEN_DUMPS:
            oldest = next(iter(self._dumps))
            self._problem(
                lineno,
                f"more than {MAX_OPEN_DUMPS} dump prefixes in progress at once; completed the "
                f"{oldest} dump from line {self._dumps[oldest].line} as it is",
            )
            self._complete(oldest)
        self._skipping.discard(tag)
        slot: _Slot | None = None
        msg_id: int | None = None
        synthetic = SYNTH_TX
        if kind == _RECV:
            slot = self._reserve()
        elif kind == _TX:
            if self._pending_tx is not None:
                msg_id, lineno, t, slot = self._pending_tx
                time_ns = t if t is not None else time_ns
                self._pending_tx = None
            else:
                slot = self._reserve()
                msg_id = 0
                synthetic = SYNTH_TX_NO_ID
                self._problem(lineno, f"{tag} dump without a preceding 'TX msg_id' line; msg_id unknown (0)")
        dump = _Dump(kind, lineno, time_ns, slot)
        dump.msg_id = msg_id
        dump.synthetic = synthetic
        self._dumps[tag] = dump

    def _complete(self, tag: str) -> None:
        dump = self._dumps.pop(tag)
        if dump.slot is None:  # an RX dump: redundant with gh_rm_recv, yields nothing
            return
        where = f"{self.source}:{dump.line}"
        payload = bytes(dump.data)
        if not payload:  # cut before its first byte: nothing to yield
            self._ready(dump.slot, None)
        elif dump.kind == _RECV:
            self._ready(dump.slot, (dump.time_ns, Direction.FROM_RM, UNKNOWN_VMID, payload, where))
        else:
            header = synthesise_header(REQUEST, len(payload), dump.msg_id or 0)
            item = (dump.time_ns, Direction.TO_RM, UNKNOWN_VMID, header + payload, where)
            self._ready(dump.slot, (*item, None, None, dump.synthetic, False))

    def _cut(self, tag: str, lineno: int, reason: str) -> None:
        dump = self._dumps[tag]
        got = len(dump.data)
        self._complete(tag)
        if dump.slot is None:
            tail = "the reply-payload dump (redundant, yields nothing) is cut"
        elif got:
            tail = f"the message is cut after {got} bytes (yielded as far as it got)"
        elif dump.kind == _TX and dump.msg_id:
            tail = f"nothing of the request payload for msg_id {dump.msg_id:08x} was read (not yielded)"
        else:
            tail = "nothing of the message was read (not yielded)"
        self._problem(lineno, f"{reason}; {tail}; skipping the rest of this dump")
        self._skip(tag)

    def _skip(self, tag: str) -> None:
        """Skip ``tag``'s rows up to its next dump start (the set is bounded)."""
        if len(self._skipping) >= MAX_OPEN_DUMPS:
            self._skipping.clear()  # forget old prefixes: at worst one more problem each
        self._skipping.add(tag)

    def _orphan(self, tag: str, lineno: int, off_text: str, err: str | None) -> None:
        if tag in self._skipping:
            return
        self._skip(tag)
        what = f" ({err})" if err else ""
        self._problem(
            lineno,
            f"{tag} dump row at offset {off_text}{what} without the dump's start (offset 00000000); "
            "skipping rows up to the next dump start",
        )

    def _msgid(self, msg_id: int, time_ns: int | None, lineno: int) -> None:
        self._flush_pending_tx()
        self._pending_tx = (msg_id, lineno, time_ns, self._reserve())

    def _flush_pending_tx(self) -> None:
        if self._pending_tx is None:
            return
        msg_id, line, time_ns, slot = self._pending_tx
        self._pending_tx = None
        item = (
            time_ns,
            Direction.TO_RM,
            UNKNOWN_VMID,
            synthesise_header(REQUEST, 0, msg_id),
            f"{self.source}:{line}",
            None,
            None,
            SYNTH_TX_EMPTY,
            False,
        )
        self._ready(slot, item)

    def _rejected(self, m: re.Match[str], line: str, lineno: int) -> None:
        msg_id = int(m.group("rejid"), 16)
        err = int(m.group("err")) & 0xFFFFFFFF
        slot = self._reserve()
        data = synthesise_header(REPLY, 4, msg_id) + struct.pack("<I", err)
        item = (
            _time(line, m.start()),
            Direction.FROM_RM,
            UNKNOWN_VMID,
            data,
            f"{self.source}:{lineno}",
            None,
            None,
            SYNTH_REJECT,
            False,
        )
        self._ready(slot, item)


def _time(line: str, end: int) -> int | None:
    """The dmesg timestamp before position ``end`` of ``line``, in ns, or None."""
    m = _TIMESTAMP.search(line, 0, end)
    if m is None:
        return None
    frac = m.group(2)
    return int(m.group(1)) * 1_000_000_000 + int(frac) * 10 ** (9 - len(frac))


def read_hexlog(lines: Iterable[str], source: str = "<log>") -> Iterator[Item]:
    """Records and problems of a kernel log given as lines (a text file object works)."""
    parser = HexLogParser(source)
    for lineno, line in enumerate(lines, 1):
        yield from parser.feed(line, lineno)
    yield from parser.finish()
