"""Records -> whole RM messages: fragment reassembly as RM and Linux do it (protocol.md 1.5).

Each (client VMID, direction) queue has at most one multi-fragment message in flight. A first
message with ``fragments = n`` is followed by ``n`` type-0 continuations with the same seq,
msg_id and fragment count. Every fault is reported on the message it affects and nothing is
dropped: a partial message is still emitted (marked), a stray continuation is its own message.

A record longer than a message-queue message (``MSGQ_MAX_MSG_SIZE``, 240 bytes: design.md 1.1)
is kept, cut to 240 bytes and flagged malformed (``length``): pcap allows 64 KiB records and
pcapng 16 MiB blocks, and nothing above may spend time or memory on bytes no queue can carry.

Memory is bounded whatever the input: a message holds at most 64 records (the 6-bit fragment
count), at most ``MAX_IN_FLIGHT`` queues may have one in progress and all of them together at
most ``MAX_IN_FLIGHT_BYTES`` (oversized records and long pcapng comments count too); past
either limit the oldest is emitted as incomplete with a finding saying why. Real traffic stays
far below both (1,000 VMs each with a reply in progress on its queue are under 1 MiB, unless
each has dozens of fragments outstanding; then the byte cap gives up the oldest first).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from dissector.errors import Malformation
from dissector.protocol.wire import (
    CONTINUATION,
    MAX_FRAGMENTS,
    MSGQ_MAX_MSG_SIZE,
    RPC_HEADER_SIZE,
    RpcHeader,
    parse_header,
)

from .record import CaptureProblem, Direction, Record

MAX_IN_FLIGHT = 4096  # queues (client VMID, direction) with a multi-fragment message in progress
MAX_IN_FLIGHT_BYTES = 16 << 20  # what the messages in progress may hold together


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One RM message as it crossed a queue: header of its first record + the whole payload."""

    frames: tuple[int, ...]
    time_ns: int | None
    time_end_ns: int | None
    direction: Direction
    client_vmid: int
    data: bytes
    problems: tuple[Malformation, ...] = ()
    source: str = ""
    interface: str | None = None
    comments: tuple[str, ...] = ()
    synthetic: str | None = None
    seq_known: bool = True

    @property
    def frame(self) -> int:
        return self.frames[0]


@dataclass(slots=True)
class _InFlight:
    first: Record
    seq: int
    msg_id: int
    fragments: int
    header: bytes
    chunks: list[bytes] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    problems: list[Malformation] = field(default_factory=list)
    size: int = 0  # bytes held (see _weight)

    @property
    def received(self) -> int:
        return len(self.records) - 1  # continuations so far


def _weight(record: Record) -> int:
    """Bytes a record holds while its message is in progress (data kept twice, and its comment)."""
    return 2 * len(record.data) + len(record.comment or "")


def _message(records: list[Record], data: bytes, problems: list[Malformation]) -> RawMessage:
    first, last = records[0], records[-1]
    comments = tuple(r.comment for r in records if r.comment)
    return RawMessage(
        frames=tuple(r.number for r in records),
        time_ns=first.time_ns,
        time_end_ns=last.time_ns,
        direction=first.direction,
        client_vmid=first.client_vmid,
        data=data,
        problems=tuple(problems),
        source=first.source,
        interface=first.interface,
        comments=comments,
        synthetic=first.synthetic,
        seq_known=first.seq_known,
    )


def _cut_to_msgq_size(record: Record) -> tuple[Record, list[Malformation]]:
    """``record`` cut to 240 bytes when longer (with the malformation saying so)."""
    data = record.data
    if len(data) <= MSGQ_MAX_MSG_SIZE:
        return record, []
    problem = Malformation(
        "length",
        f"frame {record.number}: message-queue message is {len(data)} bytes, "
        f"more than {MSGQ_MAX_MSG_SIZE}; only its first {MSGQ_MAX_MSG_SIZE} were decoded",
    )
    return replace(record, data=data[:MSGQ_MAX_MSG_SIZE]), [problem]


def _short_header(record: Record) -> Malformation:
    return Malformation(
        "header", f"frame {record.number}: {len(record.data)} byte(s), shorter than the 8-byte RPC header"
    )


def _too_many_fragments(record: Record, header: RpcHeader) -> Malformation:
    return Malformation(
        "header",
        f"frame {record.number}: fragments={header.fragments} exceeds the maximum of {MAX_FRAGMENTS}",
    )


def _stray(record: Record, header: RpcHeader) -> Malformation:
    return Malformation(
        "fragment",
        f"frame {record.number}: continuation (seq {header.seq}, msg_id {header.msg_id:#010x}) "
        "with no message in progress",
    )


def _continuation_mismatch(
    record: Record, header: RpcHeader, flight: _InFlight | None
) -> Malformation | None:
    """Why a continuation does not belong to the message in progress (None when it does, or
    when there is none)."""
    if flight is None or (header.seq, header.msg_id, header.fragments) == (
        flight.seq,
        flight.msg_id,
        flight.fragments,
    ):
        return None
    return Malformation(
        "fragment",
        f"frame {record.number}: continuation (seq {header.seq}, msg_id {header.msg_id:#010x}, "
        f"fragments {header.fragments}) does not match the message in progress from frame "
        f"{flight.first.number} (seq {flight.seq}, msg_id {flight.msg_id:#010x}, "
        f"fragments {flight.fragments})",
    )


