"""Fuzz target: pcapng reader, then reassembly and decoding.

An input whose first byte is even gets a valid section header and two interfaces (DLT 147 and
DLT 252) in front. Promises checked as for pcap: damage is reported in the stream, record
numbers rise, nothing follows a fatal problem, every record is decoded.
"""

from __future__ import annotations

import io
import struct

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture.errors import UnsupportedCapture
    from dissector.capture.pcapng import MAX_BLOCK, read_pcapng


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


HEADER = (
    _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    + _block(1, struct.pack("<HHI", 147, 0, 0))
    + _block(1, struct.pack("<HHI", 252, 0, 0))
)
DICTIONARY = (
    struct.pack("<I", 0x0A0D0D0A),
    struct.pack("<I", 0x1A2B3C4D),
    struct.pack("<I", 6),
    struct.pack("<I", 3),
    struct.pack("<I", 1),
    b"\x01\x01\x03\x00\x21",
    b"\x00\x0cgunyah_rm",
)


def seeds() -> list[bytes]:
    """The pcapng files of the robustness corpus."""
    return corpus_files(".pcapng")


def test_one_input(data: bytes) -> None:
    """Read ``data`` as a pcapng file (after a valid header when the first byte is even)."""
    wrapped = not data or data[0] % 2 == 0
    blob = HEADER + data[1:] if wrapped else data
    try:
        items = list(read_pcapng(io.BytesIO(blob), "fuzz.pcapng"))
    except UnsupportedCapture:
        assert not wrapped, "a valid pcapng section header was refused"
        return
    records = check_reader_items(items, max_record=MAX_BLOCK)
    decode_all(records)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
