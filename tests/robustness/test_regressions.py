"""Bugs found while hardening ghrm against hostile input (issue #7), one test each.

The inputs that first showed them are also kept under ``tests/fuzz/regressions/`` and replayed
through the fuzz targets; resource-bound fixes are tested in ``test_bounds.py``.
"""

from __future__ import annotations

import gzip
import io
import struct
import time

import pytest

from dissector.capture.detect import open_records
from dissector.capture.errors import UnsupportedCapture
from dissector.capture.pcap import read_pcap
from dissector.capture.record import CaptureProblem, Record
from dissector.decoded import decode_records
from dissector.errors import BadHeader
from dissector.layers import dissect, dissect_record, malformations
from tests.capture.capbytes import ALLOC_REQ, START_REP_NORES, T0, cap, pcap_file, pcap_header, pcap_record

PCAP = pcap_file([(T0 + i, 0, cap(ALLOC_REQ)) for i in range(3)])


def test_empty_message_is_malformed_not_a_default_request() -> None:
    """``dissect(b"")`` used to build Scapy's defaults: a valid-looking request, 8 bytes long."""
    pkt = dissect(b"")
    assert bytes(pkt) == b""
    assert pkt.msg_type is None and pkt.msg_id is None
    assert [m.kind for m in malformations(pkt)] == ["header"]
    with pytest.raises(BadHeader):
        dissect(b"", strict=True)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x02", b"\x01\x02\x03"])
def test_record_shorter_than_capture_header(data: bytes) -> None:
    """``dissect_record`` of 1..3 bytes raised ``struct.error`` from Scapy."""
    pkt = dissect_record(data)
    assert bytes(pkt) == data
    assert "shorter than the 4-byte capture header" in str(malformations(pkt)[0])
    with pytest.raises(BadHeader):
        dissect_record(data, strict=True)


def test_record_with_only_a_capture_header_is_reported() -> None:
    pkt = dissect_record(cap(b""))
    assert "no message after the capture header" in str(malformations(pkt)[0])


def test_gzip_cut_short_keeps_records_and_reports() -> None:
    """A cut .gz raised ``EOFError`` out of the record stream."""
    items = list(open_records(io.BytesIO(gzip.compress(PCAP, mtime=0)[:-12])))
    assert sum(isinstance(i, Record) for i in items) >= 1
    assert isinstance(items[-1], CaptureProblem) and items[-1].fatal
    assert "gzip stream is damaged" in items[-1].reason


def test_gzip_corrupt_at_the_start_is_a_clear_error() -> None:
    """A corrupt deflate stream raised ``zlib.error`` from format detection."""
    blob = bytearray(gzip.compress(PCAP, mtime=0))
    blob[12:20] = b"\xff" * 8
    with pytest.raises(UnsupportedCapture, match="gzip stream is damaged"):
        open_records(io.BytesIO(bytes(blob)))


def test_gzip_nested_deep_is_refused() -> None:
    """Gzip inside gzip, 200 deep, recursed until ``RecursionError``."""
    blob = PCAP
    for _ in range(200):
        blob = gzip.compress(blob, mtime=0)
    with pytest.raises(UnsupportedCapture, match="nested more than"):
        open_records(io.BytesIO(blob))
    double = gzip.compress(gzip.compress(PCAP, mtime=0), mtime=0)
    assert open_records(io.BytesIO(double)).format == "gzip+pcap"


def test_pcap_caplen_above_len_is_reported() -> None:
    """caplen > len (impossible) was accepted silently."""
    data = pcap_header() + pcap_record(T0, 0, cap(ALLOC_REQ), origlen=8)
    items = list(read_pcap(io.BytesIO(data)))
    assert isinstance(items[0], Record) and items[0].data == ALLOC_REQ
    assert "caplen 16 exceeds the original length 8" in items[1].reason


def test_pcap_resync_over_megabytes_of_garbage_is_fast() -> None:
    """Resynchronisation tested every byte in Python: ~1 MB/s, minutes for a damaged capture."""
    bad = struct.pack("<IIII", T0, 0, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(range(256)) * (16 << 12)
    data = pcap_header() + pcap_record(T0, 0, cap(ALLOC_REQ)) + bad + pcap_record(T0, 1, cap(ALLOC_REQ))
    start = time.perf_counter()
    items = list(read_pcap(io.BytesIO(data)))
    assert time.perf_counter() - start < 5  # 16 MiB; a C scan takes well under a second
    assert [type(i).__name__ for i in items] == ["Record", "CaptureProblem", "Record"]


def test_pcap_resync_keeps_a_good_record_between_two_damaged_stretches() -> None:
    """A good record followed at once by more damage was skipped along with the damage."""
    bogus = struct.pack("<IIII", T0, 0, 0xFFFFFFFF, 0xFFFFFFFF)
    data = pcap_header() + bogus + pcap_record(T0, 0, cap(START_REP_NORES, 2)) + bogus + bytes(40)
    messages = [i for i in decode_records(read_pcap(io.BytesIO(data))) if not isinstance(i, CaptureProblem)]
    assert [m.msg_name for m in messages] == ["VM_START"] and messages[0].err_name == "NORESOURCE"
