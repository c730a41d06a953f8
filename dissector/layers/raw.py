"""Payload layers that keep bytes without a layout: a lone fragment, an unknown id, error data.

They sit below the dispatch tables (which fall back to them) and the header layers (which
choose them), so neither has to import the other.
"""

from __future__ import annotations

from typing import ClassVar

from scapy.fields import StrField
from scapy.packet import Packet

from .base import RMStruct


class RMFragmentData(Packet):
    """Payload bytes of one fragment (a continuation, or a first fragment not reassembled)."""

    show_summary = False

    name = "RM fragment data"
    fields_desc: ClassVar = [StrField("load", b"")]


class RMUnknownPayload(RMStruct):
    """Payload of a message id whose layout is unknown: kept whole, so it still round-trips."""

    name = "RM unknown payload"
    fields_desc: ClassVar = [StrField("data", b"")]
    role = "unknown"

    def post_dissect(self, s: bytes) -> bytes:
        return s


class RMErrorData(RMStruct):
    """Bytes after a non-zero error code where the call's layout declares none (kept, not malformed)."""

    name = "RM error reply data"
    show_summary = False
    role = "error_reply"
    fields_desc: ClassVar = [StrField("data", b"")]

    def post_dissect(self, s: bytes) -> bytes:
        return s
