"""The fast path equals the Scapy path, on generated message streams and on pcap files.

The streams mix every kind of trouble the fast path must hand to Scapy or get right itself:
exact and wrong payload lengths, fragments (whole, cut, stray), garbage, colliding seqs,
kernel-log records without a seq. Equality is checked on the engines' columns (the first
differing column is named) and on every table built from them.
"""

from __future__ import annotations

import dataclasses
import io
import struct

import numpy as np
import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dissector.analysis import fastpath
from dissector.analysis.errors import df_errors
from dissector.analysis.messages import build_messages
from dissector.analysis.scapy_path import columns_from_decoded
from dissector.analysis.schema import TABLES
from dissector.analysis.srt import df_srt
from dissector.analysis.timebase import public_schema
from dissector.analysis.transactions import call_types, transactions_from
from dissector.capture.detect import open_records
from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.decoded import decode_records
from dissector.decoders import columnar
from dissector.layers import NOTIFICATIONS, REPLIES, REQUESTS, fragment
from dissector.trace import Trace
from tests.strategies import struct_kwargs

_IDS = [*sorted({*REQUESTS, *REPLIES, *NOTIFICATIONS}), 0x56000099, 0x56000003]


def _fixed(msg_type: int, msg_id: int) -> int | None:
    table = {1: REQUESTS, 2: REPLIES, 3: NOTIFICATIONS}[msg_type]
    cls = table.get(msg_id)
    if cls is None or cls.layout is None:
        return None
    size = cls.layout.fixed_size
    return None if size is None else size + (4 if msg_type == 2 else 0)


_BUILT = [(1, m, c) for m, c in REQUESTS.items()] + [(3, m, c) for m, c in NOTIFICATIONS.items()]
_BUILT += [(2, m, c) for m, c in REPLIES.items()]


@st.composite
def well_formed(draw: st.DrawFn) -> bytes:
    """A payload built from its layout (variable ones included), then maybe cut or extended."""
    msg_type, msg_id, cls = draw(st.sampled_from(_BUILT))
    payload = bytes(cls(**draw(struct_kwargs(cls.layout, max_list=3))))
    if msg_type == 2:
        payload = b"\0\0\0\0" + payload
    edit = draw(st.sampled_from(["keep", "keep", "keep", "cut", "grow"]))
    if edit == "cut" and payload:
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
    elif edit == "grow":
        payload += draw(st.binary(min_size=1, max_size=6))
    return struct.pack("<BBHI", 0x21, msg_type, draw(st.integers(0, 3)), msg_id) + payload


@st.composite
def message(draw: st.DrawFn) -> list[bytes]:
    """One RM message as msgq records (usually one; several when long; sometimes broken)."""
    kind = draw(st.sampled_from(["call", "call", "built", "built", "garbage", "stray", "oversized"]))
    if kind == "garbage":
        return [draw(st.binary(max_size=20))]
    if kind == "oversized":  # one record longer than a message-queue message, not fragmented
        header = struct.pack("<BBHI", 0x21, draw(st.sampled_from([1, 2, 3])), 0, draw(st.sampled_from(_IDS)))
        return [header + draw(st.binary(min_size=233, max_size=300))]
    if kind == "built":
        data = draw(well_formed())
        return fragment(data) if len(data) > 240 else [data]
    msg_type = draw(st.sampled_from([1, 2, 3]))
    msg_id = draw(st.sampled_from(_IDS))
    seq = draw(st.integers(0, 3))
    fixed = _fixed(msg_type, msg_id)
    choices = [st.integers(0, 40), st.integers(230, 480)]
    if fixed is not None:
        choices.append(st.sampled_from([fixed, fixed, max(fixed - 1, 0), fixed + 1]))
    length = draw(st.one_of(*choices))
    payload = bytearray(draw(st.binary(min_size=length, max_size=length)))
    if msg_type == 2 and length >= 4 and draw(st.booleans()):
        payload[0:4] = b"\0\0\0\0"  # mostly OK replies, as in life
    if length >= 2 and draw(st.booleans()):
        payload[0:2] = struct.pack("<H", draw(st.sampled_from([0, 3, 0x80, 0x81])))
    api = draw(st.sampled_from([0x21, 0x21, 0x21, 0x11]))
    data = struct.pack("<BBHI", api, msg_type, seq, msg_id) + bytes(payload)
    pieces = fragment(data) if len(data) > 240 else [data]
    if api != 0x21:
        pieces = [bytes([api]) + p[1:] for p in pieces]
    if kind == "stray" or (len(pieces) > 1 and draw(st.integers(0, 4)) == 0):
        pieces = [p for i, p in enumerate(pieces) if i != draw(st.integers(0, len(pieces) - 1))]
    return pieces


