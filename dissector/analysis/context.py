"""Generated fields of an exchange: what Wireshark would add in brackets to every RM message.

A request, its replies and any stray continuation of them form one *exchange*; every message of
an exchange carries the same five values (a notification forms no exchange):

* ``vm``: the VM the exchange concerns. In order of precedence:
  1. a memory or IRQ call (MEM_LEND/SHARE/DONATE/APPEND/ACCEPT/RELEASE/RECLAIM/NOTIFY,
     VM_IRQ_ACCEPT/RELEASE/RECLAIM/NOTIFY): the VM the parcel or IRQ ledger ties it to, that is
     the caller itself when the caller is one of the parcel's borrowers (or the IRQ's borrower),
     else the parcel's first borrower (first ACL VMID other than the owner) or the IRQ's
     borrower; a create call that made no parcel: the first ACL VMID other than the caller;
  2. VM_ALLOCATE: the VMID its reply allocated (the request's payload says 0);
  3. the request's payload ``vmid`` (0 means the caller itself, protocol.md 1.7);
  4. otherwise the client VM whose queue carried the request.
  A reply or continuation takes its request's ``vm``; an orphan reply or a stray continuation
  whose request is not in the capture falls back to rule 3/4 on itself; a notification's
  ``vm`` is its payload ``vmid`` (else its client). NA when unknown (kernel logs: no client).
* ``request_frame``: frame of the exchange's request (NA for orphan replies and notifications);
* ``reply_frame``: frame of the request's *first* reply (a duplicate reply shows the first
  one's frame, so ``reply_frame != frame`` on a reply marks it a duplicate); NA if unanswered;
* ``latency``: first reply time - request time, in seconds (NA unless both are timed);
* ``errno``: the Linux errno name of the first reply's RM error (``-ENODEV`` for NORESOURCE,
  ``dissector.protocol.errors.linux_errno``); NA when it succeeded, is unanswered, or its error
  code was lost.

Pairing is ``transactions.pair`` (by capture, client, seq, msg_id, first in first out).
``exchange_columns`` computes the fields without the ledgers (inside ``build_messages``);
``with_ledgers`` applies rule 1 from the parcel and IRQ ledgers (the ``Trace`` does both).
``StreamContext`` gives the same fields while streaming (``ghrm decode -`` / ``--follow``),
from what has been seen so far: a request printed before its reply has no ``reply_frame``,
``latency`` or ``errno`` yet. ``vm_frames`` lists what ``--vmid X`` keeps beyond ``vm == X``:
the calls on parcels and IRQs lent to, shared with or accepted by X.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dissector.protocol.errors import linux_errno

from .fields import msg_id_of

GENERATED = ("vm", "request_frame", "reply_frame", "latency", "errno")
REQUEST, REPLY, CONTINUATION = 1, 2, 0
UNKNOWN_VMID = 0xFFFF

MEMORY_CREATE = ("MEM_LEND", "MEM_SHARE", "MEM_DONATE")
MEMORY_HANDLE_CALLS = ("MEM_APPEND", "MEM_ACCEPT", "MEM_RELEASE", "MEM_RECLAIM", "MEM_NOTIFY")
IRQ_HANDLE_CALLS = ("VM_IRQ_ACCEPT", "VM_IRQ_RELEASE", "VM_IRQ_RECLAIM", "VM_IRQ_NOTIFY")
# parcel / IRQ ledger columns that hold frames of calls and notifications about the row
PARCEL_FRAME_COLUMNS = (
    "created_frame", "handle_frame", "append_frames", "notify_frames", "shared_frames", "accept_frames",
    "mapped_frames", "accepted_frames", "release_frames", "released_frames", "recall_frames",
    "config_frames", "reclaimed_frame",
)  # fmt: skip
IRQ_FRAME_COLUMNS = (
    "lent_frame", "handle_frame", "notify_frames", "lent_frames", "accept_frames", "accepted_frames",
    "release_frames", "released_frames", "reclaimed_frame",
)  # fmt: skip


def _errno(code: int) -> str | None:
    return None if code <= 0 else linux_errno(int(code))


def exchange_rows(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    request_of: np.ndarray,
) -> np.ndarray:
    """For each message row, the row of its exchange's request (-1: none, or a notification)."""
    n = len(msg_type)
    req = np.full(n, -1, np.int64)
    is_req = msg_type == REQUEST
    req[is_req] = np.flatnonzero(is_req)
    is_rep = msg_type == REPLY
    req[is_rep] = request_of[is_rep]
    strays = np.flatnonzero(msg_type == CONTINUATION)
    if len(strays):  # a stray continuation belongs to the latest exchange with its key before it
        latest: dict[tuple[int, int, int, int], int] = {}
        calls = np.flatnonzero(is_req | is_rep | (msg_type == CONTINUATION)).tolist()
        for i in calls:
            key = (int(capture[i]), int(client[i]), int(seq[i]), int(msg_id[i]))
            if msg_type[i] == CONTINUATION:
                req[i] = latest.get(key, -1)
            elif req[i] >= 0:
                latest[key] = int(req[i])
    return req


