"""RM timing: service times, slow windows, per-call outliers and reversed timestamps.

Why service time and not latency: the RM serves one call at a time (one FIFO queue for all its
clients), so a call's latency also holds the time it waited behind the calls before it. One slow
call makes the ten queued behind it look slow too. The RM's own *service* time of a call is
estimated from the capture alone, as in a single-server queue::

    service = reply_time - max(arrival, previous reply_time)

where ``arrival`` is the time of the request's last record and "previous" is the reply sent
just before (any client of the same capture). A call is then compared with its own baseline (the
median service of the same call outside any slow window, scaled by its payload size for calls
that walk a list), so a VM_INIT of 2 ms is normal and a VM_GET_VMID of 2 ms is not.

A **slow window** is a run of consecutive served calls, of several calls, whose service is far
above their baselines: it gives start (when the first slowed call began service), end (when the
first call served at its normal speed again began), the calls affected, and the added delay,
classified as multiplicative (every call x k) or constant (every call + d) by which model fits
the window's calls better. A **latency outlier** is one call far beyond its own p99 by a robust
statistic (median + MAD in log space) outside any window. **time_reversed** reports replies
timed before their requests and records whose time goes backwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dissector.sorting import groups, positions

from .lifecycles import Finding
from .schema import SLOW_WINDOWS

# [tuning, checked on every bundled trace: none of the clean ones has a window]
SLOW_RATIO = 4.0  # a call is slowed when its service is at least this many times its baseline
MIN_ADDED = 20e-6  # ... and took at least this much longer (s); below it is timestamp noise
MIN_CALLS = 3  # a window slows at least this many calls
MAX_GAP = 1  # normal-speed calls tolerated inside a window between slowed ones
HOLD_RATIO = 2.0  # ... or more, if their median service is still this many times their baseline
MIN_BASELINE_SAMPLES = 3  # a baseline needs this many calls outside windows
OUTLIER_MAD = 8.0  # outlier: log service above median + this many robust sigmas ...
OUTLIER_P99 = 3.0  # ... and this many times the call's own p99 (of its other calls)
OUTLIER_MIN_SAMPLES = 8  # a call needs this many samples for a p99 and a MAD


@dataclass(frozen=True)
class ServiceTimes:
    """Per answered call of one or more captures, in service order (arrays of equal length)."""

    capture: np.ndarray  # object: capture name
    frame: np.ndarray  # request frame
    name: np.ndarray  # object: call name
    vmid: np.ndarray  # float: VM the call concerns (NaN unknown)
    request_time: np.ndarray
    started: np.ndarray  # when the RM began serving it (estimated)
    reply_time: np.ndarray
    latency: np.ndarray
    service: np.ndarray
    size: np.ndarray  # request payload bytes
    call: np.ndarray | None = None  # int: the name's number by first appearance (-1 none); None: from name

    def __len__(self) -> int:
        return len(self.frame)

    def calls(self) -> list[np.ndarray]:
        """The indices of each call name's calls (names in order of first appearance), as
        ``groupby(name, sort=False).indices`` gives them."""
        call = pd.factorize(self.name)[0] if self.call is None else self.call
        return groups(call)


def answered_with_latency(transactions: pd.DataFrame) -> np.ndarray:
    """Rows of calls answered (ok or error) with a usable latency: reversed timestamps (a
    negative latency) are findings (``time_reversed``), not data."""
    latency = transactions["latency"].to_numpy(np.float64, na_value=np.nan)
    return transactions["status"].isin(("ok", "error")).to_numpy(bool) & (latency >= 0)


def service_times(transactions: pd.DataFrame, messages: pd.DataFrame) -> ServiceTimes:
    """The RM's estimated service time of every answered call (see the module docstring).

    The answered calls are read as arrays of their rows (no copy of the whole table per filter)
    and requests found among the messages by one integer key per (capture, frame)."""
    rows = np.flatnonzero(answered_with_latency(transactions))
    latency = transactions["latency"].to_numpy(np.float64, na_value=np.nan)
    arrival = transactions["request_time"].to_numpy(np.float64)[rows]
    asked = transactions["request_frame"].to_numpy(np.float64, na_value=np.nan)[rows].astype(np.int64)
    size = np.zeros(len(rows))
    if len(rows) and not messages.empty:
        pos = _request_rows(messages, transactions["capture"], rows, asked)
        found = pos >= 0
        at = np.where(found, pos, 0)
        arrival = np.where(found, np.fmax(arrival, messages["time_end"].to_numpy(np.float64)[at]), arrival)
        size = np.where(found, messages["payload_len"].to_numpy(np.float64)[at], 0.0)
    capture_code, capture = _appearance(transactions["capture"], rows)
    reply = transactions["reply_time"].to_numpy(np.float64)[rows]
    order = np.lexsort((reply, capture_code))
    capture, capture_code, reply, arrival, size = (
        capture[order], capture_code[order], reply[order], arrival[order], size[order]
    )  # fmt: skip
    prev = np.r_[-np.inf, reply[:-1]]
    if len(prev):
        prev[np.r_[True, capture_code[1:] != capture_code[:-1]]] = -np.inf  # a capture's first call
    started = np.fmin(np.fmax(arrival, prev), reply)
    call, name = _appearance(transactions["name"], rows[order])
    return ServiceTimes(
        capture=capture,
        frame=asked[order],
        name=name,
        vmid=transactions["vmid"].to_numpy(np.float64, na_value=np.nan)[rows][order],
        request_time=transactions["request_time"].to_numpy(np.float64)[rows][order],
        started=started,
        reply_time=reply,
        latency=latency[rows][order],
        service=reply - started,
        size=size,
        call=call,
    )


def _appearance(column: pd.Series, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
    """A number per value of ``column`` at ``rows`` in order of first appearance among them (-1
    missing), and those values (objects, NaN where missing): ``pd.factorize`` of the objects,
    read from a categorical's codes (no hash of a string per row)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        values = column.to_numpy(object)[rows]
        return pd.factorize(values)[0].astype(np.int64), values
    codes = column.cat.codes.to_numpy(np.int64)[rows]
    categories = column.cat.categories.to_numpy(object)
    renumber = np.full(len(categories) + 1, -1, np.int64)  # code -1 (missing) stays -1: the last
    for k, rows_of in enumerate(groups(codes)):
        renumber[codes[rows_of[0]]] = k
    return renumber[codes], np.append(categories, np.nan)[codes]


