"""From a capture record's link-layer bytes to (direction, client VMID, message).

Two link types carry RM messages (design.md 1.1):

* ``LINKTYPE_USER0`` (147): the 4-byte capture header (u8 version = 1, u8 direction
  0/1/2, u16le client_vmid) and then the raw message-queue message.
* ``LINKTYPE_WIRESHARK_UPPER_PDU`` (252): Wireshark "exported PDU" TLVs (big-endian u16 tag,
  u16 length, value), ended by tag 0; tag 12 names the dissector Wireshark will call with
  what follows the TLVs. Only records naming ``gunyah_rm`` are ours.

**Decision: what follows the TLVs.** An upper-PDU record for ``gunyah_rm`` carries *the
same bytes as a DLT 147 record*: the 4-byte capture header and then the message. One Lua
dissector then handles both link types, and the direction and client VMID survive an export.
Because the capture header's first byte is its version (1) and a message's first byte is the
RPC api byte (0x21), the two can never be confused; a PDU that starts with 0x21 is therefore
also accepted as a bare message (what a dissector registered through the DLT_USER table with
header size 4 would be handed). A bare message takes its direction from tag 35
(``EXP_PDU_TAG_P2P_DIRECTION``: 0 = sent = to the RM, 1 = received = from the RM) when present.

Wireshark's own writer pads string values with NULs *inside* the length (the length field
counts the padding), and its reader skips exactly ``length`` bytes per TLV; we do the same and
strip trailing NULs from the name.

Nothing here judges the RPC content: a 3-byte or 500-byte message is handed on as is; the
decoder flags it.
"""

from __future__ import annotations

from struct import unpack_from

from dissector.protocol.wire import CAPTURE_HEADER_SIZE, CAPTURE_HEADER_VERSION, RPC_API_BYTE

from .record import (
    LINKTYPE_GUNYAH_RM,
    LINKTYPE_WIRESHARK_UPPER_PDU,
    UNKNOWN_VMID,
    UPPER_PDU_DISSECTOR_NAME,
    Direction,
)

SUPPORTED_LINKTYPES: dict[int, str] = {
    LINKTYPE_GUNYAH_RM: "LINKTYPE_USER0 (147) with the ghrm capture header",
    LINKTYPE_WIRESHARK_UPPER_PDU: "LINKTYPE_WIRESHARK_UPPER_PDU (252) naming dissector 'gunyah_rm'",
}

# A few well-known link types, so an error can say what the file actually holds.
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL",
    1: "ETHERNET",
    101: "RAW",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    147: "USER0",
    189: "USB_LINUX_MMAPPED",
    220: "USB_LINUX_MMAPPED",
    252: "WIRESHARK_UPPER_PDU",
    276: "LINUX_SLL2",
}

EXP_PDU_TAG_END_OF_OPT = 0
EXP_PDU_TAG_DISSECTOR_NAME = 12
EXP_PDU_TAG_HEUR_DISSECTOR_NAME = 13
EXP_PDU_TAG_DISSECTOR_TABLE_NAME = 14
EXP_PDU_TAG_P2P_DIRECTION = 35

DIRECTIONS: tuple[Direction, Direction, Direction] = (
    Direction.UNKNOWN,
    Direction.TO_RM,
    Direction.FROM_RM,
)


