"""Latency pictures: the distribution per call, and every call over time with the slow windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dissector.analysis.timing import answered_with_latency

from . import _data, style

_TX_COLUMNS = ("name", "status", "latency", "request_time")
LOG_SPREAD = 30.0  # a log axis when the slowest call is this many times the fastest (p99 / p1)


def _horizontal() -> dict[str, Any]:
    """boxplot/violinplot's horizontal switch: ``orientation`` since matplotlib 3.10, ``vert`` before."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _plain_log(axis: Any) -> None:
    """Log-scale ticks as plain numbers (0.01, 0.1, 1), minor ticks unlabelled (they collide)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _answered(tx: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """First replies with a usable latency (reversed timestamps are findings, not data), only the
    ``columns`` a picture reads that the table has: filtering the whole transactions table copied
    every column of 470k rows at 1M (Arrow strings among them) for the three or four it draws."""
    return tx[[c for c in columns if c in tx.columns]][answered_with_latency(tx)]


def _wants_log(ms: np.ndarray) -> bool:
    positive = ms[ms > 0]
    if len(positive) < 2:
        return False
    lo, hi = np.percentile(positive, [1, 99])
    return bool(hi > LOG_SPREAD * lo) or bool(positive.max() > 10 * hi)


def plot_latency_distribution(
    trace_or_table: Any,
    *,
    calls: list[str] | None = None,
    top: int = 20,
    kind: str = "box",
    ecdf: bool = True,
    log: bool | None = None,
    ax: Any = None,
    ecdf_ax: Any = None,
) -> Any:
    """Latency per call: a box (or ``kind="violin"``) per call, slowest median on top, beside
    the ECDF of the ``8`` busiest calls. Log scale when the tail needs it (``log`` forces it).

    ``calls`` picks calls by name; else the ``top`` calls with the most replies. With ``ax``
    given, only the box/violin is drawn there (pass ``ecdf_ax`` for the ECDF). Returns the
    box/violin Axes.
    """
    if kind not in ("box", "violin"):
        raise ValueError(f"kind must be 'box' or 'violin', not {kind!r}")
    plt = style.pyplot()
    horizontal = _horizontal()
    tx = _answered(_data.table(trace_or_table, "transactions", _TX_COLUMNS), ("name", "latency"))
    names = tx["name"].astype(object)
    codes, uniques = pd.factorize(names)  # one pass over the names, not one comparison per call
    code_of = {u: k for k, u in enumerate(uniques.tolist())}
    if calls is not None:
        chosen = [c for c in calls if c in code_of]
    else:
        chosen = names.value_counts().index[:top].tolist()
    latency = tx["latency"].to_numpy(np.float64)
    groups = {c: latency[codes == code_of[c]] * 1e3 for c in chosen}
    groups = dict(sorted(groups.items(), key=lambda kv: np.median(kv[1]), reverse=True)) if groups else {}
    if ax is None:
        height = min(14.0, max(3.0, 0.32 * len(groups) + 1.6))
        if ecdf:
            _fig, (ax, ecdf_ax) = plt.subplots(
                1, 2, figsize=(13, height), layout="constrained", width_ratios=(1.3, 1)
            )
        else:
            ax = style.axes(None, (9, height))
    if not groups:
        ax.text(0.5, 0.5, "no answered call in this trace", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        if ecdf_ax is not None:
            ecdf_ax.set_axis_off()
        return ax
    values = list(groups.values())
    every = np.concatenate(values)
    use_log = _wants_log(every) if log is None else log
    pos = np.arange(1, len(values) + 1)
    colors = [style.call_color(c) for c in groups]
    if kind == "violin":
        shown = [np.log10(np.maximum(v, 1e-6)) for v in values] if use_log else values
        parts = ax.violinplot(shown, positions=pos, showmedians=True, widths=0.8, **horizontal)
        for body, color in zip(parts["bodies"], colors, strict=True):
            body.set_facecolor(color)
            body.set_alpha(0.7)
            body.set_gid("call")
        if use_log:
            ticks = np.arange(
                np.floor(np.log10(max(every[every > 0].min(), 1e-6))), np.ceil(np.log10(every.max())) + 1
            )
            ax.set_xticks(ticks, [f"{10**t:g}" for t in ticks])
    else:
        box = ax.boxplot(
            values,
            positions=pos,
            widths=0.6,
            **horizontal,
            patch_artist=True,
            whis=(1, 99),
            flierprops={"marker": ".", "markersize": 3, "alpha": 0.6},
        )
        for patch, color in zip(box["boxes"], colors, strict=True):
            patch.set_facecolor(color)
            patch.set_alpha(0.8)
            patch.set_gid("call")
        for median in box["medians"]:
            median.set_color("black")
        if use_log:
            ax.set_xscale("log")
            _plain_log(ax.xaxis)
    ax.set_yticks(pos, [f"{c} ({len(v)})" for c, v in groups.items()], fontsize=8)
    ax.set_ylim(len(values) + 0.6, 0.4)
    ax.set_xlabel("latency (ms)" + (", log scale" if use_log else "") + "; whiskers p1-p99")
    ax.set_title(f"Latency per call (replies), {len(every)} calls")
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6, which="both" if use_log else "major")
    ax.set_axisbelow(True)
    if ecdf and ecdf_ax is not None:
        _ecdf(ecdf_ax, groups, use_log)
    return ax


def _ecdf(ax: Any, groups: dict[str, np.ndarray], use_log: bool) -> None:
    busiest = sorted(groups, key=lambda c: len(groups[c]), reverse=True)[:8]
    for c in busiest:
        v = np.sort(groups[c])
        ax.step(
            v,
            np.arange(1, len(v) + 1) / len(v),
            where="post",
            color=style.call_color(c),
            label=c,
            linewidth=1.4,
            gid="ecdf",
        )
    if use_log:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency (ms)" + (", log scale" if use_log else ""))
    ax.set_ylabel("fraction of calls at most this slow")
    ax.set_title("ECDF of the busiest calls")
    ax.grid(color="#e0e0e0", linewidth=0.6)
    ax.legend(fontsize=7, loc="lower right")


def plot_latency_over_time(
    trace_or_table: Any,
    *,
    max_points: int = 200_000,
    log: bool | None = None,
    legend: int = 12,
    ax: Any = None,
) -> Any:
    """Every answered call as a point (request time, latency) in its call colour, error replies
    as red crosses, unanswered requests as orange triangles on top, the RM's slow windows shaded
    and labelled with their slow-down, latency outliers ringed. Points are rasterised; past
    ``max_points`` calls the plot becomes a 2-D histogram (count per time x latency cell), so a
    million calls draw in seconds. ``legend`` calls (the busiest) are named.
    """
    style.pyplot()
    from matplotlib.colors import LogNorm
    from matplotlib.transforms import blended_transform_factory

    full = _data.table(trace_or_table, "transactions", _TX_COLUMNS)
    base = _data.origins(trace_or_table, full)
    tx = _answered(full, (*_TX_COLUMNS, "capture", "request_frame"))  # the last two: outlier rings
    ax = style.axes(ax, (12, 4.8))
    x = _data.seconds(tx, "request_time", base)
    y = tx["latency"].to_numpy(np.float64) * 1e3
    use_log = _wants_log(y) if log is None else log
    names = tx["name"].astype(object).to_numpy()
    error = (tx["status"] == "error").to_numpy(bool)
    if len(tx) > max_points:
        xb = np.linspace(np.nanmin(x), np.nanmax(x) + 1e-9, 400)
        positive = y[y > 0]
        yb = (
            np.geomspace(max(positive.min(), 1e-6), positive.max() * 1.001, 120)
            if use_log
            else np.linspace(0, y.max() * 1.001, 120)
        )
        counts, _, _ = np.histogram2d(x, y, bins=(xb, yb))
        mesh = ax.pcolormesh(
            xb,
            yb,
            np.ma.masked_equal(counts.T, 0),
            norm=LogNorm(),
            cmap="viridis",
            rasterized=True,
            gid="binned",
        )
        ax.figure.colorbar(mesh, ax=ax, label="calls per cell", pad=0.01)
        if error.any() and error.sum() <= max_points:
            ax.plot(
                x[error],
                y[error],
                "x",
                color=style.ERROR_COLOR,
                ms=4,
                rasterized=True,
                gid="errors",
                label="error reply",
            )
    else:
        order = pd.Series(names[~error]).value_counts().index.tolist()
        for i, c in enumerate(order):
            pick = (names == c) & ~error
            small = len(tx) < 5000
            ax.plot(
                x[pick],
                y[pick],
                "o" if small else ".",
                ms=4 if small else (2.5 if len(tx) < 50_000 else 1.5),
                mec="#ffffff" if small else "none",
                mew=0.3,
                color=style.call_color(c),
                label=c if i < legend else None,
                rasterized=True,
                gid="transactions",
            )
        if error.any():
            ax.plot(
                x[error],
                y[error],
                "X",
                color=style.ERROR_COLOR,
                ms=6,
                mec="white",
                mew=0.5,
                label="error reply",
                rasterized=True,
                gid="errors",
                zorder=3,
            )
    unanswered = full[full["status"].isin(("unanswered", "retransmitted"))]
    if len(unanswered):
        top = blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(
            _data.seconds(unanswered, "request_time", base),
            np.full(len(unanswered), 0.97),
            "v",
            color=style.UNANSWERED_COLOR,
            ms=7,
            transform=top,
            label="unanswered (no latency)",
            gid="unanswered",
            clip_on=False,
        )
    if _data.is_trace(trace_or_table):
        _shade_windows(ax, trace_or_table.slow_windows, base)
        _ring_outliers(ax, trace_or_table.findings, tx, x, y)
    if use_log:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    if any(a.get_gid() == "slow_window_label" for a in ax.texts) and len(tx):
        lo, hi = ax.get_ylim()  # headroom for the window's label above the points
        ax.set_ylim(lo, hi * 3 if use_log else hi + 0.12 * (hi - lo))
    ax.set_xlabel(style.TIME_LABEL)
    ax.set_ylabel("latency (ms)" + (", log scale" if use_log else ""))
    ax.set_title(f"Latency of every call over time ({len(tx)} answered)")
    ax.grid(color="#e8e8e8", linewidth=0.6)
    ax.set_axisbelow(True)
    if ax.get_legend_handles_labels()[0]:
        legend_box = ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, markerscale=1
        )
        for handle in getattr(legend_box, "legend_handles", None) or legend_box.legendHandles:
            if hasattr(handle, "set_markersize"):  # the points may be drawn one pixel wide
                if handle.get_marker() == ".":
                    handle.set_marker("o")
                handle.set_markersize(6)
    return ax


def _ring_outliers(ax: Any, findings: pd.DataFrame, tx: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> None:
    """A ring around each call a ``latency_outlier`` finding names."""
    rows = findings[findings["code"] == "latency_outlier"]
    if rows.empty:
        return
    wanted = {(str(c), f[0]) for c, f in zip(rows["capture"].astype(str), rows["frames"], strict=True) if f}
    pick = tx["request_frame"].isin([f for _, f in wanted]).to_numpy(bool)  # by number first: a few calls
    (near,) = np.nonzero(pick)
    keys = zip(
        tx["capture"].iloc[near].astype(str), tx["request_frame"].iloc[near].astype("Int64"), strict=True
    )
    pick[near] = [(c, f) in wanted for c, f in keys]
    if pick.any():
        ax.plot(
            x[pick],
            y[pick],
            "o",
            ms=11,
            mfc="none",
            mec=style.FINDING_COLOR,
            mew=1.2,
            label="latency outlier",
            gid="outlier",
            zorder=4,
        )


def _shade_windows(ax: Any, windows: pd.DataFrame, base: _data.Origins) -> None:
    from matplotlib.transforms import blended_transform_factory

    top = blended_transform_factory(ax.transData, ax.transAxes)
    starts, ends = _data.seconds(windows, "start", base), _data.seconds(windows, "end", base)
    for i, (a, b, w) in enumerate(zip(starts, ends, windows.itertuples(index=False), strict=True)):
        ax.axvspan(
            a,
            b,
            color=style.SLOW_COLOR,
            alpha=0.35,
            lw=0,
            zorder=0,
            gid="slow_window",
            label="RM slow window" if i == 0 else None,
        )
        how = f"x{w.factor:.3g}" if w.model == "multiplicative" else f"+{w.added * 1e3:.3g} ms"
        ax.text(
            (a + b) / 2,
            0.98,
            f"RM slow {how}",
            transform=top,
            ha="center",
            va="top",
            fontsize=8,
            color="#8c4a00",
            gid="slow_window_label",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": style.SLOW_COLOR, "alpha": 0.9},
            zorder=5,
        )
