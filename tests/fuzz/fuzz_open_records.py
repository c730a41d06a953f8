"""Fuzz target: ``open_records`` (format detection, gzip) and each reader forced on any bytes.

Promises checked: the only exception is ``UnsupportedCapture`` (a clear "not a capture"),
raised before the first item; the detected format is a known one; the stream and its decoding
never raise.
"""

from __future__ import annotations

import io

from _harness import corpus_files, instrumented, run

with instrumented(__name__):
    from _checks import check_reader_items, decode_all

    from dissector.capture.detect import FORMATS, open_records
    from dissector.capture.errors import UnsupportedCapture


def seeds() -> list[bytes]:
    """Every file of the robustness corpus."""
    return corpus_files()


def test_one_input(data: bytes) -> None:
    """Open ``data`` with detection, then with each format forced."""
    for fmt in (None, *FORMATS):
        try:
            stream = open_records(io.BytesIO(data), fmt=fmt)
        except UnsupportedCapture:
            continue
        assert stream.format.removeprefix("gzip+").removeprefix("utf16+") in FORMATS, stream.format
        with stream:
            records = check_reader_items(list(stream), max_record=1 << 24)
        decode_all(records)


if __name__ == "__main__":
    run(test_one_input, seeds)
