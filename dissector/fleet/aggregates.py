"""Cross-capture answers: fleet SRT, per-device error rates, findings, boot latency, slowest devices.

Why split in two: the ``partial_*`` functions reduce a big table (one partition per capture) to
a few rows per device and run the same on a pandas frame or a Dask frame, so the fleet computes
them on the cluster and a test computes them serially; the ``*_table`` functions turn those few
rows (plain pandas) into the published tables (``dissector.fleet.schema``).

Fleet SRT percentiles are exact (``analysis.srt.df_srt`` over every answered call) while the
fleet holds at most ``EXACT_SRT_LIMIT`` answered calls: only four columns travel to the client,
about 30 MB per million calls. Above that, counts, min, max, mean and sum stay exact and p50,
p90 and p99 come from Dask's approximate quantiles (per-partition percentiles merged), and the
table's ``attrs["exact"]`` is False.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dissector.analysis.schema import SRT
from dissector.analysis.srt import df_srt
from dissector.analysis.status import ANSWERED as ANSWERED_STATUSES
from dissector.analysis.status import NOT_ANSWERED

from .schema import BOOT_LATENCY, DEVICES

EXACT_SRT_LIMIT = 1_000_000
ANSWERED = tuple(s.value for s in ANSWERED_STATUSES)  # a reply came (srt.py counts the same)
UNANSWERED = tuple(s.value for s in NOT_ANSWERED)
SEVERITY_COLUMNS = {"error": "findings_error", "warning": "findings_warning", "note": "findings_note"}
QUANTILES = (0.5, 0.9, 0.99)
FLEET = "fleet"  # the capture column of the fleet SRT: one row per call across every capture


# --- reductions that run on pandas or Dask frames ---------------------------------------------
def answered_calls(transactions: Any) -> Any:
    """Rows of answered requests with a latency (what SRT percentiles are taken over)."""
    tx = transactions
    return tx[tx["status"].isin(ANSWERED) & tx["latency"].notnull()]


def partial_calls(transactions: Any) -> Any:
    """Per device: requests, errors, unanswered, answered, timed (answered with a latency),
    latency_sum."""
    tx = transactions[["device", "status", "latency"]]
    answered = tx["status"].isin(ANSWERED)
    timed = answered & tx["latency"].notnull()
    parts = tx.assign(
        requests=(answered | tx["status"].isin(UNANSWERED)).astype("int64"),
        errors=(tx["status"] == "error").astype("int64"),
        unanswered=tx["status"].isin(UNANSWERED).astype("int64"),
        answered=answered.astype("int64"),
        timed=timed.astype("int64"),
        latency_sum=tx["latency"].where(timed, 0.0).astype("float64"),
    )
    cols = ["requests", "errors", "unanswered", "answered", "timed", "latency_sum"]
    return parts.groupby("device", observed=True)[cols].sum()


def partial_findings(findings: Any) -> Any:
    """Per device x severity: occurrences (sum of ``count``)."""
    f = findings[["device", "severity", "count"]]
    return f.groupby(["device", "severity"], observed=True)["count"].sum()


def boot_columns(lifecycle_summary: Any) -> Any:
    """The few lifecycle columns the boot tables need (small: one row per VM instance)."""
    return lifecycle_summary[["device", "boot_latency"]]


# --- the published tables (pandas) ----------------------------------------------------------
def srt_exact(answered_or_all: pd.DataFrame) -> pd.DataFrame:
    """Fleet SRT from the transactions' ``name``, ``msg_id``, ``status``, ``latency`` columns."""
    table = df_srt(answered_or_all.assign(capture=pd.Categorical([FLEET] * len(answered_or_all))))
    table.attrs["exact"] = True
    return table


def srt_table(parts: dict[str, Any], quantiles: dict[int, Any]) -> pd.DataFrame:
    """Fleet SRT from reduced parts (``counts``, ``stats``, ``names``) and per-call quantiles."""
    counts, stats, names = parts["counts"], parts["stats"], parts["names"]
    if counts.empty:
        table = SRT.empty()
        table.attrs["exact"] = False
        return table
    ids = np.sort(counts.index.to_numpy(np.int64))
    counts = counts.reindex(ids)
    stats = stats.reindex(ids)
    first_name = names.drop_duplicates("msg_id").set_index("msg_id")["name"].reindex(ids)
    q = np.full((len(ids), len(QUANTILES)), np.nan)
    for i, msg_id in enumerate(ids):
        if msg_id in quantiles:
            q[i] = np.asarray(quantiles[msg_id], dtype=np.float64)
    table = SRT.frame(
        {
            "capture": pd.Categorical([FLEET] * len(ids)),
            "name": pd.Categorical(first_name.astype(str).to_numpy()),
            "msg_id": ids,
            "calls": counts["calls"].to_numpy(np.int64),
            "errors": counts["errors"].to_numpy(np.int64),
            "unanswered": counts["unanswered"].to_numpy(np.int64),
            "min": stats["min"].to_numpy(np.float64),
            "mean": stats["mean"].to_numpy(np.float64),
            "p50": q[:, 0],
            "p90": q[:, 1],
            "p99": q[:, 2],
            "max": stats["max"].to_numpy(np.float64),
            "sum": stats["sum"].fillna(0.0).to_numpy(np.float64),
        }
    )
    table.attrs["exact"] = False
    return table


