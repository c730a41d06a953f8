"""Open any supported capture by its content: ``open_records(path)``.

Why by content: file names lie (``.cap``, ``.log``, ``dmesg.txt``, stdin has none). Binary
formats are recognised by their magic numbers (pcap in both byte orders, micro- or
nanosecond; pcapng's section header block 0x0A0D0D0A; gzip is unwrapped first); text by
sniffing lines for the kernel-log markers (``gh_rm_recv: 00000000:``, ``gh_rm_call TX:``,
``TX msg_id:``, ``RM rejected message``) or a text2pcap structure (first meaningful line is an
offset-0 hex row, optionally after ``I``/``O``/timestamp lines).

Detection reads a prefix (at most 1 MiB, less as soon as it has decided) and chains it in front
of the rest, so pipes and stdin (``-``) work without seeking. Text whose first MiB holds no RM
line (a ``/var/log/kern.log`` with a long boot before the RM driver spoke) is read to its end by
the kernel-log reader, which skips unrelated lines; if it finds nothing, a fatal problem says
so. Text may be UTF-8 or UTF-16 with a BOM, carry ANSI colour codes (``dmesg --color=always``),
NUL bytes, and end its lines with LF, CRLF or CR.

``follow=True`` behaves like ``tail -f``: at the end of a regular file the stream waits
(polling every ``poll_interval`` seconds) for more data and carries on, for pcap, pcapng and
text logs alike. It ends when ``stop()`` returns True (asked while waiting, i.e. at the end of
the data so far) or after ``idle_timeout`` seconds without new bytes (``None``: never; interrupt
it, or stop consuming the stream). A pipe ends when its writer closes it, follow or not.
A record cut at the moment the stream ends is reported like a truncated file. A followed path is
followed by name, like ``tail -F``: after a rotation reading carries on in the new file, after an
in-place truncation at its start. For text logs and pcapng (a new file starts a new section) that
is seamless; a new classic pcap's file header is reported as a damaged record header and skipped.

A gzip stream that is cut or corrupt ends the input where it breaks: every record before is
read, then a fatal ``CaptureProblem`` says where and why (gzip nested more than
``MAX_GZIP_DEPTH`` deep is refused).
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO, Any

from dissector.errors import InputError, UsageError

from ._stream import ByteSource, FollowReader, PrefixedReader, clean_text, iter_lines, reader_of
from .errors import UnsupportedCapture
from .hexlog import read_hexlog
from .pcap import PCAP_MAGICS, read_pcap
from .pcapng import read_pcapng
from .record import CaptureProblem, Record
from .text2pcap import MARKER_RE, ROW_RE, parse_timestamp, read_text2pcap, row_bytes

FORMATS = ("pcap", "pcapng", "hexlog", "text2pcap")
SNIFF_LIMIT = 1 << 20
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_GZIP_DEPTH = 3
MAX_GZIP_RATIO = 1000  # decompressed bytes per compressed byte, past GZIP_RATIO_FLOOR
GZIP_RATIO_FLOOR = 64 << 20
_HEXLOG_MARK = re.compile(
    r"[gh]h_rm_recv: [0-9A-Fa-f]{8}: |[gh]h_rm_call TX: [0-9A-Fa-f]{8}: |@[^\s:@]+ TX: [0-9A-Fa-f]{8}: "
    r"|\bTX msg_id: (?:0x)?[0-9A-Fa-f]+|RM rejected message (?:0x)?[0-9A-Fa-f]+\. Error: -?\d+"
)

Item = Record | CaptureProblem
PathOrFile = str | os.PathLike[str] | IO[bytes] | IO[str]


class RecordStream(Iterator[Item]):
    """The records and problems of one input, in order; also a context manager.

    ``format`` is the detected (or forced) format name, ``source`` the name used in
    ``Record.source``. Closing the stream closes the file if ``open_records`` opened it.
    """

    def __init__(self, items: Iterator[Item], fmt: str, source: str, owned: IO[Any] | None) -> None:
        self._items = items
        self.format = fmt
        self.source = source
        self._owned = owned

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> Item:
        try:
            return next(self._items)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and close the file if this stream opened it."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Owned:
    """What a stream closes at the end: the file it opened and the followed files after rotations."""

    def __init__(self, f: IO[Any], follower: FollowReader) -> None:
        self._f = f
        self._follower = follower

    def close(self) -> None:
        self._follower.close()
        self._f.close()


class _NamedFile:
    """A file opened by name whose read errors say which file (``InputError``, exit status 1)."""

    def __init__(self, f: IO[bytes], name: str) -> None:
        self._f = f
        self.name = name

    def read(self, n: int = -1, /) -> bytes:
        try:
            return self._f.read(n)
        except OSError as exc:
            raise InputError(f"ghrm: error: cannot read {self.name}: {exc.strerror or exc}") from None

    def read1(self, n: int = -1, /) -> bytes:
        try:
            return self._f.read1(n)  # type: ignore[attr-defined]
        except OSError as exc:
            raise InputError(f"ghrm: error: cannot read {self.name}: {exc.strerror or exc}") from None

    def seekable(self) -> bool:
        return self._f.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)


class _TextAsBytes:
    """A text file object seen as bytes (UTF-8), so one code path serves both."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f

    def read(self, n: int = -1, /) -> bytes:
        return self._f.read(n).encode("utf-8")


