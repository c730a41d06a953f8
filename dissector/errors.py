"""The small error hierarchy of ghrm.

Lenient decoding (the default) never raises these for bad message bytes: it records a
``Malformation`` and keeps going. Strict decoding raises the matching class, with the measured
values in the message, so a test or a script can stop at the first bad byte.
"""

from __future__ import annotations

from dataclasses import dataclass


class GhrmError(Exception):
    """Base of every error ghrm raises on purpose."""


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
