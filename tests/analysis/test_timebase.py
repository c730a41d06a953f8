"""The one time base: ``time`` as UTC datetimes, ``t`` and every other instant in seconds since
the capture start, and the CLI printing exactly the tables' ``t``."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dissector
from dissector.analysis.schema import TABLES
from dissector.analysis.timebase import TIME_DTYPE, public_schema
from dissector.cli import main
from dissector.trace import Trace
from tests.analysis.rmconvo import Conversation

TRACES = Path(__file__).resolve().parents[2] / "traces"
BUNDLED = sorted(p for p in TRACES.iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))


def _cli(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    main(list(argv), out, err)
    return out.getvalue()


def _decoded_times(text: str) -> dict[int, str]:
    """frame -> the time column of ``ghrm decode`` text lines."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return {int(r[0]): r[1] for r in rows}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_decode_prints_the_t_column_of_every_bundled_trace(path):
    trace = dissector.open(str(path))
    want = {
        int(f): "-" if math.isnan(t) else f"{t:.6f}"
        for f, t in zip(trace.messages["frame"], trace.messages["t"], strict=True)
    }
    assert _decoded_times(_cli("decode", str(path))) == want


@pytest.mark.parametrize("name", ["faults_mix.pcapng", "fleet_20vms.pcapng", "dmesg_hexlog.log"])
def test_decode_filter_keeps_the_capture_time_base(name):
    """``-Y`` used to restart the time column at the first message it showed."""
    path = str(TRACES / name)
    m = dissector.open(path).messages
    shown = _decoded_times(_cli("decode", path, "-Y", 'type == "reply"'))
    replies = m[m["type"] == "reply"]
    assert len(shown) == len(replies) > 0
    assert shown == {int(f): f"{t:.6f}" for f, t in zip(replies["frame"], replies["t"], strict=True)}
    assert min(float(v) for v in shown.values()) > 0  # not restarted at the first reply


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_analysis_cli_prints_the_t_column(path):
    trace = dissector.open(str(path))
    tx = trace.transactions
    lines = _cli("transactions", str(path)).splitlines()
    if tx.empty:
        assert lines[0].startswith("no requests or replies")
    else:  # frame, time, ...; the call name is short: no line wraps
        assert [line.split()[1] for line in lines[1:]] == [
            "-" if math.isnan(t) else f"{t:.6f}" for t in tx["t"]
        ]
    text = _cli("findings", str(path))
    for t in trace.findings["t"].dropna():
        assert f" {t:.6f} " in text
    text = _cli("lifecycle", str(path))
    for t in trace.lifecycles["start"]:
        assert f" {t:.6f} " in text


