"""Perfetto (Chrome JSON trace event format) and table export."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from dissector.cli import main
from dissector.report import export_table, perfetto_trace
from dissector.trace import TABLE_ATTRIBUTES

from .conftest import TRACES

PHASE_KEYS = {"X": {"name", "ph", "ts", "dur", "pid", "tid"}, "i": {"name", "ph", "ts", "pid", "tid", "s"}}


def test_perfetto_json_follows_the_trace_event_format(faults_mix, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    assert main(["export", "--to", "perfetto", str(TRACES / "faults_mix.pcapng"), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    events = doc["traceEvents"]
    assert doc["displayTimeUnit"] == "ms"
    for e in events:
        assert e["ph"] in ("X", "i", "M")
        if e["ph"] == "M":
            assert e["name"] in ("process_name", "thread_name", "process_sort_index") and "args" in e
            continue
        assert PHASE_KEYS[e["ph"]] <= set(e), e
        assert isinstance(e["ts"], int | float) and e["ts"] >= 0
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "X":
            assert e["dur"] >= 0


def test_one_lifecycle_track_per_vm(faults_mix) -> None:
    doc = perfetto_trace(faults_mix)
    events = doc["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    lifecycle_pids = {e["pid"] for e in events if e.get("cat") == "lifecycle"}
    vms = sorted(int(v) for v in faults_mix.lifecycle_summary["vmid"])
    assert sorted(names[p] for p in lifecycle_pids) == [f"VM {v:#x}" for v in vms]
    tracks = {(e["pid"], e["tid"]) for e in events if e.get("cat") == "lifecycle"}
    assert len(tracks) == len(vms)
    slices = [e for e in events if e.get("cat") == "lifecycle"]
    assert len(slices) == len(faults_mix.lifecycles)
    # every request is a slice; slices of one thread never overlap (they must nest in Chrome's format)
    calls = [e for e in events if e["ph"] == "X" and e["cat"].startswith("call")]
    assert len(calls) == int(faults_mix.transactions["request_time"].notna().sum())
    by_thread: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in calls:
        by_thread.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_thread.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    # the failed VM's errors are marked on its track
    errors = [e for e in events if e.get("cat") == "error"]
    assert any(names.get(e["pid"]) == "VM 0x82" and "ARGUMENT_INVALID" in e["name"] for e in errors)


@pytest.mark.parametrize("table", TABLE_ATTRIBUTES)
def test_every_table_round_trips(faults_mix, tmp_path: Path, table: str) -> None:
    df = getattr(faults_mix, table)
    for fmt in ("csv", "parquet", "json"):
        path = tmp_path / f"{table}.{fmt}"
        assert export_table(faults_mix, table, path, fmt) == len(df)
    back = pd.read_parquet(tmp_path / f"{table}.parquet")
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    assert len(pd.read_csv(tmp_path / f"{table}.csv")) == len(df)
    assert len(json.loads((tmp_path / f"{table}.json").read_text())) == len(df)


def test_frame_tuples_survive_parquet(faults_mix, tmp_path: Path) -> None:
    export_table(faults_mix, "findings", tmp_path / "f.parquet", "parquet")
    back = pd.read_parquet(tmp_path / "f.parquet")
    assert [list(x) for x in back["frames"]] == [list(x) for x in faults_mix.findings["frames"]]


def test_cli_export_needs_a_table(tmp_path: Path, capsys) -> None:
    assert main(["export", "--to", "csv", str(TRACES / "hang.pcap"), "-o", str(tmp_path / "x.csv")]) == 2
    assert "--table" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "--to",
                "csv",
                "--table",
                "txn",
                str(TRACES / "hang.pcap"),
                "-o",
                str(tmp_path / "x.csv"),
            ]
        )
        == 1
    )
    assert "transactions" in capsys.readouterr().err
    args = ["export", "--to", "parquet", "--table", "transactions", str(TRACES / "hang.pcap"), "-o"]
    assert main([*args, str(tmp_path / "tx.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "tx.parquet")) == 61


def test_perfetto_shows_the_slow_window(slow_rm) -> None:
    events = perfetto_trace(slow_rm)["traceEvents"]
    (window,) = [e for e in events if e.get("cat") == "slow_window"]
    w = slow_rm.slow_windows.iloc[0]
    assert window["ts"] == pytest.approx(w["start"] * 1e6, abs=1) and window["dur"] == pytest.approx(
        (w["end"] - w["start"]) * 1e6, abs=1
    )
    assert window["name"].startswith("RM slow x9") and window["args"]["boots_delayed"] == [
        "0x80",
        "0x82",
        "0x83",
    ]
