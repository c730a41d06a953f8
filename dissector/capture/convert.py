"""Any readable input -> a pcap/pcapng capture Wireshark opens (``ghrm convert``).

Records keep their time, direction, client VMID, interface and comment. A record whose RPC
header a kernel log made us synthesise (a ``gh_rm_call TX:`` payload dump, which is printed
before fragmentation, or an ``RM rejected message`` line) is split into message-queue messages
like the driver would have sent them, and each piece carries a comment saying what was
synthesised, so nobody mistakes it for wire bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO

from dissector.layers.fragment import fragment

from .detect import open_records
from .record import CaptureProblem, Record
from .writer import write_capture


@dataclass
class ConvertResult:
    """What a conversion wrote and what it had to skip."""

    records: int = 0
    problems: list[CaptureProblem] = field(default_factory=list)


def wire_records(items: Iterable[Record | CaptureProblem], result: ConvertResult) -> Iterator[Record]:
    """Records ready for a capture file, renumbered; problems collected into ``result``."""
    number = 0
    for item in items:
        if isinstance(item, CaptureProblem):
            result.problems.append(item)
            continue
        pieces = [item.data]
        comment = item.comment
        if item.synthetic is not None:
            pieces = fragment(item.data) if len(item.data) >= 8 else [item.data]
            comment = "; ".join(c for c in (comment, f"ghrm: {item.synthetic}") if c)
        for piece in pieces:
            number += 1
            yield replace(item, number=number, data=piece, comment=comment, synthetic=None)


def convert(
    source: str | os.PathLike[str] | IO[bytes], destination: str | os.PathLike[str], fmt: str | None = None
) -> ConvertResult:
    """Read ``source`` (any supported format) and write ``destination`` (by suffix, or ``fmt``)."""
    result = ConvertResult()
    with open_records(source) as stream:
        result.records = write_capture(destination, wire_records(stream, result), fmt)
    return result
