"""Every plot on every bundled trace (Agg), with assertions on what is drawn: one lane per VM
instance and one bar per state interval, one point per answered call, the slow windows shaded,
the heatmap cells equal to the errors table, one arrow per message of the sequence diagram."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import dissector
from dissector import plots
from dissector.analysis.select import MissingData
from dissector.plots import style
from dissector.plots.errors import error_matrix

ROOT = Path(__file__).resolve().parents[2]
TRACES = sorted(p.name for p in (ROOT / "traces").iterdir() if p.suffix in (".pcap", ".pcapng", ".log"))
_OPEN: dict[str, dissector.Trace] = {}


def trace(name: str) -> dissector.Trace:
    if name not in _OPEN:
        _OPEN[name] = dissector.open(str(ROOT / "traces" / name))
    return _OPEN[name]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png(ax) -> bytes:
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=40)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def _relative(t: dissector.Trace, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A time column as seconds since its capture's first message (the plots' time base)."""
    if "t" in t.messages.columns:
        return frame[column].to_numpy(float)
    first = t.messages.groupby(t.messages["capture"].astype(str))["time"].min()
    return frame[column].to_numpy(float) - frame["capture"].astype(str).map(first).to_numpy(float)


def _answered(t: dissector.Trace) -> pd.DataFrame:
    tx = t.transactions
    return tx[tx["status"].isin(("ok", "error")) & (tx["latency"] >= 0)]


@pytest.mark.parametrize("name", TRACES)
def test_lifecycle_timeline_draws_a_lane_per_instance_and_a_bar_per_state(name):
    t = trace(name)
    ax = t.plot.lifecycle_timeline()
    lc = t.lifecycles
    bars = [p for p in ax.patches if p.get_gid() == "state"]
    assert len(bars) == len(lc)
    lanes = lc.groupby(["capture", "vmid", "instance"], observed=True).ngroups
    assert len({b.get_y() + b.get_height() / 2 for b in bars}) == lanes
    # every interval's bar, in its state's colour, from its start to its end (seconds since capture start)
    drawn = sorted(
        (round(b.get_x(), 9), round(b.get_width(), 9), matplotlib.colors.to_hex(b.get_facecolor()))
        for b in bars
    )
    start = _relative(t, lc, "start")
    want = sorted(
        (round(s, 9), round(d, 9), style.state_color(st))
        for s, d, st in zip(start, _relative(t, lc, "end") - start, lc["state"].astype(str), strict=True)
    )
    assert [d[2] for d in drawn] == [w[2] for w in want]
    np.testing.assert_allclose([d[:2] for d in drawn], [w[:2] for w in want], atol=1e-8)
    spans = [p for p in ax.patches if p.get_gid() == "slow_window"]
    assert len(spans) == len(t.slow_windows)
    errors = [c for c in ax.collections if c.get_gid() == "error"]
    tx = t.transactions
    known = tx[(tx["status"] == "error") & tx["vmid"].isin(lc["vmid"].unique())]
    assert sum(len(c.get_offsets()) for c in errors) == len(known)
    assert ax.get_xlabel() == style.TIME_LABEL
    _png(ax)


def test_lifecycle_timeline_marks_and_labels_what_went_wrong():
    ax = trace("watchdog_crash.pcapng").plot.lifecycle_timeline()
    labels = [a.get_text() for a in ax.texts if a.get_gid() == "exit_label"]
    assert sorted(labels) == ["VM_EXIT", "WATCHDOG_BITE"]
    assert any(c.get_gid() == "finding" for c in ax.collections)  # the crash message
    ax = trace("faults_mix.pcapng").plot.lifecycle_timeline()
    (unanswered,) = [c for c in ax.collections if c.get_gid() == "unanswered"]
    assert len(unanswered.get_offsets()) == 1  # the one lost reply of the truth log


def test_lifecycle_timeline_thins_labels_at_many_lanes():
    t = trace("fleet_20vms.pcapng")
    ax = t.plot.lifecycle_timeline(max_labels=5)
    assert len(ax.get_yticks()) == 5  # 20 lanes, every 4th labelled
    assert not [a for a in ax.texts if a.get_gid() == "exit_label"]  # all 20 exits are normal ones
    ax = t.plot.lifecycle_timeline(vmids=[0x80, 0x81])
    assert len(ax.get_yticks()) == 2


