"""I/O graph: messages per second over time, per direction and per message."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from . import _data, style

_DIRECTION_LABELS = {
    "to_rm": "to RM (requests)",
    "from_rm": "from RM (replies, notifications)",
    "unknown": "direction unknown",
}
_DIRECTION_COLORS = {"to_rm": "#1f77b4", "from_rm": "#2ca02c", "unknown": "#7f7f7f"}
_TYPE_COLORS = {
    "request": "#1f77b4",
    "reply": "#2ca02c",
    "notification": "#9467bd",
    "continuation": "#8c564b",
}


def nice_bin(span: float, target: int = 150) -> float:
    """A round bin width (1, 2 or 5 x 10^k seconds, at least 1 us) giving about ``target`` bins."""
    raw = max(span / target, 1e-6)
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10**exp >= raw:
            return float(m * 10**exp)
    return float(10 ** (exp + 1))  # pragma: no cover - the loop always returns


def plot_message_rate(
    trace_or_table: Any,
    *,
    by: str | None = None,
    bin: float | None = None,
    top: int = 8,
    ax: Any = None,
) -> Any:
    """Wireshark's I/O graph: messages per second in bins of ``bin`` seconds (a round width
    giving ~150 bins when not given), one line per direction (``by="direction"``), message type
    (``"type"``: request, reply, notification) or message name (``"name"``: the ``top``
    busiest, the rest as "other"), types and names stacked. With no ``ax`` and no ``by``, two
    panels: per direction and per name. Returns the (first) Axes.
    """
    plt = style.pyplot()
    m = _data.table(trace_or_table, "messages", ("time", "direction", "name", "type"))
    base = _data.origins(trace_or_table, m)
    t = _data.seconds(m, "time", base)
    timed = ~np.isnan(t)
    m, t = m[timed], t[timed]
    if by is not None and by not in ("direction", "type", "name"):
        raise ValueError(f"by must be 'direction', 'type' or 'name', not {by!r}")
    if ax is None and by is None:
        _fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.4), sharex=True, layout="constrained")
        panels = [(ax, "direction"), (ax2, "name")]
    else:
        ax = style.axes(ax, (12, 3.6))
        panels = [(ax, by or "direction")]
    if not len(t):
        ax.text(0.5, 0.5, "no timed message in this trace", ha="center", va="center", transform=ax.transAxes)
        return ax
    lo, hi = float(t.min()), float(t.max())
    width = bin if bin is not None else nice_bin(hi - lo)
    if width <= 0:
        raise ValueError("bin must be a positive number of seconds")
    edges = np.arange(math.floor(lo / width) * width, hi + width, width)
    if len(edges) < 2:
        edges = np.array([lo, lo + width])
    for panel, what in panels:
        _draw(panel, m, t, edges, width, what, top)
    ax.set_title(f"Message rate ({len(t)} messages, bins of {_width(width)})")
    panels[-1][0].set_xlabel(style.TIME_LABEL)
    return ax


def _draw(
    ax: Any, m: pd.DataFrame, t: np.ndarray, edges: np.ndarray, width: float, by: str, top: int
) -> None:
    key = m[by].astype(object).fillna("unknown").to_numpy()
    if by == "name":
        busiest = pd.Series(key).value_counts().index[:top].tolist()
        key = np.where(np.isin(key, busiest), key, "other")
        order = [*busiest, "other"] if (key == "other").any() else busiest
    else:
        present = set(key.tolist())
        order = [k for k in (_DIRECTION_LABELS if by == "direction" else _TYPE_COLORS) if k in present]
        order += sorted(present - set(order))
    stacked = by != "direction"  # a message mix reads best stacked; directions as lines
    below = np.zeros(len(edges) - 1)
    for k in order:
        counts, _ = np.histogram(t[key == k], bins=edges)
        if by == "direction":
            color, label = _DIRECTION_COLORS.get(k, "#7f7f7f"), _DIRECTION_LABELS.get(k, k)
        elif by == "type":
            color, label = _TYPE_COLORS.get(k, "#7f7f7f"), k
        else:
            color, label = ("#bdbdbd" if k == "other" else style.call_color(k)), k
        rate = counts / width
        if stacked:
            ax.stairs(
                below + rate,
                edges,
                baseline=below.copy(),
                fill=True,
                color=color,
                alpha=0.9,
                label=f"{label} ({counts.sum()})",
                gid=f"rate:{k}",
            )
            below = below + rate
        else:
            ax.stairs(
                rate, edges, color=color, label=f"{label} ({counts.sum()})", linewidth=1.3, gid=f"rate:{k}"
            )
    ax.set_ylabel("messages per second")
    ax.grid(color="#e8e8e8", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
        title={"direction": "direction", "type": "message type", "name": "message"}[by],
        title_fontsize=8,
    )


def _width(w: float) -> str:
    return f"{w:g} s" if w >= 1 else (f"{w * 1e3:g} ms" if w >= 1e-3 else f"{w * 1e6:g} us")