class Reassembler:
    """Stateful reassembly over a stream of records; feed records, collect whole messages."""

    def __init__(self) -> None:
        self._flight: dict[tuple[int, int], _InFlight] = {}
        self._size = 0  # bytes held by all messages in progress

    def oldest_frame(self) -> int | None:
        """The first record number of the oldest message still in progress (None: none): no
        message given out later starts before it."""
        return min((f.first.number for f in self._flight.values()), default=None)

    def feed(self, record: Record) -> Iterator[RawMessage]:
        """The messages ``record`` completes or gives up (none while a message is in progress)."""
        if record.synthetic is not None:
            # a kernel log printed the whole payload before fragmentation: already complete
            yield _message([record], record.data, [])
            return
        record, problems = _cut_to_msgq_size(record)
        header = parse_header(record.data)
        if header is None:
            problems.append(_short_header(record))
            yield _message([record], record.data, problems)
            return
        key = (record.client_vmid, int(record.direction))
        if header.msg_type == CONTINUATION:
            yield from self._continue(key, record, header, problems)
        else:
            yield from self._start(key, record, header, problems)

    def _start(
        self, key: tuple[int, int], record: Record, header: RpcHeader, problems: list[Malformation]
    ) -> Iterator[RawMessage]:
        """A first message: whole when it announces no continuation, else held until they come."""
        flight = self._flight.get(key)
        if flight is not None:
            yield self._abort(
                key,
                f"a new message (frame {record.number}) arrived before "
                f"{flight.fragments - flight.received} continuation(s)",
            )
        if header.fragments > MAX_FRAGMENTS:
            problems.append(_too_many_fragments(record, header))
        if header.fragments == 0:
            yield _message([record], record.data, problems)
            return
        yield from self._make_room(record)
        self._flight[key] = _InFlight(
            first=record,
            seq=header.seq,
            msg_id=header.msg_id,
            fragments=header.fragments,
            header=record.data[:RPC_HEADER_SIZE],
            chunks=[record.data[RPC_HEADER_SIZE:]],
            records=[record],
            problems=problems,
            size=_weight(record),
        )
        self._size += _weight(record)
        yield from self._shed(record)

    def _continue(
        self, key: tuple[int, int], record: Record, header: RpcHeader, problems: list[Malformation]
    ) -> Iterator[RawMessage]:
        """A continuation: added to the message in progress on its queue, or a stray of its own."""
        flight = self._flight.get(key)
        mismatch = _continuation_mismatch(record, header, flight)
        if flight is None or mismatch is not None:
            problems.append(mismatch or _stray(record, header))
            yield _message([record], record.data, problems)
            return
        flight.records.append(record)
        flight.chunks.append(record.data[RPC_HEADER_SIZE:])
        flight.problems.extend(problems)
        flight.size += _weight(record)
        self._size += _weight(record)
        if flight.received == flight.fragments:
            del self._flight[key]
            self._size -= flight.size
            yield _message(flight.records, flight.header + b"".join(flight.chunks), flight.problems)
        else:
            yield from self._shed(record)

    def _make_room(self, record: Record) -> Iterator[RawMessage]:
        """Give up the oldest message in progress when ``MAX_IN_FLIGHT`` queues already hold one."""
        if len(self._flight) >= MAX_IN_FLIGHT:
            oldest = next(iter(self._flight))  # dict order is start order
            yield self._abort(
                oldest,
                f"more than {MAX_IN_FLIGHT} queues had a message in progress at frame "
                f"{record.number}; the oldest was given up",
            )

    def _shed(self, record: Record) -> Iterator[RawMessage]:
        """Give up the oldest messages in progress while together they hold too much."""
        while self._size > MAX_IN_FLIGHT_BYTES and self._flight:
            yield self._abort(
                next(iter(self._flight)),
                f"the messages in progress held more than {MAX_IN_FLIGHT_BYTES} bytes at frame "
                f"{record.number}; the oldest was given up",
            )

    def _abort(self, key: tuple[int, int], why: str) -> RawMessage:
        flight = self._flight.pop(key)
        self._size -= flight.size
        text = (
            f"incomplete: {flight.received} of {flight.fragments} continuation(s) received "
            f"for the message from frame {flight.first.number}; {why}"
        )
        problems = [*flight.problems, Malformation("fragment", text)]
        return _message(flight.records, flight.header + b"".join(flight.chunks), problems)

    def flush(self) -> Iterator[RawMessage]:
        """Emit every message still waiting for continuations (end of capture)."""
        for key in sorted(self._flight, key=lambda k: self._flight[k].first.number):
            yield self._abort(key, "the capture ended")


def reassemble(items: Iterable[Record | CaptureProblem]) -> Iterator[RawMessage | CaptureProblem]:
    """Whole messages in order of their last record; capture problems pass through in place."""
    reassembler = Reassembler()
    for item in items:
        if isinstance(item, CaptureProblem):
            yield item
            continue
        yield from reassembler.feed(item)
    yield from reassembler.flush()