def open_records(
    path_or_file: PathOrFile,
    *,
    follow: bool = False,
    source: str | None = None,
    fmt: str | None = None,
    poll_interval: float = 0.2,
    idle_timeout: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> RecordStream:
    """Open a capture (path, ``"-"`` for stdin, or a binary/text file object) and stream it.

    The format is detected from the content unless ``fmt`` (one of ``FORMATS``) forces it.
    Raises ``UnsupportedCapture`` (naming the formats tried) when nothing matches, or for a pcap
    with an unsupported link type; every later defect is a ``CaptureProblem`` in the stream.
    See the module docstring for ``follow``, ``poll_interval``, ``idle_timeout`` and ``stop``.
    """
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    owned: IO[Any] | None = None
    raw: ByteSource
    if isinstance(path_or_file, str | os.PathLike):
        if os.fspath(path_or_file) == "-":
            raw = sys.stdin.buffer
            name = "<stdin>"
        else:
            name = os.fspath(path_or_file)
            try:
                owned = open(path_or_file, "rb")  # noqa: SIM115 - closed by RecordStream.close
            except OSError as exc:
                raise InputError(f"ghrm: error: cannot read {name}: {exc.strerror or exc}") from None
            raw = _NamedFile(owned, name)
    else:
        f = path_or_file
        name = getattr(f, "name", None) or "<stream>"
        if not isinstance(name, str):
            name = "<stream>"
        raw = _TextAsBytes(f) if isinstance(f, io.TextIOBase) else f  # type: ignore[assignment]
    src = source or name
    try:
        return _open(raw, src, owned, fmt, follow, poll_interval, idle_timeout, stop)
    except BaseException:
        if owned is not None:
            owned.close()
        raise


class _Counting:
    """A byte source that counts what was read from it (the compressed side of a gzip)."""

    def __init__(self, f: ByteSource) -> None:
        self._read = reader_of(f)
        self.count = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._read(n if n > 0 else 1 << 16)
        self.count += len(data)
        return data

    read1 = read


class _Gunzip:
    """A gzip stream read as bytes that ends, instead of raising, where it is cut or corrupt.

    Expansion is capped: past ``GZIP_RATIO_FLOOR`` bytes out, more than ``MAX_GZIP_RATIO`` bytes
    out per byte in is a decompression bomb, not a capture (real captures compress 5-50 fold);
    the stream ends there with a problem. ``zcat FILE | ghrm decode -`` reads it anyway.
    """

    def __init__(self, f: ByteSource) -> None:
        self._in = _Counting(f)
        self._gz = gzip.GzipFile(fileobj=self._in, mode="rb")  # type: ignore[call-overload]
        self.count = 0  # decompressed bytes handed out
        self.error: str | None = None

    def read(self, n: int = -1, /) -> bytes:
        if self.error is not None:
            return b""
        try:
            data = self._gz.read1(n if n > 0 else 1 << 16)
        except (EOFError, OSError, zlib.error) as exc:
            self.error = str(exc) or type(exc).__name__
            return b""
        self.count += len(data)
        if self.count > GZIP_RATIO_FLOOR and self.count > MAX_GZIP_RATIO * max(self._in.count, 1):
            self.error = (
                f"it expands more than {MAX_GZIP_RATIO}-fold ({self._in.count} compressed bytes gave "
                f"{self.count}): refused as a decompression bomb; decompress it yourself to read it"
            )
        return data

    read1 = read

    def problem(self, src: str) -> CaptureProblem:
        return CaptureProblem(
            src,
            f"gzip stream is damaged after {self.count} decompressed bytes ({self.error}); "
            "everything before was read",
            fatal=True,
        )


class _Utf16AsUtf8:
    """A UTF-16 text stream (with BOM) read as UTF-8 bytes, so the text readers serve it."""

    def __init__(self, f: ByteSource) -> None:
        self._read = reader_of(f)
        self._decode = codecs.getincrementaldecoder("utf-16")(errors="replace").decode
        self._done = False

    def read(self, n: int = -1, /) -> bytes:
        while not self._done:
            data = self._read(n if n > 0 else 1 << 16)
            text = self._decode(data, not data)
            if not data:
                self._done = True
            if text:
                return text.encode("utf-8")
        return b""

    read1 = read


def _or_nothing_found(items: Iterator[Item], src: str) -> Iterator[Item]:
    """Pass ``items`` on; if there were none, one fatal problem saying the log held no RM line."""
    empty = True
    for item in items:
        empty = False
        yield item
    if empty:
        yield CaptureProblem(
            src,
            "text without any RM log line (gh_rm_recv:, gh_rm_call TX:, TX msg_id:, RM rejected message) "
            "from start to end: not a supported capture",
            fatal=True,
        )


def _gunzipped(items: Iterator[Item], gz: _Gunzip, src: str) -> Iterator[Item]:
    yield from items
    if gz.error is not None:
        yield gz.problem(src)


def _seekable(f: object) -> bool:
    seekable = getattr(f, "seekable", None)
    try:
        return bool(seekable()) if callable(seekable) else False
    except (OSError, ValueError):
        return False


def _open(
    raw: ByteSource,
    src: str,
    owned: IO[Any] | None,
    fmt: str | None,
    follow: bool,
    poll_interval: float,
    idle_timeout: float | None,
    stop: Callable[[], bool] | None,
    depth: int = 0,
) -> RecordStream:
    stream: ByteSource = raw
    if follow and _seekable(raw):
        path = raw.name if isinstance(raw, _NamedFile) else None
        stream = FollowReader(
            raw, poll_interval=poll_interval, idle_timeout=idle_timeout, stop=stop, path=path
        )
        owned = _Owned(owned, stream) if owned is not None else None  # type: ignore[assignment]  # closes
    read = reader_of(stream)
    prefix = b""
    detected = fmt
    while detected is None:
        data = read(1 << 16)
        prefix += data
        final = not data or len(prefix) >= SNIFF_LIMIT
        if prefix[:2] == GZIP_MAGIC and not final and len(prefix) < 4:
            continue
        if prefix[:2] == GZIP_MAGIC and len(prefix) >= 4:
            if depth >= MAX_GZIP_DEPTH:
                raise UnsupportedCapture(f"{src}: gzip nested more than {MAX_GZIP_DEPTH} deep; not read")
            gz = _Gunzip(PrefixedReader(prefix, stream))
            try:
                inner = _open(gz, src, None, None, False, poll_interval, idle_timeout, stop, depth + 1)
            except UnsupportedCapture:
                if gz.error is None:
                    raise
                raise UnsupportedCapture(
                    f"{src}: gzip stream is damaged after {gz.count} decompressed bytes ({gz.error}) "
                    "and nothing before it is a supported capture"
                ) from None
            fmt_name = inner.format if inner.format.startswith("gzip+") else "gzip+" + inner.format
            return RecordStream(_gunzipped(inner, gz, src), fmt_name, src, owned)
        if prefix[:2] in UTF16_BOMS and depth < MAX_GZIP_DEPTH:
            text = _Utf16AsUtf8(PrefixedReader(prefix, stream))
            inner = _open(text, src, None, fmt, False, poll_interval, idle_timeout, stop, depth + 1)
            return RecordStream(inner, "utf16+" + inner.format, src, owned)
        detected = detect_format(prefix, final=final)
        if detected is None and final:
            if not prefix and follow:
                return RecordStream(iter(()), "empty", src, owned)
            if data and looks_like_text(prefix):
                # a long log whose first MiB holds no RM line (kern.log after boot): read on,
                # the kernel-log reader skips unrelated lines; say so if it finds nothing at all
                lines = iter_lines(PrefixedReader(prefix, stream))
                found = _or_nothing_found(read_hexlog(lines, src), src)
                return RecordStream(found, "hexlog", src, owned)
            raise UnsupportedCapture(_why_unsupported(src, prefix))
    chained = PrefixedReader(prefix, stream)
    items: Iterator[Item]
    if detected == "pcap":
        items = read_pcap(chained, src)
    elif detected == "pcapng":
        items = read_pcapng(chained, src)
    elif detected == "hexlog":
        items = read_hexlog(iter_lines(chained), src)
    else:
        items = read_text2pcap(iter_lines(chained), src)
    return RecordStream(items, detected, src, owned)


def detect_format(prefix: bytes, *, final: bool = True) -> str | None:
    """The format name for the first bytes of an input, or None.

    With ``final=False`` None means "need more bytes"; with ``final=True`` it means "none".
    Text is judged after removing ANSI colour codes and NUL bytes, so a coloured or NUL-padded
    kernel log is still a kernel log.
    """
    if len(prefix) < 4 and not final:
        return None
    head = prefix[:4]
    if head in PCAP_MAGICS:
        return "pcap"
    if head == PCAPNG_MAGIC:
        return "pcapng"
    text = clean_text(prefix.decode("utf-8", "replace"))
    if not final:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: cut + 1] if cut >= 0 else ""
    if _HEXLOG_MARK.search(text):
        return "hexlog"
    if not looks_like_text(prefix):
        return None  # binary, and not ours
    for line in text.replace("\r", "\n").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = ROW_RE.match(line)
        if m is not None and row_bytes(m.group("rest")):
            return "text2pcap" if int(m.group("off"), 16) == 0 else None
        if MARKER_RE.match(line) or parse_timestamp(stripped) is not None:
            continue
        break  # first meaningful line is not a dump row: not text2pcap
    return None


def looks_like_text(prefix: bytes) -> bool:
    """Mostly printable bytes (NULs and escapes aside): a log worth scanning to its end."""
    sample = prefix[: 1 << 16].replace(b"\0", b"")
    if not sample:
        return False
    binary = sum(1 for b in sample[:4096] if b < 9 or 13 < b < 27 or 27 < b < 32 or b == 127)
    return binary * 50 < min(len(sample), 4096)


def _why_unsupported(src: str, prefix: bytes) -> str:
    if not prefix:
        return f"{src}: empty input; tried {', '.join(FORMATS)}"
    what = f"starts with {prefix[:8].hex(' ')}"
    if looks_like_text(prefix):
        what = f"is text without RM log markers or text2pcap rows in its first {len(prefix)} bytes"
    return (
        f"{src}: not a supported capture ({what}); tried pcap (magic a1b2c3d4/a1b23c4d, either byte "
        "order), pcapng (0a0d0d0a), kernel hex log (gh_rm_recv:/gh_rm_call TX:/TX msg_id:/"
        "RM rejected message) and text2pcap (offset-0 hex row); force one with fmt=..."
    )
