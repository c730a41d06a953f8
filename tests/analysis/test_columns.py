"""``dissector.analysis.columns``: ``MessageColumns`` row access agrees with its whole columns."""

from __future__ import annotations

from pathlib import Path

from dissector.analysis import fastpath
from dissector.capture.detect import open_records
from dissector.decoders import columnar

TRACES = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "traces").iterdir()
    if p.suffix in (".pcap", ".pcapng", ".log")
)


def test_frames_of_a_row_is_that_row_of_frames() -> None:
    """``frames_of(row)`` (one message, what per-row readers use) is ``frames[row]`` (the column
    built whole) on every bundled trace, fragmented messages included."""
    fragmented = 0
    for path in TRACES:
        rc, _ = fastpath.columns_from_records(open_records(path), path.name)
        cols = columnar.decode(rc, path.name)
        assert [cols.frames_of(i) for i in range(len(cols))] == list(cols.frames), path.name
        fragmented += len(cols.multi_frames)
    assert fragmented > 0  # the traces hold reassembled messages, so both branches ran


def test_take_keeps_each_row_s_emission_key() -> None:
    """``take`` (a reorder or a subset) carries the sparse ``emitted`` column with its rows: every
    taken row keeps the emission key it had, on every bundled trace."""
    import numpy as np

    emitted = 0
    for path in TRACES:
        rc, _ = fastpath.columns_from_records(open_records(path), path.name)
        cols = columnar.decode(rc, path.name)
        assert cols.emitted is not None
        emitted += len(cols.emitted)
        keys = columnar.emitted_keys(cols.frame, cols.emitted)
        for order in (np.random.default_rng(5).permutation(len(cols)), np.arange(len(cols)) % 3 == 1):
            taken = cols.take(order)
            assert taken.emitted is not None
            assert columnar.emitted_keys(taken.frame, taken.emitted).tolist() == keys[order].tolist()
    assert emitted > 0


def test_sparse_columns_give_back_the_whole_columns() -> None:
    """``SparseColumns`` keeps the rows holding a value; every read is the column it was given
    (dtype included), whether no row, some or every row holds one, and for no rows at all."""
    import numpy as np

    from dissector.analysis.columns import UNKNOWN, SparseColumns

    rng = np.random.default_rng(7)
    for n in (0, 1, 50):
        given = {
            "none": np.full(n, UNKNOWN, np.int32),
            "some": np.where(rng.random(n) < 0.1, rng.integers(0, 300, n), UNKNOWN).astype(np.int32),
            "all": rng.integers(0, 2**40, n).astype(np.int64),
        }
        sparse = SparseColumns(n, iter(given.items()))
        assert list(sparse) == list(given) and len(sparse) == len(given)
        for name, column in given.items():
            got = sparse[name]
            assert got.dtype == column.dtype and np.array_equal(got, column), (n, name)
            got[:] = 5  # a read is a new array: the next one is whole again
            assert np.array_equal(sparse[name], column)
