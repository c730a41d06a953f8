"""A Trace as a Chrome JSON trace (the trace event format), for ui.perfetto.dev and chrome://tracing.

Layout: one process per VM ("VM 0x80"), whose first thread "lifecycle" holds the VM's state
intervals as complete ("X") slices, one track per VM; its RM calls are slices on "RM calls"
threads (a second lane opens only when two calls of the VM overlap, since slices of one thread
must nest). Error replies and findings are instant ("i") events. Calls that no VM owns go to the
"RM" process, whose "RM slow windows" thread shows each slow window as a slice. Timestamps are
microseconds since the capture start (the TEAM time base), and ``metadata.capture_start`` gives
the wall-clock time of that origin, for lining the trace up with a kernel trace. Several
captures: each VM track's name carries its capture.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import pandas as pd

from . import timebase

US = 1e6
NO_VM_PID = 1  # the "RM" process: calls no VM owns, and the RM's slow windows
SLOW_TID = 2
LIFECYCLE_TID = 1
CALLS_TID = 10  # first lane of a VM's RM calls; lanes count up from here


def _ok(x: Any) -> bool:
    return not (x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)))


class _Pids:
    """Process ids per (capture, VM), in order of first appearance."""

    def __init__(self, captures: list[str]) -> None:
        self.ids: dict[tuple[str, int], int] = {}
        self.many = len(captures) > 1
        self.with_lifecycle: set[int] = set()

    def get(self, capture: str, vmid: int) -> int:
        key = (capture, vmid)
        if key not in self.ids:
            self.ids[key] = 100 + len(self.ids)
        return self.ids[key]

    def names(self) -> Iterator[dict[str, Any]]:
        for (capture, vmid), pid in self.ids.items():
            name = f"VM {vmid:#x}" + (f" ({os.path.basename(capture)})" if self.many else "")
            yield _meta("process_name", pid, 0, name)
            yield {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}}
            if pid in self.with_lifecycle:
                yield _meta("thread_name", pid, LIFECYCLE_TID, "lifecycle")


def _meta(kind: str, pid: int, tid: int, name: str) -> dict[str, Any]:
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}


def _slice(name: str, cat: str, start: float, end: float, pid: int, tid: int, args: dict) -> dict[str, Any]:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": round(start * US, 3),
        "dur": round(max(end - start, 0.0) * US, 3),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def _lifecycle_events(trace: Any, pids: _Pids) -> Iterator[dict[str, Any]]:
    lc = trace.lifecycles
    for r in lc.itertuples(index=False):
        if not (_ok(r.start) and _ok(r.end)):
            continue
        pid = pids.get(str(r.capture), int(r.vmid))
        pids.with_lifecycle.add(pid)
        args = {"instance": int(r.instance), "cause": str(r.cause), "cause_frame": int(r.cause_frame)}
        if r.ongoing:
            args["ongoing"] = True
        yield _slice(str(r.state), "lifecycle", float(r.start), float(r.end), pid, LIFECYCLE_TID, args)


def _call_events(trace: Any, pids: _Pids) -> Iterator[dict[str, Any]]:
    tx = trace.transactions
    tx = tx[tx["request_time"].notna()].sort_values("request_time", kind="stable")
    lanes: dict[int, list[float]] = {}  # pid -> end time of the last slice in each lane
    named: set[tuple[int, int]] = set()
    for r in tx.itertuples(index=False):
        pid = pids.get(str(r.capture), int(r.vmid)) if _ok(r.vmid) else NO_VM_PID
        start = float(r.request_time)
        end = float(r.reply_time) if _ok(r.reply_time) else start
        ends = lanes.setdefault(pid, [])
        lane = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        tid = CALLS_TID + lane
        if (pid, tid) not in named:
            named.add((pid, tid))
            yield _meta("thread_name", pid, tid, "RM calls" if lane == 0 else f"RM calls ({lane + 1})")
        args: dict[str, Any] = {
            "status": str(r.status),
            "client": f"{int(r.client_vmid):#x}",
            "request_frame": int(r.request_frame) if _ok(r.request_frame) else None,
            "reply_frame": int(r.reply_frame) if _ok(r.reply_frame) else None,
        }
        if _ok(r.latency):
            args["latency_ms"] = round(float(r.latency) * 1e3, 6)
        if _ok(r.err_name) and str(r.err_name) != "OK":
            args["error"] = str(r.err_name)
        yield _slice(str(r.name), f"call,{r.status}", start, end, pid, tid, args)
        if str(r.status) in ("error", "unanswered"):
            yield {
                "name": f"{r.name} {r.err_name if str(r.status) == 'error' else 'unanswered'}",
                "cat": "error",
                "ph": "i",
                "s": "t",
                "ts": round((end if str(r.status) == "error" else start) * US, 3),
                "pid": pid,
                "tid": tid,
                "args": args,
            }


def _finding_events(trace: Any, pids: _Pids) -> Iterator[dict[str, Any]]:
    f = trace.findings
    f = f[(f["severity"] != "chat") & f["t"].notna()]
    for r in f.itertuples(index=False):
        pid = pids.get(str(r.capture), int(r.vmid)) if _ok(r.vmid) else NO_VM_PID
        yield {
            "name": f"{r.severity}: {r.code}",
            "cat": f"finding,{r.category}",
            "ph": "i",
            "s": "p",
            "ts": round(float(r.t) * US, 3),
            "pid": pid,
            "tid": LIFECYCLE_TID,
            "args": {"text": str(r.text), "frames": [int(x) for x in r.frames]},
        }


def _slow_window_events(trace: Any) -> Iterator[dict[str, Any]]:
    windows = getattr(trace, "slow_windows", None)
    if windows is None or windows.empty:
        return
    yield _meta("thread_name", NO_VM_PID, SLOW_TID, "RM slow windows")
    for w in windows.itertuples(index=False):
        args = {
            "calls": int(w.calls),
            "model": str(w.model),
            "factor": round(float(w.factor), 3),
            "rm_time_added_ms": round(float(w.delay) * 1e3, 3),
            "boots_delayed": [f"{int(v):#x}" for v in w.vmids],
        }
        yield _slice(
            f"RM slow x{float(w.factor):.1f}",
            "slow_window",
            float(w.start),
            float(w.end),
            NO_VM_PID,
            SLOW_TID,
            args,
        )


def perfetto_trace(trace: Any) -> dict[str, Any]:
    """The Chrome JSON trace (object form) of ``trace``."""
    pids = _Pids(trace.captures)
    events = list(_lifecycle_events(trace, pids))
    events += list(_call_events(trace, pids))
    events += list(_finding_events(trace, pids))
    events += list(_slow_window_events(trace))
    meta = [_meta("process_name", NO_VM_PID, 0, "RM"), *pids.names()]
    start = timebase.absolute_start(trace)
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ms",
        "metadata": {
            "source": "ghrm export --to perfetto",
            "captures": list(trace.captures),
            "capture_start": None if start is None else start.isoformat(),
            "time_base": "microseconds since capture start",
        },
    }


def write_perfetto(trace: Any, path: str | os.PathLike[str]) -> int:
    """Write the Chrome JSON trace of ``trace`` to ``path``; returns the number of events."""
    doc = perfetto_trace(trace)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
    return len(doc["traceEvents"])
