"""Reader for text2pcap-style hex dumps (design.md 1.2).

Why: hex dumps are how people paste captures into bug reports and mails, and what
``tshark -x`` and ``od -Ax -tx1`` print; ``text2pcap`` turns them back into captures. We read
the same input directly, so a dump in a ticket can be decoded without a round trip through
Wireshark.

Format (what ``text2pcap -D -t '%Y-%m-%d %H:%M:%S.%f' -l 147`` accepts):

* A packet starts at a row whose offset is 0; each row is an offset of 3 to 8 hex digits, then
  hex bytes, then an optional ASCII column (after three spaces as ``tshark -x`` prints it, or
  ``|...|`` as ``hexdump -C`` does). Like text2pcap we use the next row's offset to drop ASCII
  that happened to look like hex; an offset alone on a line (``od``'s last line) does the same.
* Before a packet, an optional marker line ``I`` or ``O`` (direction), optionally followed by a
  timestamp: ``%Y-%m-%d %H:%M:%S[.frac]`` (UTC, up to 9 fraction digits), ``%H:%M:%S[.frac]``
  (time of day only) or bare seconds with a fraction (``1700000000.123456``). A timestamp
  line without marker is accepted too. Lines starting with ``#`` are comments.

**Decisions.** The hex holds the 4-byte capture header, as a text dump of a DLT 147 capture
does (``tshark -x``, or what ``text2pcap -l 147`` needs to rebuild one). A dump whose first
byte is 0x21 (the RPC api byte; a capture header starts with its version, 1) is taken as a bare
message without capture header. The marker follows pcapng's EPB direction flags, which is what
text2pcap turns it into: ``I`` = inbound to the capturing client = ``FROM_RM``, ``O`` =
outbound = ``TO_RM``. As everywhere, a non-zero capture-header direction wins over the marker.

Rows must be consecutive; an offset gap cuts the packet (it is yielded as far as it got, with a
problem) and rows up to the next offset-0 row are skipped. ``Record.number`` counts packets.
A packet that grows past ``MAX_PACKET_BYTES`` (a missing offset-0 row, or a dump of something
else) is cut there the same way, and a line longer than ``MAX_LINE_CHARS`` is read up to that
length and reported, so no input makes the parser hold more than a few hundred KiB.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator

from dissector.protocol.wire import RPC_API_BYTE

from ._stream import MAX_LINE_CHARS, cut_long_line, strip_eol
from .linklayer import split_capture_header
from .record import UNKNOWN_VMID, CaptureProblem, Direction, Record

ROW_RE = re.compile(r"^\s*(?P<off>[0-9A-Fa-f]{3,8})(?::\s*|\s+)(?P<rest>.*)$")
_OFFSET_ONLY = re.compile(r"^\s*(?P<off>[0-9A-Fa-f]{3,8})\s*$")
MARKER_RE = re.compile(r"^\s*(?P<dir>[IO])(?:\s+(?P<ts>\S.*?))?\s*$")
_DATETIME = re.compile(
    r"^(?:(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[ T])?(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:[.,](?P<f>\d{1,9}))?\s*(?:Z|UTC)?$"
)
_SECONDS = re.compile(r"^(?P<s>\d{1,12})\.(?P<f>\d{1,9})$")  # bounded: no 4,300-digit int()
_HEXBYTE = re.compile(r"^[0-9A-Fa-f]{2}$")

Item = Record | CaptureProblem
MAX_PACKET_BYTES = 1 << 16  # pcap's own limit for our link type; a DLT 147 record is <= 244 bytes


def parse_timestamp(text: str) -> int | None:
    """A text2pcap-style timestamp in ns since the epoch (or since midnight), or None."""
    text = text.strip()
    m = _SECONDS.match(text)
    if m:
        f = m.group("f")
        return int(m.group("s")) * 1_000_000_000 + int(f) * 10 ** (9 - len(f))
    m = _DATETIME.match(text)
    if not m:
        return None
    secs = int(m.group("h")) * 3600 + int(m.group("mi")) * 60 + int(m.group("s"))
    if m.group("y"):
        try:
            secs += calendar.timegm((int(m.group("y")), int(m.group("mo")), int(m.group("d")), 0, 0, 0))
        except (ValueError, OverflowError):
            return None
    f = m.group("f") or ""
    return secs * 1_000_000_000 + (int(f) * 10 ** (9 - len(f)) if f else 0)


def row_bytes(rest: str) -> bytes:
    """Hex bytes at the start of a row's text, stopping at the ASCII column."""
    rest = rest.split("|", 1)[0]
    rest = re.split(r"\s{3,}", rest, maxsplit=1)[0]
    tokens = rest.split()
    joined = "".join(tokens)
    if len(joined) == 2 * len(tokens):  # fast path: every token two characters
        try:
            return bytes.fromhex(joined)
        except ValueError:
            pass  # a non-hex token: stop there, below
    out = bytearray()
    for tok in tokens:
        if not _HEXBYTE.match(tok):
            break
        out.append(int(tok, 16))
    return bytes(out)


