"""Kernel hex-dump log reader (design.md 1.2, protocol.md §9)."""

from __future__ import annotations

import struct

from dissector.capture.hexlog import HexLogParser, read_hexlog
from dissector.capture.record import CaptureProblem, Direction, Record
from tests.capture.capbytes import ALLOC_REP, CONFIG_IMAGE_REQ, START_REP_NORES, STATUS_NOTIF


def rows(tag: str, data: bytes, ts: str = "", ascii_col: bool = False) -> list[str]:
    """print_hex_dump(prefix, DUMP_PREFIX_OFFSET, 16, 1, ...) lines, written out by hand."""
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        line = f"{ts}{tag}: {off:08x}: {hexpart}"
        if ascii_col:
            line += " " * (49 - len(hexpart)) + "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(line)
    return out


def read(lines: list[str]) -> list[Record | CaptureProblem]:
    return list(read_hexlog([line + "\n" for line in lines], "dmesg.txt"))


def records(items: list) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def problems(items: list) -> list[CaptureProblem]:
    return [i for i in items if isinstance(i, CaptureProblem)]


def test_recv_dumps_with_noise_and_timestamps() -> None:
    lines = [
        "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]",
        *rows("gh_rm_recv", ALLOC_REP, "[   12.345678] "),  # exactly 16 bytes: ends at the next dump
        "[   12.400000] usb 1-1: new high-speed USB device number 2 using xhci-hcd",
        *rows("gh_rm_recv", CONFIG_IMAGE_REQ, "<7>[   13.000001] ", ascii_col=True),
        "random line with 00000000: 21 02 but no tag",
        *rows("gh_rm_recv", START_REP_NORES, "Jan  1 00:00:14 host kernel: [   14.5] "),
        *rows("gh_rm_recv", STATUS_NOTIF),  # no timestamp at all
    ]
    items = read(lines)
    assert problems(items) == []
    r = records(items)
    assert [x.data for x in r] == [ALLOC_REP, CONFIG_IMAGE_REQ, START_REP_NORES, STATUS_NOTIF]
    assert [x.time_ns for x in r] == [12_345_678_000, 13_000_001_000, 14_500_000_000, None]
    assert all(x.direction is Direction.FROM_RM and x.client_vmid == 0xFFFF for x in r)
    assert all(x.synthetic is None and x.seq_known for x in r)
    assert [x.number for x in r] == [1, 2, 3, 4]
    assert [x.source for x in r] == ["dmesg.txt:2", "dmesg.txt:4", "dmesg.txt:8", "dmesg.txt:9"]


def test_tx_msg_id_and_payload_dump_synthesise_request() -> None:
    payload = bytes(range(256)) + bytes(244)  # 500 bytes: before fragmentation, 3 fragments
    lines = [
        "[    5.000000] gh_rm_call TX msg_id: 56000009",
        *rows("gh_rm_call TX", payload, "[    5.000010] "),
        "[    5.000100] gh_rm_drv:gh_rm_call: gh_rm_call TX msg_id: 0x56000004",
        *rows("gh_rm_call TX", b"\x80\x00\x00\x00", "[    5.000110] "),
    ]
    items = read(lines)
    assert problems(items) == []
    r1, r2 = records(items)
    assert r1.data[:8] == struct.pack("<BBHI", 0x21, (2 << 2) | 1, 0, 0x56000009)
    assert r1.data[8:] == payload and len(r1.data) == 508
    assert (r1.direction, r1.seq_known, r1.time_ns, r1.source) == (
        Direction.TO_RM,
        False,
        5 * 10**9,
        "dmesg.txt:1",
    )
    assert r1.synthetic == "RPC header synthesised from 'TX msg_id' + 'gh_rm_call TX' dump; seq unknown"
    assert r2.data == bytes.fromhex("2101000004000056") + b"\x80\x00\x00\x00"
    assert r2.time_ns == 5_000_100_000


def test_msg_id_without_dump_is_empty_request() -> None:
    lines = [
        "gh_rm_call TX msg_id: 56000024",
        "gh_rm_call TX msg_id: 56000004",
        *rows("gh_rm_call TX", b"\x80\0\0\0"),
    ]
    r1, r2 = read(lines)
    assert r1.data == bytes.fromhex("2101000024000056") and "empty payload" in r1.synthetic
    assert r2.data == bytes.fromhex("210100000400005680000000")
    lines = ["gh_rm_call TX msg_id: 56000024"]  # at the very end of the log
    (r,) = read(lines)
    assert r.data == bytes.fromhex("2101000024000056")


def test_old_func_prefix_variant_and_haven_prefix() -> None:
    lines = [
        "gh_rm_call TX msg_id: 56000004",
        *rows("@__func__ TX", b"\x80\0\0\0"),
        *rows("hh_rm_recv", START_REP_NORES),
        *rows("@__func__ RX", b"\x01\x02"),
    ]
    items = read(lines)
    assert problems(items) == []
    r1, r2 = items
    assert r1.data == bytes.fromhex("210100000400005680000000") and r1.direction is Direction.TO_RM
    assert r2.data == START_REP_NORES and r2.direction is Direction.FROM_RM


