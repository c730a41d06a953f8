"""The narrow path of ``ghrm stats`` equals the ``Trace``'s, whatever the block boundaries.

A capture read in blocks of a few bytes puts block boundaries inside fragmented messages and
between requests and their replies; the records, the call columns and the SRT must be those of
the whole file read at once, and the SRT that of ``Trace.srt``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis import calls, fastpath
from dissector.analysis.calls import ErrorRow, error_rows, errors_table, read_calls, srt_table
from dissector.analysis.columns import CallColumns
from dissector.capture.detect import open_records
from dissector.capture.reassembly import RawMessage
from dissector.capture.record import Record
from dissector.trace import open_trace
from tests.analysis.test_fastpath import _pcap_of, stream

TRACES = Path(__file__).resolve().parents[2] / "traces"
BUNDLED = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng"))


@contextmanager
def _file(data: bytes) -> Iterator[str]:
    fd, path = tempfile.mkstemp(suffix=".pcap")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield path
    finally:
        os.unlink(path)


def _data(kept: RawMessage | bytes) -> bytes:
    """A kept call's bytes (kept whole or as bytes alone: which may differ with the blocks)."""
    return kept if isinstance(kept, bytes) else kept.data


def _equal_calls(a: CallColumns, b: CallColumns) -> None:
    assert a.first_timed == b.first_timed
    assert {k: _data(v) for k, v in a.raw.items()} == {k: _data(v) for k, v in b.raw.items()}
    for f in dataclasses.fields(CallColumns):
        if f.name not in ("first_timed", "raw"):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name


def _same_errors(rows: list[ErrorRow] | None, table: pd.DataFrame) -> None:
    """The rows ``ghrm errors`` prints from arrays (no pandas) are those of the table."""
    assert rows is not None and len(rows) == len(table)
    for row, r in zip(rows, table.itertuples(index=False), strict=True):
        assert (row.name, row.err_name, row.err_code, row.errno, row.count, row.vmids) == (
            r.name, r.err_name, r.err_code, r.errno, r.count, r.vmids,
        )  # fmt: skip
        assert tuple(row.frames) == r.frames
        for mine, theirs in ((row.first, r.first), (row.last, r.last)):
            assert mine == theirs or (np.isnan(mine) and np.isnan(theirs))


def _same_srt(narrow: pd.DataFrame, trace: pd.DataFrame) -> None:
    """Equal tables; the ``name`` categories may be listed in another order (not shown anywhere)."""
    pd.testing.assert_frame_equal(narrow, trace, check_categorical=False, check_exact=True)
    assert list(narrow.columns) == list(trace.columns)
    assert [str(d) for d in narrow.dtypes] == [str(d) for d in trace.dtypes]


@settings(deadline=None, max_examples=25)
@given(stream(), st.integers(1, 300))
def test_blocks_hold_the_records_of_the_whole_file(records, block):
    data = _pcap_of(records)
    with _file(data) as path:
        blocks = fastpath.scan_blocks(path, block)
        assert blocks is not None
        got = [rc.record(i) for rc in blocks for i in range(len(rc))]
    whole = fastpath.scan_pcap(data, path)
    assert whole is not None
    assert got == [whole.record(i) for i in range(len(whole))]


@settings(deadline=None, max_examples=40)
@given(stream(), st.integers(1, 300), st.sampled_from([1, 2, 5, 64, 1 << 20]))
def test_calls_read_in_blocks_equal_the_whole_file_and_the_trace(records, block, srt_block):
    """Blocks of 1-300 bytes: boundaries inside fragmented messages and inside request/reply
    pairs; the SRT paired a block at a time (``paired_requests``, blocks of ``srt_block`` bytes)
    equals the trace's."""
    with _file(_pcap_of(records)) as path:
        parts, whole = read_calls(path, block_bytes=block), read_calls(path, block_bytes=1 << 30)
        assert parts is not None and whole is not None
        _equal_calls(parts, whole)
        streamed = calls.streamed_calls(path, "rm", srt_block)
        assert streamed is not None
        _equal_calls(CallColumns.joined(list(streamed)), whole)
        req = calls.paired_requests([path], "rm", block_bytes=srt_block)
        ref = calls.paired_requests([path], "rm", block_bytes=1 << 30)
        assert req is not None and ref is not None
        for f in ("capture", "msg_id", "status", "latency"):
            np.testing.assert_array_equal(getattr(req, f), getattr(ref, f))
        table = srt_table([path])
        assert table is not None
        _same_srt(table, open_trace(path).srt)