def exchange_columns(
    frame: np.ndarray,
    time_ns: np.ndarray,
    time_known: np.ndarray,
    vmid: np.ndarray,
    err_code: np.ndarray,
    req: np.ndarray,
    reply_of: np.ndarray,
    request_of: np.ndarray,
    msg_type: np.ndarray,
) -> dict[str, Any]:
    """The generated columns (arrays; vmid/err_code -1 = unknown) from ``exchange_rows``' result."""
    from .schema import nullable

    has = req >= 0
    safe = np.maximum(req, 0)
    rep = np.where(has, reply_of[safe], -1)
    orphan = (msg_type == REPLY) & (request_of < 0)
    rep = np.where(orphan, np.arange(len(rep)), rep)
    vm = np.where(has, vmid[safe], vmid)
    got = rep >= 0
    safe_rep = np.maximum(rep, 0)
    timed = has & got & time_known[safe] & time_known[safe_rep]
    latency = np.where(timed, (time_ns[safe_rep] - time_ns[safe]) / 1e9, np.nan)
    err = np.where(got, err_code[safe_rep], -1)
    errno = [_errno(e) for e in err.tolist()] if (err > 0).any() else [None] * len(err)
    return {
        "vm": nullable(vm, vm < 0, "Int32"),
        "request_frame": nullable(np.where(has, frame[safe], 0), ~has, "Int64"),
        "reply_frame": nullable(np.where(got, frame[safe_rep], 0), ~got, "Int64"),
        "latency": latency,
        "errno": pd.Categorical(errno),
    }


# --- rule 1: the parcel and IRQ ledgers -------------------------------------------------------
def _frames(row: Mapping[str, Any], columns: Sequence[str]) -> list[int]:
    out: list[int] = []
    for c in columns:
        v = row.get(c)
        if isinstance(v, tuple):
            out.extend(int(f) for f in v)
        elif v is not None and v is not pd.NA and not (isinstance(v, float) and v != v):
            out.append(int(v))
    return out


def _borrowers(row: Mapping[str, Any], kind: str) -> tuple[int, ...]:
    if kind == "irq":
        return tuple(int(v) for v in (row.get("vmid"), row.get("accepted_by")) if _known(v))
    return tuple(int(v) for v in (*row["borrowers"], *row["shared_with"], *row["accepted_by"]))


def _known(v: Any) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and v != v)


def _by_handle(table: pd.DataFrame, kind: str) -> dict[tuple[str, int], list[dict[str, Any]]]:
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in table.to_dict("records"):
        if _known(row["handle"]):
            out.setdefault((str(row["capture"]), int(row["handle"])), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: r["first_frame"])
    return out


def _row_at(rows: list[dict[str, Any]], frame: int) -> dict[str, Any] | None:
    """The parcel/IRQ with this handle alive at ``frame`` (else the latest before it)."""
    best = None
    for r in rows:
        if r["first_frame"] <= frame:
            best = r
            if frame <= r["last_frame"]:
                return r
    return best


def ledger_vms(
    ledger_messages: Iterable[Mapping[str, Any]], memparcels: pd.DataFrame, irqs: pd.DataFrame
) -> dict[tuple[str, int], int]:
    """``(capture, request frame) -> vm`` for the memory and IRQ calls (rule 1)."""
    ids = {msg_id_of(n): n for n in (*MEMORY_CREATE, *MEMORY_HANDLE_CALLS, *IRQ_HANDLE_CALLS)}
    parcels, lent = _by_handle(memparcels, "mem"), _by_handle(irqs, "irq")
    created = {
        (str(r["capture"]), int(r["created_frame"])): r
        for r in memparcels.to_dict("records")
        if _known(r["created_frame"])
    }
    out: dict[tuple[str, int], int] = {}
    for m in ledger_messages:
        name = ids.get(m.get("msg_id"))  # type: ignore[arg-type]
        if name is None or m.get("type") != "request":
            continue
        capture, frame = str(m.get("capture", "")), int(m["frame"])
        client = int(m.get("client_vmid", UNKNOWN_VMID))
        fields = m.get("fields") or {}
        vm: int | None = None
        if name in MEMORY_CREATE:
            row = created.get((capture, frame))
            acl = [int(a.get("vmid", 0)) for a in fields.get("acl") or ()]
            others = [v for v in acl if v != client]
            if row is not None and _known(row["vmid"]):
                vm = int(row["vmid"])
            elif others:
                vm = others[0]
        else:
            kind, table, key = (
                ("irq", lent, "virq_handle") if name.startswith("VM_IRQ") else ("mem", parcels, "mem_handle")
            )
            handle = fields.get(key)
            row = _row_at(table.get((capture, int(handle)), []), frame) if handle is not None else None
            if row is not None:
                if client in _borrowers(row, kind):
                    vm = client
                elif _known(row["vmid"]):
                    vm = int(row["vmid"])
        if vm is not None:
            out[(capture, frame)] = vm
    return out


