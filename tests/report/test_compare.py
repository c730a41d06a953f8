"""``diff``: no change against itself; a call made 30 % slower in the RM is flagged, alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dissector
from dissector.cli import main
from dissector.report import diff, render_diff
from dissector.report.compare import holm
from dissector.sim import simulate
from dissector.sim.latency import MEDIAN_US, LatencyModel

from .conftest import TRACES

SLOWED = "VM_CONSOLE_WRITE"  # a guest call: its latency is RM service time, not queueing


def test_diff_against_itself_is_no_change(slow_rm) -> None:
    d = diff(slow_rm, slow_rm)
    assert not d.calls["significant"].any() and d.lines == []
    assert (d.calls["p90_change_pct"].fillna(0) == 0).all()
    assert (d.boots["change_pct"] == 0).all() and len(d.boots) == len(slow_rm.lifecycle_summary)
    assert "no significant change" in render_diff(d, "text")
    assert d.boot_test["p_value"] == 1.0 and not d.boot_test["significant"]


@pytest.fixture(scope="module")
def slowed_pair(tmp_path_factory) -> tuple[object, object]:
    """Two small simulated fleets, different seeds; NEW's RM takes 30 % longer on one call."""
    folder = tmp_path_factory.mktemp("diff")
    base, new = folder / "base.pcapng", folder / "new.pcapng"
    simulate(vms=8, seed=100, duration=3, output=str(base), truth=False)
    medians = dict(MEDIAN_US) | {SLOWED: MEDIAN_US[SLOWED] * 1.3}
    simulate(
        vms=8, seed=200, duration=3, output=str(new), truth=False, latency=LatencyModel(medians_us=medians)
    )
    return dissector.open(base), dissector.open(new)


def test_diff_flags_the_slowed_call_and_no_other(slowed_pair) -> None:
    d = diff(*slowed_pair)
    assert list(d.significant["name"]) == [SLOWED]
    row = d.significant.iloc[0]
    assert row["p_adj"] < 0.01 and row["effect_r"] > 0.2 and row["p50_change_pct"] > 10
    assert d.lines[0].startswith(f"{SLOWED} p90 +") and len(d.lines) == 1
    assert not d.boot_test["significant"] and d.errors.empty
    # the other calls are there, tested and not flagged
    others = d.calls[d.calls["name"] != SLOWED]
    assert len(others) > 10 and others["p_value"].notna().sum() > 10


def test_slower_boots_are_reported(trace_of) -> None:
    # slow_rm's second boots overlapped a x10 RM (0x80 #2 took 48 ms); fleet_20vms has no window
    d = diff(trace_of("single_vm_clean.pcapng"), trace_of("slow_rm.pcapng"))
    assert d.boot_test["n_base"] == 1 and d.boot_test["n_new"] == len(
        trace_of("slow_rm.pcapng").lifecycle_summary
    )
    row = d.boots[(d.boots["vmid"] == 0x80) & (d.boots["instance"] == 1)].iloc[0]
    assert row["change_pct"] == pytest.approx((row["boot_new"] / row["boot_base"] - 1) * 100)


def test_error_rates_compared_with_fisher(trace_of) -> None:
    d = diff(trace_of("single_vm_clean.pcapng"), trace_of("reclaim_storm.pcapng"))
    row = d.errors.set_index("name").loc["MEM_RECLAIM"]
    assert (row["failed_base"], row["failed_new"]) == (0, 5)
    assert 0 < row["p_value"] < 1


def test_holm_matches_a_known_answer() -> None:
    # p = .01, .04, .03 -> sorted .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .03 .06 .06
    assert np.allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])


def test_cli_diff_formats(tmp_path: Path, capsys) -> None:
    base, new = str(TRACES / "fleet_20vms.pcapng"), str(TRACES / "slow_rm.pcapng")
    assert main(["diff", base, new]) == 0
    out = capsys.readouterr().out
    assert "p < 0.001" in out
    assert main(["diff", base, new, "--format", "json", "-o", str(tmp_path / "d.json")]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["changes"] and doc["calls"]
    for fmt in ("html", "md"):
        assert main(["diff", base, new, "--format", fmt, "-o", str(tmp_path / f"d.{fmt}")]) == 0
        assert "VM_START" in (tmp_path / f"d.{fmt}").read_text()
    assert main(["diff", base, new, "--alpha", "2"]) == 2  # a bad value: exit 2 (README)
    assert "--alpha" in capsys.readouterr().err