def test_rx_payload_dumps_are_redundant_and_yield_nothing() -> None:
    lines = [*rows("gh_rm_recv", ALLOC_REP), *rows("gh_rm_call RX", b"\x80\0\0\0")]
    (r,) = read(lines)
    assert r.data == ALLOC_REP


def test_rm_rejected_lines_become_synthetic_replies() -> None:
    lines = [
        "[  100.250000] gunyah_rsc_mgr hypervisor:qcom,resource-manager-rpc@d0ee3087b9dfac79: "
        "RM rejected message 56000004. Error: 2",
        "RM rejected message 51000015. Error: -1",
    ]
    r1, r2 = read(lines)
    assert r1.data == bytes.fromhex("210200000400005602000000")
    assert (r1.direction, r1.time_ns, r1.seq_known) == (Direction.FROM_RM, 100_250_000_000, False)
    assert r1.synthetic == "reply synthesised from 'RM rejected message' log line; seq unknown"
    assert r2.data == bytes.fromhex("2102000015000051ffffffff") and r2.time_ns is None


def test_interleaved_dumps_keep_first_line_order() -> None:
    recv = rows("gh_rm_recv", CONFIG_IMAGE_REQ)  # 48 bytes = 3 full rows: ends only at EOF
    tx = rows("gh_rm_call TX", b"\x80\0\0\0\x01")
    lines = ["gh_rm_call TX msg_id: 56000005", recv[0], tx[0], "noise", recv[1], recv[2]]
    items = read(lines)
    assert problems(items) == []
    r1, r2 = items
    # the TX message started (msg_id line) before the recv dump, though it completed later
    assert r1.direction is Direction.TO_RM and r1.data[8:] == b"\x80\0\0\0\x01"
    assert r2.data == CONFIG_IMAGE_REQ


def test_group_tokens_are_little_endian() -> None:
    lines = ["gh_rm_recv: 00000000: 00010221 56000001 00000000 00000080"]
    (r,) = read(lines)
    assert r.data == ALLOC_REP


def test_garbage_inside_dump_cuts_message_and_reports_line() -> None:
    good = rows("gh_rm_recv", CONFIG_IMAGE_REQ)
    head, hexpart = good[1].rsplit(": ", 1)
    tokens = hexpart.split()
    tokens[6] = "zz"
    bad_row = head + ": " + " ".join(tokens)
    lines = ["noise", good[0], bad_row, good[2], *rows("gh_rm_recv", ALLOC_REP)]
    items = read(lines)
    r1, p, r2 = items
    assert isinstance(r1, Record) and isinstance(p, CaptureProblem) and isinstance(r2, Record)
    assert r1.data == CONFIG_IMAGE_REQ[:22]
    assert p.line == 3 and "non-hex token 'zz'" in p.reason and "cut after 22 bytes" in p.reason
    assert r2.data == ALLOC_REP  # the orphan third row was skipped quietly, the next dump is fine


def test_odd_digit_count_and_offset_gap() -> None:
    rows48 = rows("gh_rm_recv", CONFIG_IMAGE_REQ)
    lines = [
        rows48[0],
        "gh_rm_recv: 00000010: 00 0 00",  # odd digit count
        rows48[0],
        rows48[2],  # offset gap: 0x20 after 16 bytes
        "gh_rm_recv: 0000000: 21 02",  # 7-digit offset
    ]
    items = read(lines)
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Record", "CaptureProblem", "Record", "CaptureProblem", "CaptureProblem"]
    assert items[0].data == CONFIG_IMAGE_REQ[:17]
    assert items[1].line == 2 and "'0' has 1 digits" in items[1].reason
    assert items[2].data == CONFIG_IMAGE_REQ[:16]
    assert (
        items[3].line == 4
        and "offset 00000020" in items[3].reason
        and "16 bytes were dumped" in items[3].reason
    )
    assert items[4].line == 5 and "not 8 hex digits" in items[4].reason and "not yielded" in items[4].reason


def test_orphan_rows_reported_once() -> None:
    rows48 = rows("gh_rm_recv", CONFIG_IMAGE_REQ)
    lines = [rows48[1], rows48[2], *rows("gh_rm_recv", ALLOC_REP)]
    p, r = read(lines)
    assert p.line == 1 and "without the dump's start" in p.reason
    assert r.data == ALLOC_REP


def test_non_dump_tag_lines_are_ignored() -> None:
    lines = [
        "gh_rm_recv: Failed to receive the message: -22",
        "[ 1.0] gh_rm_recv_task_fn: Invalid message size",
    ]
    assert read(lines) == []


def test_parser_feeds_incrementally() -> None:
    p = HexLogParser("live")
    out = p.feed("gh_rm_recv: 00000000: 21 02 01 00 01 00 00 56 00 00 00 00 80 00 00 00", 1)
    assert out == []  # a full 16-byte row may continue
    out = p.feed("gh_rm_recv: 00000000: 21 02 05 00 04 00 00 56 00 00 00 00", 2)
    assert [r.data for r in out] == [
        ALLOC_REP,
        bytes.fromhex("210205000400005600000000"),
    ]  # short row ends it
    assert p.finish() == []
