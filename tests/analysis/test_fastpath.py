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

import pandas as pd
from hypothesis import given, settings
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
    kind = draw(st.sampled_from(["call", "call", "built", "built", "garbage", "stray"]))
    if kind == "garbage":
        return [draw(st.binary(max_size=20))]
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
