"""Byte and line plumbing shared by the readers: chunked buffers, prefix chaining, ``tail -f``.

Why a module of its own: every reader must stream (constant memory however long the input),
work on pipes that cannot seek (stdin), and keep going on a file that is still growing
(``follow``). Doing that once here keeps the format readers plain parsers:

* ``ChunkBuffer`` holds a window of the input (one chunk plus the unread tail) so a reader can
  ``struct.unpack_from`` straight out of it and ask for more bytes only at window edges.
* ``PrefixedReader`` re-attaches bytes already consumed by format detection in front of the
  rest of a pipe.
* ``FollowReader`` turns "end of file" into "wait and retry" until told to stop, so the
  readers never know they are following a live file: a read simply blocks until data comes.
* ``iter_lines`` cuts a byte stream into text lines incrementally (UTF-8, bad bytes replaced),
  holding back a partial last line until its newline arrives. A line longer than
  ``MAX_LINE_CHARS`` is cut (a ``LongLine`` says how long it was), so a file without newlines
  cannot make a reader hold it whole.
"""

from __future__ import annotations

import codecs
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import IO, Protocol

DEFAULT_CHUNK = 1 << 18  # 256 KiB: large enough to amortise reads, small enough to stay cheap
MAX_LINE_CHARS = 1 << 16  # no log line we read is near this; longer ones are cut, not held


class ByteSource(Protocol):
    """The only thing readers need from an input: ``read(n)`` returning up to n bytes."""

    def read(self, n: int = -1, /) -> bytes: ...


def reader_of(f: ByteSource) -> Callable[[int], bytes]:
    """The call that returns available bytes without waiting for a full buffer.

    ``read1`` on a buffered pipe returns what is there instead of blocking until ``n`` bytes
    arrived; that matters for live pipes (``tail -f log | ghrm ...``).
    """
    read1 = getattr(f, "read1", None)
    return read1 if callable(read1) else f.read


class ChunkBuffer:
    """A sliding window over a byte stream.

    ``buf[pos:]`` are the unread bytes; ``base`` is the absolute stream offset of ``buf[0]``.
    ``fill(n)`` makes ``n`` unread bytes available (reading more as needed) and reports whether
    it could; it discards what was already consumed, so memory stays at about one chunk plus
    the largest block asked for.
    """

    __slots__ = ("_read", "base", "buf", "chunk", "eof", "pos")

    def __init__(self, f: ByteSource, *, chunk: int = DEFAULT_CHUNK) -> None:
        self._read = reader_of(f)
        self.buf: bytes = b""
        self.pos = 0
        self.base = 0
        self.chunk = chunk
        self.eof = False

    @property
    def offset(self) -> int:
        """Absolute stream offset of the next unread byte."""
        return self.base + self.pos

    def available(self) -> int:
        """Unread bytes in the window."""
        return len(self.buf) - self.pos

    def fill(self, n: int) -> bool:
        """Make at least ``n`` unread bytes available; False if the stream ended first."""
        have = len(self.buf) - self.pos
        if have >= n:
            return True
        if self.eof:  # nothing more will come: no copy (asking again must stay O(1), not O(window))
            return False
        parts = [self.buf[self.pos :]] if have else []
        self.base += self.pos
        self.pos = 0
        while have < n:
            data = self._read(max(self.chunk, n - have))
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return have >= n

    def fill_some(self) -> bool:
        """Read one more chunk into the window; False at end of stream."""
        before = len(self.buf) - self.pos
        return self.fill(before + 1)


class PrefixedReader:
    """A byte source that first replays ``prefix`` and then reads from ``f``.

    Format detection on a pipe has to consume the first bytes; this puts them back.
    """

    def __init__(self, prefix: bytes, f: ByteSource) -> None:
        self._prefix = prefix
        self._read = reader_of(f)

    def read(self, n: int = -1, /) -> bytes:
        if self._prefix:
            if n < 0 or n >= len(self._prefix):
                data, self._prefix = self._prefix, b""
            else:
                data, self._prefix = self._prefix[:n], self._prefix[n:]
            return data
        return self._read(n if n >= 0 else DEFAULT_CHUNK)

    read1 = read


