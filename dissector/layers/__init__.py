"""Scapy layers for the Gunyah RM RPC protocol.

``GunyahCapture`` (capture header, DLT 147) / ``RMHeader`` (RPC header) / ``RMReply`` (error
code) / a payload class per message, generated from ``dissector.protocol.layouts``. Importing
this package registers DLT 147 with Scapy, so ``PcapReader`` dissects our captures.
"""

from __future__ import annotations

from scapy.config import conf

from .base import RMEntry, RMStruct, RMTrailing
from .dispatch import ERROR_REPLIES, NOTIFICATIONS, REPLIES, REQUESTS, dispatch_rows
from .dissect import dissect, dissect_record
from .export import fields_of
from .fragment import fragment
from .header import GunyahCapture, RMHeader
from .lookup import layer_class
from .raw import RMErrorData, RMFragmentData, RMUnknownPayload
from .reply import RMReply
from .tree import malformations, payload_layer

conf.l2types.register(147, GunyahCapture)

__all__ = [
    "ERROR_REPLIES",
    "NOTIFICATIONS",
    "REPLIES",
    "REQUESTS",
    "GunyahCapture",
    "RMEntry",
    "RMErrorData",
    "RMFragmentData",
    "RMHeader",
    "RMReply",
    "RMStruct",
    "RMTrailing",
    "RMUnknownPayload",
    "dispatch_rows",
    "dissect",
    "dissect_record",
    "fields_of",
    "fragment",
    "layer_class",
    "malformations",
    "payload_layer",
]


def __getattr__(name: str) -> type:
    """``from dissector.layers import VMConfigImageReq``: generated classes by their name."""
    from .lookup import classes_by_name

    try:
        return classes_by_name()[name]
    except KeyError:
        raise AttributeError(f"module 'dissector.layers' has no attribute {name!r}") from None
