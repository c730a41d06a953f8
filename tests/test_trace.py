"""``dissector.open`` on every input format, multi-capture traces, windows and lookups."""

from __future__ import annotations

import gzip
import io
import math
import os

import pandas as pd
import pytest

import dissector
from dissector.analysis.schema import TABLES
from dissector.analysis.select import MissingData
from dissector.analysis.timebase import public_schema
from dissector.capture.record import Direction
from dissector.capture.writer import write_capture, write_hexlog
from dissector.trace import Trace, open_trace
from tests.analysis.rmconvo import Conversation


def _conversation() -> Conversation:
    c = Conversation()
    c.boot(0x80)
    c.call("VM_START", err=2, vmid=0x81)
    c.send("VM_GET_VMID")
    c.teardown(0x80)
    return c


def _text2pcap(c: Conversation) -> str:
    out = []
    for r in c.records:
        marker = "O" if r.direction is Direction.TO_RM else "I"
        out.append(f"{marker} {r.time_ns // 10**9}.{r.time_ns % 10**9:09d}")
        data = bytes([1, int(r.direction)]) + r.client_vmid.to_bytes(2, "little") + r.data
        for off in range(0, len(data), 16):
            out.append(f"{off:06x}  {data[off : off + 16].hex(' ')}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    c = _conversation()
    d = tmp_path_factory.mktemp("formats")
    paths = {fmt: str(d / f"conv.{fmt}") for fmt in ("pcap", "pcapng")}
    for fmt, path in paths.items():
        write_capture(path, c.records, fmt=fmt)
    with open(paths["pcap"], "rb") as f, gzip.open(d / "conv.pcap.gz", "wb") as g:
        g.write(f.read())
    paths["gzip"] = str(d / "conv.pcap.gz")
    paths["hexlog"] = str(d / "dmesg.txt")
    with open(paths["hexlog"], "w", encoding="utf-8") as f:
        write_hexlog(f, c.records)
    paths["text2pcap"] = str(d / "dump.txt")
    with open(paths["text2pcap"], "w", encoding="utf-8") as f:
        f.write(_text2pcap(c))
    return paths


@pytest.mark.parametrize("fmt", ["pcap", "pcapng", "gzip", "hexlog", "text2pcap"])
def test_open_reads_every_format_and_both_engines_agree(files, fmt):
    fast = dissector.open(files[fmt])
    ref = dissector.open(files[fmt], engine="scapy")
    for name, schema in TABLES.items():
        public_schema(schema).check(getattr(fast, name))
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(ref, name), obj=f"{fmt} {name}")
    assert fast.problems.empty
    states = fast.lifecycle(0x80)["state"].astype(str).tolist()
    assert states == ["LOAD", "INIT", "READY", "RUNNING", "EXITED", "RESETTING", "RESET"]
    tx = fast.transactions
    if fmt == "hexlog":  # seq of requests unknown, client unknown: paired by order
        assert tx["seq"].isna().any()
    assert (tx["status"] == "error").sum() == 1 and (tx["status"] == "unanswered").sum() == 1


def test_binary_formats_give_identical_tables(files):
    base = dissector.open(files["pcap"]).transactions.drop(columns="capture")
    for fmt in ("pcapng", "gzip", "text2pcap"):
        other = dissector.open(files[fmt]).transactions.drop(columns="capture")
        pd.testing.assert_frame_equal(base, other, obj=fmt)


def test_several_captures_concatenate_with_a_capture_column(files):
    t = dissector.open([files["pcap"], files["pcapng"], files["pcap"]])
    assert t.captures == [files["pcap"], files["pcapng"], files["pcap"] + "#2"]
    one = dissector.open(files["pcap"])
    assert len(t.messages) == 3 * len(one.messages)
    assert list(t.transactions["capture"].cat.categories) == ["conv.pcap", "conv.pcapng", "conv.pcap#2"]
    assert (t.lifecycle_summary.groupby("capture", observed=True).size() == 1).all()
    srt = t.srt[t.srt["name"] == "VM_START"]  # one row per capture and call
    assert srt["capture"].tolist() == [os.path.basename(c) for c in t.captures]  # shown by basename
    assert (srt["calls"] == one.srt.set_index("name").loc["VM_START", "calls"]).all()
    with pytest.raises(MissingData, match="say which"):
        t.message(1)
    assert t.message(1, capture=files["pcapng"]).msg_name == "VM_ALLOCATE"


def test_window_filters_without_touching_the_parent(files):
    t = dissector.open(files["pcap"])
    w = t.window(0.004, 0.012)
    assert t.start is not None
    assert ((w.messages["t"] >= 0.004) & (w.messages["t"] < 0.012)).all()
    assert ((w.messages["time"] >= t.start + pd.Timedelta(seconds=0.004)) & (w.messages["t"] < 0.012)).all()
    assert len(w.transactions) < len(t.transactions)
    assert w.srt["calls"].sum() <= t.srt["calls"].sum()
    nested = w.window(0.0, 0.006, relative=True)  # relative=True still accepted
    assert nested.messages["t"].max() < 0.006
    assert len(t.messages) == len(_conversation().records)  # unchanged
    assert all(math.isnan(x) or x >= 0.004 for x in w.findings["t"])


