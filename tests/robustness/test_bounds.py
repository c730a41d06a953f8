"""Resource bounds (issue #7, 4): a hostile input cannot make ghrm allocate without bound.

Each test feeds a stream that is generated as it is read (never held whole: megabytes to a
hundred megabytes of it), measures the peak of Python allocations with ``tracemalloc`` while
the readers consume it, and checks that a finding names the problem and that the valid data
after it is still read.
"""

from __future__ import annotations

import io
import itertools
import struct
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import pytest

from dissector.capture._stream import MAX_LINE_CHARS, iter_lines
from dissector.capture.detect import open_records
from dissector.capture.hexlog import MAX_DUMP_BYTES, MAX_OPEN_DUMPS, read_hexlog
from dissector.capture.pcap import read_pcap
from dissector.capture.pcapng import MAX_OPTIONS, read_pcapng
from dissector.capture.reassembly import MAX_IN_FLIGHT, MAX_IN_FLIGHT_BYTES, reassemble
from dissector.capture.record import CaptureProblem, Direction, Record
from dissector.capture.text2pcap import MAX_PACKET_BYTES, read_text2pcap
from tests.capture.capbytes import ALLOC_REQ, STATUS_NOTIF, T0, cap, epb, idb, pcap_header, pcap_record, shb

MiB = 1 << 20
T = TypeVar("T")