@pytest.mark.parametrize("name", TRACES)
def test_latency_over_time_draws_every_answered_call(name):
    t = trace(name)
    ax = t.plot.latency_over_time()
    answered = _answered(t)
    points = [line for line in ax.lines if line.get_gid() in ("transactions", "errors")]
    assert sum(len(line.get_xdata()) for line in points) == len(answered)
    errors = [line for line in ax.lines if line.get_gid() == "errors"]
    assert sum(len(line.get_xdata()) for line in errors) == int((answered["status"] == "error").sum())
    assert all(line.get_rasterized() for line in points)
    xs = np.sort(np.concatenate([line.get_xdata() for line in points])) if points else np.array([])
    np.testing.assert_allclose(xs, np.sort(_relative(t, answered, "request_time")), atol=1e-9)
    assert len([p for p in ax.patches if p.get_gid() == "slow_window"]) == len(t.slow_windows)
    _png(ax)


def test_latency_over_time_shades_the_slow_window_of_slow_rm():
    t = trace("slow_rm.pcapng")
    ax = t.plot.latency_over_time()
    (span,) = [p for p in ax.patches if p.get_gid() == "slow_window"]
    if hasattr(span, "get_width"):  # matplotlib >= 3.9: a Rectangle
        x = np.array([span.get_x(), span.get_x() + span.get_width()])
    else:  # a Polygon
        x = np.asarray(span.get_xy())[:, 0]
    w = t.slow_windows
    assert (x.min(), x.max()) == pytest.approx(
        (_relative(t, w, "start")[0], _relative(t, w, "end")[0]), abs=1e-9
    )
    assert 2.0 < x.min() < 2.1 and 3.0 < x.max() < 3.1  # the spike: 2 s to 3 s after the capture start
    (label,) = [a for a in ax.texts if a.get_gid() == "slow_window_label"]
    assert label.get_text() == f"RM slow x{w['factor'].iloc[0]:.3g}"
    assert ax.get_yscale() == "log"  # a 10x spike needs it


def test_latency_over_time_bins_beyond_max_points():
    t = trace("fleet_20vms.pcapng")
    ax = t.plot.latency_over_time(max_points=100)
    (mesh,) = [c for c in ax.collections if c.get_gid() == "binned"]
    assert int(np.ma.sum(mesh.get_array())) == len(_answered(t))
    assert not [line for line in ax.lines if line.get_gid() == "transactions"]


@pytest.mark.parametrize("name", TRACES)
def test_latency_distribution_has_a_box_per_call_and_their_ecdfs(name):
    t = trace(name)
    ax = t.plot.latency_distribution()
    answered = _answered(t)
    calls = answered["name"].astype(str).value_counts()
    boxes = [p for p in ax.patches if p.get_gid() == "call"]
    assert len(boxes) == min(20, len(calls))
    if len(boxes):
        (ecdf_ax,) = [a for a in ax.figure.axes if a is not ax]
        steps = [line for line in ecdf_ax.lines if line.get_gid() == "ecdf"]
        assert len(steps) == min(8, len(calls))
        for line in steps:
            assert line.get_ydata()[-1] == pytest.approx(1.0)
            ms = answered.loc[answered["name"].astype(str) == line.get_label(), "latency"] * 1e3
            assert sorted(line.get_xdata()) == pytest.approx(sorted(ms))
    _png(ax)


def test_latency_distribution_labels_and_violin():
    t = trace("slow_rm.pcapng")
    ax = t.plot.latency_distribution(kind="violin", ecdf=False)
    assert len(ax.figure.axes) == 1
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    answered = _answered(t)
    medians = answered.groupby(answered["name"].astype(str))["latency"].median()
    top = answered["name"].astype(str).value_counts().index[:20]
    assert [lbl.split(" (")[0] for lbl in labels] == medians[top].sort_values(ascending=False).index.tolist()
    with pytest.raises(ValueError, match="box"):
        t.plot.latency_distribution(kind="pie")


@pytest.mark.parametrize("name", TRACES)
def test_message_rate_counts_every_timed_message(name):
    t = trace(name)
    ax = t.plot.message_rate()
    timed = (
        int(t.messages["time"].notna().sum()) if "t" not in t.messages else int(t.messages["t"].notna().sum())
    )
    for panel in ax.figure.axes:
        steps = [p for p in panel.patches if str(p.get_gid()).startswith("rate:")]
        total = 0.0
        for p in steps:
            values, edges, baseline = p.get_data()
            base = 0 if baseline is None else baseline
            total += float(np.sum((values - base) * np.diff(edges)))
        assert total == pytest.approx(timed)
    _png(ax)