@st.composite
def stream(draw: st.DrawFn) -> list[Record]:
    records: list[Record] = []
    for pieces in draw(st.lists(message(), max_size=20)):
        client = draw(st.sampled_from([3, 0x80, 0xFFFF]))
        direction = draw(st.sampled_from(list(Direction)))
        log = draw(st.integers(0, 9)) == 0
        for piece in pieces:
            records.append(
                Record(
                    len(records) + 1,
                    None if log and draw(st.booleans()) else 1_000_000 * (len(records) + 1),
                    direction,
                    client,
                    piece,
                    synthetic="kernel TX dump" if log else None,
                    seq_known=not log,
                )
            )
    return records


def _both(records: list[Record]):
    rc, _ = fastpath.columns_from_records(records, "s")
    fast = columnar.decode(rc, "s")
    ref, _ = columns_from_decoded(decode_records(records), "s")
    return fast, ref


@settings(deadline=None, max_examples=40)
@given(stream())
def test_fast_columns_equal_scapy_columns(records):
    fast, ref = _both(records)
    assert fast.differences(ref) == []


@settings(deadline=None, max_examples=12)
@given(stream())
def test_tables_never_raise_and_agree(records):
    fast = Trace.from_records(records, capture="s")
    ref = Trace.from_records(records, capture="s", engine="scapy")
    for name, schema in TABLES.items():
        public_schema(schema).check(getattr(fast, name))
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(ref, name), obj=name)


@settings(deadline=None, max_examples=10)
@given(stream(), st.sampled_from(["<", ">"]), st.booleans())
def test_pcap_scan_gives_the_readers_records(records, endian, nano):
    records = [
        dataclasses.replace(r, time_ns=r.time_ns or 0, synthetic=None, seq_known=True) for r in records
    ]
    buf = io.BytesIO()
    write_capture(buf, records, fmt="pcap")
    data = buf.getvalue()
    if endian == ">" or nano:  # rewrite the global and record headers in that flavour
        data = _reflavour(data, endian, nano)
    scanned = fastpath.scan_pcap(data, "x")
    assert scanned is not None
    read = [r for r in open_records(io.BytesIO(data)) if isinstance(r, Record)]
    assert [scanned.record(i) for i in range(len(scanned))] == [
        dataclasses.replace(r, source=r.source.replace("<stream>", "x")) for r in read
    ]


def _reflavour(data: bytes, endian: str, nano: bool) -> bytes:
    magic, vmaj, vmin, zone, sig, snap, link = struct.unpack_from("<IHHiIII", data)
    scale = 1000 if nano and magic == 0xA1B2C3D4 else 1
    out = [struct.pack(endian + "IHHiIII", 0xA1B23C4D if nano else magic, vmaj, vmin, zone, sig, snap, link)]
    pos = 24
    while pos < len(data):
        sec, frac, cap, orig = struct.unpack_from("<IIII", data, pos)
        out.append(struct.pack(endian + "IIII", sec, frac * scale, cap, orig))
        out.append(data[pos + 16 : pos + 16 + cap])
        pos += 16 + cap
    return b"".join(out)


