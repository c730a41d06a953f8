"""``fragment(RMHeader(...)/payload)``: the wire splitter taking a Scapy packet too.

The splitting itself is ``dissector.protocol.wire.split_message`` (one splitter for the layers,
the simulator and ``ghrm convert``); this only builds the packet's bytes first.
"""

from __future__ import annotations

from scapy.packet import Packet

from dissector.protocol.wire import split_message


def fragment(message: bytes | Packet) -> list[bytes]:
    """Split a complete message (header + whole payload) into <= 240-byte msgq messages.

    The header's fragment count is recomputed from the payload length; continuations carry
    type 0 and the same fragment count, seq and msg_id. An ``RMHeader`` packet is built first,
    so ``fragment(RMHeader(msg_id=...)/VMConfigImageReq(...))`` works.
    """
    return split_message(bytes(message))