def test_message_gives_the_scapy_dissection(files):
    t = dissector.open(files["pcapng"])
    msg = t.message(3)
    assert msg.msg_name == "VM_STATUS" and msg.fields["vm_status"] == 5
    with pytest.raises(MissingData, match="nearby"):
        t.message(10_000)


def test_errors_name_what_is_missing():
    t = Trace.from_records(_conversation().records)
    with pytest.raises(AttributeError, match="did you mean transactions"):
        t.transaction  # noqa: B018
    with pytest.raises(MissingData, match="known: 0x3, 0x80, 0x81"):
        t.df_srt(vmid=0x99)
    with pytest.raises(MissingData, match="transactions"):
        Trace.schema("transaction")
    assert "| `latency` |" in Trace.schema("transactions")


def test_untimed_input_cannot_be_windowed():
    c = Conversation()
    c.call("VM_START", vmid=0x80)
    import dataclasses

    records = [dataclasses.replace(r, time_ns=None) for r in c.records]
    t = Trace.from_records(records)
    assert t.transactions["latency"].isna().all() and t.start is None
    with pytest.raises(MissingData, match="no timestamps"):
        t.window(0, 1)


def test_empty_capture_has_empty_tables(tmp_path):
    path = tmp_path / "empty.pcap"
    write_capture(str(path), [], fmt="pcap")
    t = open_trace(str(path))
    for name in TABLES:
        assert getattr(t, name).empty
    assert "0 messages" in repr(t)


def test_file_objects_and_stdin_style_streams_work(files):
    with open(files["pcapng"], "rb") as f:
        t = dissector.open(io.BytesIO(f.read()))
    assert len(t.messages) == len(_conversation().records)


def test_each_table_is_built_once_per_input_whatever_asks_first():
    """The findings read the ledgers and transactions through the input's cache; a table asked
    for afterwards (or in a window) comes from that cache, not from a second build."""
    from collections import Counter
    from dataclasses import replace
    from pathlib import Path

    from dissector.analysis import tables

    built: Counter[str] = Counter()

    def counted(spec: tables.Table) -> tables.Table:
        def build(base, inner=spec.build, name=spec.name):
            built[name] += 1
            return inner(base)

        return replace(spec, build=build) if spec.build is not None else spec

    from dissector import trace as trace_module

    registry = {spec.name: counted(spec) for spec in tables.TABLES}
    traces = Path(__file__).resolve().parent.parent / "traces"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trace_module, "_REGISTRY", registry)
        trace = dissector.open(traces / "faults_mix.pcapng")
        for name in ("findings", "memparcels", "irqs", "transactions", "lifecycles", "messages"):
            getattr(trace, name)
        window = trace.window(trace.start, trace.end)
        assert len(window.transactions) == len(trace.transactions)
    assert {"messages", "transactions", "memparcels", "irqs"} <= set(built)
    assert max(built.values()) == 1, built


@pytest.mark.parametrize("trace", ["traces/hang.pcap", "traces/faults_mix.pcapng"])
def test_a_trace_pickles_with_its_tables(trace: str) -> None:
    """A Trace (a clean pcap's too: its records are rebuilt from arrays, not a closure) goes to
    another process whole: the tables it built and any message given back."""
    import pickle

    t = dissector.open(trace)
    t.transactions, t.lifecycles, t.messages  # noqa: B018 -- built before pickling
    copy = pickle.loads(pickle.dumps(t))
    for name in ("messages", "transactions", "lifecycles"):
        pd.testing.assert_frame_equal(getattr(copy, name), getattr(t, name))
    frames = t.messages["frame"].tolist()
    for frame in frames[:: max(1, len(frames) // 20)]:
        assert copy.message(frame).to_json() == t.message(frame).to_json()


def test_tables_are_built_with_the_collector_paused_and_left_enabled(monkeypatch) -> None:
    """A table's build runs with the cyclic collector paused (its full collections walked every
    object of the tables before it) and leaves it as it found it, on error too."""
    import gc
    from pathlib import Path

    from dissector import trace as trace_module

    t = dissector.open(str(Path(__file__).resolve().parent.parent / "traces" / "faults_mix.pcapng"))
    seen = []
    real = trace_module._Base._make_pairing

    def spy(self):
        seen.append(gc.isenabled())
        return real(self)

    monkeypatch.setattr(trace_module._Base, "_make_pairing", spy)
    assert len(t.transactions) and seen == [False] and gc.isenabled()

    def broken(self):
        raise RuntimeError("a build that fails")

    monkeypatch.setattr(trace_module._Base, "_make_ledger_messages", broken)
    with pytest.raises(RuntimeError):
        _ = t.memparcels
    assert gc.isenabled()
