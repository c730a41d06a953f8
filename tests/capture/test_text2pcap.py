"""text2pcap-style hex dump reader."""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dissector.capture.detect import open_records
from dissector.capture.record import CaptureProblem, Direction, Record
from dissector.capture.text2pcap import Text2PcapParser, parse_timestamp, read_text2pcap
from tests.capture.capbytes import ALLOC_REP, ALLOC_REQ, CONFIG_IMAGE_REQ, STATUS_NOTIF, cap


def tshark_x(data: bytes) -> list[str]:
    """Rows as ``tshark -x`` prints them: 4-digit offset, two spaces, hex, three spaces, ASCII."""
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"{off:04x}  {hexpart:<47}   {asc}")
    return out


def read(lines: list[str]) -> list[Record | CaptureProblem]:
    return list(read_text2pcap(lines, "dump.txt"))


def problems(items: list) -> list[CaptureProblem]:
    return [i for i in items if isinstance(i, CaptureProblem)]


def test_markers_timestamps_and_capture_header() -> None:
    t = calendar.timegm((2024, 5, 6, 7, 8, 9))
    lines = [
        "# exported by hand",
        "O 2024-05-06 07:08:09.123456789",
        *tshark_x(cap(ALLOC_REQ, 0, 3)),  # header direction unknown -> marker O = to the RM
        "",
        "I 2024-05-06 07:08:09.5",
        *tshark_x(cap(ALLOC_REP, 0, 3)),  # marker I = from the RM
        "O 1700000000.25",
        *tshark_x(cap(STATUS_NOTIF, 2, 0x80)),  # header says from the RM: it wins over O
        *tshark_x(cap(CONFIG_IMAGE_REQ, 1, 3)),  # no marker: time unknown
    ]
    items = read(lines)
    assert problems(items) == []
    r = items
    assert [x.number for x in r] == [1, 2, 3, 4]
    assert (r[0].time_ns, r[0].direction, r[0].client_vmid, r[0].data) == (
        t * 10**9 + 123_456_789,
        Direction.TO_RM,
        3,
        ALLOC_REQ,
    )
    assert (r[1].time_ns, r[1].direction, r[1].data) == (
        t * 10**9 + 500_000_000,
        Direction.FROM_RM,
        ALLOC_REP,
    )
    assert (r[2].time_ns, r[2].direction, r[2].client_vmid) == (
        1_700_000_000_250_000_000,
        Direction.FROM_RM,
        0x80,
    )
    assert (r[3].time_ns, r[3].direction, r[3].data) == (None, Direction.TO_RM, CONFIG_IMAGE_REQ)
    assert r[0].source == "dump.txt:3"


def test_ascii_column_that_looks_like_hex_is_trimmed_by_offsets() -> None:
    # bytes whose ASCII rendering is "ab cd ef": without offsets they would read as hex
    payload = cap(b"\x21\x01\x00\x00\x05\x00\x00\x56" + b"ab cd ef")
    lines = [
        f"{o:06x} {' '.join(f'{b:02x}' for b in payload[o : o + 16])}  ab cd ef" for o in range(0, 32, 16)
    ]
    lines.append(f"{len(payload):06x}")  # od prints the total length last
    (r,) = read(lines)
    assert r.data == payload[4:]


def test_hexdump_c_style_and_bare_message() -> None:
    msg = ALLOC_REP
    lines = [
        "I 12:00:01.5",
        f"00000000  {msg[:8].hex(' ')}  {msg[8:].hex(' ')}  |!.......|",
    ]
    (r,) = read(lines)
    assert r.data == msg and r.client_vmid == 0xFFFF and r.direction is Direction.FROM_RM
    assert r.time_ns == (12 * 3600 + 1) * 10**9 + 500_000_000


def test_gap_cuts_packet_and_orphans_are_reported_once() -> None:
    rows = tshark_x(cap(CONFIG_IMAGE_REQ))  # 52 bytes: rows at 0, 0x10, 0x20, 0x30
    lines = [rows[0], rows[2], rows[3], "0010  01 02", *tshark_x(cap(ALLOC_REQ))]
    items = read(lines)
    r1, p, r2 = items
    assert r1.data == CONFIG_IMAGE_REQ[:12] and r1.number == 1
    assert p.line == 2 and "offset 0x20" in p.reason and "16 bytes" in p.reason
    assert r2.data == ALLOC_REQ and r2.number == 2


def test_short_packet_and_bad_timestamp() -> None:
    lines = ["I not-a-time", "0000  01 02", "O", *tshark_x(cap(ALLOC_REQ, 0))]
    items = read(lines)
    p1, p2, r = items
    assert p1.line == 1 and "not understood" in p1.reason
    assert "shorter than the 4-byte capture header" in p2.reason
    assert r.direction is Direction.TO_RM and r.time_ns is None and r.number == 2


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("1970-01-01 00:00:01.000000001") == 1_000_000_001
    assert parse_timestamp("1970-01-02T00:00:00Z") == 86_400 * 10**9
    assert parse_timestamp("3.5") == 3_500_000_000
    assert parse_timestamp("garbage") is None


def test_parser_is_incremental() -> None:
    p = Text2PcapParser("live")
    rows = tshark_x(cap(ALLOC_REP, 2, 3))
    assert p.feed("I 1.0", 1) == [] and p.feed(rows[0], 2) == []
    assert p.feed(rows[1], 3) == []
    (r,) = p.finish()
    assert r.data == ALLOC_REP and r.time_ns == 10**9


@pytest.mark.skipif(shutil.which("text2pcap") is None, reason="text2pcap not installed (CI installs it)")
def test_agrees_with_real_text2pcap(tmp_path: Path) -> None:
    """text2pcap turns I/O into EPB flags; reading its output must equal reading the text."""
    lines = [
        "O 2024-05-06 07:08:09.123456789",
        *tshark_x(cap(ALLOC_REQ, 0, 3)),
        "I 2024-05-06 07:08:09.5",
        *tshark_x(cap(ALLOC_REP, 0, 3)),
        "I 2024-05-06 07:08:10.0",
        *tshark_x(cap(CONFIG_IMAGE_REQ, 1, 0x80)),
    ]
    txt = tmp_path / "dump.txt"
    txt.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dump.pcapng"
    subprocess.run(
        ["text2pcap", "-D", "-t", "%Y-%m-%d %H:%M:%S.%f", "-l", "147", str(txt), str(out)],
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    direct = read(lines)
    via = list(open_records(out))
    assert len(direct) == len(via) == 3
    for a, b in zip(direct, via, strict=True):
        assert (a.time_ns, a.direction, a.client_vmid, a.data) == (
            b.time_ns,
            b.direction,
            b.client_vmid,
            b.data,
        )
    assert [r.direction for r in direct] == [Direction.TO_RM, Direction.FROM_RM, Direction.TO_RM]