def test_message_rate_by_type_and_bin_width():
    t = trace("single_vm_clean.pcapng")
    ax = t.plot.message_rate(by="type", bin=0.5)
    gids = sorted(p.get_gid() for p in ax.patches)
    assert gids == ["rate:notification", "rate:reply", "rate:request"]
    assert "bins of 500 ms" in ax.get_title()
    with pytest.raises(ValueError, match="by must"):
        t.plot.message_rate(by="colour")


@pytest.mark.parametrize("name", TRACES)
def test_error_heatmap_cells_equal_the_errors_table(name):
    t = trace(name)
    ax = t.plot.error_heatmap()
    matrix = error_matrix(t.errors)
    images = [i for i in ax.images if i.get_gid() == "heatmap"]
    if t.errors.empty:
        assert not images and "no error replies" in [a.get_text() for a in ax.texts]
    else:
        (image,) = images
        np.testing.assert_array_equal(np.ma.filled(image.get_array(), 0), matrix.to_numpy())
        cells = [int(a.get_text()) for a in ax.texts if a.get_gid() == "cell"]
        assert sum(cells) == int(t.errors["count"].sum())
        assert len(cells) == int((matrix.to_numpy() > 0).sum())
    _png(ax)


def test_error_heatmap_known_answer():
    matrix = error_matrix(trace("faults_mix.pcapng").errors)
    cells = {(r, c.split(" (")[0]): v for (r, c), v in matrix.stack().items() if v}
    assert cells == {
        ("MEM_SHARE", "NOMEM"): 2,
        ("VM_CONSOLE_WRITE", "ARGUMENT_INVALID"): 1,
        ("VM_GET_HYP_RESOURCES", "ARGUMENT_INVALID"): 1,
    }
    assert any("-EINVAL" in c for c in matrix.columns)
    ax = plots.plot_error_heatmap(trace("reclaim_storm.pcapng").errors)  # the table alone
    assert [a.get_text() for a in ax.texts if a.get_gid() == "cell"] == ["5"]


@pytest.mark.parametrize("name", TRACES)
def test_sequence_diagram_draws_an_arrow_per_message(name):
    t = trace(name)
    m = t.messages
    for vmid in t.vmids[:2]:
        ax = t.plot.sequence_diagram(vmid, max_messages=40)
        about = m[
            (m["vmid"] == vmid).fillna(False).to_numpy(bool) | (m["client_vmid"] == vmid).to_numpy(bool)
        ]
        shown = about.iloc[:40]
        arrows = [p for p in ax.patches if p.get_gid() in ("arrow", "error")]
        assert len(arrows) == len(shown)
        red = [p for p in ax.patches if p.get_gid() == "error"]
        errs = shown[(shown["type"] == "reply") & (shown["err_code"].fillna(0) != 0)]
        assert len(red) == len(errs)
        _png(ax)


def test_sequence_diagram_known_answer():
    t = trace("start_noresource.pcapng")
    ax = t.plot.sequence_diagram(0x80)
    labels = [a.get_text() for a in ax.texts if a.get_gid() == "label"]
    (bad,) = [a for a in ax.texts if a.get_gid() == "label" and "NORESOURCE" in a.get_text()]
    assert bad.get_text().startswith("VM_START reply NORESOURCE")
    assert matplotlib.colors.to_hex(bad.get_color()) == style.ERROR_COLOR
    assert labels[0] == "VM_ALLOCATE" and "VM_STATUS INIT_FAILED" in labels
    participants = [a.get_text() for a in ax.texts if a.get_gid() == "participant"]
    assert participants == ["host 0x3", "RM"]
    with pytest.raises(MissingData, match="0x80"):
        t.plot.sequence_diagram(0x99)


def test_plots_accept_a_given_axes_and_the_plain_tables():
    t = trace("fleet_20vms.pcapng")
    fig, axes = plt.subplots(2, 2)
    assert plots.plot_lifecycle_timeline(t.lifecycles, ax=axes[0, 0]) is axes[0, 0]
    assert plots.plot_latency_over_time(t.transactions, ax=axes[0, 1]) is axes[0, 1]
    assert plots.plot_latency_distribution(t, ax=axes[1, 0]) is axes[1, 0]
    assert plots.plot_message_rate(t.messages, ax=axes[1, 1]) is axes[1, 1]
    assert len(fig.axes) == 4
    bars = [p for p in axes[0, 0].patches if p.get_gid() == "state"]
    assert len(bars) == len(t.lifecycles)
    with pytest.raises(ValueError, match="no column"):
        plots.plot_lifecycle_timeline(t.messages)


