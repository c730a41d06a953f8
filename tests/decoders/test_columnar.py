"""``MessageColumns.message_bytes`` (the columnar decoder's) gives ``raw_message(row).data``.

Why it matters: ``context.resource_vms`` reads the payloads of tens of thousands of memory and IRQ
calls through it instead of building a ``RawMessage`` for each; generated streams cover cut,
over-long, fragmented, stray and kernel-log records.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from dissector.analysis import fastpath
from dissector.decoders import columnar
from dissector.trace import load_capture
from tests.analysis.test_fastpath import stream


def _check(cols) -> None:  # type: ignore[no-untyped-def]
    if not len(cols):
        return
    assert cols.message_bytes is not None and cols.raw_message is not None
    for i in range(len(cols)):
        assert cols.message_bytes(i) == cols.raw_message(i).data, i


@settings(deadline=None, max_examples=40)
@given(stream())
def test_message_bytes_are_the_raw_messages_data(records):
    rc, _ = fastpath.columns_from_records(records, "s")
    cols = columnar.decode(rc, "s")
    _check(cols)
    backwards = cols.take(np.arange(len(cols))[::-1])
    _check(backwards)
    if len(cols):
        _check(cols.take(np.arange(len(cols)) % 2 == 0))


def test_message_bytes_on_bundled_traces():
    for trace in ("faults_mix.pcapng", "malformed_truncated.pcapng", "dmesg_hexlog.log", "hang.pcap"):
        cols, _ = load_capture(f"traces/{trace}", trace)
        _check(cols)
