"""Columns of the fleet's own tables (the cross-capture aggregates), declared once.

The per-capture tables of a fleet are the ``Trace`` tables (``dissector.analysis.schema``) with
a ``device`` column after ``capture``; the fleet SRT has the ``SRT`` columns. Only the tables
below are new. Times are float seconds as in every other table.
"""

from __future__ import annotations

from dissector.analysis.schema import UNANSWERED, Column, Schema, distribution

DEVICES = Schema(
    "devices",
    "one row per device of the fleet: calls, error rate, findings, boots; sorted by device",
    (
        Column("device", "str", "device name (pcapng metadata, folder or --device-from pattern)"),
        Column("captures", "int64", "captures from this device"),
        Column("requests", "int64", "requests (answered, unanswered or retransmitted)"),
        Column("errors", "int64", "requests answered with a non-zero error code"),
        UNANSWERED,
        Column("error_rate", "float64", "errors / answered requests (NaN if none answered)"),
        Column("mean_latency", "float64", "mean reply latency over answered requests, seconds"),
        Column("vm_instances", "int64", "VM instances seen (lifecycle_summary rows)"),
        Column("booted", "int64", "VM instances that reached RUNNING"),
        Column("boot_p50", "float64", "median boot latency (VM_ALLOCATE reply to RUNNING), seconds"),
        Column("boot_max", "float64", "slowest boot, seconds"),
        Column("findings_error", "int64", "occurrences summarised by findings of severity error"),
        Column("findings_warning", "int64", "... of severity warning"),
        Column("findings_note", "int64", "... of severity note"),
        Column("failures", "int64", "findings_error + findings_warning: what the fleet ranks devices by"),
    ),
)

BOOT_LATENCY = Schema(
    "boot_latency",
    "distribution of boot latency (lifecycle_summary.boot_latency) per device, exact; seconds",
    (
        Column("device", "str", "device"),
        Column("vm_instances", "int64", "VM instances seen"),
        Column(
            "booted", "int64", "instances with a boot latency (allocated in the capture, reached RUNNING)"
        ),
        *distribution("boot", "mean boot latency"),
    ),
)

FLEET_TABLES = {s.name: s for s in (DEVICES, BOOT_LATENCY)}
