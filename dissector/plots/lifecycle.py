"""One lane per VM instance: its states as coloured bars, its troubles as markers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dissector.analysis.lifecycles import NORMAL_EXIT_TYPES
from dissector.analysis.timebase import capture_codes
from dissector.protocol import registry

from . import _data, style

_MARKED = ("error_reply", "unanswered", "slow_window", "vm_lifecycle")  # drawn otherwise, or the story
# lanes="auto": past this many VM instances, one lane per VM (its instances one after another): a
# lane an instance would be under a pixel high, and a VM's instances run one after the other anyway
AUTO_VM_LANES = 200
_EXIT_MARKERS = ("D", "P", "s", "h", "p", "8")


def plot_lifecycle_timeline(
    trace_or_table: Any,
    *,
    vmids: list[int] | None = None,
    start: float | None = None,
    end: float | None = None,
    max_labels: int = 40,
    collection: bool = False,
    lanes: str = "instance",
    ax: Any = None,
) -> Any:
    """VM lifecycles: one lane per VM instance, each state interval a bar in its state colour.

    From a Trace it also marks error replies (red x), unanswered requests (orange triangle),
    other warning/error findings about a VM (purple star), labels each exit with its type and
    shades the RM's slow windows. ``vmids`` picks lanes; ``start``/``end`` (seconds since the
    capture start) zoom in. Past ``max_labels`` lanes the lane labels thin out and only the
    abnormal exits are labelled, so 200 VMs still read as a picture. ``collection=True`` draws
    the state bars as one collection instead of a ``Rectangle`` each: the same picture, drawn in a
    fraction of the time for a fleet of hundreds of VMs (the report does), but ``ax.patches`` then
    holds no bars. ``lanes="vm"`` draws one lane per VM, its instances one after another, and marks
    the abnormal exits instead of labelling them; ``lanes="auto"`` does so past ``AUTO_VM_LANES``
    instances (a fleet of thousands: the report does).
    """
    plt = style.pyplot()
    lc = _data.table(trace_or_table, "lifecycles", ("vmid", "instance", "state", "start", "end"))
    base = _data.origins(trace_or_table, lc)
    if vmids is not None:
        lc = lc[lc["vmid"].isin(list(vmids))]
    if lanes not in ("instance", "vm", "auto"):
        raise ValueError(f"lanes must be 'instance', 'vm' or 'auto', not {lanes!r}")
    instances = _lanes(lc)
    by_vm = lanes == "vm" or (lanes == "auto" and len(instances) > AUTO_VM_LANES)
    shown = list(dict.fromkeys((c, v, 1) for c, v, _ in instances)) if by_vm else instances
    n = len(shown)
    ax = style.axes(ax, (11, min(16.0, max(2.6, 0.3 * n + 1.6))))
    if n == 0:
        ax.text(0.5, 0.5, "no VM lifecycle in this trace", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    row_of = {(c, v): i for i, (c, v, _) in enumerate(shown)}
    lane_of = {key: row_of[key[:2]] for key in instances} if by_vm else {k: i for i, k in enumerate(shown)}
    keys = list(
        zip(
            lc["capture"].astype(object) if "capture" in lc else [""] * len(lc),
            lc["vmid"].astype(int),
            lc["instance"].astype(int),
            strict=True,
        )
    )
    y = np.array([lane_of[k] for k in keys], float)
    t0 = _data.seconds(lc, "start", base)
    t1 = _data.seconds(lc, "end", base)
    colors = _state_rgba(lc["state"])
    ongoing = lc["ongoing"].to_numpy(bool) if "ongoing" in lc else np.zeros(len(lc), bool)
    height = 0.72 if n <= 60 else 0.9
    edge = "white" if n <= 60 else "none"
    bars = _bar_collection if collection else _bars
    bars(ax, y[~ongoing], t0[~ongoing], t1[~ongoing], height, colors, ~ongoing, edgecolor=edge)
    if ongoing.any():  # in a VM's lane, below the instances that came after it
        hatched = {"edgecolor": "#555555", "hatch": "///", **({"zorder": 0.9} if by_vm else {})}
        bars(ax, y[ongoing], t0[ongoing], t1[ongoing], height, colors, ongoing, **hatched)
    lo = np.nanmin(t0) if start is None else start
    hi = np.nanmax(t1) if end is None else end
    pad = (hi - lo) * 0.01 or 0.001
    _short_states(ax, t0, t1, y, colors, hi - lo, n)
    ax.set_xlim(lo - pad, hi + pad)
    handles = _state_handles(plt, lc)
    if _data.is_trace(trace_or_table):
        handles += _markers(ax, trace_or_table, instances, base, n, lane_of)
        summary = trace_or_table.lifecycle_summary
        if by_vm:
            handles += _abnormal_exits(ax, summary, lane_of, base, trace_or_table.dialect)
        else:
            flip = lo + 0.8 * (hi - lo)
            _exit_labels(ax, summary, lane_of, base, n > max_labels, flip, trace_or_table.dialect)
        handles += _slow_windows(ax, trace_or_table, base, shown)
    _lane_axis(ax, shown, max_labels)
    ax.set_xlabel(style.TIME_LABEL)
    if by_vm:
        ax.set_ylabel("VM (its instances one after another)")
        ax.set_title(_title(f"VM lifecycles, one lane per VM ({n})", lc, len(instances)))
    else:
        ax.set_title(_title("VM lifecycles", lc, n))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


def lane_count(summary: pd.DataFrame, lanes: str = "instance") -> int:
    """How many lanes ``plot_lifecycle_timeline(lanes=...)`` draws for a ``lifecycle_summary``
    (one row per VM instance): the report sizes the picture by it."""
    instances = len(summary)
    if lanes == "vm" or (lanes == "auto" and instances > AUTO_VM_LANES):
        keys = (
            summary["capture"].astype(str) + ":" + summary["vmid"].astype(str)
            if "capture" in summary
            else summary["vmid"]
        )
        return int(keys.nunique())
    return instances


def _bars(
    ax: Any,
    y: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    height: float,
    colors: np.ndarray,
    which: np.ndarray,
    **props: Any,
) -> None:
    """The state bars, a ``Rectangle`` each (gid ``state``, in ``ax.patches``)."""
    ax.barh(
        y,
        t1 - t0,
        left=t0,
        height=height,
        color=colors[which],
        linewidth=0.5,
        gid="state",
        **props,
    )


def _bar_collection(
    ax: Any,
    y: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    height: float,
    colors: np.ndarray,
    which: np.ndarray,
    **props: Any,
) -> None:
    """The state bars as one ``PolyCollection`` (gid ``state``): what ``_bars`` draws, one artist."""
    from matplotlib.collections import PolyCollection

    if not len(y):
        return
    lo, hi = y - height / 2, y + height / 2
    verts = np.stack([np.column_stack(c) for c in ((t0, lo), (t0, hi), (t1, hi), (t1, lo))], axis=1)
    edge = props.pop("edgecolor")
    # the (n, 4, 2) array itself: matplotlib's fast path (one code array for all), 10x a list's;
    # its stubs say Sequence, set_verts takes the array
    bars = PolyCollection(
        verts,  # type: ignore[arg-type]
        facecolors=colors[which],
        edgecolors=edge,
        linewidths=0.5,
        gid="state",
        **props,
    )
    ax.add_collection(bars, autolim=False)


def _state_rgba(states: pd.Series) -> np.ndarray:
    """Each row's state colour as RGBA, an (n, 4) array: what matplotlib makes of the colour names
    (the same numbers), converted once per state instead of once per bar (~10k at 1M: a tenth of
    the timeline's CPU went to colour names)."""
    from matplotlib.colors import to_rgba_array

    codes, names = pd.factorize(states.astype(object), use_na_sentinel=False)
    return to_rgba_array([style.state_color(s) for s in names])[codes]


def _short_states(
    ax: Any, t0: np.ndarray, t1: np.ndarray, y: np.ndarray, colors: np.ndarray, span: float, n: int
) -> None:
    """A tick at the start of every state too short to show as a bar at this zoom, so a VM whose
    whole life took a few milliseconds of a long capture still shows in its lane."""
    short = (t1 - t0) < 0.004 * span
    if short.any():
        ax.scatter(
            t0[short],
            y[short],
            marker="|",
            s=120 if n <= 60 else 30,
            c=colors[short],
            linewidths=2,
            zorder=3,
            gid="short_state",
        )


def _lanes(lc: pd.DataFrame) -> list[tuple[str, int, int]]:
    if lc.empty:
        return []
    cap = lc["capture"].astype(object) if "capture" in lc else pd.Series([""] * len(lc), index=lc.index)
    first = lc.groupby([cap, lc["vmid"], lc["instance"]], sort=False)["start"].min().reset_index()
    first.columns = ["capture", "vmid", "instance", "start"]
    order = {c: i for i, c in enumerate(dict.fromkeys(cap.tolist()))}
    rows = sorted(first.itertuples(index=False), key=lambda r: (order[r.capture], r.vmid, r.instance))
    return [(str(r.capture), int(r.vmid), int(r.instance)) for r in rows]


def _lane_axis(ax: Any, lanes: list[tuple[str, int, int]], max_labels: int) -> None:
    captures = list(dict.fromkeys(c for c, _, _ in lanes))
    reused = {(c, v) for c, v, i in lanes if i > 1}
    labels = []
    for c, v, i in lanes:
        text = f"{v:#x}" + (f" #{i}" if (c, v) in reused else "")
        labels.append(f"{captures.index(c) + 1}: {text}" if len(captures) > 1 else text)
    step = max(1, math.ceil(len(lanes) / max_labels))
    ticks = list(range(0, len(lanes), step))
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=9 if step == 1 else 7)
    ax.set_ylim(len(lanes) - 0.5, -0.5)  # first VM on top
    ax.set_ylabel("VM (instance)")
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


