"""Classic pcap reader: known answers, link types, damaged files."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dissector.capture.errors import CaptureError, UnsupportedCapture
from dissector.capture.pcap import read_pcap
from dissector.capture.record import CaptureProblem, Direction, Record
from tests.capture.capbytes import (
    ALLOC_REP,
    ALLOC_REQ,
    CONFIG_IMAGE_REQ,
    START_REP_NORES,
    STATUS_NOTIF,
    T0,
    cap,
    pcap_file,
    pcap_header,
    pcap_record,
    upper_pdu,
)


def read(data: bytes) -> list[Record | CaptureProblem]:
    return list(read_pcap(io.BytesIO(data), "t.pcap"))


def records(items: list) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def problems(items: list) -> list[CaptureProblem]:
    return [i for i in items if isinstance(i, CaptureProblem)]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_known_answer(endian: str, nano: bool) -> None:
    frac = 123456789 if nano else 123456
    data = pcap_file(
        [
            (T0, frac, cap(ALLOC_REQ, 1, 3)),
            (T0 + 1, 0, cap(ALLOC_REP, 2, 3)),
            (T0 + 2, 5, cap(STATUS_NOTIF, 2, 0x80)),
        ],
        endian,
        nano,
    )
    items = read(data)
    assert problems(items) == []
    r1, r2, r3 = items
    assert r1 == Record(
        1, T0 * 10**9 + (123456789 if nano else 123456000), Direction.TO_RM, 3, ALLOC_REQ, "t.pcap:offset 24"
    )
    assert r2.number == 2 and r2.time_ns == (T0 + 1) * 10**9
    assert r2.direction is Direction.FROM_RM and r2.data == ALLOC_REP and r2.client_vmid == 3
    assert r2.source == f"t.pcap:offset {24 + 16 + 16}"
    assert r3.client_vmid == 0x80 and r3.data == STATUS_NOTIF
    assert r3.time_ns == (T0 + 2) * 10**9 + (5 if nano else 5000)
    assert all(
        r.interface is None and r.comment is None and r.synthetic is None and r.seq_known for r in items
    )


def test_unknown_linktype_raises_naming_it() -> None:
    data = pcap_file([(T0, 0, b"\0" * 60)], linktype=1)
    with pytest.raises(UnsupportedCapture) as e:
        read_pcap(io.BytesIO(data), "eth.pcap")
    msg = str(e.value)
    assert "eth.pcap" in msg and "1 (ETHERNET)" in msg and "147" in msg and "252" in msg
    assert isinstance(e.value, CaptureError)


def test_bad_magic_raises() -> None:
    with pytest.raises(UnsupportedCapture, match="not a pcap file"):
        read_pcap(io.BytesIO(b"GIF89a" + bytes(40)), "x")


def test_short_file_header_is_fatal_problem() -> None:
    items = read(pcap_header()[:10])
    assert len(items) == 1 and items[0].fatal and "10 of 24" in items[0].reason
    items = read(b"\xd4\xc3")
    assert len(items) == 1 and items[0].fatal and "too short" in items[0].reason


def test_snapped_record_is_yielded_with_problem() -> None:
    payload = cap(CONFIG_IMAGE_REQ)[:20]
    data = pcap_header() + pcap_record(T0, 0, payload, origlen=52)
    items = read(data)
    (rec,) = records(items)
    assert rec.data == CONFIG_IMAGE_REQ[:16]
    (p,) = problems(items)
    assert "captured 20 of 52" in p.reason and "snapped" in p.reason and p.offset == 24


def test_capture_header_oddities() -> None:
    data = pcap_file(
        [
            (T0, 0, cap(ALLOC_REQ, 1, 3, version=2)),  # wrong version: still a record
            (T0, 1, cap(ALLOC_REP, 7, 3)),  # invalid direction: unknown
            (T0, 2, b"\x01\x01\x03"),  # no room for the capture header
            (T0, 3, cap(START_REP_NORES, 0, 0xFFFF)),  # direction 0: unknown, no problem
        ]
    )
    items = read(data)
    recs = records(items)
    assert [r.number for r in recs] == [1, 2, 4]  # record 3 skipped: numbering keeps frame numbers
    assert recs[0].direction is Direction.TO_RM and recs[0].data == ALLOC_REQ
    assert recs[1].direction is Direction.UNKNOWN and recs[1].data == ALLOC_REP
    assert recs[2].direction is Direction.UNKNOWN and recs[2].client_vmid == 0xFFFF
    reasons = [p.reason for p in problems(items)]
    assert len(reasons) == 3
    assert "version 2" in reasons[0]
    assert "direction 7" in reasons[1]
    assert "3 bytes is shorter than the 4-byte capture header" in reasons[2]


def test_odd_sized_messages_are_records() -> None:
    tiny = b"\x21\x01\x00"  # < 8 bytes: the decoder's business, not the reader's
    big = bytes([0x21, 0x01]) + bytes(298)  # > 240 bytes
    empty = b""
    items = read(pcap_file([(T0, 0, cap(tiny)), (T0, 1, cap(big)), (T0, 2, cap(empty))]))
    assert problems(items) == []
    assert [r.data for r in items] == [tiny, big, empty]


def test_absurd_caplen_resyncs() -> None:
    recs = [(T0 + i, i, cap(ALLOC_REQ if i % 2 else ALLOC_REP, 1 + i % 2, 3)) for i in range(5)]
    good = pcap_file(recs)
    rec_len = [16 + len(p) for _, _, p in recs]
    off2 = 24 + rec_len[0]
    bad = bytearray(good)
    bad[off2 + 8 : off2 + 12] = (0x7FFFFFF0).to_bytes(4, "little")  # caplen of record 2
    items = read(bytes(bad))
    (p,) = problems(items)
    assert p.offset == off2 and p.length == rec_len[1] and not p.fatal
    assert "caplen 2147483632" in p.reason and f"offset {off2 + rec_len[1]}" in p.reason
    got = records(items)
    assert [r.number for r in got] == [1, 3, 4, 5]
    assert [r.data for r in got] == [recs[i][2][4:] for i in (0, 2, 3, 4)]


def test_caplen_past_end_with_records_after_resyncs() -> None:
    recs = [(T0 + i, 0, cap(ALLOC_REQ, 1, 3)) for i in range(4)]
    good = pcap_file(recs)
    off2 = 24 + 32
    bad = bytearray(good)
    bad[off2 + 8 : off2 + 12] = (60000).to_bytes(4, "little")  # plausible size, past the end
    bad[off2 + 12 : off2 + 16] = (60000).to_bytes(4, "little")
    items = read(bytes(bad))
    (p,) = problems(items)
    assert p.offset == off2 and p.length == 32 and "past the end" in p.reason
    assert [r.number for r in records(items)] == [1, 3, 4]


def test_truncated_last_record() -> None:
    data = pcap_file([(T0, 0, cap(ALLOC_REQ)), (T0 + 1, 0, cap(ALLOC_REP, 2))])
    items = read(data[:-5])
    (rec,) = records(items)
    assert rec.data == ALLOC_REQ
    (p,) = problems(items)
    assert p.fatal and p.offset == 24 + 32 and "5 missing" in p.reason


def _file_and_ends(msgs: list[bytes]) -> tuple[bytes, list[int]]:
    out = pcap_header()
    ends = []
    for i, m in enumerate(msgs):
        out += pcap_record(T0 + i, i * 1000, cap(m, 1 + i % 2, i % 7))
        ends.append(len(out))
    return out, ends


@given(
    msgs=st.lists(st.binary(min_size=0, max_size=60), min_size=1, max_size=6),
    cut_frac=st.floats(min_value=0, max_value=1),
)
def test_truncation_keeps_every_complete_record(msgs: list[bytes], cut_frac: float) -> None:
    data, ends = _file_and_ends(msgs)
    cut = 24 + round(cut_frac * (len(data) - 24))
    items = read(data[:cut])
    full = read(data)
    expected = [r for r, end in zip(full, ends, strict=True) if end <= cut]
    assert records(items) == expected
    at_boundary = cut == 24 or cut in ends
    probs = problems(items)
    if at_boundary:
        assert probs == []
    else:
        assert len(probs) == 1 and probs[0].fatal
        assert probs[0].offset == max([24, *[e for e in ends if e <= cut]])


# ----------------------------------------------------------------------------- upper PDU
def test_upper_pdu_records() -> None:
    data = pcap_file(
        [
            (T0, 0, upper_pdu("gunyah_rm", cap(ALLOC_REQ, 1, 5))),
            (T0, 1, upper_pdu("sip", b"INVITE sip:x SIP/2.0\r\n")),
            (T0, 2, upper_pdu("gunyah_rm", ALLOC_REP, p2p=1)),  # bare message, direction from tag 35
            (T0, 3, upper_pdu(None, b"xx", other=(13, b"sip_udp"))),
            (T0, 4, upper_pdu("gunyah_rm", STATUS_NOTIF)),  # bare, no direction
            (T0, 5, b"\x00\x0c\x00\x40gunyah_rm"),  # TLV claims more than there is
            (T0, 6, upper_pdu("gunyah_rm", cap(ALLOC_REP, 0, 5), p2p=1)),  # header unknown -> tag
        ],
        linktype=252,
    )
    items = read(data)
    recs = records(items)
    assert [r.number for r in recs] == [1, 3, 5, 7]
    assert (recs[0].direction, recs[0].client_vmid, recs[0].data) == (Direction.TO_RM, 5, ALLOC_REQ)
    assert (recs[1].direction, recs[1].client_vmid, recs[1].data) == (Direction.FROM_RM, 0xFFFF, ALLOC_REP)
    assert (recs[2].direction, recs[2].data) == (Direction.UNKNOWN, STATUS_NOTIF)
    assert (recs[3].direction, recs[3].client_vmid) == (Direction.FROM_RM, 5)
    reasons = [p.reason for p in problems(items)]
    assert len(reasons) == 3
    assert "record 2" in reasons[0] and "'sip'" in reasons[0] and "skipped" in reasons[0]
    assert "record 4" in reasons[1] and "heuristic dissector 'sip_udp'" in reasons[1]
    assert "record 6" in reasons[2] and "claims 64 bytes" in reasons[2]


def test_caplen_above_snaplen_is_yielded_with_problem() -> None:
    data = pcap_header(snaplen=16) + pcap_record(T0, 0, cap(ALLOC_REP))  # 20 bytes > snaplen 16
    items = read(data)
    (rec,) = records(items)
    assert rec.data == ALLOC_REP
    (p,) = problems(items)
    assert "caplen 20 exceeds the file's snaplen 16" in p.reason and not p.fatal
