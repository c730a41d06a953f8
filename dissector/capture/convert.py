"""Any readable input -> a pcap/pcapng capture Wireshark opens (``ghrm convert``).

Records keep their time, direction, client VMID, interface and comment. A record whose RPC
header a kernel log made us synthesise (a ``gh_rm_call TX:`` payload dump, which is printed
before fragmentation, or an ``RM rejected message`` line) is split into message-queue messages
like the driver would have sent them, and each piece carries a comment saying what was
synthesised, so nobody mistakes it for wire bytes.

Checking the destination and replacing it all-or-nothing is ``dissector/convert.py``'s job
(it needs ``dissector.paths``, which ``capture/`` does not import). A time the output format
cannot hold (negative, or beyond its timestamp range) is written as 0 with a comment keeping
the original and a problem saying so: the record itself is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from dissector.errors import OutputError
from dissector.protocol.wire import RPC_HEADER_SIZE, split_message

from .record import CaptureProblem, Record

SUFFIX_FORMATS = {".pcap": "pcap", ".cap": "pcap", ".pcapng": "pcapng", ".ntar": "pcapng"}
# Largest time each format's timestamp holds, in ns (pcap: u32 seconds; pcapng: u64 ns, and our
# records keep int64 ns).
TIME_LIMIT_NS = {"pcap": (1 << 32) * 1_000_000_000 - 1, "pcapng": (1 << 63) - 1}


@dataclass
class ConvertResult:
    """What a conversion wrote and what it had to skip."""

    records: int = 0
    problems: list[CaptureProblem] = field(default_factory=list)


def output_format(destination: str | os.PathLike[str], fmt: str | None = None) -> str:
    """``fmt``, or the format the destination's suffix names; ``OutputError`` if neither says."""
    if fmt is not None:
        if fmt not in TIME_LIMIT_NS:
            raise OutputError(f"unknown capture format {fmt!r}; choose pcap or pcapng")
        return fmt
    suffix = os.path.splitext(os.fspath(destination))[1].lower()
    found = SUFFIX_FORMATS.get(suffix)
    if found is None:
        raise OutputError(
            f"cannot tell the capture format of {os.fspath(destination)!r} from its suffix "
            f"{suffix or '(none)'!r}; name it .pcapng or .pcap, or say --out-format"
        )
    return found


def wire_records(
    items: Iterable[Record | CaptureProblem], result: ConvertResult, fmt: str = "pcapng"
) -> Iterator[Record]:
    """Records ready for a capture file, renumbered; problems collected into ``result``."""
    number = 0
    limit = TIME_LIMIT_NS.get(fmt, (1 << 63) - 1)
    for item in items:
        if isinstance(item, CaptureProblem):
            result.problems.append(item)
            continue
        pieces = [item.data]
        comment = item.comment
        if item.time_ns is not None and not 0 <= item.time_ns <= limit:
            note = f"ghrm: original time {item.time_ns} ns cannot be stored in {fmt}; written as 0"
            problem = CaptureProblem(item.source or "input", f"record {item.number}: {note[6:]}")
            result.problems.append(problem)
            comment = "; ".join(c for c in (comment, note) if c)
            item = replace(item, time_ns=None)
        if item.synthetic is not None:
            pieces = split_message(item.data) if len(item.data) >= RPC_HEADER_SIZE else [item.data]
            comment = "; ".join(c for c in (comment, f"ghrm: {item.synthetic}") if c)
        for piece in pieces:
            number += 1
            yield replace(item, number=number, data=piece, comment=comment, synthetic=None)
