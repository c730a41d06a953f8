"""Pictures of a fleet: boot latency per device, failures per device, one call's latency per device.

Why separate from ``dissector.plots``: those draw one capture's tables against time; a fleet's
question is "which devices stand out", so every picture here has one row per device, worst on
top, drawn from the small aggregate tables (or a pandas table with a ``device`` column). Each
function takes the table (or the ``Fleet``), draws into ``ax`` or a new figure and returns the
Axes, like ``dissector.plots``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dissector.plots import style
from dissector.plots.latency import _horizontal  # matplotlib 3.8/3.10 spelling of "horizontal"

from .aggregates import ANSWERED

_BAR_COLORS = {"findings_error": style.ERROR_COLOR, "findings_warning": style.UNANSWERED_COLOR}


def _frame(obj: Any, table: str, columns: list[str]) -> pd.DataFrame:
    """A pandas table: ``obj`` itself, or the fleet's table computed (only ``columns``)."""
    if isinstance(obj, pd.DataFrame):
        return obj
    if table == "devices":
        return obj.devices()
    (frame,) = obj.runner.compute(obj.table(table)[columns])
    return frame.reset_index(drop=True)


def plot_boot_latency_by_device(fleet_or_summary: Any, *, top: int = 30, ax: Any = None) -> Any:
    """A box of boot latencies (ms, VM_ALLOCATE reply to RUNNING) per device, slowest median on
    top; from a fleet or a ``lifecycle_summary`` table with ``device``."""
    table = _frame(fleet_or_summary, "lifecycle_summary", ["device", "boot_latency"])
    table = table[table["boot_latency"].notna()]
    groups = {
        str(d): g["boot_latency"].to_numpy(np.float64) * 1e3
        for d, g in table.groupby("device", observed=True)
    }
    order = sorted(groups, key=lambda d: (-float(np.median(groups[d])), d))[:top]
    ax = style.axes(ax, (8.0, 0.9 + 0.32 * max(len(order), 1)))
    if not order:
        ax.text(
            0.5, 0.5, "no VM reached RUNNING in this fleet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_axis_off()
        return ax
    order = order[::-1]  # matplotlib draws the first box at the bottom
    ax.boxplot([groups[d] for d in order], **_horizontal(), widths=0.6)
    ax.set_yticks(range(1, len(order) + 1), order)
    ax.set_xlabel("boot latency (ms)")
    ax.set_title(f"Boot latency per device ({len(order)} devices, slowest median on top)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_failures_by_device(fleet_or_devices: Any, *, top: int = 30, ax: Any = None) -> Any:
    """Error and warning findings per device (stacked bars), most failures on top; from a fleet
    or its ``devices()`` table."""
    devices = _frame(fleet_or_devices, "devices", [])
    devices = devices.sort_values(["failures", "device"], ascending=[False, True], kind="stable").head(top)
    devices = devices.iloc[::-1]
    ax = style.axes(ax, (8.0, 0.9 + 0.32 * max(len(devices), 1)))
    left = np.zeros(len(devices))
    for column, label in (("findings_error", "error findings"), ("findings_warning", "warning findings")):
        values = devices[column].to_numpy(np.float64)
        ax.barh(devices["device"].astype(str), values, left=left, color=_BAR_COLORS[column], label=label)
        left += values
    ax.set_xlabel("occurrences (findings' count)")
    ax.set_title("Failures per device (error + warning findings)")
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_call_latency_by_device(
    fleet_or_transactions: Any, call: str = "VM_START", *, top: int = 30, ax: Any = None
) -> Any:
    """A box of one call's reply latency (ms) per device, slowest median on top."""
    tx = _frame(fleet_or_transactions, "transactions", ["device", "name", "status", "latency"])
    tx = tx[(tx["name"].astype(str) == call) & tx["status"].isin(ANSWERED) & tx["latency"].notna()]
    groups = {str(d): g["latency"].to_numpy(np.float64) * 1e3 for d, g in tx.groupby("device", observed=True)}
    order = sorted(groups, key=lambda d: (-float(np.median(groups[d])), d))[:top][::-1]
    ax = style.axes(ax, (8.0, 0.9 + 0.32 * max(len(order), 1)))
    if not order:
        ax.text(
            0.5, 0.5, f"no answered {call} in this fleet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_axis_off()
        return ax
    ax.boxplot(
        [groups[d] for d in order],
        **_horizontal(),
        widths=0.6,
        patch_artist=True,
        boxprops={"facecolor": style.call_color(call), "alpha": 0.6},
    )
    ax.set_yticks(range(1, len(order) + 1), order)
    ax.set_xlabel(f"{call} latency (ms)")
    ax.set_title(f"{call} latency per device (slowest median on top)")
    ax.grid(axis="x", alpha=0.3)
    return ax
