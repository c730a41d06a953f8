"""Expert info: what deserves a look, Wireshark style (severity, category, frames, text).

Severities as Wireshark's: ``error`` (malformed, broken protocol or lifecycle), ``warning``
(an unusual reply or missing answer), ``note`` (notable but legal), ``chat`` (the normal story,
one line per VM). ``code`` is stable, so scripts and tests can look for a kind of finding.

Codes: error_reply, unanswered, duplicate_reply, orphan_reply, reused_seq (sequence and
response); malformed, reassembly, unknown_message (messages); capture_problem (input);
crash_message, boot_hang, invalid_transition, call_on_deallocated, reallocated, status_after_dealloc,
init_failed,
abnormal_exit, state_held, never_deallocated, vm_lifecycle (lifecycles); slow_window,
latency_outlier, time_reversed (timing, from ``timing``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from dissector.sorting import distinct, isin, stable_order

from .lifecycles import Finding
from .schema import FINDINGS, SEVERITIES
from .timebase import capture_codes
from .timing import FRAME_BITS
from .transactions import call_types, client_keys, garbage

CODES = (
    "error_reply",
    "unanswered",
    "duplicate_reply",
    "orphan_reply",
    "reused_seq",
    "malformed",
    "reassembly",
    "unknown_message",
    "capture_problem",
    "crash_message",
    "boot_hang",
    "invalid_transition",
    "call_on_deallocated",
    "reallocated",
    "status_after_dealloc",
    "init_failed",
    "abnormal_exit",
    "state_held",
    "never_deallocated",
    "vm_lifecycle",
    "slow_window",
    "latency_outlier",
    "time_reversed",
)


def _vm(vmid: object) -> str:
    return "" if vmid is None or vmid is pd.NA else f" for VM {int(vmid):#x}"  # type: ignore[call-overload]


def _span(seconds: float) -> str:
    """A duration as a person reads it: ``1.000 s`` or ``0.021 ms``."""
    return f"{seconds:.3f} s" if seconds >= 1 else f"{seconds * 1e3:.3f} ms"


def _opt(x: Any) -> Any:
    return None if x is pd.NA or x is None or (isinstance(x, float) and math.isnan(x)) else x


def from_transactions(tx: pd.DataFrame, end_times: dict[str, float]) -> list[Finding]:
    """unanswered, duplicate_reply, orphan_reply and reused_seq findings, one per transaction."""
    out: list[Finding] = []
    odd = tx[tx["status"].isin(("unanswered", "duplicate_reply", "orphan_reply", "retransmitted"))]
    first_reply: dict[tuple[str, int], int] = {}
    duplicates = (odd["status"] == "duplicate_reply").to_numpy(bool)
    if duplicates.any():
        # only the requests a duplicate answers (a storm of refused calls answers hundreds of thousands)
        asked = odd["request_frame"].to_numpy(np.float64, na_value=np.nan)[duplicates]
        request = tx["request_frame"].to_numpy(np.float64, na_value=np.nan)
        answers = tx["status"].isin(("ok", "error", "malformed")).to_numpy(bool)
        wanted = np.isin(request, asked[~np.isnan(asked)]) & answers
        answered = tx[wanted]
        first_reply = dict(
            zip(
                zip(answered["capture"].astype(str), answered["request_frame"].astype(int), strict=True),
                answered["reply_frame"].astype(int),
                strict=True,
            )
        )
    next_moves = NextMoves(tx)
    for row in odd.itertuples(index=False):
        seq = f"seq {row.seq}" if row.seq is not pd.NA else "seq unknown"
        vm = _vm(_opt(row.vm))
        name = str(row.name)
        if row.status == "unanswered":
            end = end_times.get(str(row.capture), math.nan)
            later = f"; the capture goes on {end - row.request_time:.3f} s after it" if end == end else ""
            frames: tuple[int, ...] = (int(row.request_frame),)
            effect = next_moves.after(row)
            if effect is not None:
                wait, what, frame = effect
                client = f"client {int(row.client_vmid):#x}"
                later = f"; {client} gave up {_span(wait)} later with {what}, frame {frame}"
                frames = (*frames, frame)
            text = f"{name} request ({seq}){vm} was never answered{later}"
            out.append(
                Finding("warning", "sequence", "unanswered", text, frames, row.time, _opt(row.vm), name)
            )
        elif row.status == "duplicate_reply":
            text = (
                f"{name} reply in frame {row.reply_frame} repeats the answer to the request in frame "
                f"{row.request_frame} ({seq}){vm}"
            )
            first = first_reply.get((str(row.capture), int(row.request_frame)))
            frames = tuple(f for f in (int(row.request_frame), first, int(row.reply_frame)) if f is not None)
            out.append(
                Finding("warning", "sequence", "duplicate_reply", text, frames, row.time, _opt(row.vm), name)
            )
        elif row.status == "orphan_reply":
            err = f", {row.err_name}" if _opt(row.err_name) is not None else ""
            text = f"{name} reply ({seq}{err}) answers no request in the capture"
            out.append(
                Finding(
                    "warning",
                    "sequence",
                    "orphan_reply",
                    text,
                    (int(row.reply_frame),),
                    row.time,
                    _opt(row.vm),
                    name,
                )
            )
        else:
            text = (
                f"{name} request ({seq}){vm} reused the (client, seq, msg_id) of a request still waiting "
                "for its reply, and got no reply of its own"
            )
            frames = (int(row.request_frame),)
            out.append(
                Finding("warning", "sequence", "unanswered", text, frames, row.time, _opt(row.vm), name)
            )
    for f, capture in zip(out, odd["capture"].astype(object).tolist(), strict=True):
        f.capture = capture
    return out


GIVE_UP_CALLS = ("VM_RESET", "VM_DEALLOCATE", "VM_STOP")


def gave_up(tx: pd.DataFrame, row: Any) -> tuple[float, str, int] | None:
    """What the client did next about an unanswered call: the first later request of the same
    client about the same VM that retries the call or tears the VM down (``GIVE_UP_CALLS``).
    Returns (seconds after the request, what, its frame), or None."""
    if _opt(row.vm) is None:
        return None
    later = tx[
        (tx["capture"] == row.capture).to_numpy(bool)
        & (tx["client_vmid"] == row.client_vmid).to_numpy(bool)
        & (tx["request_frame"] > row.request_frame).to_numpy(bool, na_value=False)
        & (tx["vm"] == row.vm).to_numpy(bool, na_value=False)
        & tx["name"].isin((row.name, *GIVE_UP_CALLS)).to_numpy(bool)
    ]
    if later.empty:
        return None
    nxt = later.iloc[0]
    what = f"a retry of {row.name}" if nxt["name"] == row.name else str(nxt["name"])
    return float(nxt["request_time"] - row.request_time), what, int(nxt["request_frame"])


class NextMoves:
    """``gave_up`` for many unanswered calls of one transactions table: its candidate requests
    (named like a call of the table, or a ``GIVE_UP_CALLS``) grouped once by capture, client,
    VM and name, each group in frame order, instead of a scan of the whole table per call."""

    def __init__(self, tx: pd.DataFrame) -> None:
        self.tx = tx
        self._groups: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] | None = None
        # what ``after`` reads of the row it finds
        self._columns = {c: tx[c].array for c in ("name", "request_time", "request_frame")}

    def _index(self) -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
        """The groups as one sort of the rows by (capture, client, VM, name, frame): a dict entry
        per group, not a Python step per row."""
        tx = self.tx
        frame = tx["request_frame"].to_numpy(np.float64, na_value=np.nan)
        vm = tx["vm"].to_numpy(np.float64, na_value=np.nan)
        rows = np.flatnonzero(~np.isnan(frame) & ~np.isnan(vm))
        capture, captures = _numbered(tx["capture"], rows)
        name, names = _numbered(tx["name"], rows)
        client, vm_of = tx["client_vmid"].to_numpy()[rows], vm[rows]
        # stable: within a group by frame, equal frames in table order (as a stable argsort)
        order = np.lexsort((frame[rows], name, vm_of, client, capture))
        columns = (capture[order], client[order], vm_of[order], name[order])
        change = np.zeros(max(len(order) - 1, 0), bool)
        for c in columns:
            change |= c[1:] != c[:-1]
        bounds = np.r_[0, np.flatnonzero(change) + 1, len(order)] if len(order) else np.zeros(1, np.int64)
        at, frames = rows[order], frame[rows][order]
        client_of = tx["client_vmid"].astype(object).to_numpy()[rows][order]  # the values row tuples hold
        groups = {}
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            key = (captures[columns[0][a]], client_of[a], int(columns[2][a]), names[columns[3][a]])
            # the first row in table order among those after a frame: a suffix minimum of positions
            groups[key] = (frames[a:b], np.minimum.accumulate(at[a:b][::-1])[::-1])
        return groups

    def after(self, row: Any) -> tuple[float, str, int] | None:
        """``gave_up(tx, row)``, from the index."""
        if _opt(row.vm) is None:
            return None
        if self._groups is None:
            self._groups = self._index()
        best = None
        for name in dict.fromkeys((row.name, *GIVE_UP_CALLS)):
            found = self._groups.get((row.capture, row.client_vmid, row.vm, name))
            if found is None:
                continue
            frames, first = found
            k = int(np.searchsorted(frames, float(row.request_frame), side="right"))
            if k < len(frames) and (best is None or first[k] < best):
                best = int(first[k])
        if best is None:
            return None
        name, request_time, request_frame = (self._columns[c][best] for c in self._columns)
        what = f"a retry of {row.name}" if name == row.name else str(name)
        return float(request_time) - row.request_time, what, int(request_frame)


def _numbered(column: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A number per row (at ``rows``) for its value and the values they index, NaN last (-1)."""
    codes, values = capture_codes(column)
    return codes[rows], np.array([*values, np.nan], object)