def test_scan_declines_what_it_cannot_vouch_for():
    good = io.BytesIO()
    write_capture(
        good, [Record(1, 10**9, Direction.TO_RM, 3, bytes.fromhex("210101000100005600000000"))], fmt="pcap"
    )
    data = good.getvalue()
    assert fastpath.scan_pcap(data, "x") is not None
    assert fastpath.scan_pcap(data[:-3], "x") is None  # cut record
    bad_version = bytearray(data)
    bad_version[24 + 16] = 2
    assert fastpath.scan_pcap(bytes(bad_version), "x") is None
    assert fastpath.scan_pcap(b"\x0a\x0d\x0d\x0a" + data[4:], "x") is None  # not pcap


def _pcap_of(records) -> bytes:
    records = [
        dataclasses.replace(r, time_ns=r.time_ns or 0, synthetic=None, seq_known=True) for r in records
    ]
    buf = io.BytesIO()
    write_capture(buf, records, fmt="pcap")
    return buf.getvalue()


@settings(deadline=None, max_examples=10)
@given(stream(), st.sampled_from([1, 2, 3, 5, 7]))
def test_chunked_scan_equals_the_whole_file_scan(records, chunk):
    """Chunk boundaries fall inside fragmented messages and between requests and their replies
    (chunks of 1-7 records); the record columns, the message columns and every table built
    from them are those of a scan of the whole file at once."""
    data = _pcap_of(records)
    whole = fastpath.scan_pcap(data, "x", chunk=10**9)
    parts = fastpath.scan_pcap(data, "x", chunk=chunk)
    assert whole is not None and parts is not None
    for name in ("number", "time_ns", "time_known", "direction", "client_vmid", "offset", "length"):
        a, b = getattr(whole, name), getattr(parts, name)
        assert a.dtype == b.dtype and (a == b).all(), name
    assert [parts.record(i) for i in range(len(parts))] == [whole.record(i) for i in range(len(whole))]
    cols_whole, cols_parts = columnar.decode(whole, "x"), columnar.decode(parts, "x")
    assert cols_parts.differences(cols_whole) == []
    tables = [_tables(cols) for cols in (cols_whole, cols_parts)]
    for name, table in tables[0].items():
        pd.testing.assert_frame_equal(tables[1][name], table)


@settings(deadline=None, max_examples=15)
@given(stream())
def test_messages_given_back_by_row_are_the_readers(records):
    """A pcap's message columns give each message back (``raw_message``, ``message_bytes``) from
    the capture bytes and the rows' own columns, not per-record copies: the same messages as
    the columns of the readers' records (fragments, oversized and aborting records included)."""
    data = _pcap_of(records)
    scanned = fastpath.scan_pcap(data, "x")
    assert scanned is not None and scanned.listed is None
    read = [
        dataclasses.replace(r, source=r.source.replace("<stream>", "x"))
        for r in open_records(io.BytesIO(data))
    ]
    listed, _ = fastpath.columns_from_records(read, "x")
    fast, ref = columnar.decode(scanned, "x"), columnar.decode(listed, "x")
    assert len(fast) == len(ref)
    for row in range(len(fast)):
        assert fast.raw_message is not None and ref.raw_message is not None
        assert fast.message_bytes is not None and ref.message_bytes is not None
        assert fast.raw_message(row) == ref.raw_message(row)
        assert fast.message_bytes(row) == ref.message_bytes(row) == ref.raw_message(row).data


def _tables(cols) -> dict[str, pd.DataFrame]:
    messages, pairing = build_messages([cols])
    transactions = transactions_from(messages, pairing, call_types(messages))
    srt, errors = df_srt(transactions), df_errors(messages)
    return {"messages": messages, "transactions": transactions, "srt": srt, "errors": errors}


