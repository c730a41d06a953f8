"""pcapng reader: interfaces, resolutions, flags, comments, sections, damage and resync."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dissector.capture.errors import UnsupportedCapture
from dissector.capture.pcapng import read_pcapng
from dissector.capture.record import CaptureProblem, Direction, Record
from tests.capture.capbytes import (
    ALLOC_REP,
    ALLOC_REQ,
    CONFIG_IMAGE_REQ,
    GET_VMID_REQ,
    START_REP_NORES,
    STATUS_NOTIF,
    T0,
    block,
    cap,
    custom_block,
    dsb,
    epb,
    idb,
    isb,
    nrb,
    opb,
    shb,
    spb,
    upper_pdu,
)

NS = 10**9


def read(data: bytes) -> list[Record | CaptureProblem]:
    return list(read_pcapng(io.BytesIO(data), "t.pcapng"))


def records(items: list) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def problems(items: list) -> list[CaptureProblem]:
    return [i for i in items if isinstance(i, CaptureProblem)]


@pytest.mark.parametrize("e", ["<", ">"])
def test_known_answer_two_interfaces(e: str) -> None:
    t_us = T0 * 10**6 + 250_000  # if0 has the default microsecond resolution (if_tsresol 6)
    t_ns = T0 * NS + 123_456_789
    data = (
        shb(e, [(4, b"test writer")])
        + idb(147, "rm-vm3", 6, e)
        + idb(147, None, 9, e)  # unnamed: "if1"
        + epb(0, t_us, cap(ALLOC_REQ, 1, 3), e, flags=2, comments=("first call",))
        + nrb(e)
        + epb(1, t_ns, cap(ALLOC_REP, 0, 0x80), e, flags=1)  # header unknown -> flag inbound
        + isb(0, e)
        + epb(0, t_us + 1, cap(START_REP_NORES, 1, 3), e, flags=1)  # header TO_RM wins over flag
        + dsb(e)
        + custom_block(e)
        + epb(1, t_ns + 1, cap(STATUS_NOTIF, 0, 0x80), e, flags=2, comments=("a", "b"))
        + epb(1, t_ns + 2, cap(GET_VMID_REQ, 0, 0x80), e)  # no flags, no header direction
    )
    items = read(data)
    assert problems(items) == []
    r = records(items)
    assert [x.number for x in r] == [1, 2, 3, 4, 5]
    assert r[0] == Record(
        1, T0 * NS + 250_000_000, Direction.TO_RM, 3, ALLOC_REQ, "t.pcapng:block 4", "rm-vm3", "first call"
    )
    assert (r[1].time_ns, r[1].direction, r[1].client_vmid, r[1].interface) == (
        t_ns,
        Direction.FROM_RM,
        0x80,
        "if1",
    )
    assert r[2].direction is Direction.TO_RM and r[2].data == START_REP_NORES
    assert r[3].direction is Direction.TO_RM and r[3].comment == "a\nb"
    assert r[4].direction is Direction.UNKNOWN and r[4].time_ns == t_ns + 2
    assert r[1].source == "t.pcapng:block 6"


def test_tsresol_power_of_two_and_offset() -> None:
    data = shb() + idb(147, "p2", 0x80 | 10, tsoffset=100) + epb(0, 3 * 1024 + 512, cap(ALLOC_REQ))
    (r,) = read(data)
    assert r.time_ns == 100 * NS + 3 * NS + NS // 2


def test_tsresol_coarser_and_finer_than_ns() -> None:
    data = (
        shb()
        + idb(147, "ms", 3)
        + idb(147, "ps", 12)
        + epb(0, 1500, cap(ALLOC_REQ))
        + epb(1, 7_000_000, cap(ALLOC_REP))
    )
    r1, r2 = read(data)
    assert r1.time_ns == 1_500_000_000 and r2.time_ns == 7_000


def test_spb_and_opb() -> None:
    data = (
        shb() + idb(147, "rm-vm3", 9) + spb(cap(ALLOC_REQ, 1, 3)) + opb(0, 77, cap(ALLOC_REP, 0, 3), flags=1)
    )
    r1, r2 = read(data)
    assert (r1.number, r1.time_ns, r1.direction, r1.data, r1.interface) == (
        1,
        None,
        Direction.TO_RM,
        ALLOC_REQ,
        "rm-vm3",
    )
    assert (r2.number, r2.time_ns, r2.direction, r2.data) == (2, 77, Direction.FROM_RM, ALLOC_REP)


def test_multiple_sections_reset_interfaces_and_byte_order() -> None:
    data = (
        shb("<")
        + idb(147, "le", 9, "<")
        + epb(0, 1, cap(ALLOC_REQ), "<")
        + shb(">")
        + idb(147, "be", 9, ">")
        + epb(0, 2, cap(ALLOC_REP, 2), ">")
        + epb(1, 3, cap(ALLOC_REP, 2), ">")  # interface 1 does not exist in this section
    )
    items = read(data)
    r = records(items)
    assert [(x.interface, x.time_ns, x.data) for x in r] == [("le", 1, ALLOC_REQ), ("be", 2, ALLOC_REP)]
    (p,) = problems(items)
    assert "interface 1" in p.reason and "defines 1 interface" in p.reason


def test_unsupported_interface_is_skipped_with_one_problem_and_summary() -> None:
    eth = b"\xff" * 60
    data = (
        shb()
        + idb(1, "eth0")
        + idb(147, "rm-vm3", 9)
        + epb(0, 1, eth)
        + epb(1, 2, cap(ALLOC_REQ))
        + epb(0, 3, eth)
        + epb(0, 4, eth)
    )
    items = read(data)
    assert [r.number for r in records(items)] == [2]
    probs = problems(items)
    assert len(probs) == 2
    assert "eth0" in probs[0].reason and "1 (ETHERNET)" in probs[0].reason and "147" in probs[0].reason
    assert "3 packet(s) on interface eth0" in probs[1].reason


def test_upper_pdu_interface() -> None:
    data = (
        shb()
        + idb(252, "exported", 9)
        + epb(0, 5, upper_pdu("gunyah_rm", cap(ALLOC_REQ, 0, 4)), flags=2)
        + epb(0, 6, upper_pdu("dns", b"\0" * 12))
    )
    items = read(data)
    (r,) = records(items)
    assert (r.direction, r.client_vmid, r.data, r.interface) == (Direction.TO_RM, 4, ALLOC_REQ, "exported")
    (p,) = problems(items)
    assert "'dns'" in p.reason and "packet 2" in p.reason


def _synthetic_section(app: bytes | None) -> bytes:
    return (
        shb(opts=[(4, app)] if app is not None else None)
        + idb(147, "x", 9)
        + epb(0, 1, cap(ALLOC_REQ), comments=("ghrm-synthetic; seq unknown: made up", "note"))
        + epb(0, 2, cap(ALLOC_REQ), comments=("ghrm-synthetic: header from log",))
    )


def test_synthetic_comment_restores_fields() -> None:
    r1, r2 = read(_synthetic_section(b"ghrm"))
    assert (r1.synthetic, r1.seq_known, r1.comment) == ("made up", False, "note")
    assert (r2.synthetic, r2.seq_known, r2.comment) == ("header from log", True, None)


@pytest.mark.parametrize("app", [None, b"Wireshark 4.2", b"ghrmx"])
def test_synthetic_comment_from_another_writer_is_only_a_comment(app: bytes | None) -> None:
    """Issue 19.13: provenance comes only from files ghrm wrote, not from a comment anyone can type."""
    r1, r2 = read(_synthetic_section(app))
    assert (r1.synthetic, r1.seq_known) == (None, True)
    assert r1.comment == "ghrm-synthetic; seq unknown: made up\nnote"
    assert (r2.synthetic, r2.comment) == (None, "ghrm-synthetic: header from log")


def test_snapped_epb_and_header_problems() -> None:
    data = (
        shb()
        + idb(147, "x", 9)
        + epb(0, 1, cap(CONFIG_IMAGE_REQ)[:20], origlen=52)
        + epb(0, 2, b"\x01\x01")
        + epb(0, 3, cap(ALLOC_REP, 9, 3))
    )
    items = read(data)
    r = records(items)
    assert [x.number for x in r] == [1, 3]
    assert r[0].data == CONFIG_IMAGE_REQ[:16] and r[1].direction is Direction.UNKNOWN
    reasons = [p.reason for p in problems(items)]
    assert len(reasons) == 3
    assert "packet 1" in reasons[0] and "captured 20 of 52" in reasons[0]
    assert "packet 2" in reasons[1] and "shorter than the 4-byte capture header" in reasons[1]
    assert "packet 3" in reasons[2] and "direction 9" in reasons[2]


def test_not_pcapng_raises() -> None:
    with pytest.raises(UnsupportedCapture, match="not a pcapng"):
        read_pcapng(io.BytesIO(b"\xd4\xc3\xb2\xa1" + bytes(40)), "x")


# ----------------------------------------------------------------------------- damage
def _capture(n: int = 6) -> tuple[bytes, list[int], list[bytes]]:
    """SHB + IDB + n EPBs; returns bytes, the end offset of every block, and the messages."""
    blocks = [shb(), idb(147, "rm-vm3", 9)]
    msgs = []
    for i in range(n):
        m = [ALLOC_REQ, ALLOC_REP, STATUS_NOTIF, CONFIG_IMAGE_REQ][i % 4]
        msgs.append(m)
        blocks.append(
            epb(0, T0 * NS + i, cap(m, 1 + i % 2, 3), flags=2 - i % 2, comments=("c",) if i == 2 else ())
        )
    ends = []
    total = 0
    for b in blocks:
        total += len(b)
        ends.append(total)
    return b"".join(blocks), ends, msgs


@pytest.mark.parametrize(
    "corrupt,why",
    [
        (lambda d, o: d[: o + 4] + (1234567).to_bytes(4, "little") + d[o + 8 :], "not a multiple of 4"),
        (lambda d, o: d[: o + 4] + (8).to_bytes(4, "little") + d[o + 8 :], "below 12"),
        (lambda d, o: d[: o + 4] + (0x10000).to_bytes(4, "little") + d[o + 8 :], "past the end"),
        (lambda d, o: d[: o + 4] + (0x7FFFFFF0).to_bytes(4, "little") + d[o + 8 :], "exceeds"),
        (lambda d, o: d[: o + 4] + (24).to_bytes(4, "little") + d[o + 8 :], "trailing block length"),
    ],
)
def test_corrupt_block_length_resyncs(corrupt, why: str) -> None:
    data, ends, msgs = _capture()
    o = ends[3]  # the third EPB (index 2 in msgs) starts here
    bad = corrupt(data, o)
    items = read(bad)
    (p,) = problems(items)
    assert why in p.reason and not p.fatal
    assert p.offset == o and p.length == ends[4] - o
    assert f"next plausible block at offset {ends[4]}" in p.reason
    got = records(items)
    assert [r.data for r in got] == [m for i, m in enumerate(msgs) if i != 2]
    assert [r.number for r in got] == [1, 2, 4, 5, 6]  # the corrupt EPB still counts as packet 3
    # the lost block counts as a block, so sources after it keep their block numbers
    assert got[-1].source == "t.pcapng:block 8"


def test_garbage_between_blocks_resyncs() -> None:
    data, ends, msgs = _capture(4)
    junk = b"\x06\x00\x00\x00garbage!" + bytes(13)
    bad = data[: ends[3]] + junk + data[ends[3] :]
    items = read(bad)
    (p,) = problems(items)
    assert p.offset == ends[3] and p.length == len(junk)
    assert [r.data for r in records(items)] == msgs


def test_truncated_file_keeps_earlier_records() -> None:
    data, ends, msgs = _capture(3)
    items = read(data[:-10])
    assert [r.data for r in records(items)] == msgs[:2]
    (p,) = problems(items)
    assert p.fatal and p.offset == ends[3] and "10 missing" in p.reason


@given(
    msgs=st.lists(st.binary(max_size=50), min_size=1, max_size=5),
    big_endian=st.booleans(),
    cut_frac=st.floats(min_value=0, max_value=1),
)
def test_truncation_keeps_every_complete_record(msgs: list[bytes], big_endian: bool, cut_frac: float) -> None:
    e = ">" if big_endian else "<"
    blocks = [shb(e), idb(147, "rm-vm3", 9, e)]
    blocks += [epb(0, T0 * NS + i, cap(m, 1 + i % 2, 3), e, flags=1) for i, m in enumerate(msgs)]
    ends = []
    total = 0
    for b in blocks:
        total += len(b)
        ends.append(total)
    data = b"".join(blocks)
    cut = round(cut_frac * len(data))
    full = read(data)
    items = read(data[:cut])
    expected = [r for r, end in zip(full, ends[2:], strict=True) if end <= cut]
    assert records(items) == expected
    probs = problems(items)
    if cut == 0 or cut in ends:
        assert probs == []
    else:
        assert len(probs) == 1 and probs[0].fatal
        assert probs[0].offset == max([0, *[x for x in ends if x <= cut]])


def test_block_before_interface_and_short_blocks() -> None:
    data = (
        shb()
        + epb(0, 1, cap(ALLOC_REQ))
        + block(1, b"\x93\x00")
        + idb(147, "ok", 9)
        + epb(1, 2, cap(ALLOC_REP))
    )
    items = read(data)
    probs = problems(items)
    assert "names interface 0" in probs[0].reason
    assert "interface block of 16 bytes is too short" in probs[1].reason
    (r,) = records(items)
    assert r.interface == "ok" and r.number == 2


def test_bad_option_length_is_reported_record_kept() -> None:
    good = epb(0, 1, cap(ALLOC_REQ), flags=1)
    # make the flags option claim 40 bytes
    i = good.index(struct.pack("<HH", 2, 4))
    bad = good[:i] + struct.pack("<HH", 2, 40) + good[i + 4 :]
    items = read(shb() + idb(147, "x", 9) + bad)
    (r,) = records(items)
    assert r.data == ALLOC_REQ
    (p,) = problems(items)
    assert "option 2 claims 40 bytes" in p.reason
