"""Write the malformed-input corpus: small broken captures and logs, each with its expected outcome.

Run ``python tests/robustness/make_corpus.py`` to (re)write ``tests/robustness/corpus/``. The
output is deterministic (fixed timestamps, hand-built deflate blocks instead of zlib), and
``test_corpus.py`` regenerates it in memory and compares bytes, so the files cannot drift from
this script.

Every case is one file and one entry of ``corpus/expected.json``, written here by hand from the
format specs and protocol.md (never by running the decoder):

* ``format``: what ``open_records`` detects, or ``error`` holds a substring of the
  ``UnsupportedCapture`` message when nothing can be read at all;
* ``records``: how many capture records the reader yields;
* ``messages``: in output order, each RM message ``decode_file`` yields: its ``frames`` and any
  of ``type``/``msg_name``/``seq``/``direction``/``client_vmid``/``err_name``/``fragments``, a
  ``fields`` subset, and ``malformed``: ``null`` or ``{"kinds": [...], "contains": [...]}`` (the
  set of malformation kinds, and substrings of the ``malformed`` text);
* ``problems``: in order, each ``CaptureProblem`` (a substring of its reason, and whether it is
  fatal);
* ``exit``: the status of ``ghrm decode --format jsonl FILE``.

Byte builders come from ``tests/capture/capbytes.py`` (struct.pack from the format specs,
independent of ``dissector.capture.writer``).
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.capture.capbytes import (  # noqa: E402 - after the path set-up above
    ALLOC_REP,
    ALLOC_REQ,
    CONFIG_IMAGE_REQ,
    START_REP_NORES,
    STATUS_NOTIF,
    T0,
    block,
    cap,
    epb,
    idb,
    pcap_header,
    pcap_record,
    shb,
    upper_pdu,
)

TO_RM, FROM_RM = 1, 2
START_REQ = bytes.fromhex("210105000400005680000000")  # VM_START seq 5 vmid 0x80
VM_START, VM_STATUS, HYP_RES = 0x56000004, 0x56100008, 0x56000020


def header(msg_type: int, seq: int, msg_id: int, fragments: int = 0, api: int = 0x21) -> bytes:
    """The 8-byte RPC header (protocol.md 1.2)."""
    return struct.pack("<BBHI", api, (fragments << 2) | msg_type, seq, msg_id)


def hyp_resources_reply(seq: int, n: int) -> list[bytes]:
    """A VM_GET_HYP_RESOURCES reply with ``n`` 44-byte entries, split into 232-byte fragments."""
    entries = b"".join(
        struct.pack("<BBHIIQIIQQ", 4, 0, 0x80, 0x10 + i, i, 0x1000 + i, 0, 0, 0, 0) for i in range(n)
    )
    payload = struct.pack("<II", 0, n) + entries
    chunks = [payload[i : i + 232] for i in range(0, len(payload), 232)]
    frags = len(chunks) - 1
    return [header(2 if i == 0 else 0, seq, HYP_RES, frags) + c for i, c in enumerate(chunks)]


# ----------------------------------------------------------------------------- containers
def pcap(messages: list[bytes | tuple[bytes, int] | tuple[bytes, int, int]], linktype: int = 147) -> bytes:
    """A pcap file; each item is a message (to the RM, VM 3) or (message, direction[, vmid])."""
    out = pcap_header(linktype=linktype)
    for i, item in enumerate(messages):
        msg, direction, vmid = (item, TO_RM, 3) if isinstance(item, bytes) else (*item, 3)[:3]
        out += pcap_record(T0 + i, 0, cap(msg, direction, vmid))
    return out


def pcapng(*blocks: bytes) -> bytes:
    """A pcapng file: section header, one DLT 147 interface, then ``blocks``."""
    return shb() + idb(147, "rm-vm3", 9) + b"".join(blocks)


def flip(data: bytes, index: int) -> bytes:
    """``data`` with the low bit of one byte flipped."""
    b = bytearray(data)
    b[index] ^= 1
    return bytes(b)


def ts(i: int) -> int:
    return (T0 + i) * 10**9


def stored_gzip(*blocks: bytes, final: bool = True, bad_nlen_at: int | None = None) -> bytes:
    """A gzip file whose deflate data are stored (uncompressed) blocks: same bytes on any zlib.

    ``bad_nlen_at`` corrupts the NLEN field of that block (deflate's stored-block check).
    """
    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # no name, mtime 0, OS unknown
    for i, data in enumerate(blocks):
        last = final and i == len(blocks) - 1
        nlen = (~len(data) & 0xFFFF) if i != bad_nlen_at else 0x1234
        out += bytes((1 if last else 0,)) + struct.pack("<HH", len(data), nlen) + data
    whole = b"".join(blocks)
    return bytes(out + struct.pack("<II", zlib.crc32(whole), len(whole) & 0xFFFFFFFF))


# ----------------------------------------------------------------------------- expectations
def ok(frames: list[int] | int, name: str | None = None, **keys: Any) -> dict[str, Any]:
    """A message expected to decode without malformation."""
    frames = [frames] if isinstance(frames, int) else frames
    return {"frames": frames, **({"msg_name": name} if name else {}), **keys, "malformed": None}


def bad(
    frames: list[int] | int, name: str | None, kinds: list[str], *contains: str, **keys: Any
) -> dict[str, Any]:
    """A message expected to be malformed with these kinds, its text holding ``contains``."""
    frames = [frames] if isinstance(frames, int) else frames
    return {
        "frames": frames,
        **({"msg_name": name} if name else {}),
        **keys,
        "malformed": {"kinds": sorted(set(kinds)), "contains": list(contains)},
    }


def problem(contains: str, fatal: bool = False) -> dict[str, Any]:
    """A capture problem expected in the stream."""
    return {"contains": contains, "fatal": fatal}


@dataclass
class Case:
    """One corpus file and what reading it must give."""

    file: str
    fault: str
    data: bytes | str  # text is written as UTF-8
    format: str | None = None
    records: int | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    exit: int = 0

    def expected(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "fault": self.fault,
            "format": self.format,
            "error": self.error,
            "records": self.records,
            "messages": self.messages,
            "problems": self.problems,
            "exit": self.exit,
        }


# ----------------------------------------------------------------------------- the cases
def capture_cases() -> list[Case]:
    """Damaged pcap/pcapng containers (the capture issue's faults and issue #7's)."""
    three = pcap([ALLOC_REQ, (ALLOC_REP, FROM_RM), START_REQ])
    four = pcap([ALLOC_REQ, (ALLOC_REP, FROM_RM), START_REQ, (STATUS_NOTIF, FROM_RM)])
    rec = [
        pcap_record(T0, 0, cap(ALLOC_REQ)),
        pcap_record(T0 + 1, 0, cap(ALLOC_REP, FROM_RM)),
        pcap_record(T0 + 2, 0, cap(START_REQ)),
        pcap_record(T0 + 3, 0, cap(STATUS_NOTIF, FROM_RM)),
    ]
    huge = struct.pack("<IIII", T0 + 1, 0, 0xFFFFFFFF, 0xFFFFFFFF) + cap(ALLOC_REP, FROM_RM)
    e = [epb(0, ts(i), cap(m, d), flags=d) for i, (m, d) in enumerate(
        [(ALLOC_REQ, 1), (ALLOC_REP, 2), (START_REQ, 1), (STATUS_NOTIF, 2)]
    )]  # fmt: skip

    def broken_epb(good: bytes, *, lead: int | None = None, trail: int | None = None) -> bytes:
        b = bytearray(good)
        if lead is not None:
            b[4:8] = struct.pack("<I", lead)
        if trail is not None:
            b[-4:] = struct.pack("<I", trail)
        return bytes(b)

    three_ok = [ok(1, "VM_ALLOCATE"), ok(2, "VM_ALLOCATE", type="reply"), ok(3, "VM_START")]
    return [
        Case(
            "pcap_truncated_record.pcap",
            "file cut in the middle of the last record: earlier records decode, the cut one is reported",
            four[:-10],
            "pcap",
            3,
            three_ok,
            [problem("file ends inside record 4", fatal=True)],
        ),
        Case(
            "pcap_truncated_header.pcap",
            "file cut inside a record header",
            three + b"\x00" * 9,
            "pcap",
            3,
            three_ok,
            [problem("file ends inside the header of record 4", fatal=True)],
        ),
        Case(
            "pcap_caplen_4gb.pcap",
            "a record header claims 4 GB: skipped to the next plausible header, no allocation",
            pcap_header() + rec[0] + huge + rec[2] + rec[3],
            "pcap",
            3,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START"), ok(4, "VM_STATUS", type="notification")],
            [problem("record 2 header at offset 56 is corrupt (caplen 4294967295 exceeds 65536)")],
        ),
        Case(
            "pcap_caplen_gt_len.pcap",
            "caplen larger than the original length: record kept, problem reported",
            pcap_header() + rec[0] + pcap_record(T0 + 1, 0, cap(ALLOC_REP, FROM_RM), origlen=12) + rec[2],
            "pcap",
            3,
            [
                ok(1, "VM_ALLOCATE"),
                ok(2, "VM_ALLOCATE", type="reply", fields={"vmid": 0x80}),
                ok(3, "VM_START"),
            ],
            [problem("record 2: caplen 20 exceeds the original length 12")],
        ),
        Case(
            "pcap_snapped.pcap",
            "record snapped (caplen < len): kept and marked, the message is short",
            pcap_header() + pcap_record(T0, 0, cap(STATUS_NOTIF[:14], FROM_RM), origlen=24) + rec[2],
            "pcap",
            2,
            [bad(1, "VM_STATUS", ["truncated"], "field"), ok(2, "VM_START")],
            [problem("record 1: captured 18 of 24 bytes (snapped)")],
        ),
        Case(
            "pcap_zero_length.pcap",
            "zero-length records: caplen 0 (no capture header) and a capture header with no message",
            pcap_header() + pcap_record(T0, 0, b"") + pcap_record(T0 + 1, 0, cap(b"")) + rec[2],
            "pcap",
            2,
            [
                bad(2, None, ["header"], "0 byte(s), shorter than the 8-byte RPC header", type=None),
                ok(3, "VM_START"),
            ],
            [problem("record 1: record of 0 bytes is shorter than the 4-byte capture header")],
        ),
        Case(
            "pcap_short_message.pcap",
            "a record shorter than the 8-byte RPC header",
            pcap([ALLOC_REQ, bytes.fromhex("2101010001"), START_REQ]),
            "pcap",
            3,
            [ok(1, "VM_ALLOCATE"), bad(2, None, ["header"], "5 byte(s)"), ok(3, "VM_START")],
        ),
        Case(
            "pcap_long_message.pcap",
            "a record longer than the 240-byte message-queue maximum",
            pcap([ALLOC_REQ, START_REQ + bytes(288), START_REQ]),
            "pcap",
            3,
            [
                ok(1, "VM_ALLOCATE"),
                bad(2, "VM_START", ["length", "trailing"], "300 bytes, more than 240"),
                ok(3, "VM_START"),
            ],
        ),
        Case(
            "pcap_linktype_ethernet.pcap",
            "unknown link type: a clear error naming it and the supported ones",
            pcap([ALLOC_REQ], linktype=1),
            error="link type 1 (ETHERNET) is not supported",
            exit=1,
        ),
        Case(
            "pcap_mixed_capture_versions.pcap",
            "capture headers of another version and an impossible direction: records kept, reported",
            pcap_header() + rec[0] + pcap_record(T0 + 1, 0, cap(ALLOC_REP, 7, 3, version=2)) + rec[2],
            "pcap",
            3,
            [
                ok(1, "VM_ALLOCATE"),
                ok(2, "VM_ALLOCATE", type="reply", direction="unknown"),
                ok(3, "VM_START"),
            ],
            [problem("capture header version 2, expected 1"), problem("capture header direction 7")],
        ),
        Case(
            "pcap_upper_pdu_other.pcap",
            "DLT 252 records for gunyah_rm and for another dissector",
            pcap_header(linktype=252)
            + pcap_record(T0, 0, upper_pdu("gunyah_rm", cap(ALLOC_REQ)))
            + pcap_record(T0 + 1, 0, upper_pdu("sip", b"INVITE"))
            + pcap_record(T0 + 2, 0, upper_pdu("gunyah_rm", START_REQ, p2p=0)),
            "pcap",
            2,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START", direction="to_rm")],
            [problem("record 2: upper-PDU record for dissector 'sip'")],
        ),
        Case(
            "pcap_gzip_cut.pcap.gz",
            "gzip stream cut before its end: records before the cut decode",
            stored_gzip(three, final=False)[:-8],
            "gzip+pcap",
            3,
            three_ok,
            [problem("gzip stream is damaged after 124 decompressed bytes", fatal=True)],
        ),
        Case(
            "pcap_gzip_bad_crc.pcap.gz",
            "a flipped bit in gzip data: decoded as far as it goes, the CRC failure reported",
            flip(stored_gzip(three), -12),
            "gzip+pcap",
            3,
            [*three_ok[:2], ok(3, "VM_START", fields={"vmid": 0x81})],
            [problem("CRC check failed", fatal=True)],
        ),
        Case(
            "pcap_gzip_corrupt.pcap.gz",
            "gzip stream corrupt in a deflate block: nothing before it is readable, a clear error",
            stored_gzip(three[:20], three[20:], bad_nlen_at=1),
            error="gzip stream is damaged",
            exit=1,
        ),
        Case(
            "pcapng_truncated.pcapng",
            "pcapng cut inside the last block",
            pcapng(e[0], e[1], e[2])[:-7],
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(2, "VM_ALLOCATE", type="reply")],
            [problem("file ends inside block 5", fatal=True)],
        ),
        Case(
            "pcapng_bad_trailer.pcapng",
            "a block whose trailing length differs from the leading one: skipped, resynchronised",
            pcapng(e[0], broken_epb(e[1], trail=12), e[2], e[3]),
            "pcapng",
            3,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START"), ok(4, "VM_STATUS")],
            [problem("trailing block length 12 differs from the leading")],
        ),
        Case(
            "pcapng_len_not_multiple_of_4.pcapng",
            "an impossible block length (not a multiple of 4)",
            pcapng(e[0], broken_epb(e[1], lead=len(e[1]) + 1), e[2]),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START")],
            [problem("is not a multiple of 4")],
        ),
        Case(
            "pcapng_len_below_12.pcapng",
            "an impossible block length (below the 12-byte minimum)",
            pcapng(e[0], broken_epb(e[1], lead=8), e[2]),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START")],
            [problem("block length 8 is below 12")],
        ),
        Case(
            "pcapng_block_4gb.pcapng",
            "a block claiming 4 GB: no allocation, skipped to the next plausible block",
            pcapng(e[0], broken_epb(e[1], lead=0xFFFFFFFC), e[2], e[3]),
            "pcapng",
            3,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START"), ok(4, "VM_STATUS")],
            [problem("block length 4294967292 exceeds 16777216")],
        ),
        Case(
            "pcapng_unknown_linktype.pcapng",
            "an interface with an unsupported link type: its packets skipped, the rest decoded",
            shb()
            + idb(1, "eth0", 9)
            + idb(147, "rm-vm3", 9)
            + epb(0, ts(0), b"\xff" * 14)
            + epb(1, ts(1), cap(ALLOC_REQ)),
            "pcapng",
            1,
            [ok(2, "VM_ALLOCATE")],
            [
                problem("interface 0 (eth0) has link type 1 (ETHERNET)"),
                problem("1 packet(s) on interface eth0 skipped"),
            ],
        ),
        Case(
            "pcapng_timestamp_overflow.pcapng",
            "timestamps beyond 64-bit nanoseconds (2**64-1 microseconds, the default resolution)",
            shb() + idb(147) + epb(0, 2**64 - 1, cap(ALLOC_REQ)) + epb(0, 0, cap(START_REQ)),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(2, "VM_START")],
        ),
        Case(
            "pcapng_caplen_gt_len.pcapng",
            "EPB caplen larger than its original length",
            pcapng(e[0], epb(0, ts(1), cap(ALLOC_REP, FROM_RM), origlen=12)),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(2, "VM_ALLOCATE", type="reply")],
            [problem("packet 2: caplen 20 exceeds the original length 12")],
        ),
        Case(
            "pcapng_zero_length.pcapng",
            "zero-length EPB, and an EPB holding only the capture header",
            pcapng(epb(0, ts(0), b""), epb(0, ts(1), cap(b"")), e[2]),
            "pcapng",
            2,
            [bad(2, None, ["header"], "0 byte(s)"), ok(3, "VM_START")],
            [problem("packet 1: record of 0 bytes is shorter than the 4-byte capture header")],
        ),
        Case(
            "pcapng_bad_interface.pcapng",
            "an EPB naming an interface the section does not define",
            pcapng(e[0], epb(5, ts(1), cap(ALLOC_REP, FROM_RM)), e[2]),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(3, "VM_START")],
            [problem("packet 2 names interface 5, but the section defines 1 interface(s)")],
        ),
        Case(
            "pcapng_bad_byte_order.pcapng",
            "a second section header with a broken byte-order magic",
            pcapng(e[0])
            + block(0x0A0D0D0A, struct.pack("<IHHq", 0xDEADBEEF, 1, 0, -1))
            + idb(147)
            + epb(0, ts(2), cap(START_REQ)),
            "pcapng",
            2,
            [ok(1, "VM_ALLOCATE"), ok(2, "VM_START")],
            [problem("section header block with an invalid byte-order magic")],
        ),
    ]


def reassembly_cases() -> list[Case]:
    """Fragment faults (protocol.md 1.5): each is reported on the message it affects."""
    hyp = hyp_resources_reply(2, 6)  # 2 fragments: 240 + 48 bytes
    hyp3 = hyp_resources_reply(7, 12)  # 3 fragments
    other_vm = [(m, FROM_RM, 4) for m in hyp_resources_reply(8, 6)]
    frags63 = [header(3, 9, VM_STATUS, 63) + bytes.fromhex("8000000003000000")]
    frags63 += [header(0, 9, VM_STATUS, 63)] * 63
    garbage62 = [header(2, 1, HYP_RES, 62) + bytes(4) + b"\xa5" * 28]
    garbage62 += [header(0, 1, HYP_RES, 62) + b"\xa5" * 32] * 62
    return [
        Case(
            "reasm_complete.pcap",
            "control: a 2-fragment reply between two single messages",
            pcap([ALLOC_REQ, (hyp[0], FROM_RM), (hyp[1], FROM_RM), START_REQ]),
            "pcap",
            4,
            [
                ok(1, "VM_ALLOCATE"),
                ok([2, 3], "VM_GET_HYP_RESOURCES", type="reply", fragments=1, fields={"n_entries": 6}),
                ok(4, "VM_START"),
            ],
        ),
        Case(
            "reasm_missing_continuation.pcap",
            "the continuation of a reply never comes; the next reply on the queue aborts it",
            pcap([(hyp[0], FROM_RM), (START_REP_NORES, FROM_RM)]),
            "pcap",
            2,
            [
                bad(1, "VM_GET_HYP_RESOURCES", ["fragment"], "incomplete: 0 of 1 continuation(s)"),
                ok(2, "VM_START", type="reply", err_name="NORESOURCE"),
            ],
        ),
        Case(
            "reasm_stray_continuation.pcap",
            "a continuation with no message in progress",
            pcap([ALLOC_REQ, (hyp[1], FROM_RM), START_REQ]),
            "pcap",
            3,
            [
                ok(1, "VM_ALLOCATE"),
                bad(
                    2,
                    "VM_GET_HYP_RESOURCES",
                    ["fragment"],
                    "with no message in progress",
                    type="continuation",
                ),
                ok(3, "VM_START"),
            ],
        ),
        Case(
            "reasm_new_message_midway.pcap",
            "a new message arrives after 1 of 2 continuations: the partial one is emitted, marked",
            pcap([(hyp3[0], FROM_RM), (hyp3[1], FROM_RM), (STATUS_NOTIF, FROM_RM), (hyp3[2], FROM_RM)]),
            "pcap",
            4,
            [
                bad(
                    [1, 2],
                    "VM_GET_HYP_RESOURCES",
                    ["fragment", "count", "untrusted"],  # entries past frame 1 may be shifted
                    "1 of 2 continuation(s)",
                    "frame 3",
                    "entries[5:] decoded from bytes after frame 1's record",
                ),
                ok(3, "VM_STATUS"),
                bad(4, "VM_GET_HYP_RESOURCES", ["fragment"], "no message in progress"),
            ],
        ),
        Case(
            "reasm_mismatched_continuation.pcap",
            "a continuation whose seq differs from the message in progress",
            pcap([(hyp[0], FROM_RM), (header(0, 3, HYP_RES, 1) + hyp[1][8:], FROM_RM)]),
            "pcap",
            2,
            [
                bad(
                    2,
                    "VM_GET_HYP_RESOURCES",
                    ["fragment"],
                    "does not match the message in progress from frame 1",
                ),
                bad(1, "VM_GET_HYP_RESOURCES", ["fragment"], "the capture ended"),
            ],
        ),
        Case(
            "reasm_fragments_63.pcap",
            "fragments = 63, above the maximum of 62: reassembled anyway and marked",
            pcap([(m, FROM_RM) for m in frags63]),
            "pcap",
            64,
            [bad(list(range(1, 65)), "VM_STATUS", ["header"], "fragments=63 exceeds the maximum of 62")],
        ),
        Case(
            "reasm_interleaved_queues.pcap",
            "control: multi-fragment replies of two client VMs interleaved record by record",
            pcap([(hyp[0], FROM_RM), other_vm[0], (hyp[1], FROM_RM), other_vm[1]]),
            "pcap",
            4,
            [
                ok([1, 3], "VM_GET_HYP_RESOURCES", client_vmid=3),
                ok([2, 4], "VM_GET_HYP_RESOURCES", client_vmid=4),
            ],
        ),
        Case(
            "reasm_garbage_62_fragments.pcap",
            "62 fragments of garbage: one bounded message, then decoding goes on",
            pcap([(m, FROM_RM) for m in garbage62] + [START_REQ]),
            "pcap",
            64,
            [
                bad(list(range(1, 64)), "VM_GET_HYP_RESOURCES", ["count"], "n_entries=2779096485"),
                ok(64, "VM_START"),
            ],
        ),
    ]


def payload_cases() -> list[Case]:
    """Well-framed messages whose payload lies: overrunning counts, huge sizes, odd api bytes."""
    mem_lend = header(1, 4, 0x51000012) + struct.pack("<BBBBI", 1, 0, 0, 0, 7) + struct.pack("<HH", 60000, 0)
    mem_lend += bytes(20)
    exited_neg = header(3, 5, 0x56100001) + struct.pack("<HHI", 0x80, 4, 0xFFFFFFFF) + bytes(4)
    exited_big = header(3, 6, 0x56100001) + struct.pack("<HHI", 0x80, 4, 64) + struct.pack("<HBB", 1, 2, 0)
    hyp_neg = header(2, 7, HYP_RES) + struct.pack("<II", 0, 0x80000000) + bytes(44)
    console = header(1, 8, 0x56000083) + struct.pack("<HH", 0x80, 0xFFFF) + b"hello"
    apis = [0x21, 0x11, 0x22, 0x00, 0xFF, 0x31]
    return [
        Case(
            "payload_acl_count_overrun.pcap",
            "MEM_LEND with an ACL count of 60000 in a 40-byte message",
            pcap([mem_lend, START_REQ]),
            "pcap",
            2,
            [
                bad(1, "MEM_LEND", ["count"], "n_acl_entries=60000 needs 240000 bytes for acl, 20 left"),
                ok(2, "VM_START"),
            ],
        ),
        Case(
            "payload_negative_sizes.pcap",
            "sizes and counts that read as negative numbers (0xFFFFFFFF, 0x80000000, 0xFFFF)",
            pcap([(exited_neg, FROM_RM), (hyp_neg, FROM_RM), console, START_REQ]),
            "pcap",
            4,
            [
                bad(1, "VM_EXITED", ["count"], "exit_reason_size=4294967295 but only 4 byte(s) left"),
                bad(2, "VM_GET_HYP_RESOURCES", ["count"], "n_entries=2147483648"),
                bad(3, "VM_CONSOLE_WRITE", ["count"], "num_bytes=65535 but only 5 byte(s) left"),
                ok(4, "VM_START"),
            ],
        ),
        Case(
            "payload_exit_reason_oversize.pcap",
            "VM_EXITED whose exit_reason_size is larger than the message",
            pcap([(exited_big, FROM_RM), START_REQ]),
            "pcap",
            2,
            [
                bad(
                    1,
                    "VM_EXITED",
                    ["count"],
                    "exit_reason_size=64 but only 4 byte(s) left",
                    fields={"vmid": 0x80},
                ),
                ok(2, "VM_START"),
            ],
        ),
        Case(
            "payload_api_variants.pcap",
            "api byte variants (version or header-word nibble wrong): decoded and marked",
            pcap([header(1, i, VM_START, api=a) + bytes.fromhex("80000000") for i, a in enumerate(apis)]),
            "pcap",
            6,
            [ok(1, "VM_START")]
            + [bad(i + 1, "VM_START", ["header"], f"api byte {a:#04x}") for i, a in enumerate(apis) if i],
        ),
        Case(
            "payload_trailing_bytes.pcap",
            "bytes after the end of a layout",
            pcap([START_REQ + b"\xde\xad\xbe\xef"]),
            "pcap",
            1,
            [bad(1, "VM_START", ["trailing"], "4 byte(s) after the end of the layout")],
        ),
        Case(
            "payload_truncated.pcap",
            "a request cut before fields its layout requires",
            pcap([CONFIG_IMAGE_REQ[:20], START_REQ]),
            "pcap",
            2,
            [bad(1, "VM_CONFIG_IMAGE", ["truncated"], "needs"), ok(2, "VM_START")],
        ),
        Case(
            "payload_reply_without_error_code.pcap",
            "a reply too short for its error code",
            pcap([(header(2, 1, VM_START) + b"\x00\x00", FROM_RM), START_REQ]),
            "pcap",
            2,
            [bad(1, "VM_START", ["truncated"], "the error code needs 4"), ok(2, "VM_START")],
        ),
        Case(
            "payload_unknown_msg_id.pcap",
            "a message id no table knows: kept whole, not malformed",
            pcap([header(1, 1, 0x12345678) + b"\x01\x02\x03\x04"]),
            "pcap",
            1,
            [ok(1, "UNKNOWN_0x12345678", fields={"data": "01020304"})],
        ),
    ]


def _dump(tag: str, data: bytes, t: str = "[    1.000000] ") -> str:
    """``print_hex_dump`` rows (16 bytes, DUMP_PREFIX_OFFSET) for one message."""
    rows = []
    for off in range(0, len(data), 16):
        row = " ".join(f"{b:02x}" for b in data[off : off + 16])
        rows.append(f"{t}{tag}: {off:08x}: {row}\n")
    return "".join(rows)


def text_cases() -> list[Case]:
    """Kernel hex-dump logs and text2pcap dumps with garbage, gaps and odd digit counts."""
    recv = "gh_rm_recv"
    good = _dump(recv, ALLOC_REP) + _dump(recv, STATUS_NOTIF)
    config_rows = _dump(recv, CONFIG_IMAGE_REQ).splitlines(keepends=True)
    garbage_row = config_rows[1].replace(" 00 00 00 00 00 00 00 00", " 00 zz 00 00 00 00 00 00", 1)
    odd_row = config_rows[1].replace(" 00 00 00 00", " 000 00 00", 1)
    tx = (
        "[    2.000000] gh_rm_call TX msg_id: 56000004\n[    2.000000] gh_rm_call TX: 00000000: 80 00 00 00\n"
    )
    t2p_head = "I 2026-01-01 00:00:00.000001\n"
    return [
        Case(
            "hexlog_nonhex_garbage.log",
            "non-hex garbage inside a hex dump row: the message is cut there and marked",
            config_rows[0] + garbage_row + config_rows[2] + good,
            "hexlog",
            3,
            [bad(1, "VM_CONFIG_IMAGE", ["truncated"]), ok(2, "VM_ALLOCATE"), ok(3, "VM_STATUS")],
            [problem("gh_rm_recv dump row at offset 00000010 does not parse: non-hex token 'zz'")],
        ),
        Case(
            "hexlog_odd_digits.log",
            "a hex dump row with an odd digit count",
            config_rows[0] + odd_row + config_rows[2] + good,
            "hexlog",
            3,
            [bad(1, "VM_CONFIG_IMAGE", ["truncated"]), ok(2, "VM_ALLOCATE"), ok(3, "VM_STATUS")],
            [problem("hex token '000' has 3 digits")],
        ),
        Case(
            "hexlog_offset_gap.log",
            "a dump row missing (offset jumps): the message is cut and marked",
            config_rows[0] + config_rows[2] + good,
            "hexlog",
            3,
            [bad(1, "VM_CONFIG_IMAGE", ["truncated"]), ok(2), ok(3)],
            [problem("dump row at offset 00000020, but 16 bytes were dumped so far")],
        ),
        Case(
            "hexlog_orphan_rows.log",
            "dump rows whose start (offset 00000000) is missing",
            config_rows[1] + config_rows[2] + good,
            "hexlog",
            2,
            [ok(1, "VM_ALLOCATE"), ok(2, "VM_STATUS")],
            [problem("without the dump's start")],
        ),
        Case(
            "hexlog_interleaved.log",
            "dumps of two prefixes interleaved with each other and with unrelated lines",
            "[    0.500000] random: crng init done\n"
            + config_rows[0]
            + tx.splitlines(keepends=True)[0]
            + "[    2.000000] usb 1-1: new high-speed USB device\n"
            + tx.splitlines(keepends=True)[1]
            + config_rows[1]
            + "<6>[    2.100000] gh_rm_recv: not a dump row\n"
            + config_rows[2]
            + "[    3.000000] gunyah_rsc_mgr hypervisor:qcom,resource-manager-rpc@1: RM rejected message "
            "56000004. Error: 2\n",
            "hexlog",
            3,
            [
                ok(1, "VM_CONFIG_IMAGE"),
                ok(2, "VM_START", seq=None, fields={"vmid": 0x80}),
                ok(3, "VM_START", type="reply", err_name="NORESOURCE"),
            ],
        ),
        Case(
            "hexlog_tx_without_msgid.log",
            "a request payload dump whose 'TX msg_id' line is missing: kept, msg_id unknown (0)",
            "[    1.000000] gh_rm_call TX: 00000000: 80 00 00 00\n"
            "[    1.100000] gh_rm_recv: 00000000: 21 02 05 00 04 00 00 56 00 00 00 00\n",
            "hexlog",
            2,
            [ok(1, "UNKNOWN_0x00000000", direction="to_rm", seq=None), ok(2, "VM_START", type="reply")],
            [problem("gh_rm_call TX dump without a preceding 'TX msg_id' line; msg_id unknown (0)")],
        ),
        Case(
            "hexlog_only_garbage_rows.log",
            "only broken dump rows: nothing decodes, every row reported once per dump",
            "[    1.000000] gh_rm_recv: 00000010: 01 02\n[    1.000000] gh_rm_recv: 00000020: 01 02\n",
            "hexlog",
            0,
            [],
            [problem("without the dump's start")],
            exit=1,
        ),
        Case(
            "text2pcap_nonhex.txt",
            "non-hex garbage in a text2pcap row: the packet is cut there",
            t2p_head
            + "0000  01 02 03 00 21 02 01 00 01 00 00 56 xx yy 00 00\n0010  80 00 00 00\n"
            + "O 2026-01-01 00:00:01\n0000  01 01 03 00 21 01 05 00 04 00 00 56 80 00 00 00\n",
            "text2pcap",
            2,
            [bad(1, "VM_ALLOCATE", ["truncated"]), ok(2, "VM_START", direction="to_rm")],
            [problem("row offset 0x10 but the packet holds 12 bytes")],
        ),
        Case(
            "text2pcap_odd_digits.txt",
            "a text2pcap row with an odd digit count",
            t2p_head
            + "0000  01 02 03 00 21 02 01 00 01 00 00 56 0 00 00 00\n0010  80 00 00 00\n"
            + "O\n0000  01 01 03 00 21 01 05 00 04 00 00 56 80 00 00 00\n",
            "text2pcap",
            2,
            [bad(1, "VM_ALLOCATE", ["truncated"]), ok(2, "VM_START")],
            [problem("row offset 0x10 but the packet holds 12 bytes")],
        ),
        Case(
            "text2pcap_short_and_bad_time.txt",
            "a packet too short for the capture header, and a timestamp nobody can read",
            "I yesterday\n0000  01 01\n"
            + "I 1700000000.5\n0000  01 02 03 00 21 03 10 00 08 00 10 56 80 00 00 00\n0010  03 00 00 00\n",
            "text2pcap",
            1,
            [ok(2, "VM_STATUS", direction="from_rm")],
            [problem("timestamp 'yesterday' not understood"), problem("record of 2 bytes is shorter")],
        ),
        Case(
            "unknown_binary.bin",
            "binary data that is no capture: a clear error naming the formats tried",
            bytes(range(256)),
            error="not a supported capture",
            exit=1,
        ),
        Case(
            "empty.pcap",
            "an empty file",
            b"",
            error="empty input",
            exit=1,
        ),
        Case(
            "plain_text.log",
            "a text file without RM log markers or dump rows",
            "[    1.000000] Booting Linux on physical CPU 0x0\nnothing to see here\n",
            error="is text without RM log markers",
            exit=1,
        ),
    ]


def cases() -> list[Case]:
    """Every case, text files encoded as UTF-8."""
    out = [*capture_cases(), *reassembly_cases(), *payload_cases(), *text_cases()]
    for case in out:
        if isinstance(case.data, str):
            case.data = case.data.encode()
    names = [c.file for c in out]
    assert len(set(names)) == len(names), "duplicate corpus file name"
    return out


def build() -> dict[str, bytes]:
    """File name -> bytes of the whole corpus, ``expected.json`` included."""
    files = {c.file: c.data for c in cases()}
    expected = [c.expected() for c in cases()]
    lines = ",\n".join(json.dumps(e) for e in expected)  # one case a line: short diffs
    files["expected.json"] = f"[\n{lines}\n]\n".encode()
    return files


def main() -> None:
    """(Re)write the corpus directory: every file of ``build()``, nothing else."""
    CORPUS.mkdir(exist_ok=True)
    files = build()
    for old in CORPUS.iterdir():
        if old.is_file() and old.name not in files:
            old.unlink()
    for name, data in files.items():
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(files)} files ({sum(map(len, files.values()))} bytes) to {CORPUS}")


if __name__ == "__main__":
    main()
