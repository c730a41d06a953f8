"""What every capture reader yields: one raw message-queue message, or a problem report.

Readers never raise on bad input after the file was recognised; they yield a
``CaptureProblem`` naming the byte range or line they skipped and carry on, so nothing is
lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from dissector.protocol.wire import Direction

UNKNOWN_VMID = 0xFFFF
LINKTYPE_GUNYAH_RM = 147  # LINKTYPE_USER0
LINKTYPE_WIRESHARK_UPPER_PDU = 252
UPPER_PDU_DISSECTOR_NAME = "gunyah_rm"


@dataclass(frozen=True, slots=True)
class Record:
    """One message-queue message as captured.

    ``data`` is the message exactly as sent (8-byte RPC header + payload), without the 4-byte
    capture header. ``time_ns`` keeps nanoseconds (epoch for pcap/pcapng, seconds since boot for
    dmesg logs, ``None`` when the source has no time). ``synthetic`` explains a record whose RPC
    header a reader had to make up (a kernel log that printed only the payload), so consumers can
    say which fields are not from the wire (e.g. ``seq`` unknown).
    """

    number: int  # 1-based, in the order the source holds them
    time_ns: int | None
    direction: Direction
    client_vmid: int
    data: bytes
    source: str = ""  # where it came from: "file.pcapng:block 12", "dmesg.txt:345"
    interface: str | None = None  # pcapng interface name (one per queue pair)
    comment: str | None = None
    synthetic: str | None = None  # None for wire bytes; else why and what was synthesised
    seq_known: bool = True


@dataclass(frozen=True, slots=True)
class CaptureProblem:
    """A part of the input a reader could not turn into a record, with where and why."""

    source: str  # file name and position ("x.pcap:offset 1234", "dmesg.txt:17")
    reason: str
    offset: int | None = None  # byte offset in a binary file
    length: int | None = None  # bytes skipped
    line: int | None = None  # line number in a text file
    fatal: bool = False  # nothing after this point could be read
