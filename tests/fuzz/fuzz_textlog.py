"""Fuzz target: text logs through format detection, in the encodings and shapes logs come in.

The same text is opened as UTF-8, as UTF-16 with a BOM, with CRLF and with CR line ends, with
ANSI colour codes around every line and with NUL padding. Promises checked: the only
exception is ``UnsupportedCapture``; every variant yields well-formed items that decode; and
the UTF-16 copy yields exactly the records of the UTF-8 original (same bytes, times, directions).
"""

from __future__ import annotations

import io

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture.detect import open_records
    from dissector.capture.errors import UnsupportedCapture
    from dissector.capture.record import Record

DICTIONARY = (
    b"gh_rm_recv: 00000000: ",
    b"gh_rm_call TX msg_id: 56000004\n",
    b"gh_rm_call TX: 00000000: ",
    b"RM rejected message 56000004. Error: 2\n",
    b"[   12.345678] ",
    b"21 02 01 00 04 00 00 56 ",
    b"\x1b[32m",
    b"\x1b[0m",
    b"\r",
    b"\x00",
    b"\n",
)


def seeds() -> list[bytes]:
    """The kernel-log and text2pcap files of the robustness corpus."""
    return corpus_files(".log", ".txt")


def _records(data: bytes) -> list[tuple[int | None, int, bytes]] | None:
    try:
        stream = open_records(io.BytesIO(data))
    except UnsupportedCapture:
        return None
    with stream:
        items = list(stream)
    records = check_reader_items(items, max_record=1 << 24)
    decode_all(items)
    return [(r.time_ns, int(r.direction), r.data) for r in records if isinstance(r, Record)]


def test_one_input(data: bytes) -> None:
    """Open ``data`` and its re-encoded variants."""
    text = data.decode("utf-8", "replace")
    plain = _records(text.encode("utf-8"))
    assert _records(text.encode("utf-16")) == plain
    lines = text.split("\n")
    for variant in (
        "\r\n".join(lines),
        "\r".join(lines),
        "\n".join(f"\x1b[1;32m{line}\x1b[0m" for line in lines),
        "\x00" * 64 + text,
    ):
        _records(variant.encode("utf-8"))


if __name__ == "__main__":
    run(test_one_input, seeds, DICTIONARY)
