"""The bytes on the wire: the RPC header (protocol.md §1.2), fragmentation (§1.5) and ghrm's
4-byte capture header (design.md 1.1), declared once.

Why one module: the message-type numbers, header layout, sizes and the fragment splitter used
to be redeclared in every layer (Scapy layers, the simulator, the capture converter, the numpy
fast path, the Lua generator), and copies drift. Everything here is plain Python (``struct``,
no Scapy, no numpy), so ``capture/`` and ``sim/`` can use it without loading a decoder. The
pattern is hyperframe's: constants and one parse/pack pair per header, nothing else.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple, overload

if TYPE_CHECKING:  # the rule below also reads numpy arrays; this module imports no numpy
    import numpy as np


class MsgType(IntEnum):
    """The message type in bits[1:0] of header byte 1 (protocol.md §1.2)."""

    CONTINUATION = 0
    REQUEST = 1
    REPLY = 2
    NOTIFICATION = 3

    @property
    def label(self) -> str:
        """The lower-case spelling used in text output and JSON: ``request``, ``reply``..."""
        return self.name.lower()


# Module-level names too, as ``signal.SIGINT`` is for ``signal.Signals``: ``from wire import REPLY``.
CONTINUATION = MsgType.CONTINUATION
REQUEST = MsgType.REQUEST
REPLY = MsgType.REPLY
NOTIFICATION = MsgType.NOTIFICATION


class Direction(IntEnum):
    """Which way a message travelled, byte 1 of the capture header (design.md 1.1)."""

    UNKNOWN = 0
    TO_RM = 1
    FROM_RM = 2

    @property
    def label(self) -> str:
        """The JSON spelling: ``to_rm``, ``from_rm``, ``unknown``."""
        return self.name.lower()


# --- RPC header (§1.2) ----------------------------------------------------------------------------
RPC_API_VERSION = 1
RPC_HEADER_WORDS = 2
RPC_API_BYTE = (RPC_HEADER_WORDS << 4) | RPC_API_VERSION  # 0x21, the only valid byte 0
RPC_HEADER_FORMAT = "<BBHI"  # api byte, type byte (fragments:6 | msg_type:2), seq, msg_id
RPC_HEADER = struct.Struct(RPC_HEADER_FORMAT)
RPC_HEADER_SIZE = RPC_HEADER.size  # 8
MSG_TYPE_MASK = 0x3  # bits[1:0] of the type byte
FRAGMENTS_SHIFT = 2  # bits[7:2] of the type byte
FRAGMENTS_FIELD_MAX = 0xFF >> FRAGMENTS_SHIFT  # 63: what the 6-bit field can hold
SEQ_MASK = 0xFFFF

# --- Message-queue limits and fragmentation (§1.1, §1.5) -----------------------------------------
MSGQ_MAX_MSG_SIZE = 240
MAX_PAYLOAD_PER_MSG = MSGQ_MAX_MSG_SIZE - RPC_HEADER_SIZE  # 232
MAX_FRAGMENTS = 62  # continuations after the first message (RM drops more)
RM_MAX_MSG_PAYLOAD = (MAX_FRAGMENTS + 1) * MAX_PAYLOAD_PER_MSG  # 14616, RM_RPC_MAX_MSG_SIZE
LINUX_MAX_REQUEST_PAYLOAD = MAX_FRAGMENTS * MAX_PAYLOAD_PER_MSG  # 14384, Linux request cap
REPLY_ERROR_SIZE = 4  # every reply payload starts with a u32 RM error code (§1.3)
NOTIFICATION_ID_BIT = 0x00100000  # [inferred, §3.2] set in every notification id

# --- ghrm capture header (design.md 1.1): u8 version, u8 direction, u16le client VMID -------------
CAPTURE_HEADER_VERSION = 1
CAPTURE_HEADER_FORMAT = "<BBH"
CAPTURE_HEADER = struct.Struct(CAPTURE_HEADER_FORMAT)
CAPTURE_HEADER_SIZE = CAPTURE_HEADER.size  # 4


class RpcHeader(NamedTuple):
    """The 8-byte RPC header of one message-queue message, as read (not validated).

    A ``NamedTuple`` rather than a frozen dataclass: the reassembler reads one per record, and
    a tuple is built several times faster.
    """

    api: int  # byte 0: header_words:4 | api_version:4, 0x21 when well formed
    msg_type: MsgType
    fragments: int  # continuations that follow the first message (0..63 as read)
    seq: int
    msg_id: int

    @property
    def api_version(self) -> int:
        return self.api & 0xF

    @property
    def header_words(self) -> int:
        return self.api >> 4

    @property
    def well_formed(self) -> bool:
        """RM's own check (``read_rpc_header``): api byte 0x21 and at most 62 fragments."""
        return self.api == RPC_API_BYTE and self.fragments <= MAX_FRAGMENTS

    def pack(self) -> bytes:
        return pack_header(self.msg_type, self.seq, self.msg_id, self.fragments, api=self.api)


