"""Deliberate damage to a clean simulated capture, for the malformed bundled traces.

Why in place: every change keeps the other records where they were, so the frame numbers of
the truth log stay valid; only the damaged frame (and the message it belongs to) changes.
Each function returns a ``Damage`` saying exactly what was changed (frame, byte offset, length)
and what a reader must therefore report (``malformed_frames``: messages the decoder flags;
``missing_frames``: records a reader cannot return at all).

The walker below reads only what our own writers produce (SHB, IDB, EPB; classic pcap).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dissector.protocol.wire import (
    CAPTURE_HEADER,
    CAPTURE_HEADER_SIZE,
    CONTINUATION,
    FRAGMENTS_SHIFT,
    MSG_TYPE_MASK,
)

from .truth import Damage

EPB = 6
EPB_HEADER = 28  # block type, length, interface, ts high, ts low, caplen, origlen
PCAP_GLOBAL = 24
PCAP_RECORD = 16


@dataclass(frozen=True)
class RecordSpan:
    """Where one capture record lives in the file."""

    frame: int
    offset: int  # start of its pcapng block / pcap record header
    data: int  # start of the 4-byte capture header
    caplen: int
    direction: int
    client: int
    message: bytes


def records(path: str, fmt: str) -> list[RecordSpan]:
    """Every record of a capture written by ``PcapngWriter``/``PcapWriter``, in frame order."""
    with open(path, "rb") as f:
        blob = f.read()
    out: list[RecordSpan] = []
    if fmt == "pcapng":
        pos = 0
        while pos + 12 <= len(blob):
            btype, blen = struct.unpack_from("<II", blob, pos)
            if blen < 12 or pos + blen > len(blob):
                break
            if btype == EPB:
                caplen = struct.unpack_from("<I", blob, pos + 20)[0]
                data = pos + EPB_HEADER
                out.append(_span(len(out) + 1, pos, data, caplen, blob))
            pos += blen
    elif fmt == "pcap":
        pos = PCAP_GLOBAL
        while pos + PCAP_RECORD <= len(blob):
            caplen = struct.unpack_from("<I", blob, pos + 8)[0]
            if pos + PCAP_RECORD + caplen > len(blob):
                break
            out.append(_span(len(out) + 1, pos, pos + PCAP_RECORD, caplen, blob))
            pos += PCAP_RECORD + caplen
    else:
        raise ValueError(f"cannot damage a {fmt} file (pcap or pcapng only)")
    return out


def _span(frame: int, offset: int, data: int, caplen: int, blob: bytes) -> RecordSpan:
    _version, direction, client = CAPTURE_HEADER.unpack_from(blob, data)
    message = blob[data + CAPTURE_HEADER_SIZE : data + caplen]
    return RecordSpan(frame, offset, data, caplen, direction, client, message)


def message_frames(spans: list[RecordSpan], frame: int) -> list[int]:
    """All frames of the (possibly multi-record) message that ``frame`` belongs to."""
    target = spans[frame - 1]
    same = [s for s in spans if (s.client, s.direction) == (target.client, target.direction)]
    index = next(i for i, s in enumerate(same) if s.frame == frame)
    start = index
    while start > 0 and same[start].message[1] & MSG_TYPE_MASK == CONTINUATION:  # the type byte
        start -= 1
    fragments = same[start].message[1] >> FRAGMENTS_SHIFT
    return [s.frame for s in same[start : start + fragments + 1]]


def _patch(path: str, offset: int, data: bytes) -> bytes:
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(len(data))
        f.seek(offset)
        f.write(data)
    return old


def truncate_end(path: str, fmt: str) -> Damage:
    """Cut the last record in the middle of its message bytes (a capture that was killed)."""
    spans = records(path, fmt)
    last = spans[-1]
    keep = last.data + CAPTURE_HEADER_SIZE + len(last.message) // 2
    with open(path, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        f.truncate(keep)
    others = [f for f in message_frames(spans, last.frame) if f != last.frame]
    return Damage(
        "truncate_end",
        last.frame,
        keep,
        size - keep,
        {
            "what": f"file cut at byte {keep}, inside frame {last.frame} (block at {last.offset})",
            "missing_frames": [last.frame],
            "malformed_frames": others,
        },
    )


def corrupt_block(path: str, frame: int, value: int = 0xDEADBEEF) -> Damage:
    """Overwrite the leading block-length word of the EPB of ``frame`` (pcapng only)."""
    spans = records(path, "pcapng")
    span = spans[frame - 1]
    old = _patch(path, span.offset + 4, struct.pack("<I", value))
    others = [f for f in message_frames(spans, frame) if f != frame]
    return Damage(
        "corrupt_block",
        frame,
        span.offset + 4,
        4,
        {
            "what": f"EPB block length of frame {frame} {old.hex()} -> {value:08x}",
            "missing_frames": [frame],
            "malformed_frames": others,
        },
    )


def stray_continuation(path: str, fmt: str, frame: int) -> Damage:
    """Turn a single-record message into a continuation (type 0) that nothing precedes."""
    spans = records(path, fmt)
    span = spans[frame - 1]
    if len(message_frames(spans, frame)) != 1:
        raise ValueError(f"frame {frame} is part of a multi-record message; pick a single-record one")
    offset = span.data + CAPTURE_HEADER_SIZE + 1
    type_byte = span.message[1]
    new = type_byte & 0xFC
    _patch(path, offset, bytes((new,)))
    return Damage(
        "stray_continuation",
        frame,
        offset,
        1,
        {
            "what": f"RPC header byte 1 of frame {frame} {type_byte:#04x} -> {new:#04x} (type 0)",
            "missing_frames": [],
            "malformed_frames": [frame],
        },
    )


def bad_api_byte(path: str, fmt: str, frame: int, value: int = 0x31) -> Damage:
    """Replace the 0x21 api byte of ``frame`` (api version 1, 3 header words by default)."""
    spans = records(path, fmt)
    span = spans[frame - 1]
    offset = span.data + CAPTURE_HEADER_SIZE
    old = _patch(path, offset, bytes((value,)))
    return Damage(
        "bad_api_byte",
        frame,
        offset,
        1,
        {
            "what": f"RPC header byte 0 of frame {frame} {old.hex()} -> {value:02x}",
            "missing_frames": [],
            "malformed_frames": message_frames(spans, frame),
        },
    )