def with_ledgers(messages: pd.DataFrame, vms: Mapping[tuple[str, int], int]) -> pd.DataFrame:
    """``messages`` with rule 1 applied to every message of those exchanges (a new frame)."""
    if not vms or messages.empty:
        return messages
    key = list(zip(messages["capture"].astype(str), messages["request_frame"].astype("Int64"), strict=True))
    new = np.array([vms.get((c, int(f)), -1) if f is not pd.NA else -1 for c, f in key], np.int64)
    hit = new >= 0
    if not hit.any():
        return messages
    out = messages.copy()
    vm = out["vm"].to_numpy(np.int64, na_value=-1)
    vm[hit] = new[hit]
    from .schema import nullable

    out["vm"] = nullable(vm, vm < 0, "Int32")
    return out


def vm_frames(memparcels: pd.DataFrame, irqs: pd.DataFrame, vmids: Iterable[int]) -> dict[str, set[int]]:
    """Per capture, frames of calls and notifications about parcels or IRQs lent to, shared
    with or accepted by one of ``vmids`` (``--vmid`` keeps them, with their replies)."""
    wanted = {int(v) for v in vmids}
    out: dict[str, set[int]] = {}
    for table, kind, columns in ((memparcels, "mem", PARCEL_FRAME_COLUMNS), (irqs, "irq", IRQ_FRAME_COLUMNS)):
        for row in table.to_dict("records"):
            if wanted & set(_borrowers(row, kind)):
                out.setdefault(str(row["capture"]), set()).update(_frames(row, columns))
    return out


def about_vms(df: pd.DataFrame, vmids: Iterable[int], related: Mapping[str, set[int]]) -> np.ndarray:
    """Rows of a messages/transactions/findings table that concern one of ``vmids``: by ``vm``
    or ``vmid``, or by a frame in ``related`` (``vm_frames``)."""
    wanted = list(vmids)
    keep = np.zeros(len(df), bool)
    for column in ("vm", "vmid"):
        if column in df:
            keep |= df[column].isin(wanted).to_numpy(bool, na_value=False)
    if not related or df.empty:
        return keep
    captures = df["capture"].astype(str).tolist()
    for column in ("frame", "request_frame", "reply_frame", "frames"):
        if column not in df:
            continue
        for i, (c, f) in enumerate(zip(captures, df[column].tolist(), strict=True)):
            if keep[i] or c not in related:
                continue
            frames = f if isinstance(f, tuple) else (() if f is None or f is pd.NA else (f,))
            keep[i] = any(int(x) in related[c] for x in frames)
    return keep