FRAME_BITS = 40  # a (capture, frame) key as one integer: capture code above the frame's bits


def _request_rows(
    messages: pd.DataFrame, capture: pd.Series, rows: np.ndarray, frames: np.ndarray
) -> np.ndarray:
    """The messages row of each request (``capture`` of the transactions at ``rows``, ``frames``);
    -1 where none; the first row where a record split into two messages repeats its frame.

    One int64 per key from the categorical codes when both tables have them, found by binary
    search in the messages' keys (ascending in a messages table); else a hash of the keys (a
    1M-row MultiIndex of capture names costs seconds to factorize)."""
    mcap = messages["capture"]
    frame = messages["frame"].to_numpy(np.int64)
    if (
        isinstance(mcap.dtype, pd.CategoricalDtype)
        and isinstance(capture.dtype, pd.CategoricalDtype)
        and min(frame.min(), frames.min()) >= 0
        and max(frame.max(), frames.max()) < 1 << FRAME_BITS
    ):
        mcode = mcap.cat.codes.to_numpy(np.int64)
        tcode = capture.cat.set_categories(mcap.cat.categories).cat.codes.to_numpy(np.int64)[rows]
        # a capture the messages do not have: code -1, a negative key that matches nothing
        keys, want = (mcode << FRAME_BITS) | frame, (tcode << FRAME_BITS) | frames
        if len(keys) < 2 or bool((keys[1:] >= keys[:-1]).all()):
            return positions(keys, want)  # the first of equal keys
        mkeys, tkeys = pd.Index(keys), pd.Index(want)
    else:
        mkeys = pd.MultiIndex.from_arrays([mcap.astype(object), messages["frame"]])
        tkeys = pd.MultiIndex.from_arrays([capture.astype(object).to_numpy()[rows], frames])
    first = np.flatnonzero(~mkeys.duplicated())
    pos = mkeys[first].get_indexer(tkeys)
    return np.where(pos >= 0, first[np.maximum(pos, 0)], -1)