def test_chunked_scan_declines_a_bad_record_in_a_later_chunk():
    one = bytes.fromhex("210101000100005600000000")
    records = [Record(i + 1, 10**9 + i, Direction.TO_RM, 3, one) for i in range(10)]
    data = bytearray(_pcap_of(records))
    assert fastpath.scan_pcap(bytes(data), "x", chunk=3) is not None
    record_size = 16 + 4 + len(one)
    data[24 + 8 * record_size + 16] = 2  # capture header version of the 9th record
    assert fastpath.scan_pcap(bytes(data), "x", chunk=3) is None
    assert fastpath.scan_pcap(bytes(data[: 24 + 9 * record_size - 1]), "x", chunk=3) is None  # cut


# --- the record chain found without a loop (``_chained_records``) equals the loop's ----------


@st.composite
def _record_bytes(draw: st.DrawFn, endian: str) -> bytes:
    """One pcap record as a clean file holds it; its message may hold bytes that look like a
    record header (so candidates lie inside records), or a whole such record."""
    body = bytearray(draw(st.binary(max_size=48)))
    if draw(st.integers(0, 2)) == 0:  # a fake record header inside the message
        fake_len = draw(st.sampled_from([4, 5, 12, draw(st.integers(0, 80))]))
        fake = struct.pack(endian + "IIII", 7, 8, fake_len, fake_len) + bytes([1, draw(st.integers(0, 3))])
        at = draw(st.integers(0, len(body)))
        body[at:at] = fake + draw(st.binary(max_size=fake_len))
    caplen = 4 + len(body)
    sec, frac = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 999_999))
    head = struct.pack(endian + "IIII", sec, frac, caplen, caplen)
    return head + bytes([1, draw(st.integers(0, 2))]) + struct.pack("<H", draw(st.integers(0, 0xFFFF))) + body


@st.composite
def _chain_buffer(draw: st.DrawFn) -> tuple[bytes, str, int]:
    """Records from offset 0 as a block of ``scan_blocks`` sees them: cut anywhere (a block
    boundary), sometimes damaged (a byte changed: a caplen, a version, a direction...)."""
    endian = draw(st.sampled_from(["<", ">"]))
    data = bytearray(b"".join(draw(st.lists(_record_bytes(endian), max_size=12))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.sampled_from([0, 1, 2, 3, 0xFF]))
    cut = draw(st.integers(0, len(data)))
    snap = draw(st.sampled_from([fastpath.MAX_CAPLEN, 40, 60]))
    return bytes(data[: len(data) - cut if draw(st.booleans()) else len(data)]), endian, snap


@settings(max_examples=400, deadline=None)
@given(_chain_buffer())
def test_chained_records_are_the_loops_or_none(case):
    """Where the chain is found without a loop it is the loop's, record for record, with the
    same end, and ``_scan_chunk`` accepts every record; where it is not (None), the loop decides.
    Clean buffers (every record fine) are never left to the loop."""
    data, endian, snap = case
    heads = fastpath._Heads(data, endian)
    starts, end = fastpath._whole_records(data, endian)
    checked = fastpath._scan_chunk(heads, starts, False, snap) if len(starts) else None
    found = fastpath._chained_records(heads, snap)
    if found is not None:
        start, caplen, got_end = found
        event(
            "off-chain candidates" if len(start) < len(_candidates(data)) else "every candidate on the chain"
        )
        assert start.tolist() == starts.tolist() and got_end == end
        assert checked is not None
        assert caplen.tolist() == (checked.length.astype(np.int64) + 4).tolist()
        columns = fastpath._columns(heads, start, caplen, False)
        for name in ("time_ns", "direction", "client_vmid", "offset", "length"):
            a, b = getattr(columns, name), getattr(checked, name)
            assert a.dtype == b.dtype and a.tolist() == b.tolist(), name
    else:
        event("left to the loop")
    if (
        found is None and len(starts) and checked is not None
    ):  # all fine: declined only when something follows
        whole_after = end + 12 <= len(data) and end + 16 + heads.caplen(np.array([end]))[0] <= len(data)
        assert whole_after


def _candidates(data: bytes) -> list[int]:
    """Offsets where a capture header version byte would be (what the chain starts from)."""
    return [p for p in range(len(data) - 19) if data[p + 16] == 1]


def test_chain_through_candidates_inside_records():
    """A record whose message holds a fake record header that leads to the next real record
    (the chain must not take the fake one), and a fake chain of several inside one record."""
    fake = struct.pack("<IIII", 7, 8, 4, 4) + bytes([1, 0, 0, 0])  # a whole fine record of 20 bytes
    real = [
        struct.pack("<IIII", 1, 2, 4 + len(m), 4 + len(m)) + bytes([1, 0, 3, 0]) + m
        for m in (fake * 3, b"ab")
    ]
    data = b"".join(real) + real[1][:5]
    heads = fastpath._Heads(data, "<")
    found = fastpath._chained_records(heads, fastpath.MAX_CAPLEN)
    assert found is not None
    assert found[0].tolist() == [0, len(real[0])] and found[2] == len(real[0]) + len(real[1])
    assert fastpath._whole_records(data, "<")[0].tolist() == found[0].tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=40))
