"""Error heatmap: which call failed with which RM error, how often."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import _data, style


def error_matrix(errors: pd.DataFrame) -> pd.DataFrame:
    """Counts of error replies, call (rows, most errors first) x ``ERROR_NAME (code)`` and the
    Linux errno (columns), summed over captures: the numbers the heatmap draws."""
    if errors.empty:
        return pd.DataFrame(dtype=np.int64)
    code = errors["err_code"].astype("Int64")
    errno = errors["errno"].astype(object) if "errno" in errors else pd.Series([None] * len(errors))
    label = [
        (f"{n} ({int(c):#x})" if c is not pd.NA else str(n)) + (f"\n{e}" if isinstance(e, str) else "")
        for n, c, e in zip(errors["err_name"].astype(object), code, errno, strict=True)
    ]
    frame = pd.DataFrame({"call": errors["name"].astype(object), "error": label, "count": errors["count"]})
    matrix = frame.pivot_table(index="call", columns="error", values="count", aggfunc="sum", fill_value=0)
    rows = matrix.sum(axis=1).sort_values(ascending=False, kind="stable").index
    cols = matrix.sum(axis=0).sort_values(ascending=False, kind="stable").index
    return matrix.loc[rows, cols].astype(np.int64)


def plot_error_heatmap(trace_or_table: Any, *, ax: Any = None) -> Any:
    """Error replies counted per call (rows) x RM error code (columns), each cell with its count;
    from a Trace or its ``errors`` table. An empty picture says there were none."""
    style.pyplot()
    errors = _data.table(trace_or_table, "errors", ("name", "err_name", "err_code", "count"))
    matrix = error_matrix(errors)
    rows, cols = matrix.shape if not matrix.empty else (0, 0)
    ax = style.axes(ax, (max(5.0, 1.3 * cols + 3.5), max(2.4, 0.42 * rows + 1.6)))
    if matrix.empty:
        ax.text(0.5, 0.5, "no error replies", ha="center", va="center", transform=ax.transAxes, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("Error replies per call and error code")
        return ax
    values = matrix.to_numpy()
    shown = np.ma.masked_equal(values, 0)
    image = ax.imshow(shown, cmap="Reds", aspect="auto", vmin=0, vmax=max(1, values.max()), gid="heatmap")
    high = values.max() * 0.6
    for (i, j), v in np.ndenumerate(values):
        if v:
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=9,
                gid="cell",
                color="white" if v > high else "black",
            )
    ax.set_xticks(range(cols), matrix.columns.tolist(), fontsize=8)
    ax.set_yticks(range(rows), matrix.index.tolist(), fontsize=8)
    ax.set_xlabel("RM error (code), Linux errno")
    ax.set_ylabel("call")
    ax.set_title(f"Error replies per call and error code ({int(values.sum())} replies)")
    from matplotlib.ticker import MaxNLocator

    bar = ax.figure.colorbar(image, ax=ax, label="error replies", shrink=0.8, pad=0.02)
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    return ax
