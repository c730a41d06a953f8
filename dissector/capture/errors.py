"""The few exceptions the capture stage raises.

Readers report bad *content* as ``CaptureProblem`` items in their output and carry on; they
raise only when the input is not something they can read at all (wrong format, unsupported
link type), because then there is nothing sensible to yield. Writers raise ``UsageError`` (a
``ValueError``) for records they cannot represent.
"""

from __future__ import annotations

from dissector.errors import GhrmError


class CaptureError(GhrmError):
    """Base class of the capture stage's exceptions."""


class UnsupportedCapture(CaptureError):
    """The input is not a format (or link type) this package reads.

    The message names what was found and what is supported, so a user can tell a wrong file
    from a damaged one.
    """