def from_errors(errors: pd.DataFrame, tx: pd.DataFrame | None = None) -> list[Finding]:
    """One error_reply finding per (capture, call, error code, VM): a call retried and refused
    again is one finding with its count and retry interval; frames: requests and replies.

    The reply frames of every errors row are looked up in the transactions (VM, reply time,
    request frame) as one array, not one dict lookup per frame: a storm of refused calls names
    hundreds of thousands of replies."""
    out: list[Finding] = []
    if errors.empty:
        return out
    replies = _ErrorReplies(errors, tx)
    groups = replies.groups()
    row = -1
    rows = errors.itertuples(index=False)
    for g, (r, vm) in enumerate(groups.keys):
        while row < r:
            err = next(rows)
            row += 1
        count = int(groups.count[g])
        said = f"{count} replies" if count > 1 else "1 reply"
        timed = int(groups.timed[g])
        lo, hi = float(groups.first[g]), float(groups.last[g])
        if count > 1 and timed == count and hi > lo:  # retried, refused again
            span = hi - lo
            said += f", one every {_span(span / (count - 1))} on average over {_span(span)}"
        code = f"RM error {int(err.err_code):#x}, Linux {err.errno}"
        text = f"{err.name} failed with {err.err_name} ({code}): {said}" + (
            "" if vm is None else f", VM {int(vm):#x}"
        )
        first = lo if timed else err.first
        out.append(
            Finding(
                "warning",
                "response",
                "error_reply",
                text,
                groups.frames[g],
                first,
                vm,
                str(err.name),
                count,
                str(err.capture),
            )
        )
    return out