class FollowReader:
    """Make end-of-file mean "wait for more", like ``tail -F``.

    ``read`` returns as soon as any bytes are available. When there are none it sleeps
    ``poll_interval`` seconds and retries, and returns ``b""`` (end) only when ``stop()`` says
    so or when no new byte arrived for ``idle_timeout`` seconds (``None``: wait forever).

    With ``path`` it follows the *name*, as ``tail -F`` does: when the file was rotated (the name
    now points at another file: ``logrotate``, ``mv log log.1``) the old file is read to its end
    and reading carries on at the start of the new one; when it was truncated in place
    (``copytruncate``) reading restarts at its beginning. A name that is briefly missing is waited for.
    """

    def __init__(
        self,
        f: ByteSource,
        *,
        poll_interval: float = 0.2,
        idle_timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
        path: str | None = None,
    ) -> None:
        self._f = f
        self._read = reader_of(f)
        self._poll = poll_interval
        self._idle = idle_timeout
        self._stop = stop
        self._last = time.monotonic()
        self._path = path
        self._pos = 0  # bytes read from the current file
        self._id = _file_id(path) if path else None
        self._opened: list[IO[bytes]] = []  # files this reader opened after a rotation
        self.rotations = 0

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            n = DEFAULT_CHUNK
        while True:
            data = self._read(n)
            if data:
                self._last = time.monotonic()
                self._pos += len(data)
                return data
            if self._path is not None and self._reopened():
                continue
            if self._stop is not None and self._stop():
                return b""
            if self._idle is not None and time.monotonic() - self._last >= self._idle:
                return b""
            time.sleep(self._poll)

    read1 = read

    def _reopened(self) -> bool:
        """At the end of the current file: switch to a rotated-in file, or rewind a truncated one."""
        assert self._path is not None
        now = _file_id(self._path)
        if now is None:
            return False  # rotated away and not yet recreated: wait
        if now[:2] != (self._id or (None, None))[:2]:
            try:
                new = open(self._path, "rb")  # noqa: SIM115 - closed in close()
            except OSError:
                return False
            for old in self._opened:
                old.close()
            self._opened = [new]
            self._f, self._read, self._id, self._pos = new, reader_of(new), now, 0
            self.rotations += 1
            return True
        if now[2] < self._pos and hasattr(self._f, "seek"):
            self._f.seek(0)
            self._pos = 0
            self.rotations += 1
            return True
        return False

    def close(self) -> None:
        """Close the files opened after rotations (the first file belongs to the caller)."""
        for f in self._opened:
            f.close()
        self._opened = []


def _file_id(path: str) -> tuple[int, int, int] | None:
    """(device, inode, size) of ``path``, or None when it does not exist right now."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size


class LongLine(str):
    """The first ``MAX_LINE_CHARS`` characters of a longer line; ``length`` is the whole line's."""

    length: int

    def __new__(cls, head: str, length: int) -> LongLine:
        line = super().__new__(cls, head)
        line.length = length
        return line


def _eol(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


# ANSI/VT100 escape sequences (CSI ... final byte, OSC ... BEL/ST, and two-byte ESC x):
# ``dmesg --color=always`` and ``journalctl`` colour timestamps and whole lines.
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def clean_text(text: str) -> str:
    """``text`` without ANSI colour codes and NUL bytes (cheap when there are none)."""
    if "\x1b" in text:
        text = ANSI_ESCAPE.sub("", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def iter_lines(
    f: ByteSource, *, chunk: int = 1 << 16, max_line: int = MAX_LINE_CHARS, encoding: str = "utf-8"
) -> Iterator[str]:
    """Text lines of a byte stream, without their line ends, decoded (errors replaced).

    ``\n``, ``\r\n`` and a lone ``\r`` (old serial-console captures) end a line; form feeds
    or other Unicode separators inside a log line do not split it. ANSI colour codes and NUL
    bytes are removed (``dmesg --color=always``, NUL-padded logs after a crash). A last line
    without newline is yielded at the end of the stream. A line longer than ``max_line``
    characters is yielded as a ``LongLine`` holding its first ``max_line`` characters; the rest
    is dropped as it is read, so memory stays bounded however long the line (readers report it).
    ``encoding`` is ``utf-8`` or a UTF-16 codec (``utf-16`` reads the BOM).
    """
    read = reader_of(f)
    decode = codecs.getincrementaldecoder(encoding)(errors="replace").decode
    pending = ""
    dropped = 0  # characters of the current (overlong) line thrown away so far
    held_cr = False  # the previous chunk ended with "\r": a "\n" may follow
    while True:
        data = read(chunk)
        if not data:
            break
        text = decode(data)
        if held_cr:
            text = "\r" + text
        held_cr = text.endswith("\r")
        if held_cr:
            text = text[:-1]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if dropped:  # inside an overlong line: skip to its end
            nl = text.find("\n")
            if nl < 0:
                dropped += len(text)
                continue
            yield LongLine(pending, len(pending) + dropped + nl)
            pending, dropped = "", 0
            text = text[nl + 1 :]
        lines = clean_text(pending + text).split("\n")
        pending = lines.pop()
        for line in lines:
            yield line if len(line) <= max_line else LongLine(line[:max_line], len(line))
        if len(pending) > max_line:
            dropped = len(pending) - max_line
            pending = pending[:max_line]
    pending += clean_text(decode(b"", True))
    if held_cr and not dropped:
        yield pending if len(pending) <= max_line else LongLine(pending[:max_line], len(pending))
        pending = ""
    if dropped or len(pending) > max_line:
        yield LongLine(pending[:max_line], len(pending) + dropped)
    elif pending:
        yield _eol(pending)


def cut_long_line(line: str, max_line: int = MAX_LINE_CHARS) -> tuple[str, str | None]:
    """``line`` cut to ``max_line`` characters, and the finding to report if it was longer."""
    length = line.length if isinstance(line, LongLine) else len(line)
    if length <= max_line:
        return line, None
    return line[:max_line], (
        f"line of {length} characters, longer than {max_line}; only its first {max_line} were read"
    )


def strip_eol(line: str) -> str:
    """``line`` without a trailing ``\\n`` / ``\\r\\n`` (text file iteration keeps them)."""
    return line.rstrip("\r\n")


def source_name(f: object, default: str) -> str:
    """A short name for an input: its file name when it has one, else ``default``."""
    name = getattr(f, "name", None)
    if isinstance(name, str) and name:
        return name
    return default