class Generated:
    """A read-only byte stream made of parts; ``(pattern, size)`` parts are produced lazily."""

    def __init__(self, *parts: bytes | tuple[bytes, int]) -> None:
        self._parts = iter(parts)
        self._pattern = b""
        self._left = 0
        self._pending = b""

    def read(self, n: int = -1, /) -> bytes:
        n = n if n > 0 else 1 << 16
        while not self._pending and self._left == 0:
            part = next(self._parts, None)
            if part is None:
                return b""
            if isinstance(part, bytes):
                self._pending = part
            else:
                self._pattern, self._left = part
        if self._pending:
            out, self._pending = self._pending[:n], self._pending[n:]
            return out
        take = min(n, self._left)
        reps = -(-take // len(self._pattern))
        self._left -= take
        return (self._pattern * reps)[:take]


def peak_while(consume: Callable[[], T]) -> tuple[T, float]:
    """Run ``consume`` and return its result and the peak of traced allocations in MiB."""
    tracemalloc.start()
    try:
        result = consume()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / MiB


def tally(items: Iterable[Record | CaptureProblem], needle: str) -> tuple[int, int, str | None]:
    """Records, problems, and the first problem text containing ``needle``; nothing else kept."""
    records = problems = 0
    found: str | None = None
    for item in items:
        if isinstance(item, Record):
            records += 1
        else:
            problems += 1
            if found is None and needle in item.reason:
                found = item.reason
    return records, problems, found


def test_pcap_record_claiming_4_gb() -> None:
    stream = Generated(
        pcap_header(),
        pcap_record(T0, 0, cap(ALLOC_REQ)),
        struct.pack("<IIII", T0, 0, 0xFFFFFFFF, 0xFFFFFFFF),
        (b"\x00\x07\xff", 24 * MiB),
        pcap_record(T0 + 1, 0, cap(ALLOC_REQ)),
    )
    (records, _, found), peak = peak_while(lambda: tally(read_pcap(stream, "x.pcap"), "caplen 4294967295"))
    assert records == 2
    assert found is not None and "exceeds 65536" in found and f"skipped {24 * MiB + 16} bytes" in found
    assert peak < 2, peak


def test_pcapng_block_claiming_4_gb() -> None:
    stream = Generated(
        shb() + idb(147) + epb(0, 1, cap(ALLOC_REQ)),
        struct.pack("<II", 6, 0xFFFFFFFC),
        (b"\x00\x07\xff\x06", 24 * MiB),
        epb(0, 2, cap(ALLOC_REQ)),
    )
    needle = "block length 4294967292 exceeds"
    (records, _, found), peak = peak_while(lambda: tally(read_pcapng(stream, "x.pcapng"), needle))
    assert records == 2 and found is not None
    assert peak < 2, peak


def test_pcapng_endless_interfaces() -> None:
    one = idb(1, "eth")
    stream = Generated(shb() + idb(147), (one, len(one) * 15_000), epb(0, 1, cap(ALLOC_REQ)))
    needle = "more than 4096 interfaces"
    (records, _, found), peak = peak_while(lambda: tally(read_pcapng(stream, "x.pcapng"), needle))
    assert records == 1 and found is not None
    assert peak < 2.5, peak  # unbounded, 15,000 interfaces would take ~4 MiB


def test_pcapng_block_of_a_million_tiny_options() -> None:
    """A 4 MB EPB of empty comments once cost ~80 MB and 30 s; options per block are capped."""
    payload = cap(ALLOC_REQ)
    body = struct.pack("<IIIII", 0, 0, 1, len(payload), len(payload)) + payload
    body += struct.pack("<HH", 1, 0) * 1_000_000 + bytes(4)
    stream = io.BytesIO(
        shb() + idb(147) + struct.pack("<II", 6, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    )
    needle = f"more than {MAX_OPTIONS} options"
    (records, problems, found), peak = peak_while(lambda: tally(read_pcapng(stream, "x.pcapng"), needle))
    assert records == 1 and problems == 1 and found is not None
    assert peak < 16, peak  # the 4 MB block itself, and a copy


def _endless_fragments(queues: int, per_queue: int) -> Iterator[Record]:
    """Round-robin over ``queues`` client VMs, each sending a 62-fragment message that never ends."""
    number = itertools.count(1)
    first = struct.pack("<BBHI", 0x21, (62 << 2) | 2, 1, 0x56000020) + bytes(232)
    cont = struct.pack("<BBHI", 0x21, 62 << 2, 1, 0x56000020) + b"\xa5" * 232
    for i in range(per_queue):
        for vmid in range(queues):
            yield Record(next(number), None, Direction.FROM_RM, vmid, first if i == 0 else cont)


def test_reassembly_in_flight_is_bounded() -> None:
    queues = 4 * MAX_IN_FLIGHT  # unbounded, their partial messages would hold ~8 MiB

    def run() -> int:
        abandoned = 0
        for msg in reassemble(_endless_fragments(queues, 16)):
            abandoned += any(f"more than {MAX_IN_FLIGHT} queues" in p.text for p in msg.problems)
        return abandoned

    abandoned, peak = peak_while(run)
    assert abandoned == queues - MAX_IN_FLIGHT  # each given up with a finding, none lost
    assert peak < MAX_IN_FLIGHT * 16 * 500 / MiB + 1, peak  # 256 partial messages of 16 records


def test_reassembly_bytes_in_flight_are_bounded() -> None:
    """Records with long pcapng comments (a block may hold 16 MiB) on many queues: total bytes capped."""

    def records() -> Iterator[Record]:
        number = itertools.count(1)
        for i in range(10):
            for vmid in range(40):  # unbounded, 40 messages of 10 such records: ~24 MiB of comments
                msg_type = 2 if i == 0 else 0
                data = struct.pack("<BBHI", 0x21, (62 << 2) | msg_type, 1, 0x56000020) + bytes(232)
                yield Record(next(number), None, Direction.FROM_RM, vmid, data, comment="c" * 60_000)

    def run() -> int:
        return sum(
            any(f"held more than {MAX_IN_FLIGHT_BYTES} bytes" in p.text for p in msg.problems)
            for msg in reassemble(records())
        )

    abandoned, peak = peak_while(run)
    assert abandoned > 0
    assert peak < MAX_IN_FLIGHT_BYTES / MiB + 8, peak


def test_endless_continuations_stream_through() -> None:
    def records() -> Iterator[Record]:
        for message in range(100):  # 62 fragments of garbage, over and over
            yield from (
                Record(message * 63 + r.number, None, r.direction, r.client_vmid, r.data)
                for r in _endless_fragments(1, 63)
            )
        cont = struct.pack("<BBHI", 0x21, 62 << 2, 9, 0x56000020)
        for n in range(10_000):  # then continuations alone, forever
            yield Record(10**6 + n, None, Direction.FROM_RM, 0, cont)

    def run() -> int:
        return sum(1 for _ in reassemble(records()))

    messages, peak = peak_while(run)
    assert messages == 100 + 10_000
    assert peak < 1, peak


def _lines(
    first: Iterable[str], repeated: Callable[[int], str], count: int, last: Iterable[str]
) -> Iterator[str]:
    yield from first
    for i in range(count):
        yield repeated(i)
    yield from last


def test_hexlog_dump_without_end() -> None:
    row = " ".join(["a5"] * 256)  # 20,000 rows of 256 bytes: 5 MB if nothing stopped the dump
    lines = _lines(
        ["gh_rm_recv: 00000000: " + STATUS_NOTIF.hex(" ")],
        lambda i: f"gh_rm_recv: {16 + i * 256:08x}: {row}",
        20_000,
        ["gh_rm_recv: 00000000: " + ALLOC_REQ.hex(" ")],
    )
    needle = f"grows past {MAX_DUMP_BYTES} bytes"
    (records, problems, found), peak = peak_while(lambda: tally(read_hexlog(lines, "x.log"), needle))
    assert records == 2 and problems == 1 and found is not None
    assert peak < 1, peak


def test_hexlog_endless_distinct_prefixes() -> None:
    lines = _lines(
        [], lambda i: f"@f{i} TX: 00000000: " + " ".join(["01"] * 16), 10_000, ["gh_rm_recv: 00000000: 21"]
    )
    needle = f"more than {MAX_OPEN_DUMPS} dump prefixes"
    (records, _, found), peak = peak_while(lambda: tally(read_hexlog(lines, "x.log"), needle))
    assert records == 10_001 and found is not None
    assert peak < 1, peak  # unbounded, 10,000 open dumps would take ~4 MiB


def test_hexlog_output_does_not_wait_forever_on_an_open_dump() -> None:
    full_row = " ".join(["01"] * 16)  # a TX dump of full rows stays open until its prefix prints again
    lines = _lines(
        ["gh_rm_call TX msg_id: 56000004", "gh_rm_call TX: 00000000: " + full_row],
        lambda i: "gh_rm_recv: 00000000: " + STATUS_NOTIF.hex(" ")[:-3],
        12_000,
        [],
    )
    (records, problems, _), peak = peak_while(lambda: tally(read_hexlog(lines, "x.log"), ""))
    assert records == 12_001 and problems == 0
    assert peak < 2, peak  # unbounded, 12,000 records (~3.5 MiB) would wait behind the open dump


def test_text2pcap_packet_without_end() -> None:
    row = " ".join(["a5"] * 256)  # 8,000 rows of 256 bytes: 2 MB if nothing stopped the packet
    lines = _lines(
        ["0000  " + cap(STATUS_NOTIF, 2).hex(" ")[:47]],
        lambda i: f"{16 + i * 256:06x}  {row}",
        8_000,
        ["0000  " + cap(ALLOC_REQ).hex(" ")],
    )
    needle = f"grows past {MAX_PACKET_BYTES} bytes"
    (records, problems, found), peak = peak_while(lambda: tally(read_text2pcap(lines, "x.txt"), needle))
    assert records == 2 and problems == 1 and found is not None
    assert peak < 1, peak


@pytest.mark.parametrize("fmt", ["hexlog", "text2pcap"])
def test_100_mb_line_without_newline(fmt: str) -> None:
    if fmt == "hexlog":
        before = "gh_rm_recv: 00000000: " + ALLOC_REQ.hex(" ") + "\n"
        after = "\ngh_rm_recv: 00000000: " + STATUS_NOTIF.hex(" ") + "\n"
    else:
        before = "0000  " + cap(ALLOC_REQ).hex(" ") + "\n"
        after = "\n0000  " + cap(STATUS_NOTIF, 2).hex(" ") + "\n"
    size = 100 * 1_000_000
    stream = Generated(before.encode(), (b"0123456789abcdef ", size), after.encode())
    needle = f"line of {size} characters, longer than {MAX_LINE_CHARS}"
    (records, problems, found), peak = peak_while(lambda: tally(open_records(stream), needle))
    assert records == 2 and problems == 1 and found is not None
    assert peak < 2, peak


def test_iter_lines_keeps_short_lines_and_cuts_long_ones() -> None:
    text = b"a\r\nbb\n" + b"x" * 50 + b"\n" + b"y" * 10 + b"\nlast"
    lines = list(iter_lines(io.BytesIO(text), chunk=7, max_line=20))
    assert lines[:2] == ["a", "bb"] and lines[-1] == "last"
    assert lines[2] == "x" * 20 and lines[2].length == 50  # type: ignore[attr-defined]
    assert lines[3] == "y" * 10
    tail = list(iter_lines(io.BytesIO(b"z" * 45), chunk=8, max_line=20))
    assert tail == ["z" * 20] and tail[0].length == 45  # type: ignore[attr-defined]
