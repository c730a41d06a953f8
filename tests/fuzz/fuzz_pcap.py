"""Fuzz target: classic pcap reader, then reassembly and decoding.

An input whose first byte is even gets a valid pcap file header (DLT 147) in front, so the
fuzzer spends its time in the record loop and resynchronisation rather than on the magic.
Promises checked: after the file header only ``CaptureProblem`` items report damage (no
exception), record numbers rise, nothing follows a fatal problem, every record is decoded.
"""

from __future__ import annotations

import io
import struct

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture.errors import UnsupportedCapture
    from dissector.capture.pcap import MAX_CAPLEN, read_pcap

HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
DICTIONARY = (HEADER, struct.pack("<I", 0xA1B23C4D), b"\x01\x01\x03\x00\x21", b"\xff\xff\xff\xff")


def seeds() -> list[bytes]:
    """The pcap files of the robustness corpus."""
    return corpus_files(".pcap")


def test_one_input(data: bytes) -> None:
    """Read ``data`` as a pcap file (after a valid header when the first byte is even)."""
    wrapped = not data or data[0] % 2 == 0
    blob = HEADER + data[1:] if wrapped else data
    try:
        items = list(read_pcap(io.BytesIO(blob), "fuzz.pcap"))
    except UnsupportedCapture:
        assert not wrapped, "a valid pcap file header was refused"
        return
    records = check_reader_items(items, max_record=MAX_CAPLEN)
    decode_all(records)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