def _baselines(st: ServiceTimes, excluded: np.ndarray) -> np.ndarray:
    """Each call's expected service: the median of its name's calls outside ``excluded``, as
    ``a + b * payload bytes`` when the call's size varies (memory calls walk their list)."""
    base = np.full(len(st), np.nan)
    for idx in st.calls():
        use = idx[~excluded[idx]]
        if len(use) < MIN_BASELINE_SAMPLES:
            use = idx  # too few calls outside: the median of all of them (robust to a minority)
        svc, size = st.service[use], st.size[use]
        if np.ptp(size) > 0 and len(use) >= 2 * MIN_BASELINE_SAMPLES and np.median(size) > 0:
            # service = a + b * size, from the lower and upper halves by size (robust, cheap)
            lo = size <= np.median(size)
            x0, x1 = np.median(size[lo]), np.median(size[~lo]) if (~lo).any() else np.median(size[lo])
            y0, y1 = np.median(svc[lo]), np.median(svc[~lo]) if (~lo).any() else np.median(svc[lo])
            slope = max(0.0, (y1 - y0) / (x1 - x0)) if x1 > x0 else 0.0
            base[idx] = np.maximum(y0 + slope * (st.size[idx] - x0), 0.25 * y0)
        else:
            base[idx] = np.median(svc)
    return np.maximum(base, 1e-7)  # a 0 s median (coarse timestamps) would make every ratio infinite