@pytest.mark.parametrize("trace", BUNDLED, ids=lambda p: p.name)
@pytest.mark.parametrize("block", [64, 1 << 23])
def test_srt_of_every_bundled_trace_as_pcap(trace, block):
    """Every bundled trace written as a classic pcap (what the block scan reads)."""
    with open_records(str(trace)) as items:
        records = [r for r in items if isinstance(r, Record)]
    with _file(_pcap_of(records)) as path:
        calls = read_calls(path, block_bytes=block)
        assert calls is not None
        ref = open_trace(path)
        table = srt_table([path, path], client=None)
        assert table is not None
        _same_srt(table, open_trace([path, path]).srt)
        client = sorted(set(ref.transactions["client_vmid"].tolist()))[:1]
        table = srt_table([path], client=client)
        assert table is not None
        _same_srt(table, ref.df_srt(client=client))
        for clients in (None, client):
            errors = errors_table([path, path], client=clients)
            assert errors is not None
            pd.testing.assert_frame_equal(
                errors, open_trace([path, path]).df_errors(client=clients), check_categorical=False
            )
            _same_errors(error_rows([path, path], client=clients), errors)
        _same_errors(error_rows([path]), ref.errors)


def test_what_the_block_scan_declines_goes_to_the_trace():
    one = bytes.fromhex("210101000100005600000000")
    records = [Record(i + 1, 10**9 + i, 1, 3, one) for i in range(10)]  # type: ignore[arg-type]
    data = bytearray(_pcap_of(records))
    record_size = 16 + 4 + len(one)
    data[24 + 8 * record_size + 16] = 2  # capture header version of the 9th record
    with _file(bytes(data)) as path:
        assert read_calls(path, block_bytes=3 * record_size) is None
        assert srt_table([path]) is None
    with _file(bytes(data[: 24 + 9 * record_size - 1])) as path:  # a cut record
        assert read_calls(path, block_bytes=3 * record_size) is None
    with _file(b"\x0a\x0d\x0d\x0a" + bytes(data[4:])) as path:  # not a pcap
        assert read_calls(path) is None


def test_a_message_aborted_in_another_block_is_aborted_there_too():
    """A first fragment, then (next block) a new request on its queue that aborts it, then a
    stray continuation: read one record per block, the continuation must not join the aborted
    message (the reassembly state, and which record follows a fragment, cross the boundary)."""
    import struct

    from dissector.capture.record import Direction
    from dissector.layers import fragment

    call = struct.pack("<BBHI", 0x21, 1, 7, 0x56000001)
    big = struct.pack("<BBHI", 0x21, 2, 7, 0x56000001) + bytes(300)  # a long OK reply
    first, rest = fragment(big)[0], fragment(big)[1:]
    other = struct.pack("<BBHI", 0x21, 3, 8, 0x56000002) + bytes(4)  # a notification: aborts it
    pieces = [(call, Direction.TO_RM), (first, Direction.FROM_RM), (other, Direction.FROM_RM)]
    pieces += [(p, Direction.FROM_RM) for p in rest]
    records = [Record(i + 1, 10**9 * (i + 1), d, 3, p) for i, (p, d) in enumerate(pieces)]
    with _file(_pcap_of(records)) as path:
        parts, whole = read_calls(path, block_bytes=1), read_calls(path, block_bytes=1 << 30)
        assert parts is not None and whole is not None
        _equal_calls(parts, whole)
        table = srt_table([path])
        assert table is not None
        _same_srt(table, open_trace(path).srt)


