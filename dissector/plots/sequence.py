"""Sequence diagram of one VM's exchange with the RM: Wireshark's flow graph, for RM calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.patches import ConnectionStyle, FancyArrowPatch, Patch
from matplotlib.path import Path

from dissector.analysis.select import MissingData, suggest
from dissector.protocol import registry
from dissector.protocol.messages import VMID_HLOS

from . import _data, style


def _client_name(vmid: int, subject: int) -> str:
    if vmid == VMID_HLOS:
        return f"host {vmid:#x}"
    if vmid == subject:
        return f"guest {vmid:#x}"
    return f"VM {vmid:#x}" if vmid != 0xFFFF else "client ?"


def _label(row: Any, dialect: str, latency: dict[tuple[str, int], float]) -> str:
    name = str(row.name) if row.name is not pd.NA and row.name == row.name else "?"
    kind = str(row.type) if row.type is not pd.NA and row.type == row.type else ""
    extra = ""
    if kind == "reply":
        err = row.err_name
        extra = f" {err}" if isinstance(err, str) and err != "OK" else ""
        took = latency.get((str(row.capture), int(row.frame)))
        took_text = f" ({took * 1e3:.3g} ms)" if took is not None and took == took else ""
        return f"{name} reply{extra}{took_text}"
    if kind == "notification":
        if row.vm_status is not pd.NA:
            extra = f" {registry.enum('vm_status', dialect).name_of(int(row.vm_status))}"
            if row.os_status is not pd.NA and int(row.os_status):
                extra += f", os {registry.enum('os_status', dialect).name_of(int(row.os_status))}"
        elif row.exit_type is not pd.NA:
            extra = f" {registry.enum('exit_type', dialect).name_of(int(row.exit_type))}"
        return f"{name}{extra}"
    return name if kind == "request" else f"{name} {kind}".strip()


def _reply_latency(tx: pd.DataFrame, rows: pd.DataFrame) -> dict[tuple[str, int], float]:
    """(capture, reply frame) -> latency of the calls whose replies are among ``rows`` (a few
    dozen: the transactions table is searched by frame number, not walked)."""
    tx = tx[tx["reply_frame"].notna() & tx["reply_frame"].isin(rows["frame"].tolist())]
    return dict(
        zip(
            zip(tx["capture"].astype(str), tx["reply_frame"].astype(int), strict=True),
            tx["latency"].astype(float),
            strict=True,
        )
    )


class _LevelArrows(ConnectionStyle.Arc3):
    """matplotlib's straight connection (``arc3``), remembering the paths of arrows drawn level.

    Why: a ``FancyArrowPatch`` shrinks its path by two points at each end by bisection along a
    Bezier curve in Python, every draw: a fifth of a diagram's CPU. Level arrows between the same
    two lanes (display x of both ends, the shrinks) get the same path up to their height, so it is
    computed once at height 0 and lifted to each arrow's: the x of every vertex is the one
    matplotlib computes (no step of the bisection reads the height but through a square that is 0
    either way, to the last bit or far below it), the height exact where matplotlib's is within an
    ulp of it. Anything else (a slanted arrow, a patch to clip to) is ``arc3``'s own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._level: dict[tuple[float, float, float, float], Path] = {}

    def __call__(
        self,
        posA: tuple[float, float],
        posB: tuple[float, float],
        shrinkA: float = 2.0,
        shrinkB: float = 2.0,
        patchA: Patch | None = None,
        patchB: Patch | None = None,
    ) -> Path:
        (xa, ya), (xb, yb) = posA, posB
        if ya != yb or patchA is not None or patchB is not None:
            return super().__call__(posA, posB, shrinkA, shrinkB, patchA, patchB)
        key = (float(xa), float(xb), float(shrinkA), float(shrinkB))
        flat = self._level.get(key)
        if flat is None:
            flat = self._level[key] = super().__call__((xa, 0.0), (xb, 0.0), shrinkA, shrinkB)
        return Path(flat.vertices + np.array((0.0, ya)), flat.codes)