def _capture_codes(capture: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """A number per row for its capture's name (from the categorical codes, not a string per row)."""
    codes, values = capture_codes(capture)
    names: dict[str, int] = {}  # two categories with one name (str) get one number
    remap = np.array([names.setdefault(v, len(names)) for v in values] + [-2], np.int64)
    return remap[codes], names  # a missing capture (code -1): -2, which no name has


@dataclass
class _ReplyGroups:
    """The reply frames of the errors rows grouped by (row, VM), in row order and, within a row,
    in the order each VM first appears among its frames."""

    keys: list[tuple[int, int | None]]  # (errors row, VM or None)
    count: np.ndarray  # replies
    timed: np.ndarray  # ... of which the transactions know (they have a reply time)
    first: np.ndarray  # earliest and latest reply time of those (NaN without any)
    last: np.ndarray
    frames: list[tuple[int, ...]]  # replies and their requests, sorted, each once


class _ErrorReplies:
    """Every reply frame the errors table names, flat, with what the transactions say about it."""

    def __init__(self, errors: pd.DataFrame, tx: pd.DataFrame | None) -> None:
        frames = errors["frames"].tolist()
        lengths = np.fromiter(map(len, frames), np.int64, len(frames))
        self.row = np.repeat(np.arange(len(errors), dtype=np.int64), lengths)
        self.frame = np.fromiter(chain.from_iterable(frames), np.int64, int(lengths.sum()))
        n = len(self.frame)
        self.found = np.zeros(n, bool)
        self.vm = np.full(n, -1, np.int64)  # -1: no VM (not found, or the transaction names none)
        self.time = np.full(n, np.nan)
        self.request = np.full(n, -1, np.int64)  # -1: no request frame
        if tx is not None and n:
            self._look_up(errors, tx)

    def _look_up(self, errors: pd.DataFrame, tx: pd.DataFrame) -> None:
        # only the replies the errors table names (a large capture has far more answered calls)
        reply = tx["reply_frame"].to_numpy(np.float64, na_value=np.nan)
        rows = np.flatnonzero(~np.isnan(reply))
        rows = rows[isin(reply[rows].astype(np.int64), self.frame)]  # in table order
        tx_cap, names = _capture_codes(tx["capture"])
        err_cap = np.array([names.get(str(c), -1) for c in errors["capture"]], np.int64)[self.row]
        keys = (tx_cap[rows] << FRAME_BITS) | reply[rows].astype(np.int64)
        # a reply frame twice in the transactions: the last row says (as a dict filled in order would)
        order = stable_order(keys)
        keys = keys[order]
        last = np.r_[keys[1:] != keys[:-1], True] if len(keys) else np.zeros(0, bool)
        keys, order = keys[last], order[last]
        want = np.where(err_cap >= 0, (err_cap << FRAME_BITS) | self.frame, -1)
        at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        self.found = (keys[at] == want) & (want >= 0) if len(keys) else self.found
        pos = rows[order[at[self.found]]]
        vm = tx["vm"].to_numpy(np.float64, na_value=np.nan)[pos]
        self.vm[self.found] = np.where(np.isnan(vm), -1, vm).astype(np.int64)
        self.time[self.found] = tx["reply_time"].to_numpy(np.float64)[pos]
        req = tx["request_frame"].to_numpy(np.float64, na_value=np.nan)[pos]
        self.request[self.found] = np.where(np.isnan(req), -1, req).astype(np.int64)

    def groups(self) -> _ReplyGroups:
        # (row, VM) groups, numbered in order of their first frame (a factorization's order)
        group = pd.factorize((self.row << 33) | (self.vm + 1))[0].astype(np.int64)
        seen = np.r_[-1, np.maximum.accumulate(group)[:-1]] if len(group) else group
        starts = np.flatnonzero(group > seen)  # each group's first frame: a number not seen before
        ng = len(starts)
        count = np.bincount(group, minlength=ng)
        timed = np.bincount(group, weights=self.found, minlength=ng).astype(np.int64)
        first, last = np.full(ng, np.nan), np.full(ng, np.nan)
        np.fmin.at(first, group[self.found], self.time[self.found])
        np.fmax.at(last, group[self.found], self.time[self.found])
        # frames: the replies and their request frames, sorted, each once per group
        has_req = self.request >= 0
        g = np.r_[group, group[has_req]]
        f = np.r_[self.frame, self.request[has_req]]
        if len(f) and f.min() >= 0 and f.max() < 1 << FRAME_BITS and ng < 1 << (62 - FRAME_BITS):
            key = distinct((g << FRAME_BITS) | f)
            g, f = key >> FRAME_BITS, key & ((1 << FRAME_BITS) - 1)
        else:
            order = np.lexsort((f, g))
            g, f = g[order], f[order]
            keep = np.r_[True, (g[1:] != g[:-1]) | (f[1:] != f[:-1])] if len(g) else np.zeros(0, bool)
            g, f = g[keep], f[keep]
        bounds = np.searchsorted(g, np.arange(ng + 1))
        values = f.tolist()
        frames = [tuple(values[a:b]) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]
        rows, vms = self.row[starts].tolist(), self.vm[starts].tolist()
        keys = [(r, None if v < 0 else v) for r, v in zip(rows, vms, strict=True)]
        return _ReplyGroups(keys, count, timed, first, last, frames)


SEQ_REUSE_WINDOW = 1024


def reused_seqs(
    messages: pd.DataFrame, window: int = SEQ_REUSE_WINDOW, clients: np.ndarray | None = None
) -> list[Finding]:
    """Requests whose seq the same client used again within ``window`` requests (any call).

    Linux allocates request seqs cyclically over 16 bits (protocol.md 1.6): a seq comes back
    only after 65536 requests, so a reuse soon after is a client bug or a replayed request.
    (A reuse while the first request is still unanswered is also a ``retransmitted`` row.)
    ``clients``: the client keys of every message (``Pairing.client``: what the messages were
    paired by), computed from ``messages`` when not given.
    """
    rows = np.flatnonzero(
        (messages["type"] == "request").to_numpy(bool) & messages["seq"].notna().to_numpy(bool)
    )
    if len(rows) < 2:
        return []
    cap = messages["capture"].cat.codes.to_numpy(np.int64)[rows]
    seq = messages["seq"].to_numpy(np.int64, na_value=-1)[rows]
    # a guest's kernel starts again at seq 0 in each new VM on its VMID: one client per VM
    client = (_client_keys(messages) if clients is None else clients)[rows]
    rank = np.zeros(len(rows), np.int64)  # index of the request among its client's requests
    by_client = np.lexsort((np.arange(len(rows)), client, cap))
    grp = cap[by_client] * (1 << 40) + client[by_client]
    starts = np.r_[0, np.flatnonzero(np.diff(grp)) + 1]
    counts = np.diff(np.r_[starts, len(grp)])
    rank[by_client] = np.arange(len(grp)) - np.repeat(starts, counts)
    order = np.lexsort((rank, seq, client, cap))
    same = (
        (cap[order][1:] == cap[order][:-1])
        & (client[order][1:] == client[order][:-1])
        & (seq[order][1:] == seq[order][:-1])
    )
    gap = rank[order][1:] - rank[order][:-1]
    hits = np.flatnonzero(same & (gap <= window))
    out = []
    # only the requests the findings name are read from the table (not every request's columns)
    named = distinct(np.r_[order[hits], order[hits + 1]])
    req = messages.iloc[rows[named]]
    frames = req["frame"].to_numpy(np.int64)
    names = req["name"].astype(object).to_numpy()
    times = req["time"].to_numpy(np.float64)
    vmids = req["vm"].array
    captures = req["capture"].astype(object).to_numpy()
    first, second = np.searchsorted(named, order[hits]), np.searchsorted(named, order[hits + 1])
    for h, a, b in zip(hits.tolist(), first.tolist(), second.tolist(), strict=True):
        reuse = order[h + 1]
        text = (
            f"{names[b]} request reuses seq {seq[reuse]} of the {names[a]} request in frame {frames[a]} "
            f"from the same client {int(client[reuse]) & 0xFFFF:#x}, {gap[h]} request(s) later; "
            "Linux allocates seqs "
            "cyclically (a seq returns only after 65536 requests)"
        )
        out.append(
            Finding("warning", "sequence", "reused_seq", text, (int(frames[a]), int(frames[b])),
                    float(times[b]),
                    _opt(vmids[b]), names[b], 1, captures[b])
        )  # fmt: skip
    return out


def _client_keys(messages: pd.DataFrame) -> np.ndarray:
    """``transactions.client_keys`` of a messages table."""
    ok_alloc = (
        (messages["vmid_source"] == "allocated").to_numpy(bool)
        & (messages["type"] == "reply").to_numpy(bool)
        & (messages["err_code"] == 0).to_numpy(bool, na_value=False)
    )
    return client_keys(
        messages["capture"].cat.codes.to_numpy(np.int64),
        messages["client_vmid"].to_numpy(np.int64),
        call_types(messages),
        messages["seq"].to_numpy(np.int64, na_value=-1),
        messages["msg_id"].to_numpy(np.int64, na_value=-1),
        np.where(ok_alloc, messages["vmid"].to_numpy(np.int64, na_value=-1), -1),
    )


def from_messages(messages: pd.DataFrame) -> list[Finding]:
    """malformed / reassembly findings per message and unknown_message per (capture, id)."""
    out: list[Finding] = []
    bad = messages[messages["malformed"].notna()]
    for row in bad[
        ["capture", "frames", "time", "vm", "name", "malformed", "malformed_kind", "type"]
    ].itertuples(index=False):
        code = "reassembly" if row.malformed_kind == "fragment" else "malformed"
        what = (
            f"{row.name} {row.type}"
            if _opt(row.name) is not None and _opt(row.type) is not None
            else "message"
        )
        text = (
            f"{what}: {row.malformed}"
            if not str(row.malformed).startswith(str(_opt(row.name)))
            else row.malformed
        )
        out.append(
            Finding(
                "error",
                "malformed",
                code,
                text,
                tuple(row.frames),
                row.time,
                _opt(row.vm),
                _opt(row.name) and str(row.name),
                1,
                str(row.capture),
            )
        )
    noise = garbage(messages)  # reported as malformed already
    unknown = messages[_named_unknown(messages["name"]) & ~noise]
    if len(unknown):
        for (capture, msg_id), g in unknown.groupby(["capture", "msg_id"], observed=True, sort=True):
            n = len(g)
            kinds = "/".join(sorted(set(g["type"].astype(str))))
            text = (
                f"{n} {kinds} message{'s' if n > 1 else ''} with id {int(msg_id):#010x}, "
                "which no source names; "
                "payload kept as raw bytes"
            )
            frames = tuple(g["frame"].tolist())
            out.append(
                Finding(
                    "warning",
                    "protocol",
                    "unknown_message",
                    text,
                    frames,
                    float(g["time"].min()),
                    None,
                    str(g["name"].iloc[0]),
                    n,
                    str(capture),
                )
            )
    return out


def _named_unknown(names: pd.Series) -> np.ndarray:
    """Rows whose message name is an ``UNKNOWN_...`` one (asked of each category, not each row)."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        cats = names.cat.categories.astype(object)
        hit = np.array([isinstance(c, str) and c.startswith("UNKNOWN_") for c in cats] + [False], bool)
        return hit[names.cat.codes.to_numpy(np.int64)]  # a missing name (code -1): the False last
    return names.astype(object).fillna("").str.startswith("UNKNOWN_").to_numpy(bool)


def crash_reports(
    messages: pd.DataFrame, fields: Callable[[str, int], Mapping[str, Any]] | None
) -> list[Finding]:
    """A VM_SET_CRASH_MSG request: the guest says it crashed, and why (its text needs the payload,
    which ``fields(capture, frame)`` dissects; without it the finding has no text)."""
    rows = messages[
        (messages["name"] == "VM_SET_CRASH_MSG").to_numpy(bool)
        & (messages["type"] == "request").to_numpy(bool)
    ]
    out = []
    for row in rows[["capture", "frame", "time", "vm"]].itertuples(index=False):
        text = ""
        if fields is not None:
            msg = fields(str(row.capture), int(row.frame)).get("msg_text")  # printable rendering
            text = f': "{msg}"' if msg else ""
        vm = _vm(_opt(row.vm)).replace(" for VM", "VM") or "a VM"
        out.append(
            Finding("warning", "lifecycle", "crash_message", f"{vm.strip()} reported a crash{text}",
                    (int(row.frame),),
                    float(row.time), _opt(row.vm), "VM_SET_CRASH_MSG", 1, str(row.capture))
        )  # fmt: skip
    return out


def from_problems(problems: pd.DataFrame) -> list[Finding]:
    """The capture readers' problems (bytes or lines they could not read)."""
    return [
        Finding(
            "error" if row.fatal else "warning",
            "capture",
            "capture_problem",
            f"{row.source}: {row.reason}",
            (),
            math.nan,
            None,
            None,
            1,
            str(row.capture),
        )
        for row in problems.itertuples(index=False)
    ]


def to_frame(found: Iterable[Finding], captures: list[str]) -> pd.DataFrame:
    """The findings table (schema ``FINDINGS``), most severe first, then in time order."""
    found = list(found)
    if not found:
        frame = FINDINGS.empty()
        frame["capture"] = pd.Categorical([], categories=captures)
        return frame
    data = {
        "capture": pd.Categorical([f.capture for f in found], categories=captures),
        "severity": [f.severity for f in found],
        "category": [f.category for f in found],
        "code": [f.code for f in found],
        "vmid": [f.vmid for f in found],
        "name": [f.name for f in found],
        "time": np.array([np.nan if f.time is None else f.time for f in found], np.float64),
        "frames": [tuple(f.frames) for f in found],
        "count": [f.count for f in found],
        "text": [f.text for f in found],
    }
    frame = FINDINGS.frame(data)
    rank = frame["severity"].cat.codes.to_numpy()
    order = np.lexsort((frame["time"].fillna(np.inf).to_numpy(), rank, frame["capture"].cat.codes.to_numpy()))
    return frame.take(order).reset_index(drop=True)


assert SEVERITIES[0] == "error"
