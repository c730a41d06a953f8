"""What a report says, computed once from a Trace and shared by the HTML, Markdown and JSON forms.

Why separate from rendering: the three formats must say the same thing. Everything here is plain
data (numbers, short texts, DataFrames with their raw values); formatting for people happens in
``tables`` and the templates. Times are seconds since the capture start (``timebase``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dissector.analysis.schema import SEVERITIES
from dissector.analysis.status import NOT_ANSWERED

from . import timebase

# exits that are a guest's normal way out; anything else is a failure worth a verdict line
NORMAL_EXITS = frozenset({"VM_EXIT", "PLATFORM_OFF", "VM_STOP_FORCED", "PSCI_SYSTEM_RESET2", "SYSTEM_RESET2"})
# lifecycle finding codes that mean the VM did not do its job
FAILURE_CODES = frozenset(
    {"init_failed", "abnormal_exit", "crash_message", "boot_hang", "state_held", "never_deallocated"}
)
TIMING_CATEGORY = "timing"
SLOW_CODES = frozenset({"slow_window", "latency_outlier"})
# states a VM passes through when it is being torn down, not how far it got
TEARDOWN_STATES = frozenset({"RESETTING", "RESET", "DEALLOCATED", "EXITED", "INIT_FAILED"})
# more slow boots than this with no slow window behind them become one verdict line
MAX_CROWDED_LINES = 5
# a boot this many times the median boot of the report is called slow (with >= 3 boots)
SLOW_BOOT_FACTOR = 2.0


@dataclass
class Link:
    """A reference to the evidence: an anchor in the page (``#finding-3``) and its label."""

    label: str
    anchor: str


@dataclass
class VerdictLine:
    """One line of the verdict: a VM (or the capture) and what went wrong."""

    subject: str
    status: str  # failed, slow, errors, capture
    text: str
    links: list[Link] = field(default_factory=list)
    label: str = ""  # the word shown beside the subject (the status unless said otherwise)
    kind: str = ""  # for slow boots: "window" (a slow window), "crowded" (only concurrent boots)

    def __post_init__(self) -> None:
        self.label = self.label or self.status


@dataclass
class ReportContent:
    """Everything a report shows; tables keep raw values (seconds, ints)."""

    title: str
    captures: list[str]
    start: pd.Timestamp | None
    summary: dict[str, Any]
    verdict: list[VerdictLine]
    vms: pd.DataFrame
    lifecycles: pd.DataFrame
    srt: pd.DataFrame
    slow_windows: pd.DataFrame
    errors: pd.DataFrame
    findings: pd.DataFrame
    memparcels: pd.DataFrame
    irqs: pd.DataFrame
    chat_findings: int


def vm_anchor(vmid: int, instance: int, capture_index: int = 0) -> str:
    suffix = f"-c{capture_index}" if capture_index else ""
    return f"vm-{int(vmid):#x}-{int(instance)}{suffix}"


def finding_anchor(i: int) -> str:
    return f"finding-{i}"


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _blank(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _summary(trace: Any) -> dict[str, Any]:
    m = trace.messages
    tx = trace.transactions
    first, last = timebase.span(trace)
    clients = sorted(int(c) for c in m["client_vmid"].unique() if int(c) != 0xFFFF) if not m.empty else []
    status = tx["status"].astype(str).value_counts() if not tx.empty else pd.Series(dtype=int)
    findings = trace.findings
    by_sev = findings["severity"].astype(str).value_counts() if not findings.empty else pd.Series(dtype=int)
    summary = trace.lifecycle_summary
    return {
        "captures": len(trace.captures),
        "span_s": None if math.isnan(last - first) else last - first,
        "clients": clients,
        "vms": sorted({int(v) for v in summary["vmid"]}) if not summary.empty else [],
        "vm_instances": len(summary),
        "messages": len(m),
        "requests": int((m["type"] == "request").sum()) if not m.empty else 0,
        "notifications": int((m["type"] == "notification").sum()) if not m.empty else 0,
        "error_replies": int(status.get("error", 0)),
        "unanswered": int(sum(status.get(s.value, 0) for s in NOT_ANSWERED)),
        "malformed_messages": int(m["malformed"].notna().sum()) if not m.empty else 0,
        "unreadable_records": len(trace.problems),
        "findings": {s: int(by_sev.get(s, 0)) for s in SEVERITIES},
    }


def _findings(trace: Any) -> tuple[pd.DataFrame, int]:
    """Findings worth reading (chat lines, one per VM, are in the per-VM table instead)."""
    f = trace.findings
    chat = int((f["severity"] == "chat").sum()) if not f.empty else 0
    f = _sorted(f[f["severity"] != "chat"]).reset_index(drop=True)
    f.insert(0, "anchor", [finding_anchor(i) for i in range(len(f))])
    return f, chat


def _vms(trace: Any, findings: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """The VM instances (one row each, with its anchor) and the findings each owns (``_owned``)."""
    s = trace.lifecycle_summary.reset_index(drop=True)
    order = {str(c): i for i, c in enumerate(pd.unique(s["capture"].astype(str)))}
    s["anchor"] = [
        vm_anchor(v, n, order.get(str(c), 0))
        for v, n, c in zip(s["vmid"], s["instance"], s["capture"], strict=True)
    ]
    owned = _owned(findings, s)
    s["findings"] = [len(owned.get(a, ())) for a in s["anchor"]]
    s["exit"] = [
        "" if _blank(t) else (str(t) if _blank(r) else f"{t} ({r})")
        for t, r in zip(s["exit_type"], s["exit_reason"], strict=True)
    ]
    s["verdict"] = ""
    return s, owned


def _owned(findings: pd.DataFrame, vms: pd.DataFrame) -> dict[str, list[int]]:
    """Row numbers of the findings about each VM instance (by anchor): same capture and VMID,
    inside the instance's lifetime (a finding without a time belongs to every instance)."""
    spans: dict[tuple[str, int], list[tuple[float, float, str]]] = {}
    for vm in vms.itertuples(index=False):
        lo = -math.inf if _blank(vm.first_seen) else float(vm.first_seen) - 1e-9
        hi = math.inf if _blank(vm.deallocated_at) else float(vm.deallocated_at) + 1e-9
        spans.setdefault((str(vm.capture), int(vm.vmid)), []).append((lo, hi, vm.anchor))
    owned: dict[str, list[int]] = {}
    for i, (capture, vmid, t) in enumerate(
        zip(findings["capture"].astype(str), findings["vmid"], findings["t"], strict=True)
    ):
        if _blank(vmid):
            continue
        for lo, hi, anchor in spans.get((capture, int(vmid)), ()):
            if _blank(t) or lo <= float(t) <= hi:
                owned.setdefault(anchor, []).append(i)
    return owned


def _records(rows: pd.DataFrame) -> list[Any]:
    """Rows as plain named tuples: what the verdict reads, one row at a time, without pandas."""
    return list(rows.itertuples(index=False))


def _links(rows: Sequence[Any], limit: int = 4) -> list[Link]:
    links = []
    for r in rows[:limit]:
        frames = tuple(r.frames) if isinstance(r.frames, tuple | list) else ()
        label = (
            f"frame {frames[0]}"
            if len(frames) == 1
            else (f"frames {frames[0]}-{frames[-1]}" if frames else r.code)
        )
        links.append(Link(label, r.anchor))
    return links


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return (
        rows.assign(_rank=rows["severity"].astype(str).map(rank))
        .sort_values(["_rank", "t"])
        .drop(columns="_rank")
    )


def _reasons(rows: Sequence[Any], limit: int = 2) -> list[str]:
    """The first finding text of each distinct code, most severe first, and how many more."""
    firsts: dict[Any, Any] = {}
    for r in rows:
        firsts.setdefault(None if _blank(r.code) else r.code, r)
    texts = [str(r.text) for r in list(firsts.values())[:limit]]
    more = len(rows) - len(texts)
    if more > 0:
        texts.append(f"{more} more finding(s)")
    return texts


class _Windows:
    """The slow windows with their columns as arrays, read once for every VM instance's question."""

    def __init__(self, windows: pd.DataFrame) -> None:
        self.frame = windows
        self.none = windows.iloc[0:0]
        self.capture = windows["capture"].astype(str).to_numpy() if len(windows) else None
        self.start = windows["start"].to_numpy() if len(windows) else None
        self.end = windows["end"].to_numpy() if len(windows) else None

    def of(self, vm: Any) -> pd.DataFrame:
        """Slow windows that overlapped this instance's boot (ALLOCATE to RUNNING) and named its VM."""
        if self.capture is None or _blank(vm.running_at):
            return self.none
        lo = vm.first_seen if _blank(vm.allocated_at) else vm.allocated_at
        keep = (self.capture == str(vm.capture)) & (self.start <= vm.running_at) & (self.end >= lo)
        if not keep.any():
            return self.none
        vmid = int(vm.vmid)  # the VMs a window names: only for the few that overlap in time
        keep[keep] = [vmid in tuple(v) for v in self.frame["vmids"].to_numpy()[keep]]
        return self.frame[keep] if keep.any() else self.none


def _vm_line(
    vm: Any,
    rows: Sequence[Any],
    slow_boot: float | None,
    windows: _Windows,
    median_boot: float | None,
    crowd: int = 0,
) -> VerdictLine | None:
    """The verdict for one VM instance, or None when there is nothing to say; ``rows`` are its
    findings (``_records``), most severe first."""
    subject = f"VM {int(vm.vmid):#x}" + (f" #{int(vm.instance)}" if int(vm.instance) > 1 else "")
    states = "" if _blank(vm.states) else str(vm.states)
    before_teardown = [x for x in states.split(">") if x and x not in TEARDOWN_STATES]
    furthest = before_teardown[-1] if before_teardown else "?"
    exit_type = None if _blank(vm.exit_type) else str(vm.exit_type)
    never_ran = _blank(vm.running_at)
    boot = _num(vm.boot_latency)
    normal_exit = exit_type is None or exit_type in NORMAL_EXITS
    fast = slow_boot is None or not boot > slow_boot
    if not rows and not never_ran and normal_exit and fast and windows.of(vm).empty:
        return None  # the common case
    serious = [r for r in rows if str(r.severity) in ("error", "warning")]
    failure = [r for r in rows if str(r.code) in FAILURE_CODES]
    if states.endswith("RESET"):  # reset cleanly; only its VM_DEALLOCATE is missing (capture cut?)
        failure = [r for r in failure if str(r.code) != "never_deallocated"]
    timing = [r for r in rows if str(r.category) == TIMING_CATEGORY]
    reasons = _reasons(serious)
    if never_ran or failure or (exit_type is not None and exit_type not in NORMAL_EXITS):
        head = f"never reached RUNNING: got as far as {furthest} (states {states})" if never_ran else ""
        if not never_ran and exit_type is not None and exit_type not in NORMAL_EXITS:
            head = f"exited {exit_type}"
        elif not never_ran and failure:
            head = f"ran, then: {failure[0].text}"
            reasons = [r for r in reasons if r != str(failure[0].text)]
        if not reasons and not failure:
            reasons = ["No error reply or finding names it: see its timeline"]
        why = "; ".join(reasons)
        return VerdictLine(subject, "failed", f"{head}. {why}".strip(". ") + ".", _links(serious))
    during = windows.of(vm)
    booted_by = float(vm.running_at) if not never_ran else math.inf
    later = [r for r in timing if not _num(r.t) <= booted_by + 1e-9]
    timing = [r for r in timing if _num(r.t) <= booted_by + 1e-9]
    if timing or not during.empty or (slow_boot is not None and boot > slow_boot):
        text = f"slow boot: RUNNING {boot * 1e3:.1f} ms after VM_ALLOCATE"
        if median_boot is not None:
            text += f" (median boot here {median_boot * 1e3:.1f} ms)"
        links = _links(timing)
        if not during.empty:
            w = during.iloc[0]
            text += (
                f"; its boot overlapped the RM slow window {w.start:.3f}-{w.end:.3f} s, in which calls took "
                f"x{w.factor:.1f} their usual service time"
            )
            links = [
                Link(f"slow window {i + 1}", a) for i, a in zip(during.index, during["anchor"], strict=True)
            ]
            links += _links(timing)
        elif timing:
            text += "; " + str(timing[0].text)
        else:
            text += f"; {crowd} other VM boot(s) overlapped it (the RM serves one call at a time)"
        kind = "window" if not during.empty else ("finding" if timing else "crowded")
        return VerdictLine(subject, "slow", text + ".", links or _links(serious), kind=kind)
    if later:
        text = f"booted in {boot * 1e3:.1f} ms, later a call was slow: {later[0].text}"
        return VerdictLine(subject, "slow", text + ".", _links(later), kind="call")
    if serious:
        return VerdictLine(subject, "errors", f"booted and ran, but: {'; '.join(reasons)}.", _links(serious))
    return None


def _capture_lines(
    findings: pd.DataFrame, owned: dict[str, list[int]], windows: pd.DataFrame
) -> list[VerdictLine]:
    """Serious findings that no VM instance line covers, grouped by code."""
    covered = {i for rows in owned.values() for i in rows}
    rest = findings[~findings.index.isin(covered) & findings["severity"].isin(["error", "warning"])]
    lines = []
    for code, rows in _sorted(rest).groupby("code", observed=True, sort=False):
        n = int(rows["count"].sum())
        first = str(rows["text"].iloc[0])
        text = first if len(rows) == 1 else f"{n} x {code}: {first}"
        status = "slow" if str(code) in SLOW_CODES else "capture"
        links = _links(_records(rows.head(4)))
        if str(code) == "slow_window":
            links = [Link(f"slow window {i + 1}", a) for i, a in enumerate(windows["anchor"])] + links
        subject = "RM" if status == "slow" else "capture"
        lines.append(VerdictLine(subject, status, text, links, label=str(rows["severity"].iloc[0])))
    return lines


def _overlapping_boots(vms: pd.DataFrame, block: int = 1024) -> np.ndarray:
    """For each VM instance, how many other instances of its capture were booting at the same time
    (VM_ALLOCATE to RUNNING intervals that overlap). Pairwise, a block of rows at a time: thousands
    of instances would otherwise take a few n x n matrices at once."""
    lo = vms["allocated_at"].astype(float).fillna(vms["first_seen"].astype(float)).to_numpy()
    hi = vms["running_at"].astype(float).to_numpy()
    same = pd.factorize(vms["capture"].astype(str))[0]
    counts = np.zeros(len(vms), dtype=np.int64)
    for a in range(0, len(vms), block):
        b = slice(a, a + block)
        overlap = (lo[b, None] < hi[None, :]) & (lo[None, :] < hi[b, None]) & (same[b, None] == same[None, :])
        counts[b] = overlap.sum(axis=1)
    return np.maximum(counts - 1, 0)


def _group_crowded(
    lines: list[VerdictLine], vms: pd.DataFrame, median_boot: float | None, most: int
) -> list[VerdictLine]:
    """Many slow boots with no slow window behind them are one story (a fleet booting at once)."""
    crowded = [line for line in lines if line.kind == "crowded"]
    if len(crowded) <= MAX_CROWDED_LINES:
        return lines
    slow = vms[vms["anchor"].isin([line.links[0].anchor for line in crowded])]
    boots = slow["boot_latency"].astype(float)
    vmids = sorted(set(slow["vmid"]))
    names = ", ".join(f"{int(v):#x}" for v in vmids[:12]) + (
        f" and {len(vmids) - 12} more" if len(vmids) > 12 else ""
    )
    text = (
        f"{len(crowded)} boots took {boots.min() * 1e3:.1f}-{boots.max() * 1e3:.1f} ms to RUNNING "
        f"(median boot here {(median_boot or 0) * 1e3:.1f} ms) with no slow window: each overlapped "
        f"up to {most} other boots, so they queued for the RM (VMs {names})."
    )
    links = [line.links[0] for line in crowded[:6]]
    summary = VerdictLine(f"{len(crowded)} VMs", "slow", text, links, kind="crowded")
    return [line for line in lines if line.kind != "crowded"] + [summary]


def _verdict(
    vms: pd.DataFrame, findings: pd.DataFrame, windows: pd.DataFrame, owned: dict[str, list[int]]
) -> list[VerdictLine]:
    boots = vms["boot_latency"].dropna().astype(float)
    median_boot = float(boots.median()) if len(boots) >= 3 else None
    slow_boot = SLOW_BOOT_FACTOR * median_boot if median_boot is not None else None
    lines = []
    crowds = _overlapping_boots(vms)
    status = vms["verdict"].tolist()
    records = _records(findings)
    indexed = _Windows(windows)
    for i, vm in enumerate(vms.itertuples(index=False)):
        rows = [records[k] for k in owned.get(vm.anchor, ())]
        line = _vm_line(vm, rows, slow_boot, indexed, median_boot, int(crowds[i]))
        if line is not None:
            line.links.insert(0, Link("VM row", vm.anchor))
            status[i] = line.status
            lines.append(line)
    vms["verdict"] = status
    lines = _group_crowded(lines, vms, median_boot, int(crowds.max()) if len(crowds) else 0)
    rest = _capture_lines(findings, owned, windows)
    rank = {
        ("failed", False): 0,
        ("slow", True): 1,
        ("slow", False): 2,
        ("errors", False): 3,
        ("capture", True): 4,
    }
    everything = lines + rest
    everything.sort(key=lambda line: rank[(line.status, line.subject in ("capture", "RM"))])
    return everything


def slow_windows(trace: Any) -> pd.DataFrame:
    """The RM's slow windows (``trace.slow_windows``), times relative, each with its anchor."""
    try:
        table = trace.slow_windows
    except AttributeError:  # a Trace without timing analysis
        table = pd.DataFrame(columns=["capture", "start", "end", "vmids"])
    table = table.reset_index(drop=True)
    table.insert(0, "anchor", [f"slow-window-{i}" for i in range(len(table))])
    return table


def build_content(trace: Any, title: str | None = None) -> ReportContent:
    """Everything the report shows, from one Trace."""
    findings, chat = _findings(trace)
    vms, owned = _vms(trace, findings)
    windows = slow_windows(trace)
    return ReportContent(
        title=title or "RM trace report: " + ", ".join(os.path.basename(c) for c in trace.captures),
        captures=list(trace.captures),
        start=timebase.absolute_start(trace),
        summary=_summary(trace),
        verdict=_verdict(vms, findings, windows, owned),
        vms=vms,
        lifecycles=trace.lifecycles,
        srt=trace.srt,
        slow_windows=windows,
        errors=trace.errors,
        findings=findings,
        memparcels=trace.memparcels,
        irqs=trace.irqs,
        chat_findings=chat,
    )