def plot_sequence_diagram(
    trace: Any,
    vmid: int,
    *,
    start: float | None = None,
    end: float | None = None,
    max_messages: int = 60,
    ax: Any = None,
) -> Any:
    """The messages about VM ``vmid`` (its payload VMID, or carried on its own queue pair) as
    arrows between the clients and the RM, in capture order, each labelled with the call name
    (replies with their error, VM_STATUS with the new state), error replies in red; the left
    margin gives the frame and the time (s since capture start). ``start``/``end`` (same
    seconds) pick a span; at most ``max_messages`` are drawn (the rest are counted).
    """
    style.pyplot()
    if not _data.is_trace(trace):
        raise TypeError("plot_sequence_diagram needs a Trace (it reads messages and VM numbers)")
    m = trace.messages
    base = _data.origins(trace, m)
    t = _data.seconds(m, "time", base)
    about = (m["vmid"].to_numpy(np.float64, na_value=np.nan) == vmid) | (m["client_vmid"].to_numpy() == vmid)
    if not about.any():
        known = trace.vmids
        raise MissingData(suggest(vmid, known, "VMID") if known else f"no message about VM {vmid:#x}: none")
    if start is not None:
        about &= ~(t < start)
    if end is not None:
        about &= ~(t >= end)
    picked = np.flatnonzero(about)
    hidden = max(0, len(picked) - max_messages)
    picked = picked[:max_messages]
    rows, times = m.iloc[picked], t[picked]
    latency = _reply_latency(trace.transactions, rows)
    n = len(rows)
    clients = list(dict.fromkeys(int(c) for c in rows["client_vmid"]))
    left = [c for c in clients if c != vmid]
    right = [c for c in clients if c == vmid]
    columns: list[int | str] = [*left, "RM", *right]
    x_of = {c: i for i, c in enumerate(columns)}
    ax = style.axes(ax, (max(8.0, 3.6 * (len(columns) - 1) + 3.2), min(40.0, max(3.0, 0.34 * n + 1.8))))
    for c, x in x_of.items():
        ax.plot([x, x], [-0.6, n - 0.4], color="#9e9e9e", linewidth=1, zorder=0)
        title = "RM" if c == "RM" else _client_name(int(c), vmid)
        ax.text(
            x,
            -0.8,
            title,
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "fc": "#f0f0f0", "ec": "#9e9e9e"},
            gid="participant",
        )
    errors = 0
    level = _LevelArrows()  # one per diagram: its paths are in this figure's display coordinates
    for y, (row, when) in enumerate(zip(rows.itertuples(index=False), times, strict=True)):
        client = x_of[int(row.client_vmid)]
        rm = x_of["RM"]
        src, dst = (client, rm) if row.direction == "to_rm" else (rm, client)
        is_error = row.type == "reply" and row.err_code is not pd.NA and int(row.err_code) != 0
        errors += int(is_error)
        color = style.ERROR_COLOR if is_error else style.NORMAL_ARROW
        if row.malformed is not pd.NA and isinstance(row.malformed, str):
            color = style.FINDING_COLOR
        unknown = row.direction not in ("to_rm", "from_rm")
        arrow = FancyArrowPatch(
            (src, y),
            (dst, y),
            arrowstyle="-" if unknown else "-|>",
            connectionstyle=level,
            mutation_scale=12,
            color=color,
            linewidth=1.8 if is_error else 1.1,
            linestyle="--" if unknown else "-",
            gid="error" if is_error else "arrow",
        )
        arrow.set_clip_path(ax.patch)  # what add_patch does, without its data-limit update (~5 ms an
        ax.add_artist(arrow)  # arrow); the limits are set below
        ax.text(
            (src + dst) / 2,
            y - 0.08,
            _label(row, trace.dialect, latency),
            ha="center",
            va="bottom",
            fontsize=8,
            color=color,
            fontweight="bold" if is_error else "normal",
            gid="label",
        )
        ax.text(
            -0.12,
            y,
            f"{row.frame:>6}  {when:10.6f}",
            ha="right",
            va="center",
            fontsize=7,
            family="monospace",
            color="#555555",
        )
    if hidden:
        ax.text(
            len(columns) / 2 - 0.5,
            n - 0.1,
            f"... {hidden} more message(s): narrow start/end",
            ha="center",
            va="top",
            fontsize=8,
            style="italic",
        )
    ax.set_xlim(-0.95, len(columns) - 0.55)
    ax.set_ylim(n + (0.6 if hidden else -0.2), -1.6)
    ax.set_axis_off()
    ax.text(
        -0.2,
        -0.8,
        "frame  time (s since\ncapture start)",
        ha="right",
        va="bottom",
        fontsize=7,
        color="#555555",
    )
    malformed = int(rows["malformed"].notna().sum())
    keys = [("red: error reply", errors), ("purple: malformed", malformed)]
    key = "; ".join(k for k, n in keys if n)
    if key:
        ax.text(
            len(columns) - 0.55,
            n + (0.6 if hidden else -0.2),
            key,
            ha="right",
            va="top",
            fontsize=7,
            color="#555555",
        )
    err = f", {errors} error repl{'ies' if errors != 1 else 'y'}" if errors else ""
    ax.set_title(f"Messages about VM {vmid:#x} ({n} shown{err})", pad=4)
    return ax