def linktype_label(linktype: int) -> str:
    """``"1 (ETHERNET)"``: a link type number with its name when known."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def supported_linktypes_text() -> str:
    """The supported link types, for error messages."""
    return "; ".join(SUPPORTED_LINKTYPES.values())


class LinkResult:
    """What one record's link-layer bytes hold: a message (or not) and any problems.

    ``message`` is ``None`` when the record holds no RM message (too short for the capture
    header, another dissector's upper PDU, broken TLVs); ``problems`` then says why.
    """

    __slots__ = ("client_vmid", "direction", "message", "problems")

    def __init__(
        self,
        direction: Direction,
        client_vmid: int,
        message: bytes | None,
        problems: list[str],
    ) -> None:
        self.direction = direction
        self.client_vmid = client_vmid
        self.message = message
        self.problems = problems


def split_capture_header(payload: bytes, fallback: Direction = Direction.UNKNOWN) -> LinkResult:
    """Split the 4-byte capture header off a DLT 147 payload.

    ``fallback`` is the direction known from elsewhere (pcapng EPB flags, a text2pcap marker);
    it is used only when the header says 0 (unknown) or holds an invalid value, since the
    header wins whenever it knows (design.md 1.1).
    """
    n = len(payload)
    if n < CAPTURE_HEADER_SIZE:
        return LinkResult(
            fallback,
            UNKNOWN_VMID,
            None,
            [f"record of {n} bytes is shorter than the {CAPTURE_HEADER_SIZE}-byte capture header"],
        )
    version = payload[0]
    dirbyte = payload[1]
    vmid = payload[2] | (payload[3] << 8)
    problems: list[str] = []
    if version != CAPTURE_HEADER_VERSION:
        problems.append(f"capture header version {version}, expected {CAPTURE_HEADER_VERSION}")
    if dirbyte <= 2:
        direction = DIRECTIONS[dirbyte]
    else:
        direction = Direction.UNKNOWN
        problems.append(f"capture header direction {dirbyte} is not 0, 1 or 2; taken as unknown")
    if direction is Direction.UNKNOWN:
        direction = fallback
    return LinkResult(direction, vmid, payload[CAPTURE_HEADER_SIZE:], problems)


def split_upper_pdu(payload: bytes, fallback: Direction = Direction.UNKNOWN) -> LinkResult:
    """Parse the exported-PDU TLVs of a DLT 252 payload and split off our message."""
    n = len(payload)
    off = 0
    name: str | None = None
    other: str | None = None
    p2p: int | None = None
    while True:
        if off + 4 > n:
            return LinkResult(
                fallback,
                UNKNOWN_VMID,
                None,
                [f"upper-PDU TLVs run past the end of the record ({n} bytes) without an end tag"],
            )
        tag, length = unpack_from(">HH", payload, off)
        off += 4
        if tag == EXP_PDU_TAG_END_OF_OPT:
            off += length  # always 0 in practice; skip whatever it claims
            break
        if off + length > n:
            return LinkResult(
                fallback,
                UNKNOWN_VMID,
                None,
                [f"upper-PDU tag {tag} at offset {off - 4} claims {length} bytes, only {n - off} left"],
            )
        value = payload[off : off + length]
        off += length
        if tag == EXP_PDU_TAG_DISSECTOR_NAME and name is None:
            name = value.rstrip(b"\0").decode("ascii", "replace")
        elif tag == EXP_PDU_TAG_HEUR_DISSECTOR_NAME and other is None:
            other = "heuristic dissector " + repr(value.rstrip(b"\0").decode("ascii", "replace"))
        elif tag == EXP_PDU_TAG_DISSECTOR_TABLE_NAME and other is None:
            other = "dissector table " + repr(value.rstrip(b"\0").decode("ascii", "replace"))
        elif tag == EXP_PDU_TAG_P2P_DIRECTION and length >= 4:
            p2p = unpack_from(">i", value)[0]
    if name != UPPER_PDU_DISSECTOR_NAME:
        what = f"dissector {name!r}" if name is not None else (other or "no dissector name (tag 12)")
        return LinkResult(
            fallback,
            UNKNOWN_VMID,
            None,
            [f"upper-PDU record for {what}, not {UPPER_PDU_DISSECTOR_NAME!r}; skipped"],
        )
    if p2p == 0:
        fallback = Direction.TO_RM
    elif p2p == 1:
        fallback = Direction.FROM_RM
    pdu = payload[off:]
    if pdu[:1] == bytes((RPC_API_BYTE,)):
        return LinkResult(fallback, UNKNOWN_VMID, pdu, [])
    return split_capture_header(pdu, fallback)


def split_link_payload(linktype: int, payload: bytes, fallback: Direction = Direction.UNKNOWN) -> LinkResult:
    """Dispatch on the link type; the caller has checked it is in ``SUPPORTED_LINKTYPES``."""
    if linktype == LINKTYPE_GUNYAH_RM:
        return split_capture_header(payload, fallback)
    return split_upper_pdu(payload, fallback)
