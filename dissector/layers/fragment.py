"""Split one RM message into message-queue messages, as RM and Linux do (protocol.md 1.5)."""

from __future__ import annotations

import struct

from scapy.packet import Packet

from dissector.protocol.messages import MAX_PAYLOAD_PER_MSG, RPC_HEADER_SIZE

CONTINUATION = 0


def fragment_count(payload_len: int) -> int:
    """Continuations after the first message: ``ceil(len / 232) - 1``, 0 for an empty payload."""
    return max(0, -(-payload_len // MAX_PAYLOAD_PER_MSG) - 1)


def fragment(message: bytes | Packet) -> list[bytes]:
    """Split a complete message (header + whole payload) into <= 240-byte msgq messages.

    The header's fragment count is recomputed from the payload length; continuations carry
    type 0 and the same fragment count, seq and msg_id. An ``RMHeader`` packet is built first,
    so ``fragment(RMHeader(msg_id=...)/VMConfigImageReq(...))`` works.
    """
    data = bytes(message)
    if len(data) < RPC_HEADER_SIZE:
        raise ValueError(f"an RM message needs the 8-byte header, got {len(data)} byte(s)")
    api, type_byte, seq, msg_id = struct.unpack_from("<BBHI", data)
    payload = data[RPC_HEADER_SIZE:]
    frags = fragment_count(len(payload))
    msg_type = type_byte & 0x3
    chunks = [payload[i : i + MAX_PAYLOAD_PER_MSG] for i in range(0, len(payload), MAX_PAYLOAD_PER_MSG)] or [
        b""
    ]
    out = []
    for index, chunk in enumerate(chunks):
        kind = msg_type if index == 0 else CONTINUATION
        out.append(struct.pack("<BBHI", api, (frags << 2) | kind, seq, msg_id) + chunk)
    return out
