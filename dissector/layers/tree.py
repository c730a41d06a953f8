"""Walking a dissected message: every malformation in it, and its payload layer."""

from __future__ import annotations

from scapy.packet import Packet

from dissector.errors import Malformation

from .base import RMStruct, RMTrailing
from .raw import RMFragmentData
from .reply import RMReply


def malformations(pkt: Packet | None) -> list[Malformation]:
    """Every malformation recorded on ``pkt`` and the layers below it, in layer order."""
    found: list[Malformation] = []
    layer = pkt
    while layer is not None and not isinstance(layer, bytes) and layer.__class__.__name__ != "NoPayload":
        collect = getattr(layer, "malformed", None)
        if collect is not None:
            found.extend(collect())
        layer = layer.payload if layer.payload else None
    return found


def payload_layer(header: Packet) -> Packet | None:
    """The payload layer of a message: request/notification fields or reply data (after err)."""
    layer = header.payload if header.payload else None
    if isinstance(layer, RMReply):
        layer = layer.payload if layer.payload else None
    if isinstance(layer, RMTrailing):
        return None
    if layer is None or isinstance(layer, RMStruct | RMFragmentData):
        return layer
    return layer