def _runs(slow: np.ndarray, ratio: np.ndarray, capture: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] index of each run of slowed calls. Two slowed calls belong to one run when
    at most MAX_GAP calls lie between them, or those calls are still HOLD_RATIO times slower
    than their baseline in the median (hysteresis: a slow RM does not slow every call by the
    same factor over an estimated baseline)."""
    out: list[tuple[int, int]] = []
    idx = np.flatnonzero(slow)
    if not len(idx):
        return out
    first = last = int(idx[0])
    for i in idx[1:].tolist():
        between = ratio[last + 1 : i]
        joined = i - last - 1 <= MAX_GAP or bool(np.nanmedian(between) >= HOLD_RATIO)
        if joined and capture[i] == capture[last]:
            last = i
        else:
            out.append((first, last))
            first = last = i
    out.append((first, last))
    return [(a, b) for a, b in out if int(slow[a : b + 1].sum()) >= MIN_CALLS]


@dataclass
class _Window:
    first: int  # index of its first call (a slowed one), in service order
    last: int  # ... and of its last slowed call


def _detect(st: ServiceTimes) -> tuple[list[_Window], np.ndarray]:
    """Slow windows and the baselines they were measured against (up to three passes: baselines
    of all calls, then of the calls outside the previous pass's windows)."""
    excluded = np.zeros(len(st), bool)
    windows: list[_Window] = []
    base = np.full(len(st), np.nan)
    for _ in range(3):
        base = _baselines(st, excluded)
        slow = (st.service >= SLOW_RATIO * base) & (st.service - base >= MIN_ADDED)
        windows = [_Window(a, b) for a, b in _runs(slow, st.service / base, st.capture)]
        now = np.zeros(len(st), bool)
        for w in windows:
            now[w.first : w.last + 1] = True
        if (now == excluded).all():
            break
        excluded = now
    return windows, base


def _model(service: np.ndarray, base: np.ndarray) -> tuple[str, float, float]:
    """Which added delay fits the calls better: (model, factor, added seconds per call).

    Medians over the window's calls; a tiny call's measured service also holds a few
    microseconds of message transfer that no slow-down multiplies, so a window of tiny calls
    shows a factor somewhat below the RM's."""
    factor = float(np.median(service / base))
    added = float(np.median(service - base))
    mult = np.median(np.abs(np.log(service) - np.log(base * factor)))
    const = np.median(np.abs(np.log(service) - np.log(np.maximum(base + added, 1e-9))))
    return ("multiplicative" if mult <= const else "constant"), factor, added


def _delayed_boots(
    lifecycle_summary: pd.DataFrame | None, capture: str, start: float, end: float, vmids: set[int]
) -> tuple[int, ...]:
    """VMs whose boot (allocation to RUNNING, or still booting) overlaps [start, end] and that
    had a call in the window."""
    if lifecycle_summary is None or lifecycle_summary.empty:
        return tuple(sorted(vmids))
    s = lifecycle_summary[lifecycle_summary["capture"].astype(object) == capture]
    began = s["allocated_at"].fillna(s["first_seen"]).to_numpy(np.float64)
    ran = s["running_at"].to_numpy(np.float64)
    booting = (began <= end) & ~(ran < start)
    return tuple(sorted({int(v) for v in s["vmid"].to_numpy()[booting]} & vmids))


@dataclass(frozen=True)
class TimingModel:
    """The service times, the slow windows found in them and which calls lie inside a window.

    Why one object: the ``slow_windows`` table and the timing findings both need the detection
    (three passes of per-call baselines over every answered call); a ``Trace`` computes it once
    and hands it to both."""

    service: ServiceTimes
    windows: pd.DataFrame  # schema SLOW_WINDOWS
    inside: np.ndarray  # bool per call of ``service``: served inside a window


def timing_model(
    transactions: pd.DataFrame,
    messages: pd.DataFrame,
    lifecycle_summary: pd.DataFrame | None = None,
) -> TimingModel:
    """Service times and slow windows of the RM, for ``slow_windows`` and ``timing_findings``."""
    st = service_times(transactions, messages)
    windows, _base, inside = _windows_frame(st, lifecycle_summary)
    return TimingModel(st, windows, inside)


def slow_windows(
    transactions: pd.DataFrame,
    messages: pd.DataFrame,
    lifecycle_summary: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The slow windows of the RM (schema ``SLOW_WINDOWS``), one row per window."""
    return timing_model(transactions, messages, lifecycle_summary).windows


def _windows_frame(
    st: ServiceTimes, lifecycle_summary: pd.DataFrame | None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    windows, base = _detect(st)
    rows = []
    for w in windows:
        k = np.arange(w.first, w.last + 1)  # every call served in the window
        capture = str(st.capture[w.first])
        start = float(st.started[w.first])
        nxt = w.last + 1
        same = nxt < len(st) and st.capture[nxt] == capture
        end = float(st.started[nxt]) if same else float(st.reply_time[w.last])
        model, factor, added = _model(st.service[k], base[k])
        touched = {int(v) for v in st.vmid[k] if v == v}
        rows.append(
            {
                "capture": capture,
                "start": start,
                "end": end,
                "duration": end - start,
                "calls": len(k),
                "names": tuple(dict.fromkeys(st.name[k].tolist())),
                "frames": tuple(int(f) for f in st.frame[k]),
                "model": model,
                "factor": factor,
                "added": added,
                "delay": float(np.sum(st.service[k] - base[k])),
                "vmids": _delayed_boots(lifecycle_summary, capture, start, end, touched),
            }
        )
    inside = np.zeros(len(st), bool)
    for w in windows:
        inside[w.first : w.last + 1] = True
    if not rows:
        return SLOW_WINDOWS.empty(), base, inside
    data = {c: [r[c] for r in rows] for c in SLOW_WINDOWS.names}
    return SLOW_WINDOWS.frame(data), base, inside


def _ms(x: float) -> str:
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def window_findings(windows: pd.DataFrame, origin: dict[str, float]) -> list[Finding]:
    """One ``slow_window`` finding per window."""
    out = []
    for w in windows.itertuples(index=False):
        t0 = origin.get(str(w.capture), 0.0)
        names = ", ".join(w.names[:6]) + (" ..." if len(w.names) > 6 else "")
        how = (
            f"x{w.factor:.3g} their usual service time (multiplicative)"
            if w.model == "multiplicative"
            else f"+{_ms(w.added)} over their usual service time (constant)"
        )
        vms = ", ".join(f"{v:#x}" for v in w.vmids[:10]) + (" ..." if len(w.vmids) > 10 else "")
        boots = f"; it delayed the boot of VM {vms}" if vms else ""
        text = (
            f"RM slow from {w.start - t0:.6f} s to {w.end - t0:.6f} s ({_ms(w.duration)}): "
            f"the {w.calls} calls it served then ({names}) took {how}, {_ms(w.delay)} of RM time added{boots}"
        )
        vmid = w.vmids[0] if len(w.vmids) == 1 else None
        out.append(
            Finding("warning", "timing", "slow_window", text, tuple(w.frames), float(w.start), vmid,
                    None, int(w.calls), str(w.capture))
        )  # fmt: skip
    return out


class _P99WithoutOne:
    """``float(np.percentile(np.delete(values, j), 99))`` for many ``j`` of one call's service
    times, without a copy and a partition of the whole array per ``j`` (a call with 400k samples
    and a hundred outlier candidates took ~1 s that way).

    Why it is exact: the percentile is a function of the sorted values alone, and it reads two
    neighbouring ranks near 99 %. Removing the value at sorted position ``p`` shifts the ranks at
    and above ``p`` down by one, so every ``p`` clearly above those two ranks leaves the same
    sorted values there as removing the largest value, and every ``p`` clearly below them the same
    as removing the smallest: numpy computes those two once each. A ``p`` near the two ranks (a
    margin of a few, so numpy's own rounding of the rank does not matter) is computed as asked."""

    MARGIN = 3

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.sorted = np.sort(values)
        n = len(values)
        self.rank = math.floor(0.99 * (n - 2)) if n >= 2 else 0  # of the 99th percentile, n - 1 values
        self.exact = n < 2 * self.MARGIN + 2 or bool(np.isnan(self.sorted[-1]))  # NaN: numpy's own rule
        self._cache: dict[int, float] = {}

    def _without(self, p: int) -> float:
        if p not in self._cache:
            self._cache[p] = float(np.percentile(np.delete(self.sorted, p), 99))
        return self._cache[p]

    def __call__(self, j: int) -> float:
        n = len(self.values)
        if self.exact:
            return float(np.percentile(np.delete(self.values, j), 99))
        p = int(np.searchsorted(self.sorted, self.values[j]))  # a sorted position of that value
        if p >= self.rank + self.MARGIN:
            return self._without(n - 1)
        if p <= self.rank - self.MARGIN:
            return self._without(0)
        return self._without(p)


def outlier_findings(st: ServiceTimes, inside: np.ndarray) -> list[Finding]:
    """``latency_outlier``: one call far beyond its own kind (outside slow windows, which say more)."""
    out: list[Finding] = []
    for idx in st.calls():
        if len(idx) < OUTLIER_MIN_SAMPLES:
            continue
        name = st.name[idx[0]]
        logs = np.log(np.maximum(st.service[idx], 1e-9))
        med = np.median(logs)
        mad = 1.4826 * np.median(np.abs(logs - med))
        sigma = max(mad, 0.1)  # identical service times would make every jitter an outlier
        others_p99 = _P99WithoutOne(st.service[idx])
        for j in np.flatnonzero((logs > med + OUTLIER_MAD * sigma) & ~inside[idx]).tolist():
            i = int(idx[j])
            p99 = others_p99(j)
            if st.service[i] < OUTLIER_P99 * p99:
                continue
            vm = "" if st.vmid[i] != st.vmid[i] else f" for VM {int(st.vmid[i]):#x}"
            text = (
                f"{name}{vm} took {_ms(st.latency[i])} (RM service {_ms(st.service[i])}), "
                f"{st.service[i] / p99:.3g}x the p99 of its other {len(idx) - 1} calls ({_ms(p99)})"
            )
            out.append(
                Finding("note", "timing", "latency_outlier", text, (int(st.frame[i]),),
                        float(st.request_time[i]), None if st.vmid[i] != st.vmid[i] else int(st.vmid[i]),
                        str(name), 1, str(st.capture[i]))
            )  # fmt: skip
    return out


def reversed_findings(transactions: pd.DataFrame, messages: pd.DataFrame) -> list[Finding]:
    """``time_reversed``: replies timed before their requests, records whose time goes backwards
    (one finding per capture and kind, naming the frames)."""
    out: list[Finding] = []
    lat = transactions["latency"].to_numpy(np.float64)
    neg = transactions[lat < 0]
    for capture, g in neg.groupby(neg["capture"].astype(object), sort=False):
        frames = tuple(
            sorted(
                {int(f) for f in g["request_frame"].dropna()} | {int(f) for f in g["reply_frame"].dropna()}
            )
        )
        worst = float(g["latency"].min())
        text = (
            f"{len(g)} repl{'ies' if len(g) > 1 else 'y'} timed before {'their' if len(g) > 1 else 'its'} "
            f"request (latency down to {worst:.6f} s): the capture's timestamps are out of order, so "
            "latencies and lifecycle durations near them are wrong"
        )
        out.append(
            Finding("warning", "timing", "time_reversed", text, frames[:50], float(g["time"].min()),
                    None, None, len(g), str(capture))
        )  # fmt: skip
    time, frame = messages["time"].to_numpy(np.float64), messages["frame"].to_numpy(np.int64)
    for capture, rows in _by_capture(messages):
        t = time[rows]
        if len(t) < 2:
            continue
        back = np.flatnonzero(np.diff(t) < 0) + 1
        if not len(back):
            continue
        frames = frame[rows][back]
        jump = float(np.max(np.fmax.accumulate(t)[back - 1] - t[back]))
        text = (
            f"{len(back)} message{'s' if len(back) > 1 else ''} timed before the message captured before "
            f"{'them' if len(back) > 1 else 'it'} (up to {jump:.6f} s back): out-of-order timestamps"
        )
        out.append(
            Finding("warning", "timing", "time_reversed", text, tuple(int(f) for f in frames[:50]),
                    float(t[back[0]]), None, None, len(back), str(capture))
        )  # fmt: skip
    return out


def _by_capture(messages: pd.DataFrame) -> list[tuple[object, np.ndarray]]:
    """Each capture's name and rows, as ``groupby(capture.astype(object), sort=False)`` gives them
    (in order of first appearance, rows in table order), from the category codes."""
    column = messages["capture"]
    if isinstance(column.dtype, pd.CategoricalDtype):  # names by code: no object per row (1M)
        codes = column.cat.codes.to_numpy(np.int64)
        categories = column.cat.categories.to_numpy(object)
        return [(categories[codes[rows[0]]], rows) for rows in groups(codes)]
    number, names = _appearance(column, slice(None))
    return [(names[rows[0]], rows) for rows in groups(number)]


def timing_findings(
    transactions: pd.DataFrame,
    messages: pd.DataFrame,
    lifecycle_summary: pd.DataFrame | None = None,
    model: TimingModel | None = None,
) -> list[Finding]:
    """Every timing finding: slow_window, latency_outlier, time_reversed.

    ``model``: ``timing_model`` of the same tables, if the caller has it already (a ``Trace``
    keeps the one its ``slow_windows`` came from); else it is computed here."""
    if model is None:
        model = timing_model(transactions, messages, lifecycle_summary)
    st, inside = model.service, model.inside
    origin = {}
    if not messages.empty and "t" not in messages:  # (a public table's times are relative already)
        # the capture start as the tables count it: the first record (frame order), not the earliest
        time = messages["time"].to_numpy(np.float64)
        for capture, rows in _by_capture(messages):
            timed = rows[~np.isnan(time[rows])]
            if len(timed):
                origin[str(capture)] = float(time[timed[0]])
    return [
        *window_findings(model.windows, origin),
        *outlier_findings(st, inside),
        *reversed_findings(transactions, messages),
    ]