def test_reachable_is_the_walk(steps):
    nxt = np.minimum(np.arange(len(steps)) + np.array(steps), len(steps))
    on, i = set(), 0
    while i < len(steps):
        on.add(i)
        i = int(nxt[i])
    assert np.flatnonzero(fastpath._reachable(nxt)).tolist() == sorted(on)


def test_an_oversized_record_that_aborts_a_fragmented_message_is_one_message():
    """The record after a first fragment aborts it; when that record is itself longer than a
    message-queue message (a problem of its own), it is still one standalone message, as the
    streaming reassembler yields it once (it was counted twice)."""
    start = struct.pack("<BBHI", 0x21, 1 | (1 << 2), 5, 0x56000004) + bytes(4)
    oversized = struct.pack("<BBHI", 0x21, 1, 6, 0x56000004) + bytes(300)
    after = struct.pack("<BBHI", 0x21, 1, 7, 0x56000004) + bytes(4)
    records = [
        Record(i + 1, 1_000 * (i + 1), Direction.TO_RM, 3, d) for i, d in enumerate([start, oversized, after])
    ]
    fast, ref = _both(records)
    assert fast.frame.tolist() == [1, 2, 3]
    assert fast.differences(ref) == []


# --- ``scan_pcap`` finds the records without the loop (``_chained_offsets``) as the loop does --


def _same_scan(a, b) -> None:
    assert (a is None) == (b is None)
    if a is not None:
        for name in ("number", "time_ns", "time_known", "direction", "client_vmid", "offset", "length"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and (x == y).all(), name


@settings(deadline=None, max_examples=40)
@given(
    stream(),
    st.sampled_from([1, 40, 97, 1 << 23]),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
    st.integers(0, 40),
)
def test_windowed_chain_scan_is_the_loops(records, window, flips, cut):
    """Windows of any size (a record straddling two), damaged bytes and cut files: the chain
    found window by window gives the loop's records, or leaves the decision to it."""
    data = bytearray(_pcap_of(records))
    for at, value in flips:
        if len(data) > 24:
            data[24 + at % (len(data) - 24)] = value
    data = bytes(data[: len(data) - cut % 5 if cut < 5 else len(data)])
    _same_scan(fastpath.scan_pcap(data, "x", window=window), fastpath.scan_pcap(data, "x", window=0))


@settings(deadline=None, max_examples=30)
@given(stream(), st.sampled_from([64, 97, 300, 1 << 23]))
def test_windowed_chain_scan_of_a_clean_file(records, window):
    """A clean file: the chain is found (windows larger than any record) and is the loop's."""
    data = _pcap_of(records)
    if window == 1 << 23 and records:  # no record: the loop says what the file is
        assert fastpath._chained_offsets(data, "<", fastpath.MAX_CAPLEN, window) is not None
    _same_scan(fastpath.scan_pcap(data, "x", window=window), fastpath.scan_pcap(data, "x", window=0))