_Spans = dict[tuple[str, int], list[tuple[float, int]]]  # (capture, vmid) -> [(start, lane)]


def _lane_index(
    lanes: list[tuple[str, int, int]],
    trace: Any,
    base: _data.Origins,
    lane_of: dict[tuple[str, int, int], int],
) -> _Spans:
    """Per (capture, vmid): its instances' (start, lane in ``lane_of``), by start. A row at
    time t of that VM goes to the lane of the instance alive at t (else of the last one begun
    before t; ``_place``)."""
    lc = trace.lifecycles
    spans: _Spans = {}
    starts = _data.seconds(lc, "start", base)
    for (c, v, i), s in zip(
        zip(lc["capture"].astype(object), lc["vmid"].astype(int), lc["instance"].astype(int), strict=True),
        starts,
        strict=True,
    ):
        if (str(c), v, i) in lane_of:
            spans.setdefault((str(c), v), []).append((s, lane_of[(str(c), v, i)]))
    for v in spans.values():
        v.sort()
    return spans


def _markers(
    ax: Any,
    trace: Any,
    lanes: list[tuple[str, int, int]],
    base: _data.Origins,
    n: int,
    lane_of: dict[tuple[str, int, int], int],
) -> list:
    spans = _lane_index(lanes, trace, base, lane_of)
    size = 36 if n <= 60 else 14
    tx = trace.transactions
    handles = []
    for status, column, marker, color in (
        ("error", "reply_time", "X", style.ERROR_COLOR),
        ("unanswered", "request_time", "v", style.UNANSWERED_COLOR),
    ):
        rows = tx[(tx["status"] == status) & tx["vmid"].notna()]
        xs, ys = _place(rows, _data.seconds(rows, column, base), spans)
        if len(xs):
            label = "error reply" if status == "error" else "unanswered request"
            handles.append(
                ax.scatter(
                    xs,
                    ys,
                    marker=marker,
                    s=size,
                    color=color,
                    edgecolor="white",
                    linewidth=0.5,
                    zorder=4,
                    label=label,
                    gid=status,
                )
            )
    f = trace.findings
    f = f[f["severity"].isin(("error", "warning")) & ~f["code"].isin(_MARKED) & f["vmid"].notna()]
    xs, ys = _place(f, _data.seconds(f, "time", base), spans)
    if len(xs):
        handles.append(
            ax.scatter(
                xs,
                ys,
                marker="*",
                s=size * 1.6,
                color=style.FINDING_COLOR,
                zorder=4,
                edgecolor="white",
                linewidth=0.5,
                label="other finding",
                gid="finding",
            )
        )
    return handles


