"""Captures for the tshark agreement tests: every payload layout, faults, links, pairing.

Messages are built with the generated Scapy classes (``tests.strategies`` draws their values)
or by hand, split with ``fragment()`` like RM and Linux do, and written as pcap/pcapng by
``dissector.capture.writer``, or byte by byte (``tests.capture.capbytes``) where a test needs
what the writers never produce: upper-PDU records, odd capture headers, EPB flags that
disagree with the capture header.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dissector.capture.record import Direction, Record
from dissector.capture.writer import PcapngWriter, PcapWriter
from dissector.layers import (
    ERROR_REPLIES,
    NOTIFICATIONS,
    REPLIES,
    REQUESTS,
    RMHeader,
    RMReply,
    fragment,
)
from dissector.protocol.wire import MSGQ_MAX_MSG_SIZE, RM_MAX_MSG_PAYLOAD
from tests.capture import capbytes

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
REQUEST, REPLY, NOTIFICATION, CONTINUATION = 1, 2, 3, 0

# (role, msg_type, msg_id, class) for every payload layout of the dispatch table
CASES = [
    *[("request", REQUEST, msg_id, cls) for msg_id, cls in sorted(REQUESTS.items())],
    *[("reply", REPLY, msg_id, cls) for msg_id, cls in sorted(REPLIES.items())],
    *[("error_reply", REPLY, msg_id, cls) for msg_id, cls in sorted(ERROR_REPLIES.items())],
    *[("notification", NOTIFICATION, msg_id, cls) for msg_id, cls in sorted(NOTIFICATIONS.items())],
]


def header(msg_type: int, seq: int, msg_id: int, fragments: int = 0, api: int = 0x21) -> bytes:
    return struct.pack("<BBHI", api, (fragments << 2) | msg_type, seq, msg_id)


def build(role: str, msg_type: int, msg_id: int, cls: type, seq: int, err: int, kwargs: dict) -> bytes:
    """One complete message (header + whole payload) of a payload class."""
    top = RMHeader(msg_type=msg_type, seq=seq, msg_id=msg_id)
    if msg_type == REPLY:
        top = top / RMReply(err_code=err if role == "error_reply" else 0)
    return bytes(top / cls(**kwargs))


def direction_of(msg_type: int) -> Direction:
    return Direction.TO_RM if msg_type == REQUEST else Direction.FROM_RM


@dataclass
class Message:
    """A message to put on a queue: whole (split by ``fragment``) or as raw records."""

    direction: Direction
    vmid: int
    data: bytes | None = None  # complete message, fragmented as RM/Linux would
    records: Sequence[bytes] = ()  # or: message-queue messages exactly as given
    gap_ns: int = 1000

    def pieces(self) -> list[bytes]:
        if self.data is not None:
            if len(self.data) < 8 or len(self.data) - 8 > RM_MAX_MSG_PAYLOAD:
                return [self.data]
            return fragment(self.data)
        return list(self.records)


def interleave(messages: Sequence[Message], rng: random.Random | None = None) -> list[tuple[Message, bytes]]:
    """All records in order; with ``rng`` the queues (client VMID, direction) take turns at random,
    each queue keeping its own order, so reassembly must keep queues apart."""
    if rng is None:
        return [(m, piece) for m in messages for piece in m.pieces()]
    queues: dict[tuple[int, int], list[tuple[Message, bytes]]] = {}
    for m in messages:
        queues.setdefault((m.vmid, int(m.direction)), []).extend((m, p) for p in m.pieces())
    out = []
    pending = {k: list(reversed(v)) for k, v in queues.items()}
    while pending:
        key = rng.choice(sorted(pending))
        out.append(pending[key].pop())
        if not pending[key]:
            del pending[key]
    return out


def records(items: Iterable[tuple[Message, bytes]], t0: int = T0) -> list[Record]:
    out = []
    t = t0
    for n, (m, data) in enumerate(items, start=1):
        t += m.gap_ns
        out.append(Record(n, t, m.direction, m.vmid, data))
    return out


def write_pcap(path: Path, recs: Iterable[Record]) -> Path:
    with PcapWriter(path) as w:
        w.write_all(recs)
    return path


def write_pcapng(path: Path, recs: Iterable[Record]) -> Path:
    with PcapngWriter(path) as w:
        w.write_all(recs)
    return path


def raw_pcap(path: Path, payloads: Sequence[bytes], linktype: int = 147, gap_ns: int = 1000) -> Path:
    """A nanosecond pcap of link-layer payloads exactly as given."""
    rows = []
    t = T0
    for p in payloads:
        t += gap_ns
        rows.append((t // 1_000_000_000, t % 1_000_000_000, p))
    path.write_bytes(capbytes.pcap_file(rows, nano=True, linktype=linktype))
    return path


def raw_pcapng(path: Path, packets: Sequence[tuple[bytes, int | None]], gap_ns: int = 1000) -> Path:
    """A pcapng (ns resolution) of DLT 147 payloads with the given EPB flags (None: no flags)."""
    out = capbytes.shb() + capbytes.idb(147, "rm-test", tsresol=9)
    t = T0
    for payload, flags in packets:
        t += gap_ns
        out += capbytes.epb(0, t, payload, flags=flags)
    path.write_bytes(out)
    return path


def cap(message: bytes, direction: int = 1, vmid: int = 3, version: int = 1) -> bytes:
    return capbytes.cap(message, direction, vmid, version)


def too_long(data: bytes) -> bool:
    return len(data) > MSGQ_MAX_MSG_SIZE