_MSG_TYPES = tuple(MsgType)  # by value: faster than MsgType(value) once per record


def parse_header(buf: bytes | bytearray | memoryview, offset: int = 0) -> RpcHeader | None:
    """The RPC header at ``buf[offset:]``; None when fewer than 8 bytes are there."""
    if len(buf) - offset < RPC_HEADER_SIZE:
        return None
    api, type_byte, seq, msg_id = RPC_HEADER.unpack_from(buf, offset)
    return RpcHeader(api, _MSG_TYPES[type_byte & MSG_TYPE_MASK], type_byte >> FRAGMENTS_SHIFT, seq, msg_id)


def pack_header(msg_type: int, seq: int, msg_id: int, fragments: int = 0, api: int = RPC_API_BYTE) -> bytes:
    """Eight header bytes; ``seq`` wraps at 16 bits, ``ValueError`` if ``fragments`` > 63."""
    if not 0 <= fragments <= FRAGMENTS_FIELD_MAX:
        raise ValueError(f"fragments={fragments} does not fit the 6-bit field (0..{FRAGMENTS_FIELD_MAX})")
    return RPC_HEADER.pack(api, (fragments << FRAGMENTS_SHIFT) | msg_type, seq & SEQ_MASK, msg_id)


@overload
def lone_fragment(fragments: int, length: int) -> bool: ...
@overload
def lone_fragment(fragments: np.ndarray, length: np.ndarray) -> np.ndarray: ...
def lone_fragment(fragments: Any, length: Any) -> Any:
    """A message whose header counts continuations but that is no longer than one message-queue
    message: the first record of a multi-fragment message, never reassembled. Its payload is cut,
    so no decoder reads fields from it. ``fragments``/``length`` (whole message, header included):
    ints, or numpy arrays for a column at a time."""
    return (fragments > 0) & (length <= MSGQ_MAX_MSG_SIZE)


def fragment_count(payload_len: int) -> int:
    """Continuations after the first message: ``ceil(len / 232) - 1``, 0 for an empty payload."""
    return max(0, -(-payload_len // MAX_PAYLOAD_PER_MSG) - 1)


def fragment(
    msg_type: int, seq: int, msg_id: int, payload: bytes = b"", api: int = RPC_API_BYTE
) -> list[bytes]:
    """The message-queue messages of one RM message (protocol.md §1.5): the one splitter.

    ``payload`` is the whole payload (a reply's starts with its error code). The first message
    carries ``msg_type``; continuations carry type 0 and the same fragment count, seq and msg_id.
    ``api`` is kept as given so a damaged header can be split the way it would be sent.
    """
    n = len(payload)
    if n <= MAX_PAYLOAD_PER_MSG:
        return [pack_header(msg_type, seq, msg_id, 0, api) + payload]
    frags = fragment_count(n)
    first = pack_header(msg_type, seq, msg_id, frags, api)
    cont = pack_header(MsgType.CONTINUATION, seq, msg_id, frags, api)
    out = [first + payload[:MAX_PAYLOAD_PER_MSG]]
    for i in range(MAX_PAYLOAD_PER_MSG, n, MAX_PAYLOAD_PER_MSG):
        out.append(cont + payload[i : i + MAX_PAYLOAD_PER_MSG])
    return out


def split_message(message: bytes) -> list[bytes]:
    """Split a complete message (header + whole payload) with ``fragment``.

    The header's fragment count is recomputed from the payload length; its api byte, type, seq
    and msg_id are kept. ``ValueError`` when the 8-byte header is not all there.
    """
    header = parse_header(message)
    if header is None:
        raise ValueError(f"an RM message needs the 8-byte header, got {len(message)} byte(s)")
    return fragment(header.msg_type, header.seq, header.msg_id, message[RPC_HEADER_SIZE:], header.api)


def pack_capture_header(direction: int, client_vmid: int) -> bytes:
    """The 4-byte capture header that precedes every message in a ghrm capture record."""
    return CAPTURE_HEADER.pack(CAPTURE_HEADER_VERSION, direction, client_vmid)