class Text2PcapParser:
    """Line-driven state machine over a text2pcap dump; ``feed`` one line at a time."""

    def __init__(self, source: str = "<text2pcap>") -> None:
        self.source = source
        self._number = 0
        self._data: bytearray | None = None  # the packet in progress
        self._last_row = 0  # bytes the last row contributed (may include misread ASCII)
        self._line = 0
        self._dir = Direction.UNKNOWN
        self._time: int | None = None
        self._skipping = False
        self._next_dir = Direction.UNKNOWN
        self._next_time: int | None = None

    def feed(self, line: str, lineno: int) -> list[Item]:
        """Process one line (1-based ``lineno``); return the items now complete."""
        out: list[Item] = []
        if len(line) >= MAX_LINE_CHARS:  # maybe cut by iter_lines (a LongLine), or too long
            line, why = cut_long_line(line)
            if why is not None:
                out.append(CaptureProblem(f"{self.source}:{lineno}", why, line=lineno))
        line = strip_eol(line)
        if not line.strip() or line.lstrip().startswith("#"):
            return out
        m = ROW_RE.match(line)
        if m is not None:
            data = row_bytes(m.group("rest"))
            if data:
                self._row(int(m.group("off"), 16), data, lineno, out)
                return out
        m = _OFFSET_ONLY.match(line)
        if m is not None:
            if self._data is not None:
                self._trim(int(m.group("off"), 16), lineno, out)
            return out
        m = MARKER_RE.match(line)
        ts_text: str | None
        if m is not None:
            direction = Direction.FROM_RM if m.group("dir") == "I" else Direction.TO_RM
            ts_text = m.group("ts")
        else:
            direction = Direction.UNKNOWN
            ts_text = line
        ts = parse_timestamp(ts_text) if ts_text else None
        if m is None and ts is None:
            return out  # unrelated text: text2pcap ignores it too
        self._end(out)
        if ts_text and ts is None:
            out.append(
                CaptureProblem(
                    f"{self.source}:{lineno}",
                    f"marker line timestamp {ts_text[:40]!r}{'...' if len(ts_text) > 40 else ''} "
                    "not understood; time unknown",
                    line=lineno,
                )
            )
        self._next_dir = direction
        self._next_time = ts
        return out

    def finish(self) -> list[Item]:
        """End of input: complete the packet in progress."""
        out: list[Item] = []
        self._end(out)
        return out

    def _row(self, offset: int, data: bytes, lineno: int, out: list[Item]) -> None:
        if offset == 0:
            self._end(out)
            self._number += 1
            self._data = bytearray(data)
            self._last_row = len(data)
            self._line = lineno
            self._dir, self._time = self._next_dir, self._next_time
            self._next_dir, self._next_time = Direction.UNKNOWN, None
            self._skipping = False
            return
        if self._data is None:
            if not self._skipping:
                self._skipping = True
                out.append(
                    CaptureProblem(
                        f"{self.source}:{lineno}",
                        f"row at offset {offset:#x} without a packet start (offset 0); "
                        "skipping rows up to the next packet",
                        line=lineno,
                    )
                )
            return
        if not self._trim(offset, lineno, out):
            return
        if len(self._data) + len(data) > MAX_PACKET_BYTES:
            self._data += data[: MAX_PACKET_BYTES - len(self._data)]
            self._end(out)
            out.append(
                CaptureProblem(
                    f"{self.source}:{lineno}",
                    f"packet {self._number} grows past {MAX_PACKET_BYTES} bytes at row offset "
                    f"{offset:#x} (a missing offset-0 row?); cut there (yielded as far as it got), "
                    "skipping rows up to the next packet",
                    line=lineno,
                )
            )
            self._skipping = True
            return
        self._data += data
        self._last_row = len(data)

    def _trim(self, offset: int, lineno: int, out: list[Item]) -> bool:
        """Reconcile the packet with a row offset; False if the packet had to be cut."""
        assert self._data is not None
        have = len(self._data)
        if offset == have:
            return True
        if have - self._last_row <= offset < have:
            del self._data[offset:]  # the last row's ASCII column looked like hex
            self._last_row = 0
            return True
        reason = (
            f"row offset {offset:#x} but the packet holds {have} bytes"
            + ("" if offset > have else " (offset goes backwards)")
            + f"; packet {self._number} is cut (yielded as far as it got), "
            "skipping rows up to the next packet"
        )
        self._end(out)
        out.append(CaptureProblem(f"{self.source}:{lineno}", reason, line=lineno))
        self._skipping = True
        return False

    def _end(self, out: list[Item]) -> None:
        data = self._data
        if data is None:
            return
        self._data = None
        where = f"{self.source}:{self._line}"
        payload = bytes(data)
        if payload[:1] == bytes((RPC_API_BYTE,)):
            out.append(Record(self._number, self._time, self._dir, UNKNOWN_VMID, payload, where))
            return
        res = split_capture_header(payload, self._dir)
        if res.message is not None:
            out.append(Record(self._number, self._time, res.direction, res.client_vmid, res.message, where))
        for reason in res.problems:
            out.append(CaptureProblem(where, f"packet {self._number}: {reason}", line=self._line))


def read_text2pcap(lines: Iterable[str], source: str = "<text2pcap>") -> Iterator[Item]:
    """Records and problems of a text2pcap-style dump given as lines."""
    parser = Text2PcapParser(source)
    for lineno, line in enumerate(lines, 1):
        yield from parser.feed(line, lineno)
    yield from parser.finish()
