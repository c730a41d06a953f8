"""The small error hierarchy of ghrm.

Lenient decoding (the default) never raises these for bad message bytes: it records a
``Malformation`` and keeps going. Strict decoding raises the matching class, with the measured
values in the message, so a test or a script can stop at the first bad byte.
"""

from __future__ import annotations

from dataclasses import dataclass


class GhrmError(Exception):
    """Base of every error ghrm raises on purpose."""


class UsageError(GhrmError, ValueError):
    """The command line or a library argument cannot work (bad value, filter, name, output path).

    The CLI exits 2 on it, as argparse and tshark do for a bad command line.
    """


class InputError(GhrmError, OSError):
    """An input that cannot be read at all (missing, a directory, no permission, not a capture).

    The CLI exits 1 on it. ``OSError`` is a base so existing ``except OSError`` keeps working.
    """


class OutputError(UsageError):
    """An output that cannot be written (a directory, a read-only place, the input itself)."""


class LimitExceeded(GhrmError):
    """A documented bound was reached (filter length or depth, gzip expansion, ...)."""


EXIT_OK = 0
EXIT_INPUT = 1  # nothing could be read, or an OS error while running
EXIT_USAGE = 2  # bad argument, filter, name or output


def exit_code(exc: BaseException) -> int:
    """The documented exit status for an error the CLI catches (README "Exit codes")."""
    if isinstance(exc, UsageError | LimitExceeded | UnknownName):
        return EXIT_USAGE
    return EXIT_INPUT


def one_line(text: object) -> str:
    """``text`` as one printable line: control characters and undecodable bytes escaped.

    Errors quote user input (file names, filters); printed raw they could break the line or
    carry terminal escapes.
    """
    s = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in s)


class MalformedMessage(GhrmError):
    """An RM message whose bytes do not fit its layout (strict mode)."""


class BadHeader(MalformedMessage):
    """The 8-byte RPC header is short or carries an api byte other than 0x21."""


class BadLength(MalformedMessage):
    """A message-queue message outside 8..240 bytes, or a payload longer than RM allows."""


class Truncated(MalformedMessage):
    """The payload ended before a field its layout requires."""


class CountOverrun(MalformedMessage):
    """A count or length field claims more bytes than the message holds."""


class TrailingData(MalformedMessage):
    """Bytes left over after the end of the layout."""


class BadValue(MalformedMessage):
    """A field holds a value the protocol does not allow (e.g. a non-zero reserved byte)."""


class FragmentError(MalformedMessage):
    """A fragment that cannot be reassembled (missing, stray or mismatched continuation)."""


class UnknownName(GhrmError, KeyError):
    """A message, error or enum name that no table knows; the message lists the closest ones."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


_KINDS: dict[str, type[MalformedMessage]] = {
    "header": BadHeader,
    "length": BadLength,
    "truncated": Truncated,
    "count": CountOverrun,
    "trailing": TrailingData,
    "value": BadValue,
    "fragment": FragmentError,
}


@dataclass(frozen=True)
class Malformation:
    """One thing wrong with a message: a kind (one of ``_KINDS``) and a sentence with the numbers."""

    kind: str
    text: str

    def error(self) -> MalformedMessage:
        """The strict-mode exception for this malformation."""
        return _KINDS.get(self.kind, MalformedMessage)(self.text)

    def __str__(self) -> str:
        return self.text