def boot_table(boots: pd.DataFrame, devices: list[str]) -> pd.DataFrame:
    """Boot-latency distribution per device (schema ``BOOT_LATENCY``), exact."""
    by_device = {
        str(k): g["boot_latency"].to_numpy(np.float64) for k, g in boots.groupby("device", observed=True)
    }
    data: dict[str, list] = {c.name: [] for c in BOOT_LATENCY.columns}
    for device in devices:
        values = by_device.get(device, np.empty(0))
        booted = values[~np.isnan(values)]
        data["device"].append(device)
        data["vm_instances"].append(len(values))
        data["booted"].append(len(booted))
        stats = (
            (booted.min(), booted.mean(), *np.percentile(booted, [50, 90, 99]), booted.max())
            if len(booted)
            else (np.nan,) * 6
        )
        for name, value in zip(("min", "mean", "p50", "p90", "p99", "max"), stats, strict=True):
            data[name].append(float(value))
    return BOOT_LATENCY.frame({k: np.array(v, dtype=BOOT_LATENCY.column(k).dtype) if k != "device" else v
                               for k, v in data.items()})  # fmt: skip


def devices_table(
    calls: pd.DataFrame, findings: pd.Series, boots: pd.DataFrame, captures: dict[str, int]
) -> pd.DataFrame:
    """One row per device (schema ``DEVICES``), from the reduced parts."""
    devices = sorted(captures)
    calls = calls.groupby(level=0, observed=True).sum()  # a Dask groupby may return a categorical index
    calls.index = calls.index.astype(str)
    calls = calls.reindex(devices, fill_value=0)
    sev = findings.groupby(level=[0, 1], observed=True).sum() if len(findings) else findings
    by_sev = {
        column: {str(d): int(n) for (d, s), n in sev.items() if str(s) == severity}
        for severity, column in SEVERITY_COLUMNS.items()
    }
    boot = boot_table(boots, devices).set_index("device")
    answered = calls["answered"].to_numpy(np.float64)
    timed = calls["timed"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(answered > 0, calls["errors"].to_numpy(np.float64) / answered, np.nan)
        mean_latency = np.where(timed > 0, calls["latency_sum"].to_numpy(np.float64) / timed, np.nan)
    data: dict[str, Any] = {
        "device": devices,
        "captures": [captures[d] for d in devices],
        "requests": calls["requests"].to_numpy(np.int64),
        "errors": calls["errors"].to_numpy(np.int64),
        "unanswered": calls["unanswered"].to_numpy(np.int64),
        "error_rate": error_rate,
        "mean_latency": mean_latency,
        "vm_instances": boot["vm_instances"].to_numpy(np.int64),
        "booted": boot["booted"].to_numpy(np.int64),
        "boot_p50": boot["p50"].to_numpy(np.float64),
        "boot_max": boot["max"].to_numpy(np.float64),
    }
    for column in SEVERITY_COLUMNS.values():
        data[column] = np.array([by_sev[column].get(d, 0) for d in devices], np.int64)
    data["failures"] = data["findings_error"] + data["findings_warning"]
    return DEVICES.frame(data)


def ranked(devices: pd.DataFrame, by: str, n: int | None = None) -> pd.DataFrame:
    """Devices sorted worst first by ``by`` (``failures``, ``boot_p50``, ``error_rate`` ...);
    ties by device name; NaN last."""
    if by not in devices.columns:
        raise KeyError(f"devices has no column {by!r}; columns: {', '.join(devices.columns)}")
    table = devices.sort_values([by, "device"], ascending=[False, True], na_position="last", kind="stable")
    return (table if n is None else table.head(n)).reset_index(drop=True)


# --- the serial reference: every aggregate from plain pandas tables --------------------------
def serial_aggregates(
    transactions: pd.DataFrame,
    findings: pd.DataFrame,
    lifecycle_summary: pd.DataFrame,
    captures: dict[str, int],
) -> dict[str, pd.DataFrame]:
    """The aggregates from concatenated per-capture tables, in this process (what the fleet
    must equal; also what a small fleet could use without a cluster)."""
    devices = devices_table(
        partial_calls(transactions), partial_findings(findings), boot_columns(lifecycle_summary), captures
    )
    return {
        "srt": srt_exact(transactions),
        "devices": devices,
        "boot_latency": boot_table(boot_columns(lifecycle_summary), sorted(captures)),
    }
