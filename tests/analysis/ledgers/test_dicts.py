"""``ColumnDicts``: the jsonl dict of a message made from the columns is the one the general
decoding gives (``events._decoded_row``: the compiled decoder, Scapy for the malformed), with the
same keys in the same order, the same values and value types, for every message of every bundled
trace in each dialect it is read in, of simulated captures with every fault, and of captures
whose bytes were damaged anywhere (hypothesis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dissector
from dissector.analysis.columns import MessageColumns
from dissector.analysis.ledgers.dicts import ColumnDicts
from dissector.analysis.ledgers.events import _column_dicts, _decoded_row
from dissector.capture.detect import open_records
from dissector.capture.record import Record
from dissector.decoders import compiled
from dissector.decoders.compiled import CompiledMessage
from dissector.sim import simulate
from dissector.trace import Trace
from tests.analysis.ledgers.test_events_messages import BUNDLED, FAULTS


def _typed(row: dict) -> list[tuple]:
    return [(k, type(v).__name__, v) for k, v in row.items()]


def _assert_equal_dicts(cols: MessageColumns, dialect: str) -> int:
    """Every row's dict from the columns equals the general one; returns how many rows took the
    column path (so a test can tell it was exercised)."""
    rows = np.arange(len(cols))
    made = _column_dicts(cols, rows, dialect)
    for k in range(len(made)):
        full = _decoded_row(cols, k, dialect)
        assert _typed(made.get(k)) == _typed(full), f"{cols.capture} row {k}"
        _assert_light(made, k, full, dialect)
    return sum(made.plain)


def _assert_light(made: ColumnDicts, k: int, full: dict, dialect: str) -> None:
    """What ``light`` reads of a row (and ``time``) is its whole dict's, same types; it reads
    every row the column path takes (and no other)."""
    light = made.light(k)
    if made.plain[k]:
        assert (light is not None) == (made._plain(k) is not None)
    elif made.cols.malformed[made.rows[k]] is None and k in made.cols.multi_frames:
        # a reassembled message: read from its RawMessage wherever the compiled decoder takes it
        # (a continuation under a header cut bare goes to Scapy, and then so does ``light``)
        raw = made.cols.raw_message(made.rows[k])
        compiled_view = isinstance(compiled.decode_message(raw, dialect), CompiledMessage)
        assert (light is not None) == compiled_view
    if light is not None:
        if "time" not in light:
            light["time"] = made.time(k)
        assert _typed(light) == _typed({key: full[key] for key in light}), f"row {k}"
        assert getattr(light["time"], "text", None) == getattr(full["time"], "text", None)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_message_of_the_bundled_traces(path: Path) -> None:
    dialects = ("rm", "linux-v16", "linux-v17") if path.name.startswith(("v16", "v17")) else ("rm",)
    for dialect in dialects:
        for cols in dissector.open(str(path), dialect=dialect)._base.columns:
            _assert_equal_dicts(cols, dialect)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_message_of_simulated_faults(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "faults.pcapng"
    simulate(vms=4, seed=seed, duration=3.0, faults=FAULTS, output=str(path), truth=False)
    (cols,) = dissector.open(str(path))._base.columns
    assert _assert_equal_dicts(cols, "rm") > len(cols) // 2


def test_rows_the_columns_cannot_vouch_for_go_the_general_way(tmp_path: Path) -> None:
    """Only whole, well-formed one-record messages with a time and a seq take the column path."""
    path = tmp_path / "faults.pcapng"
    simulate(vms=4, seed=3, duration=3.0, faults=FAULTS, output=str(path), truth=False)
    (cols,) = dissector.open(str(path))._base.columns
    made = ColumnDicts(cols, np.arange(len(cols)), "rm", lambda i: {"slow": i})
    plain = np.array(made.plain)
    assert not plain[[i for i, m in enumerate(cols.malformed) if m is not None]].any()
    assert not plain[list(cols.multi_frames)].any() and not plain[cols.fragments != 0].any()
    assert not plain[~cols.time_known].any() and not plain[cols.seq < 0].any()
    assert made.get(int(np.flatnonzero(~plain)[0])) == {"slow": int(np.flatnonzero(~plain)[0])}


_RECORDS: list[Record] = []


def _records() -> list[Record]:
    if not _RECORDS:
        path = Path(__file__).resolve().parents[3] / "traces" / "reclaim_storm.pcapng"
        _RECORDS.extend(r for r in open_records(str(path)) if isinstance(r, Record))
    return _RECORDS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_bytes_anywhere(data: st.DataObject) -> None:
    """Bytes overwritten, records cut or lengthened, times dropped: still the general path's dicts."""
    records = list(_records())
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.integers(0, len(records) - 1))
        r = records[i]
        kind = data.draw(st.sampled_from(["byte", "cut", "grow", "untimed"]))
        if kind == "byte" and r.data:
            at = data.draw(st.integers(0, len(r.data) - 1))
            value = data.draw(st.integers(0, 255))
            records[i] = dataclasses.replace(r, data=r.data[:at] + bytes([value]) + r.data[at + 1 :])
        elif kind == "cut":
            records[i] = dataclasses.replace(r, data=r.data[: data.draw(st.integers(0, len(r.data)))])
        elif kind == "grow":
            records[i] = dataclasses.replace(r, data=r.data + data.draw(st.binary(min_size=1, max_size=24)))
        else:
            records[i] = dataclasses.replace(r, time_ns=None)
    (cols,) = Trace.from_records(records)._base.columns
    _assert_equal_dicts(cols, "rm")