def test_accessor_names_every_plot():
    t = trace("single_vm_clean.pcapng")
    assert dir(t.plot) == [
        "error_heatmap",
        "latency_distribution",
        "latency_over_time",
        "lifecycle_timeline",
        "message_rate",
        "sequence_diagram",
    ]
    with pytest.raises(AttributeError, match="plots: error_heatmap"):
        t.plot.pie  # noqa: B018
    assert t.plot.lifecycle_timeline.__doc__ == plots.plot_lifecycle_timeline.__doc__


def test_window_keeps_the_capture_time_base():
    t = trace("slow_rm.pcapng")
    part = t.window(2.0, 3.5, relative=True) if "t" not in t.messages else t.window(2.0, 3.5)
    ax = part.plot.latency_over_time()
    xs = np.concatenate(
        [line.get_xdata() for line in ax.lines if line.get_gid() in ("transactions", "errors")]
    )
    assert xs.min() >= 2.0 - 1e-6 and xs.max() < 3.5


def test_import_dissector_does_not_load_matplotlib():
    code = (
        "import sys, dissector\n"
        f"t = dissector.open({str(ROOT / 'traces' / 'slow_rm.pcapng')!r})\n"
        "t.findings, t.slow_windows, t.plot\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_two_captures_get_their_own_lanes_and_windows():
    t = dissector.open([str(ROOT / "traces" / "slow_rm.pcapng"), str(ROOT / "traces" / "faults_mix.pcapng")])
    ax = t.plot.lifecycle_timeline()
    lanes = t.lifecycles.groupby(["capture", "vmid", "instance"], observed=True).ngroups
    assert lanes == 9 + 5 and len(ax.get_yticks()) == lanes
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[0] == "1: 0x80 #1" and labels[-1] == "2: 0x84"
    (span,) = [p for p in ax.patches if p.get_gid() == "slow_window"]
    assert (span.get_y(), span.get_height()) == (-0.5, 9)  # over slow_rm's 9 lanes only
    assert "1: slow_rm.pcapng, 2: faults_mix.pcapng" in ax.get_title()


def test_latency_outliers_are_ringed(tmp_path):
    from dissector.sim import simulate
    from dissector.sim.latency import LatencyModel

    out = tmp_path / "tail.pcapng"  # five times the usual heavy tail: a few calls far out, no window
    simulate(vms=6, seed=3, duration=3.0, output=str(out), truth=False, latency=LatencyModel(tail_prob=0.05))
    t = dissector.open(str(out))
    assert t.slow_windows.empty
    (finding,) = t.findings[t.findings["code"] == "latency_outlier"].itertuples(index=False)
    ax = t.plot.latency_over_time()
    (ring,) = [line for line in ax.lines if line.get_gid() == "outlier"]
    tx = t.transactions
    (call,) = tx[tx["request_frame"] == finding.frames[0]].itertuples(index=False)
    assert list(ring.get_xdata()) == [call.request_time]
    assert list(ring.get_ydata()) == pytest.approx([call.latency * 1e3])


def test_lifecycle_timeline_shows_states_too_short_for_a_bar():
    # VM 0x84 of faults_mix lives a few milliseconds of a 2 s capture: its states get ticks
    t = trace("faults_mix.pcapng")
    ax = t.plot.lifecycle_timeline()
    ticks = [c for c in ax.collections if c.get_gid() == "short_state"]
    lc = t.lifecycles
    span = float(lc["end"].max() - lc["start"].min())
    short = lc[(lc["end"] - lc["start"]) < 0.004 * span]
    assert sum(len(c.get_offsets()) for c in ticks) == len(short) > 0
    lane_84 = [i for i, label in enumerate(ax.get_yticklabels()) if label.get_text() == "0x84"]
    assert lane_84 and any(lane_84[0] in c.get_offsets()[:, 1] for c in ticks)


@pytest.mark.parametrize("name", ["fleet_20vms.pcapng", "watchdog_crash.pcapng", "hang.pcap"])
def test_lifecycle_timeline_as_one_collection_draws_the_same_picture(name):
    """The report draws the state bars as one collection (fast for hundreds of VMs): the pixels
    are those of the bar-per-interval drawing (anti-aliased edges and hatches may round a few
    levels apart), and the collection holds one bar per interval."""
    t = trace(name)

    def pixels(collection: bool) -> np.ndarray:
        fig, ax = plt.subplots(figsize=(9, 5))
        plots.plot_lifecycle_timeline(t, collection=collection, ax=ax)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).astype(int), ax

    bars, by_patch = pixels(False)
    one, by_collection = pixels(True)
    assert not [p for p in by_collection.patches if p.get_gid() == "state"]
    states = [c for c in by_collection.collections if c.get_gid() == "state"]  # ended, ongoing
    assert 1 <= len(states) <= 2
    drawn = sum(len(c.get_paths()) for c in states)
    assert drawn == len([p for p in by_patch.patches if p.get_gid() == "state"]) == len(t.lifecycles)
    assert bars.shape == one.shape and (bars != one).any(axis=2).mean() < 0.002
    assert np.abs(bars - one).max() <= 8  # of 255: invisible