def test_time_is_exact_utc_and_t_counts_from_the_first_record():
    trace = dissector.open(str(TRACES / "single_vm_clean.pcapng"))
    m = trace.messages
    assert str(m["time"].dtype) == TIME_DTYPE
    ns = m["time_ns"].to_numpy(np.int64)
    assert (m["time"].array.asi8 == ns).all()
    assert (m["t"].to_numpy() == (ns - ns[0]) / 1e9).all() and m["t"].iloc[0] == 0.0
    assert trace.start == pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(ns[0] - ns[0] // 10**9 * 10**9)
    assert trace.start == m["time"].iloc[0] and trace.end == m["time"].max()
    assert trace.start.tzinfo is not None


def test_every_instant_shares_the_base_and_transactions_match_their_request():
    trace = dissector.open(str(TRACES / "faults_mix.pcapng"))
    t_of = trace.messages.set_index("frame")["t"]
    tx = trace.transactions.dropna(subset=["request_frame"])
    assert (tx["t"].to_numpy() == t_of[tx["request_frame"].astype(int)].to_numpy()).all()  # bit for bit
    assert (tx["request_time"].to_numpy() == tx["t"].to_numpy()).all()
    answered = tx.dropna(subset=["reply_frame"])
    assert (answered["reply_time"].to_numpy() == t_of[answered["reply_frame"].astype(int)].to_numpy()).all()
    assert np.allclose(tx["latency_ms"], tx["latency"] * 1e3, equal_nan=True)
    life = trace.lifecycle_summary
    assert (life["first_seen"].dropna() >= 0).all() and (life["first_seen"].dropna() < 60).all()
    errors = trace.errors
    assert (errors["first"] <= errors["last"]).all() and (errors["first"] >= 0).all()
    # no epoch float anywhere in the public tables
    for name in TABLES:
        table = getattr(trace, name)
        for col in table.select_dtypes("float").columns:
            assert not (table[col].abs() > 1e6).any(), f"{name}.{col}"


def test_window_takes_relative_seconds_or_absolute_times():
    trace = dissector.open(str(TRACES / "slow_rm.pcapng"))
    by_float = trace.window(0.5, 1.0)
    by_time = trace.window(trace.start + pd.Timedelta(seconds=0.5), trace.start + pd.Timedelta(seconds=1))
    pd.testing.assert_frame_equal(by_float.messages, by_time.messages)
    assert by_float.messages["t"].between(0.5, 1.0, inclusive="left").all() and len(by_float.messages)
    naive = (trace.start + pd.Timedelta(seconds=0.5)).tz_localize(None).to_datetime64()
    assert len(trace.window(naive, None).messages) == (trace.messages["t"] >= 0.5).sum()
    assert len(trace.window(0.5, 1.0, relative=True).messages) == len(by_float.messages)
    with pytest.raises(ValueError, match=r"pd\.Timestamp"):
        trace.window(0.5, relative=False)
    with pytest.raises(ValueError, match="not seconds nor a time"):
        trace.window("soon")


def test_each_capture_counts_from_its_own_start_and_shows_its_basename():
    paths = [str(TRACES / "single_vm_clean.pcapng"), str(TRACES / "start_noresource.pcapng")]
    trace = dissector.open(paths)
    assert trace.captures == paths
    m = trace.messages
    assert list(m["capture"].cat.categories) == ["single_vm_clean.pcapng", "start_noresource.pcapng"]
    assert m.groupby("capture", observed=True)["t"].min().tolist() == [0.0, 0.0]
    assert trace.message(1, capture="start_noresource.pcapng").msg_name == "VM_ALLOCATE"


def test_kernel_log_time_since_boot_shows_on_1970():
    trace = dissector.open(str(TRACES / "dmesg_hexlog.log"))
    times = trace.messages["time"].dropna()
    assert (times.dt.year == 1970).all() and trace.messages["t"].iloc[0] == 0.0


def test_untimed_records_give_nat_and_nan():
    c = Conversation()
    c.call("VM_START", vmid=0x80)
    trace = Trace.from_records([dataclasses.replace(r, time_ns=None) for r in c.records])
    assert trace.messages["time"].isna().all() and trace.messages["t"].isna().all()
    assert trace.start is None and trace.end is None


def test_messages_lead_with_what_a_reader_needs_and_schema_renders_in_jupyter():
    trace = dissector.open(str(TRACES / "start_noresource.pcapng"))
    lead = ["time", "t", "direction", "name", "vmid", "seq", "err_name"]
    assert list(trace.messages.columns[:7]) == lead
    for name in TABLES:
        public_schema(TABLES[name]).check(getattr(trace, name))
    doc = Trace.schema("transactions")
    assert doc._repr_markdown_() == str(doc) and "| `latency_ms` | float64 |" in doc
    assert "| `t` | float64 | seconds since the capture start" in Trace.schema("messages")
    assert "| `created_time` |" in Trace.schema("memparcels")


def _same_time_base(trace: Trace) -> None:
    """``TimeBase.from_columns`` (what a Trace uses) equals ``from_messages`` of its messages table."""
    from dissector.analysis.timebase import TimeBase

    base = trace._base
    a = TimeBase.from_columns(base.columns, base.captures)
    b = TimeBase.from_messages(base.get("messages"), base.captures)
    assert dict(a.starts) == dict(b.starts) and list(a.starts) == list(b.starts)
    assert dict(a.labels) == dict(b.labels)
    assert a.exact.equals(b.exact) and a.exact.dtype == b.exact.dtype
    assert np.array_equal(a.exact_ns, b.exact_ns) and a.exact_ns.dtype == b.exact_ns.dtype


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_time_base_from_columns_equals_the_messages_tables(path):
    _same_time_base(dissector.open(str(path)))


def test_time_base_from_columns_of_several_captures_and_untimed_records():
    paths = [
        str(TRACES / "single_vm_clean.pcapng"),
        str(TRACES / "dmesg_hexlog.log"),
        str(TRACES / "hang.pcap"),
    ]
    _same_time_base(dissector.open(paths))
    c = Conversation()
    c.call("VM_START", vmid=0x80)
    c.call("VM_START", vmid=0x81)
    untimed = {1, 2}  # the first records have no time: the start is the first timed one
    records = [dataclasses.replace(r, time_ns=None) if i in untimed else r for i, r in enumerate(c.records)]
    _same_time_base(Trace.from_records(records))
    _same_time_base(Trace.from_records([dataclasses.replace(r, time_ns=None) for r in c.records]))