# --- streaming --------------------------------------------------------------------------------
class StreamContext:
    """The generated fields of messages seen one at a time, from what came before (see above).

    Feed jsonl dicts (``DecodedMessage.to_json()``) in capture order; ``fields(record)``
    returns the five values for that record and remembers what later messages need.
    """

    def __init__(self) -> None:
        self.open: dict[tuple[int, int, int], dict[str, Any]] = {}  # (client, seq, msg_id) -> exchange
        self.handles: dict[tuple[str, int], tuple[int, int]] = {}  # (mem/irq, handle) -> owner, vm
        self.ids = {msg_id_of(n): n for n in (*MEMORY_CREATE, *MEMORY_HANDLE_CALLS, *IRQ_HANDLE_CALLS)}
        self.alloc = msg_id_of("VM_ALLOCATE")
        self.irq_lend = msg_id_of("VM_IRQ_LEND")

    def _own_vm(self, record: Mapping[str, Any]) -> int | None:
        fields = record.get("fields") or {}
        client = record.get("client_vmid")
        v = fields.get("vmid") if isinstance(fields, dict) else None
        if isinstance(v, int) and (v > 0 or record.get("msg_id") == self.alloc):
            return v if v > 0 else None
        return None if client in (None, UNKNOWN_VMID) else int(client)

    def _request_vm(self, record: Mapping[str, Any]) -> int | None:
        name = self.ids.get(record.get("msg_id"))  # type: ignore[arg-type]
        fields = record.get("fields") or {}
        client = record.get("client_vmid")
        if name in MEMORY_CREATE:
            others = [int(a.get("vmid", 0)) for a in fields.get("acl") or () if a.get("vmid") != client]
            if others:
                return others[0]
        elif name is not None:
            kind, key = ("irq", "virq_handle") if name.startswith("VM_IRQ") else ("mem", "mem_handle")
            handle = fields.get(key)
            if handle is not None and (kind, int(handle)) in self.handles:
                owner, vm = self.handles[(kind, int(handle))]
                return vm if client == owner else self._own_vm(record)
        return self._own_vm(record)

    def fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        kind = record.get("type")
        key = (record.get("client_vmid"), record.get("seq"), record.get("msg_id"))
        if kind == "request":
            ex = {
                "vm": self._request_vm(record),
                "request_frame": record.get("frame"),
                "reply_frame": None,
                "latency": None,
                "errno": None,
                "time": record.get("time"),
                "record": record,
            }
            self.open[key] = ex  # type: ignore[index]
        elif kind in ("reply", "continuation"):
            ex = self.open.get(key)  # type: ignore[arg-type]
            if ex is None:
                err = record.get("err_code")
                return {
                    "vm": self._own_vm(record),
                    "request_frame": None,
                    "reply_frame": record.get("frame") if kind == "reply" else None,
                    "latency": None,
                    "errno": _errno(err) if isinstance(err, int) else None,
                }
            if kind == "reply" and ex["reply_frame"] is None:
                self._answer(ex, record)
        else:
            return {"vm": self._own_vm(record), **dict.fromkeys(GENERATED[1:])}
        return {k: ex[k] for k in GENERATED}

    def _answer(self, ex: dict[str, Any], reply: Mapping[str, Any]) -> None:
        ex["reply_frame"] = reply.get("frame")
        t0, t1 = ex["time"], reply.get("time")
        ex["latency"] = None if t0 is None or t1 is None else t1 - t0
        err = reply.get("err_code")
        ex["errno"] = _errno(err) if isinstance(err, int) else None
        fields = reply.get("fields") or {}
        if reply.get("msg_id") == self.alloc and err == 0 and isinstance(fields.get("vmid"), int):
            ex["vm"] = fields["vmid"]
        name = self.ids.get(reply.get("msg_id"))  # type: ignore[arg-type]
        owner = reply.get("client_vmid")
        if err == 0 and ex["vm"] is not None and isinstance(owner, int):
            if name in MEMORY_CREATE and fields.get("mem_handle") is not None:
                self.handles[("mem", int(fields["mem_handle"]))] = (owner, ex["vm"])
            if reply.get("msg_id") == self.irq_lend and fields.get("virq_handle") is not None:
                self.handles[("irq", int(fields["virq_handle"]))] = (owner, ex["vm"])


# --- ghrm decode ------------------------------------------------------------------------------
def exchange_context(path: str, dialect: str, follow: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """What ``ghrm decode`` attaches to each jsonl record of ``path``: for a file, two passes like
    ``tshark -2`` (the whole capture's messages table first); for stdin or ``--follow``, a
    ``StreamContext`` (only what came before)."""
    import os

    if path != "-" and not follow and os.path.isfile(path):
        from dissector.errors import GhrmError
        from dissector.trace import open_trace

        try:
            known = _by_frame(open_trace(path, dialect=dialect).messages)
        except (GhrmError, OSError, ValueError):
            known = None
        if known is not None:
            empty = dict.fromkeys(GENERATED)
            return lambda record: known.get(record["frame"], empty)
    return StreamContext().fields


def _by_frame(messages: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """Frame -> generated fields as JSON values (ints, float, str or None)."""
    columns = [[_plain(v) for v in messages[c].astype(object).tolist()] for c in GENERATED]
    return {
        int(f): dict(zip(GENERATED, values, strict=True))
        for f, *values in zip(messages["frame"].tolist(), *columns, strict=True)
    }


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def generated_lines(record: Mapping[str, Any]) -> list[str]:
    """The generated fields as ``ghrm decode -V`` shows them (bracketed, as Wireshark does)."""
    out = []
    if record.get("vm") is not None:
        out.append(f"[VM: {record['vm']:#x}]")
    if record.get("request_frame") is not None and record.get("request_frame") != record.get("frame"):
        out.append(f"[Request in frame: {record['request_frame']}]")
    if record.get("reply_frame") is not None and record.get("reply_frame") != record.get("frame"):
        out.append(f"[Reply in frame: {record['reply_frame']}]")
    if record.get("latency") is not None:
        out.append(f"[Latency: {record['latency']:.6f} s]")
    if record.get("errno") is not None:
        out.append(f"[Linux errno: {record['errno']}]")
    return out