def test_lifecycle_timeline_one_lane_per_vm_holds_every_instance():
    """``lanes="vm"`` (what the report draws past AUTO_VM_LANES instances): a lane per VM, every
    state interval of every instance still a bar in it, the abnormal exits marked, not labelled."""
    from dissector.plots.lifecycle import AUTO_VM_LANES, lane_count

    t = trace("hang.pcap")
    lc = t.lifecycles
    ax = t.plot.lifecycle_timeline(lanes="vm", collection=True)
    states = [c for c in ax.collections if c.get_gid() == "state"]
    assert sum(len(c.get_paths()) for c in states) == len(lc)
    centres = {round(float(np.mean(p.vertices[:, 1])), 6) for c in states for p in c.get_paths()}
    assert len(centres) == lc["vmid"].nunique() == len(ax.get_yticks())
    assert not [a for a in ax.texts if a.get_gid() == "exit_label"]
    assert "one lane per VM" in ax.get_title()
    t = trace("watchdog_crash.pcapng")
    ax = t.plot.lifecycle_timeline(lanes="vm")
    (bitten,) = [c for c in ax.collections if c.get_gid() == "abnormal_exit"]
    assert bitten.get_label() == "WATCHDOG_BITE (1)" and len(bitten.get_offsets()) == 1
    summary = t.lifecycle_summary
    assert lane_count(summary) == lane_count(summary, "auto") == len(summary)  # a few: per instance
    many = pd.concat([summary] * (AUTO_VM_LANES // len(summary) + 1), ignore_index=True)
    assert lane_count(many, "auto") == summary["vmid"].nunique() == lane_count(summary, "vm")
    with pytest.raises(ValueError, match="lanes must"):
        t.plot.lifecycle_timeline(lanes="capture")


# --- the timeline's markers: lanes found per VM as arrays == one search per row ---------------
def _find_per_row(spans):
    def find(capture, vmid, t):
        options = spans.get((capture, vmid))
        if not options:
            return None
        k = max(0, int(np.searchsorted([s for s, _ in options], t, side="right")) - 1)
        return options[k][1]

    return find


@given(
    spans=st.dictionaries(
        st.tuples(st.sampled_from(["a.pcap", "b.pcap"]), st.integers(1, 4)),
        st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.integers(0, 30)), min_size=1, max_size=4),
        max_size=6,
    ),
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a.pcap", "b.pcap"]),
            st.integers(1, 5),
            st.one_of(st.floats(-1, 11, allow_nan=False), st.just(float("nan"))),
        ),
        max_size=40,
    ),
)
def test_markers_placed_per_vm_equal_one_search_per_row(spans, rows):
    from dissector.plots.lifecycle import _place

    spans = {k: sorted(v) for k, v in spans.items()}
    find = _find_per_row(spans)
    frame = pd.DataFrame(
        {
            "capture": pd.Categorical([c for c, _, _ in rows], categories=["a.pcap", "b.pcap"]),
            "vmid": pd.array([v for _, v, _ in rows], dtype="Int32"),
        }
    )
    times = np.array([t for _, _, t in rows], np.float64)
    expected = ([], [])
    for c, v, t in zip(
        frame["capture"].astype(object).tolist(),
        frame["vmid"].astype(int).tolist(),
        times.tolist(),
        strict=True,
    ):
        lane = find(str(c), v, t)
        if lane is not None and t == t:
            expected[0].append(t)
            expected[1].append(lane)
    assert _place(frame, times, spans) == expected
