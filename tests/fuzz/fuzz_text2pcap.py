"""Fuzz target: the text2pcap-style hex dump parser (through the bounded line splitter).

Promises checked: no exception, record numbers rise, no record larger than a packet may grow,
every record is decoded.
"""

from __future__ import annotations

import io

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture._stream import iter_lines
    from dissector.capture.text2pcap import MAX_PACKET_BYTES, read_text2pcap

DICTIONARY = (
    b"0000  ",
    b"0010  ",
    b"000000 ",
    b"I ",
    b"O ",
    b"2026-01-01 00:00:00.000001",
    b"1700000000.5",
    b"01 01 03 00 21 01 ",
    b"   |....|",
    b"\n",
)


def seeds() -> list[bytes]:
    """The text2pcap dumps of the robustness corpus."""
    return corpus_files(".txt")


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as a text2pcap dump."""
    items = list(read_text2pcap(iter_lines(io.BytesIO(data), max_line=4096), "fuzz.txt"))
    records = check_reader_items(items, max_record=MAX_PACKET_BYTES)
    decode_all(records)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