def _place(rows: pd.DataFrame, times: np.ndarray, spans: _Spans) -> tuple[list[float], list[int]]:
    """(times, lanes) of the rows a lane holds at their time (``_lane_index``), in row order:
    one search per VM of a capture, not one per row (a storm has 400k error replies)."""
    times = np.asarray(times, np.float64)
    lane = np.zeros(len(rows), np.int64)
    placed = np.zeros(len(rows), bool)
    codes, names = capture_codes(rows["capture"])
    vmids = rows["vmid"].astype(int).to_numpy(np.int64)
    order = np.lexsort((vmids, codes))  # rows by (capture, VM): one group per VM of a capture
    cut = np.flatnonzero((np.diff(codes[order]) != 0) | (np.diff(vmids[order]) != 0)) + 1
    for at in np.split(order, cut) if len(order) else []:
        code, vmid = int(codes[at[0]]), int(vmids[at[0]])
        options = spans.get((names[code], vmid)) if code >= 0 else None
        if not options:
            continue
        starts = np.array([s for s, _ in options], np.float64)
        k = np.maximum(np.searchsorted(starts, times[at], side="right") - 1, 0)
        lane[at] = np.array([n for _, n in options], np.int64)[k]
        placed[at] = True
    keep = placed & ~np.isnan(times)
    return times[keep].tolist(), lane[keep].tolist()