@settings(deadline=None, max_examples=30)
@given(stream(), st.integers(1, 300))
def test_errors_read_in_blocks_equal_the_trace(records, block):
    """The errors table of the narrow path (calls kept whole for ``vm`` rule 1 included)."""
    keep = np.array(sorted({*range(0x56000001, 0x56000090, 3)}), np.int64)
    with _file(_pcap_of(records)) as path:
        parts = read_calls(path, block_bytes=block, vmids=True, keep=(keep, keep))
        whole = read_calls(path, block_bytes=1 << 30, vmids=True, keep=(keep, keep))
        assert parts is not None and whole is not None
        _equal_calls(parts, whole)
        table = errors_table([path])
        assert table is not None
        pd.testing.assert_frame_equal(table, open_trace(path).errors, check_categorical=False)
        _same_errors(error_rows([path]), table)


def test_malformed_memory_calls_are_kept_whole_and_the_rest_as_bytes():
    """``vm`` rule 1 reads the memory/IRQ calls' payloads: well-formed ones from their bytes
    alone, malformed ones (a cut SGL, a handle call cut inside its handle) through Scapy, as the
    ``Trace`` does; the errors table (its ``vm`` sets) stays the ``Trace``'s."""
    from dissector.analysis.context import RESOURCE_CALLS
    from dissector.analysis.fields import msg_id_of
    from dissector.protocol.wire import REQUEST

    with open_records(str(TRACES / "faults_mix.pcapng")) as items:
        records = [r for r in items if isinstance(r, Record)]
    lend, reclaim = msg_id_of("MEM_LEND"), msg_id_of("MEM_RECLAIM")
    cut: dict[int, int] = {}
    for r in records:
        msg_id = int.from_bytes(r.data[4:8], "little")
        if r.data[1] == REQUEST and msg_id in (lend, reclaim) and msg_id not in cut.values():
            cut[r.number] = msg_id
    assert len(cut) == 2

    def malformed(r: Record) -> Record:  # a MEM_LEND with its SGL cut, a MEM_RECLAIM inside its handle
        return dataclasses.replace(r, data=r.data[:-3] if cut[r.number] == lend else r.data[:10])

    records = [malformed(r) if r.number in cut else r for r in records]
    ids = np.array([msg_id_of(n) for n in RESOURCE_CALLS], np.int64)
    for block in (64, 1 << 23):
        with _file(_pcap_of(records)) as path:
            kept = read_calls(path, block_bytes=block, vmids=True, keep=(ids, ids))
            assert kept is not None
            assert all(isinstance(kept.raw[f], RawMessage) for f in cut)
            assert any(isinstance(v, bytes) for v in kept.raw.values())
            table = errors_table([path])
            assert table is not None
            pd.testing.assert_frame_equal(table, open_trace(path).errors, check_categorical=False)
            _same_errors(error_rows([path]), table)


@pytest.mark.parametrize("step_ns", [1, 37, 1000])
def test_error_times_in_nanoseconds_closer_than_a_float_tells_apart(step_ns):
    """Replies a few ns apart at an epoch time share a float: ``first``/``last`` of the text
    (``error_rows``) go through the exact ns as ``timebase.present`` does for the table.

    (Where messages are closer than a float tells apart, the narrow table maps a float to the
    first error reply with it and the ``Trace``'s to the first message of any kind: they agree
    from ~240 ns apart, as here at 1000 ns; the text is the narrow table's in every case.)"""
    from tests.analysis.rmconvo import Conversation

    c = Conversation(step_ns=step_ns)
    c.boot(0x80)
    for k in range(12):
        c.call("VM_START", err=2 if k % 3 else 6, vmid=0x80 + k % 4)
    with _file(_pcap_of(c.records)) as path:
        table = errors_table([path])
        assert table is not None and len(table) == 2
        if step_ns >= 1000:
            pd.testing.assert_frame_equal(table, open_trace(path).errors, check_categorical=False)
        _same_errors(error_rows([path]), table)
