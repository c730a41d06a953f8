"""Property (d) of issue #7: the analysis tables never raise on decoded garbage.

Garbage reaches the tables three ways, and each is tried with both engines: records in memory
(``Trace.from_records``), every file of the malformed corpus (``dissector.open``), and damaged
pcap files on disk (where ``dissector.open`` takes the numpy fast path over the raw bytes).
Every table attribute is computed, and again for a time window of the trace.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dissector
from dissector.capture.errors import UnsupportedCapture
from dissector.capture.record import Direction, Record
from dissector.trace import TABLE_ATTRIBUTES, Trace
from tests.robustness.test_properties import corrupt_records, damaged_sessions

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
ENGINES = ["fast", "scapy"]
# A trace computes every table (pandas): a third of the profile's examples keeps CI quick.
EXAMPLES = max(10, settings.default.max_examples // 3)


def _all_tables(trace: Trace) -> None:
    """Compute every table of ``trace`` and of a window of it; each must be a DataFrame."""
    for name in TABLE_ATTRIBUTES:
        assert isinstance(getattr(trace, name), pd.DataFrame), name
    trace.vmids  # noqa: B018 - computed for its own sake
    for vmid in sorted(set(trace.lifecycles["vmid"].tolist()))[:3]:
        assert isinstance(trace.lifecycle(vmid), pd.DataFrame)
    if trace.start is not None and trace.end is not None:
        middle = trace.start + (trace.end - trace.start) / 2  # UTC timestamps
        window = trace.window(trace.start, middle)
        for name in TABLE_ATTRIBUTES:
            assert isinstance(getattr(window, name), pd.DataFrame), name
    repr(trace)


garbage_records = st.lists(
    st.tuples(corrupt_records, st.sampled_from(list(Direction)), st.sampled_from([0, 3, 0x80, 0xFFFF])),
    max_size=12,
).map(
    lambda rows: [
        Record(n, 1_767_225_600_000_000_000 + n * 1_000_000, d, vmid, data)
        for n, (data, d, vmid) in enumerate(rows, 1)
    ]
)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.one_of(garbage_records, damaged_sessions().map(lambda s: s[0])))
def test_tables_of_garbage_records(engine: str, records: list[Record]) -> None:
    _all_tables(Trace.from_records(records, engine=engine))


# Inputs on which the analysis stage (not the capture or layer code) still fails; each is reported.
KNOWN_ANALYSIS_BUGS: dict[str, str] = {}


def _corpus_case(case: dict) -> object:
    bug = KNOWN_ANALYSIS_BUGS.get(case["file"])
    return pytest.param(case, id=case["file"], marks=pytest.mark.xfail(reason=bug) if bug else ())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", [_corpus_case(c) for c in EXPECTED])
def test_tables_of_the_malformed_corpus(engine: str, case: dict) -> None:
    path = CORPUS / case["file"]
    if case["error"] is not None:
        with pytest.raises(UnsupportedCapture):
            dissector.open(path, engine=engine)
        return
    trace = dissector.open(path, engine=engine)
    _all_tables(trace)
    assert len(trace.problems) == len(case["problems"])


def _pcap(records: list[Record]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 147)
    for r in records:
        sec, ns = divmod(r.time_ns or 0, 10**9)
        body = struct.pack("<BBH", 1, int(r.direction), r.client_vmid) + r.data
        out += struct.pack("<IIII", sec, ns, len(body), len(body)) + body
    return out


@settings(
    max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    records=st.one_of(garbage_records, damaged_sessions().map(lambda s: s[0])),
    cut=st.integers(0, 64),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
)
def test_tables_of_damaged_pcap_files(
    tmp_path: Path, records: list[Record], cut: int, flips: list[tuple[float, int]]
) -> None:
    """The fast path reads pcap files itself (numpy over the bytes): damage must not break it."""
    blob = bytearray(_pcap(records))
    for where, value in flips if len(blob) > 24 else []:
        blob[24 + int(where * (len(blob) - 24))] = value
    data = bytes(blob[: max(24, len(blob) - cut)])
    path = tmp_path / "damaged.pcap"
    path.write_bytes(data)
    for engine in ENGINES:
        _all_tables(dissector.open(path, engine=engine))
