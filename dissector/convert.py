"""``ghrm convert``: any readable input -> a pcap/pcapng capture, written all-or-nothing.

Safety: the output format is settled and the destination checked (writable, not the input
itself) before reading starts, and the capture is written to a temporary file beside the
destination that replaces it only when everything was written: a failure leaves nothing
behind, and the destination's old content survives a failed run. The records themselves are
turned into capture records by ``dissector.capture.convert``.
"""

from __future__ import annotations

import os
from typing import IO

from dissector.capture.convert import ConvertResult, output_format, wire_records
from dissector.capture.detect import open_records
from dissector.capture.writer import write_capture
from dissector.paths import atomic_output, check_output


def convert(
    source: str | os.PathLike[str] | IO[bytes], destination: str | os.PathLike[str], fmt: str | None = None
) -> ConvertResult:
    """Read ``source`` (any supported format) and write ``destination`` (by suffix, or ``fmt``).

    Raises ``OutputError`` before reading when the destination cannot be written or is the
    source itself; see the module docstring for how the file is replaced.
    """
    fmt = output_format(destination, fmt)
    inputs = [os.fspath(source)] if isinstance(source, str | os.PathLike) else []
    check_output(os.fspath(destination), inputs)
    result = ConvertResult()
    with open_records(source) as stream, atomic_output(destination) as tmp:
        result.records = write_capture(tmp, wire_records(stream, result, fmt), fmt)
    return result
