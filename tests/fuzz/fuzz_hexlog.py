"""Fuzz target: the kernel hex-dump log parser (through the bounded line splitter).

Promises checked: no exception, record numbers 1..n in order, no record larger than a dump
may grow, every record is decoded.
"""

from __future__ import annotations

import io

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture._stream import iter_lines
    from dissector.capture.hexlog import MAX_DUMP_BYTES, read_hexlog

DICTIONARY = (
    b"gh_rm_recv: ",
    b"00000000: ",
    b"00000010: ",
    b"gh_rm_call TX: ",
    b"gh_rm_call RX: ",
    b"@gh_rm_call TX: ",
    b"gh_rm_call TX msg_id: ",
    b"RM rejected message ",
    b". Error: ",
    b"[    1.000000] ",
    b"21 02 01 00 01 00 00 56 ",
    b"\n",
)


def seeds() -> list[bytes]:
    """The kernel logs of the robustness corpus."""
    return corpus_files(".log")


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as a kernel log."""
    items = list(read_hexlog(iter_lines(io.BytesIO(data), max_line=4096), "fuzz.log"))
    records = check_reader_items(items, max_record=MAX_DUMP_BYTES + 8)
    assert [r.number for r in records] == list(range(1, len(records) + 1))
    decode_all(records)


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