def _exit_labels(
    ax: Any, summary: pd.DataFrame, lane_of: dict, base: _data.Origins, thin: bool, flip: float, dialect: str
) -> None:
    """The exit type beside each exit (left of it near the right edge); only the abnormal ones
    (watchdog, crash: what ``abnormal_exit`` findings report) when there are many lanes."""
    rows = summary[summary["exit_type"].notna() & summary["exited_at"].notna()]
    if rows.empty:
        return
    normal = {registry.enum("exit_type", dialect).name_of(v) for v in NORMAL_EXIT_TYPES}
    at = _data.seconds(rows, "exited_at", base)
    for r, x in zip(rows.itertuples(index=False), at.tolist(), strict=True):
        key = (str(r.capture), int(r.vmid), int(r.instance))
        if key not in lane_of or (thin and r.exit_type in normal):
            continue
        left = x > flip
        ax.annotate(
            str(r.exit_type),
            (x, lane_of[key]),
            xytext=(-3 if left else 3, 0),
            textcoords="offset points",
            fontsize=7 if not thin else 6,
            va="center",
            ha="right" if left else "left",
            color="#333333",
            gid="exit_label",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )


def _abnormal_exits(ax: Any, summary: pd.DataFrame, lane_of: dict, base: _data.Origins, dialect: str) -> list:
    """The abnormal exits (watchdog, crash ...) as markers, one kind per exit type, named in the
    legend: with a lane per VM, labels would pile onto one another."""
    rows = summary[summary["exit_type"].notna() & summary["exited_at"].notna()]
    normal = {registry.enum("exit_type", dialect).name_of(v) for v in NORMAL_EXIT_TYPES}
    at = _data.seconds(rows, "exited_at", base)
    where: dict[str, tuple[list[float], list[int]]] = {}
    for r, x in zip(rows.itertuples(index=False), at.tolist(), strict=True):
        key = (str(r.capture), int(r.vmid), int(r.instance))
        if key in lane_of and r.exit_type not in normal and x == x:
            xs, ys = where.setdefault(str(r.exit_type), ([], []))
            xs.append(x)
            ys.append(lane_of[key])
    handles = []
    for k, (kind, (xs, ys)) in enumerate(sorted(where.items())):
        handles.append(
            ax.scatter(
                xs,
                ys,
                marker=_EXIT_MARKERS[k % len(_EXIT_MARKERS)],
                s=22,
                color="#222222",
                edgecolor="white",
                linewidth=0.5,
                zorder=5,
                label=f"{kind} ({len(xs)})",
                gid="abnormal_exit",
            )
        )
    return handles


def _slow_windows(ax: Any, trace: Any, base: _data.Origins, lanes: list[tuple[str, int, int]]) -> list:
    """The RM's slow windows, shaded over the lanes of their own capture."""
    from matplotlib.patches import Rectangle

    w = trace.slow_windows
    handles: list[Any] = []
    starts, ends = _data.seconds(w, "start", base), _data.seconds(w, "end", base)
    for capture, a, b in zip(w["capture"].astype(str), starts, ends, strict=True):
        rows = [i for i, (c, _, _) in enumerate(lanes) if c == capture]
        if not rows:
            continue
        span = Rectangle(
            (a, min(rows) - 0.5),
            b - a,
            max(rows) - min(rows) + 1,
            color=style.SLOW_COLOR,
            alpha=0.3,
            zorder=0,
            lw=0,
            gid="slow_window",
        )
        ax.add_patch(span)
        if not handles:
            span.set_label("RM slow window")
            handles.append(span)
    return handles


def _state_handles(plt: Any, lc: pd.DataFrame) -> list:
    from matplotlib.patches import Patch

    present = lc["state"].astype(object).unique().tolist()
    ordered = [s for s in style.STATE_COLORS if s in present] + sorted(
        str(s) for s in present if s not in style.STATE_COLORS
    )
    return [Patch(color=style.state_color(s), label=s) for s in ordered]


def _title(what: str, frame: pd.DataFrame, n: int) -> str:
    caps = frame["capture"].astype(object).unique().tolist() if "capture" in frame else []
    if len(caps) == 1:
        where = f" - {caps[0]}"
    elif 1 < len(caps) <= 3:
        where = " - " + ", ".join(f"{i}: {c}" for i, c in enumerate(caps, 1))
    else:
        where = f" - {len(caps)} captures" if caps else ""
    return f"{what} ({n} VM instance{'s' if n != 1 else ''}){where}"
