"""Generated fields of an exchange: what Wireshark would add in brackets to every RM message.

A request, its replies and any stray continuation of them form one *exchange*; every message of
an exchange carries the same five values (a notification forms no exchange):

* ``vm``: the VM the exchange concerns. In order of precedence:
  1. a memory or IRQ call: a create (MEM_LEND/SHARE/DONATE) concerns the first ACL VMID other
     than the caller, VM_IRQ_LEND its payload ``borrower_vmid``; a later call naming the
     ``mem_handle``/``virq_handle`` that the create's successful reply returned
     (MEM_APPEND/ACCEPT/RELEASE/RECLAIM/NOTIFY, VM_IRQ_ACCEPT/RELEASE/RECLAIM/NOTIFY) concerns
     the same VM when the creator makes it, and the caller itself when another VM (a borrower)
     makes it; a handle never seen created falls through to rule 3/4;
  2. VM_ALLOCATE: the VMID its reply allocated (the request's payload says 0);
  3. the request's payload ``vmid`` (0 means the caller itself, protocol.md 1.7);
  4. otherwise the client VM whose queue carried the request.
  A reply or continuation takes its request's ``vm``; an orphan reply or a stray continuation
  whose request is not in the capture falls back to rule 3/4 on itself; a notification's
  ``vm`` is its payload ``vmid`` (else its client). NA when unknown (kernel logs: no client).
* ``request_frame``: frame of the exchange's request (NA for orphan replies and notifications);
* ``reply_frame``: frame of the request's *first* reply (a duplicate reply shows the first
  one's frame, so ``reply_frame != frame`` on a reply marks it a duplicate); NA if unanswered;
  an orphan reply (no request in the capture) has its own frame, and its own ``errno``;
* ``latency``: first reply time - request time, in seconds (NA unless both are timed);
* ``errno``: the Linux errno name of the first reply's RM error (``-ENODEV`` for NORESOURCE,
  ``dissector.protocol.errors.linux_errno``); NA when it succeeded, is unanswered, or its error
  code was lost.

Pairing is ``transactions.pair`` (by capture, client, seq, msg_id, first in first out).
``resolve_vmids`` gives each message's own VMID and ``exchange_columns`` spreads it over its
exchange (rules 2-4, inside ``build_messages``); ``resource_vms`` finds rule 1 (payloads decoded
with ``protocol.codec``, handles followed in capture order by ``Resources``) and
``with_resources`` applies it to whole exchanges (the ``Trace`` does both). Rule 1 runs over
plain columns (``ResourceCalls``, ``resource_vms_of``; ``apply_resource_vms``), so that
``ghrm errors`` finds it for the failed calls alone, from call columns, without pandas (this
module loads pandas only where a table is read or built).
``exchange_fields`` gives all five for one capture's message columns with numpy alone (what
``ghrm decode`` writes: no messages table, no pandas). ``StreamContext`` gives the same fields
while streaming (``ghrm decode -`` / ``--follow``),
from what has been seen so far: a request printed before its reply has no ``reply_frame``,
``latency`` or ``errno`` yet. ``vm_frames`` lists what ``--vmid X`` keeps beyond ``vm == X``:
the calls on parcels and IRQs lent to, shared with or accepted by X.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from dissector.capture.record import UNKNOWN_VMID
from dissector.protocol.errors import linux_errno
from dissector.protocol.wire import CONTINUATION, FRAGMENTS_SHIFT, REPLY, REQUEST, lone_fragment

from .constants import IRQ_BORROWER, IRQ_HANDLE_CALLS, IRQ_LEND, MEMORY_CREATE, MEMORY_HANDLE_CALLS
from .fields import msg_id_of
from .schema import VMID_SOURCES

if TYPE_CHECKING:  # pandas where a table is read or built: ``ghrm errors`` prints its text without it
    import pandas as pd

    from dissector.protocol.codec import StructCodec

    from .columns import MessageColumns
    from .transactions import Pairing

GENERATED = ("vm", "request_frame", "reply_frame", "latency", "errno")
PAYLOAD, FROM_REQUEST, ALLOCATED, CLIENT = (VMID_SOURCES.index(s) for s in VMID_SOURCES)  # vmid_source

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


def resolve_vmids(
    msg_type: np.ndarray,
    msg_id: np.ndarray,
    client: np.ndarray,
    payload_vmid: np.ndarray,
    allocated_vmid: np.ndarray,
    pairing: Pairing,
) -> tuple[np.ndarray, np.ndarray]:
    """The VMID each message concerns by itself (-1 unknown; rules 2-4, ``messages``' docstring)
    and where it came from (``vmid_source`` codes). Here, not in ``messages``, so that the narrow
    path of ``ghrm errors`` (``calls``) reads it without pandas."""
    alloc = msg_id_of("VM_ALLOCATE")
    vmid = np.where(client != UNKNOWN_VMID, client, -1).astype(np.int64)
    source = np.full(len(vmid), CLIENT, np.int8)
    is_alloc_req = (msg_type == REQUEST) & (msg_id == alloc)
    use = (payload_vmid > 0) | ((payload_vmid == 0) & is_alloc_req)
    vmid[use] = payload_vmid[use]
    source[use] = PAYLOAD
    dynamic = np.flatnonzero(is_alloc_req & (payload_vmid == 0))
    reply = pairing.reply_of[dynamic]
    chosen = np.where(reply >= 0, allocated_vmid[np.maximum(reply, 0)], -1)
    vmid[dynamic] = chosen
    source[dynamic[chosen >= 0]] = ALLOCATED
    replies = np.flatnonzero((msg_type == REPLY) & (pairing.request_of >= 0))
    vmid[replies] = vmid[pairing.request_of[replies]]
    source[replies] = FROM_REQUEST
    got = allocated_vmid >= 0
    vmid[got] = allocated_vmid[got]
    source[got] = ALLOCATED
    return vmid, source


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


@dataclass
class Exchange:
    """The generated fields as numpy arrays, one entry per message row (``exchange_arrays``)."""

    vm: np.ndarray  # int64, -1 unknown
    request_frame: np.ndarray  # int64, -1 none
    reply_frame: np.ndarray  # int64, -1 none
    latency: np.ndarray  # float64 seconds, NaN unknown
    err: np.ndarray  # int64: the first reply's RM error code (``_errno`` names it), -1 none


def exchange_arrays(
    frame: np.ndarray,
    time_ns: np.ndarray,
    time_known: np.ndarray,
    vmid: np.ndarray,
    err_code: np.ndarray,
    req: np.ndarray,
    reply_of: np.ndarray,
    request_of: np.ndarray,
    msg_type: np.ndarray,
) -> Exchange:
    """The generated fields (rules 2-4 of ``vm``; vmid/err_code -1 = unknown) from
    ``exchange_rows``' result, without pandas (``ghrm decode`` writes them from these)."""
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
    return Exchange(
        np.where(vm < 0, -1, vm).astype(np.int64, copy=False),
        np.where(has, frame[safe], -1).astype(np.int64, copy=False),
        np.where(got, frame[safe_rep], -1).astype(np.int64, copy=False),
        latency,
        np.where(got, err_code[safe_rep], -1).astype(np.int64, copy=False),
    )


def exchange_columns(ex: Exchange) -> dict[str, Any]:
    """The generated columns (``exchange_arrays`` as the messages table holds them)."""
    from .schema import nullable

    return {
        "vm": nullable(ex.vm, ex.vm < 0, "Int32"),
        "request_frame": nullable(np.maximum(ex.request_frame, 0), ex.request_frame < 0, "Int64"),
        "reply_frame": nullable(np.maximum(ex.reply_frame, 0), ex.reply_frame < 0, "Int64"),
        "latency": ex.latency,
        "errno": errno_column(ex.err),
    }


@dataclass(frozen=True)
class PairedExchange:
    """Messages paired, each one's VMID and its generated fields before rule 1 of ``vm``."""

    pairing: Pairing
    vmid: np.ndarray  # ``resolve_vmids``
    source: np.ndarray  # where each VMID came from (``VMID_SOURCES`` codes)
    exchange: Exchange


def paired_exchange(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    header_broken: np.ndarray,
    err: np.ndarray,
    allocated: np.ndarray,
    known: np.ndarray,
    time_ns: np.ndarray,
    payload_vmid: np.ndarray,
    frame: np.ndarray,
) -> PairedExchange:
    """Garbage kept out, calls paired (``transactions.pair_in_blocks``), VMIDs resolved and the
    generated fields spread over each exchange: the steps the messages table
    (``messages.message_core``) and ``ghrm decode``'s generated fields (``exchange_fields``)
    share, written once so the two cannot drift apart. Arrays in message row order, as the
    columns hold them (narrow integers are fine)."""
    from .transactions import garbage_mask, pair_in_blocks

    call_type = msg_type.copy()  # garbage is no call: kept out of pairing
    call_type[garbage_mask(header_broken, msg_id)] = -1
    clients, pairing = pair_in_blocks(capture, client, seq, msg_id, call_type, err, allocated, known, time_ns)
    vmid, source = resolve_vmids(msg_type, msg_id, client, payload_vmid, allocated, pairing)
    req = exchange_rows(capture, clients, seq, msg_id, call_type, pairing.request_of)
    ex = exchange_arrays(
        frame, time_ns, known, vmid, err, req, pairing.reply_of, pairing.request_of, call_type
    )
    return PairedExchange(pairing, vmid, source, ex)


def exchange_fields(cols: MessageColumns, dialect: str) -> Exchange:
    """The generated fields of one capture's messages (rows as ``cols``), rule 1 of ``vm``
    applied: what the messages table holds in those columns (both made by ``paired_exchange``),
    with numpy alone: ``ghrm decode`` writes them without pandas, whose import alone was a quarter of
    ``ghrm decode --format jsonl`` on 100k messages (equal to the table by test)."""
    n = len(cols)
    capture = np.zeros(n, np.int32)
    msg_type, client = cols.msg_type, cols.client_vmid
    ex = paired_exchange(
        capture, client, cols.seq, cols.msg_id, msg_type, cols.malformed_kind == "header",
        cols.err_code, cols.allocated_vmid, cols.time_known, cols.time_ns, cols.payload_vmid, cols.frame,
    ).exchange  # fmt: skip
    calls = resource_calls_of(
        [cols.capture],
        capture,
        (msg_type == REQUEST) | (msg_type == REPLY),  # the table's type, not call_type
        msg_type == REQUEST,
        cols.msg_id.astype(np.int64),
        client.astype(np.int64),
        cols.err_code,
        cols.frame,
        ex.request_frame,
    )
    if calls is not None:
        vms = resource_vms_of(calls, payload_reader([cols], dialect))
        if vms:
            apply_resource_vms([cols.capture], capture, ex.request_frame, ex.vm, vms)
    return ex


def errno_names(err: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """``_errno`` of each code as (index into the names, the distinct names): each distinct code
    is named once (a million rows carry a handful of codes)."""
    uniques, inverse = np.unique(err, return_inverse=True)
    return inverse.reshape(-1), [_errno(int(e)) for e in uniques.tolist()]


def errno_column(err: np.ndarray) -> pd.Categorical:
    """``_errno`` of each code as a categorical, naming each distinct code once (a million rows
    carry a handful of codes)."""
    import pandas as pd

    codes, uniques = pd.factorize(err)
    names = [_errno(int(e)) for e in uniques.tolist()]
    categories = sorted({n for n in names if n is not None})
    index = {n: i for i, n in enumerate(categories)}
    code_of = np.array([-1 if n is None else index[n] for n in names] or [-1], np.int64)
    # no errno at all: empty float64 categories, as pd.Categorical([None, ...]) has always given
    labels = pd.Index(categories) if categories else pd.Index([], dtype="float64")
    return pd.Categorical.from_codes(code_of[codes] if len(err) else codes, categories=labels)


# --- rule 1: parcels and IRQs by handle --------------------------------------------------------
class Resources:
    """Rule 1 in capture order, for one capture: which VM each parcel or IRQ handle is for.

    ``request_vm`` gives a memory/IRQ request's VM (None: rule 1 says nothing); ``answered``
    learns the handle a successful create or VM_IRQ_LEND reply returned.
    """

    def __init__(self) -> None:
        self.handles: dict[tuple[str, int], tuple[int, int]] = {}  # (mem/irq, handle) -> owner, vm
        self.names = _resource_names()
        self.irq_lend = msg_id_of(IRQ_LEND)

    def request_vm(self, record: Mapping[str, Any]) -> int | None:
        name = self.names.get(record.get("msg_id"))  # type: ignore[arg-type]
        fields = record.get("fields") or {}
        client = record.get("client_vmid")
        if name in MEMORY_CREATE:
            acl = [int(a.get("vmid", 0)) for a in fields.get("acl") or () if isinstance(a, Mapping)]
            others = [v for v in acl if v != client]
            return others[0] if others else None
        if record.get("msg_id") == self.irq_lend:  # the borrower the IRQ is lent to
            borrower = fields.get(IRQ_BORROWER)
            return borrower if isinstance(borrower, int) and borrower > 0 else None
        key = self.handle_key(record)
        return None if key is None else self.handle_vm(key, client)

    def handle_vm(self, key: tuple[str, int], client: Any) -> int | None:
        """The VM of a call on handle ``key`` made by ``client``: the one its creator lent or
        shared it to when the creator makes the call, else None (a borrower's own call: rule
        3/4, the caller); None for a handle never seen created."""
        known = self.handles.get(key)
        if known is None:
            return None
        owner, vm = known
        return vm if client == owner else None

    def handle_key(self, record: Mapping[str, Any]) -> tuple[str, int] | None:
        """``(mem/irq, handle)`` a handle call's request names (None: not a handle call, or no
        handle in its payload)."""
        field = _handle_fields().get(record.get("msg_id"))  # type: ignore[arg-type]
        if field is None:
            return None
        kind, key = field
        handle = (record.get("fields") or {}).get(key)
        return (kind, int(handle)) if isinstance(handle, int) else None

    def created_key(self, request: Mapping[str, Any], reply: Mapping[str, Any]) -> tuple[str, int] | None:
        """``(mem/irq, handle)`` a create's or VM_IRQ_LEND's reply hands out (None: none read)."""
        name = self.names.get(request.get("msg_id"))  # type: ignore[arg-type]
        fields = reply.get("fields") or {}
        if name in MEMORY_CREATE and isinstance(fields.get("mem_handle"), int):
            return ("mem", fields["mem_handle"])
        if request.get("msg_id") == self.irq_lend and isinstance(fields.get("virq_handle"), int):
            return ("irq", fields["virq_handle"])
        return None

    def answered(self, request: Mapping[str, Any], reply: Mapping[str, Any], vm: int | None) -> None:
        owner = request.get("client_vmid")
        if vm is None or reply.get("err_code") != 0 or not isinstance(owner, int):
            return
        key = self.created_key(request, reply)
        if key is not None:
            self.handles[key] = (owner, vm)


RESOURCE_CALLS = (*MEMORY_CREATE, *MEMORY_HANDLE_CALLS, *IRQ_HANDLE_CALLS, IRQ_LEND)


@cache
def _resource_names() -> dict[int, str]:
    return {msg_id_of(n): n for n in (*MEMORY_CREATE, *MEMORY_HANDLE_CALLS, *IRQ_HANDLE_CALLS)}


@cache
def _handle_fields() -> dict[int, tuple[str, str]]:
    """Id of each handle call (a memory or IRQ call on a handle, creates aside) -> (mem/irq, the
    payload field naming the handle)."""
    out = {}
    for msg_id, name in _resource_names().items():
        if name not in MEMORY_CREATE:
            out[msg_id] = ("irq", "virq_handle") if name.startswith("VM_IRQ") else ("mem", "mem_handle")
    return out


@cache
def _creates() -> frozenset[int]:
    """Ids of the calls whose successful reply hands out a handle (creates, VM_IRQ_LEND)."""
    return frozenset(msg_id_of(n) for n in (*MEMORY_CREATE, IRQ_LEND))


Payload = Callable[[int, str], Mapping[str, Any]]


@dataclass
class ResourceCalls:
    """The memory and IRQ requests and replies of some captures, in capture order: what rule 1
    reads. ``row`` is what ``payload(row, role)`` takes; ``capture`` a code into ``captures``;
    ``err_code`` -1 when unknown, ``request_frame`` -1 for a reply without its request."""

    captures: Sequence[str]
    row: np.ndarray
    capture: np.ndarray
    is_request: np.ndarray
    msg_id: np.ndarray
    client_vmid: np.ndarray
    err_code: np.ndarray
    frame: np.ndarray
    request_frame: np.ndarray


def resource_vms(messages: pd.DataFrame, payload: Payload) -> dict[tuple[str, int], int]:
    """``(capture, request frame) -> vm`` by rule 1 for a messages table; ``payload(row, role)``
    gives the decoded payload of a row (``role``: request, or reply for the data after the code)."""
    calls = resource_calls(messages)
    return {} if calls is None else resource_vms_of(calls, payload)


def resource_calls(messages: pd.DataFrame) -> ResourceCalls | None:
    """The memory and IRQ calls of a messages table (None: it has none)."""
    type_cat = messages["type"].cat
    type_names = [str(c) for c in type_cat.categories]
    kind_codes = type_cat.codes.to_numpy()
    return resource_calls_of(
        [str(c) for c in messages["capture"].cat.categories],
        messages["capture"].cat.codes.to_numpy(),
        np.isin(kind_codes, [i for i, t in enumerate(type_names) if t in ("request", "reply")]),
        kind_codes == (type_names.index("request") if "request" in type_names else -2),
        messages["msg_id"].to_numpy(np.int64, na_value=-1),
        messages["client_vmid"].to_numpy(np.int64),
        messages["err_code"].to_numpy(np.int64, na_value=-1),
        messages["frame"].to_numpy(np.int64),
        messages["request_frame"].to_numpy(np.int64, na_value=-1),
    )


def resource_calls_of(
    captures: Sequence[str],
    capture: np.ndarray,
    is_call: np.ndarray,
    is_request: np.ndarray,
    msg_id: np.ndarray,
    client_vmid: np.ndarray,
    err_code: np.ndarray,
    frame: np.ndarray,
    request_frame: np.ndarray,
) -> ResourceCalls | None:
    """The memory and IRQ calls among message columns (``is_call``: a request or reply;
    ``err_code``/``request_frame`` -1 unknown/none); None when there are none."""
    ids = np.array([msg_id_of(n) for n in RESOURCE_CALLS], np.int64)
    rows = np.flatnonzero(np.isin(msg_id, ids) & is_call)
    if not len(rows):
        return None
    return ResourceCalls(
        captures,
        rows,
        capture[rows],
        is_request[rows],
        msg_id[rows],
        client_vmid[rows].astype(np.int64),
        err_code[rows].astype(np.int64),
        frame[rows].astype(np.int64),
        request_frame[rows].astype(np.int64),
    )


def resource_vms_of(
    calls: ResourceCalls, payload: Payload, wanted: np.ndarray | None = None
) -> dict[tuple[str, int], int]:
    """Rule 1 over memory/IRQ call columns: ``(capture, request frame) -> vm``, in capture order
    (``Resources``). ``wanted`` (a mask of ``calls``' requests): only those requests' VMs are
    asked for, so only the payloads they depend on are read (their own, and the creates that
    handed out the handles they name); the VMs of the others may be missing from the result."""
    need = np.ones(len(calls.row), bool) if wanted is None else _needed(calls, payload, wanted)
    visit = np.flatnonzero(need | (~calls.is_request & (calls.err_code == 0)))  # replies may answer
    creates = _creates()
    trackers: dict[int, Resources] = {}
    pending: dict[tuple[int, int], tuple[dict[str, Any], int | None]] = {}
    out: dict[tuple[str, int], int] = {}
    columns = (  # Python values of the rows visited only, read once
        calls.row[visit].tolist(),
        calls.capture[visit].tolist(),
        calls.is_request[visit].tolist(),
        calls.msg_id[visit].tolist(),
        calls.client_vmid[visit].tolist(),
        calls.err_code[visit].tolist(),
        calls.frame[visit].tolist(),
        calls.request_frame[visit].tolist(),
    )
    known = _prefetched(payload, calls.row[visit], calls.is_request[visit])
    handle_fields = _handle_fields()
    for r, cap, is_request, mid, who, code, at, req_frame, got in zip(*columns, known, strict=True):
        res = trackers.get(cap) or trackers.setdefault(cap, Resources())
        field = handle_fields.get(mid) if is_request and got is not None else None
        if field is not None and isinstance(got.get(field[1]), int):  # a handle call, prefetched:
            vm = res.handle_vm((field[0], int(got[field[1]])), who)  # ``request_vm`` without a dict
            if vm is not None:
                out[(calls.captures[cap], at)] = int(vm)
            continue
        record: dict[str, Any] = {"msg_id": mid, "client_vmid": who, "err_code": code}
        if is_request:
            record["fields"] = got if got is not None else payload(r, "request")
            vm = res.request_vm(record)
            if vm is not None:
                out[(calls.captures[cap], at)] = int(vm)
            if mid in creates:
                pending[(cap, at)] = (record, None if vm is None else int(vm))
        elif code == 0 and (cap, req_frame) in pending:
            request, vm = pending.pop((cap, req_frame))
            record["fields"] = got if got is not None else payload(r, "reply")
            res.answered(request, record, vm)
    return out


def _prefetched(payload: Payload, rows: np.ndarray, is_request: np.ndarray) -> list[Mapping[str, Any] | None]:
    """``payload``'s answers for ``rows`` (requests read as requests, the rest as replies) where
    its ``prefetch`` reads them at once (``PayloadReader``); None for the rest, and for all of
    them from a reader without ``prefetch``."""
    prefetch = getattr(payload, "prefetch", None)
    out: list[Mapping[str, Any] | None] = [None] * len(rows)
    if prefetch is None:
        return out
    for role, mask in (("request", is_request), ("reply", ~is_request)):
        at = np.flatnonzero(mask)
        for j, got in zip(at.tolist(), prefetch(rows[at], role), strict=True):
            out[j] = got
    return out


def _needed(calls: ResourceCalls, payload: Payload, wanted: np.ndarray) -> np.ndarray:
    """The requests ``resource_vms_of`` must visit for the VMs of the ``wanted`` ones: those, and
    every create whose first successful reply handed out a handle a wanted handle call names
    (a create's VM comes from its own payload, so that is all rule 1 reads for them)."""
    need = wanted & calls.is_request
    res = Resources()
    named: set[tuple[int, str, int]] = set()  # (capture, mem/irq, handle) wanted calls look up
    creates = _creates()
    for i in np.flatnonzero(need).tolist():
        mid = int(calls.msg_id[i])
        if mid not in creates:
            key = res.handle_key({"msg_id": mid, "fields": payload(int(calls.row[i]), "request")})
            if key is not None:
                named.add((int(calls.capture[i]), *key))
    if not named:
        return need
    is_create = calls.is_request & np.isin(calls.msg_id, list(creates))
    pending: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero(is_create | (~calls.is_request & (calls.err_code == 0))).tolist():
        cap = int(calls.capture[i])
        if is_create[i]:
            pending[(cap, int(calls.frame[i]))] = i
            continue
        j = pending.pop((cap, int(calls.request_frame[i])), None)
        if j is None:
            continue
        reply = {"fields": payload(int(calls.row[i]), "reply")}
        key = res.created_key({"msg_id": int(calls.msg_id[j])}, reply)
        if key is not None and (cap, *key) in named:
            need[j] = True
    return need


@cache
def _leading_handle(msg_id: int, role: str) -> str | None:
    """``mem_handle``/``virq_handle`` when the payload layout starts with that u32 (every handle
    call's request, every create reply, in the protocol tables), else None."""
    from dissector.protocol.layout import Int
    from dissector.protocol.registry import layouts_by_id

    layout = layouts_by_id().get(msg_id)
    struct = getattr(layout, role, None) if layout is not None else None
    first = next(iter(struct.walk()), None) if struct is not None else None
    if isinstance(first, Int) and first.size == 4 and first.name in ("mem_handle", "virq_handle"):
        return first.name
    return None


@cache
def _acl_codec(msg_id: int, dialect: str) -> StructCodec | None:
    """The codec of a create request's fields up to and including its ``acl`` list (None: not a
    create, or no ACL): rule 1 reads the ACL alone; the SGL and attributes after it were most of
    its cost on a busy capture."""
    from dissector.protocol import registry
    from dissector.protocol.codec import codec_for_struct
    from dissector.protocol.layout import Struct

    if msg_id not in {msg_id_of(n) for n in MEMORY_CREATE}:
        return None
    known = registry.layouts_by_id().get(msg_id)
    layout = registry.layout(msg_id, "request", dialect)
    if known is None or not known.known or layout is None:  # as ``codec_for``
        return None
    for k, f in enumerate(layout.fields):
        if any(leaf.name == "acl" for leaf in Struct("one", (f,)).walk()):
            return codec_for_struct(Struct(f"{layout.name}UpToAcl", layout.fields[: k + 1]))
    return None


def payload_reader(columns: Sequence[Any], dialect: str) -> PayloadReader:
    """``payload(row, role)`` over a Trace's per-capture message columns (rows numbered as in its
    messages table): the fast codec, or Scapy's lenient dissection when the bytes do not fit."""
    return PayloadReader(columns, dialect)


class PayloadReader:
    """``payload_reader``'s ``payload(row, role)``, and ``prefetch``: its answer for many rows at
    once where it is the handle a payload starts with (most of rule 1's reads)."""

    def __init__(self, columns: Sequence[Any], dialect: str) -> None:
        self.columns = columns
        self.dialect = dialect
        self.starts = np.cumsum([0, *(len(c) for c in columns)])

    def __call__(self, row: int, role: str) -> Mapping[str, Any]:
        from dissector.decoded import DecodedMessage
        from dissector.protocol.codec import CodecError, codec_for

        columns, dialect = self.columns, self.dialect
        k = 0 if len(columns) == 1 else int(np.searchsorted(self.starts, row, side="right") - 1)
        cols = columns[k]
        if cols.raw_message is None:
            return {}
        i = row - int(self.starts[k])
        # the bytes alone where the columns can give them (no RawMessage built per row)
        data = cols.message_bytes(i) if cols.message_bytes is not None else cols.raw_message(i).data
        if len(data) > 1 and lone_fragment(data[1] >> FRAGMENTS_SHIFT, len(data)):
            return {}  # a cut payload: nothing for rule 1, as for the decoders and the Lua's lone()
        msg_id = int.from_bytes(data[4:8], "little")
        body = data[8:] if role == "request" else data[12:]
        handle = _leading_handle(msg_id, role)
        if handle is not None and len(body) >= 4:  # all rule 1 needs: skip decoding SGLs
            return {handle: int.from_bytes(body[:4], "little")}
        acl = _acl_codec(msg_id, dialect) if role == "request" else None
        malformed = getattr(cols, "malformed", None)
        if acl is not None and malformed is not None and malformed[i] is None:
            try:  # a well-formed create: its fields up to the ACL (rule 1 reads nothing after it)
                return acl.decode_at(body)[0]
            except (CodecError, KeyError, ValueError, IndexError):
                pass
        try:
            return codec_for(msg_id, role, dialect).decode(body)
        except (CodecError, KeyError, ValueError, IndexError):  # malformed: decoded as far as it goes
            return DecodedMessage(cols.raw_message(i), dialect).fields

    def prefetch(self, rows: np.ndarray, role: str) -> list[Mapping[str, Any] | None]:
        """``self(row, role)`` of each of ``rows`` where it is the branch above that reads the
        handle the payload starts with (``_leading_handle``), read with one gather per capture
        (``MessageColumns.words``); None where ``self(row, role)`` must be asked. ~3 us a row
        saved on the memory and IRQ calls of a busy capture (67k at 1M messages)."""
        out: list[Mapping[str, Any] | None] = [None] * len(rows)
        skip = 8 if role == "request" else 12  # where ``body`` starts in the bytes
        for k, cols in enumerate(self.columns):
            words = getattr(cols, "words", None)
            if words is None or getattr(cols, "raw_message", None) is None:
                continue
            mine = np.flatnonzero((rows >= self.starts[k]) & (rows < self.starts[k + 1]))
            i = rows[mine] - int(self.starts[k])
            head, msg_id, handle = words(i, 0), words(i, 4), words(i, skip)
            fragments = ((head >> 8) & 0xFF) >> FRAGMENTS_SHIFT
            ok = (head >= 0) & (handle >= 0) & ~lone_fragment(fragments, cols.length[i].astype(np.int64))
            for j, mid, value in zip(
                mine[ok].tolist(), msg_id[ok].tolist(), handle[ok].tolist(), strict=True
            ):
                name = _leading_handle(mid, role)
                if name is not None:
                    out[j] = {name: value}
        return out


def with_resources(messages: pd.DataFrame, vms: Mapping[tuple[str, int], int]) -> pd.DataFrame:
    """``messages`` with rule 1 (``resource_vms``) applied to every message of those exchanges."""
    if not vms or messages.empty:
        return messages
    vm = messages["vm"].to_numpy(np.int64, na_value=-1)
    hit = apply_resource_vms(
        [str(c) for c in messages["capture"].cat.categories],
        messages["capture"].cat.codes.to_numpy(np.int64),
        messages["request_frame"].to_numpy(np.int64, na_value=-1),
        vm,
        vms,
    )
    if not hit.any():
        return messages
    from .schema import nullable

    out = messages.copy(deep=False)  # only ``vm`` changes: share every other column
    out["vm"] = nullable(vm, vm < 0, "Int32")
    return out


def apply_resource_vms(
    captures: Sequence[str],
    capture: np.ndarray,
    request_frame: np.ndarray,
    vm: np.ndarray,
    vms: Mapping[tuple[str, int], int],
) -> np.ndarray:
    """Rule 1 (``resource_vms``' result) written into ``vm`` (int64, -1 unknown) for every row
    whose exchange's request (``request_frame``, -1 none) it names; returns the rows changed."""
    names = {c: i for i, c in enumerate(captures)}
    hit = np.zeros(len(vm), bool)
    for code, frames, chosen in _by_capture(vms, names):  # look up each capture's frames at once
        mine = np.flatnonzero((capture == code) & (request_frame >= 0))
        at = np.searchsorted(frames, request_frame[mine])
        found = at < len(frames)
        found[found] = frames[at[found]] == request_frame[mine[found]]
        vm[mine[found]] = chosen[at[found]]
        hit[mine[found]] = True
    return hit


def _by_capture(
    vms: Mapping[tuple[str, int], int], names: Mapping[str, int]
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``vms`` as (capture code, sorted request frames, their vm) per capture of the table."""
    grouped: dict[int, list[tuple[int, int]]] = {}
    for (capture, frame), vm in vms.items():
        if capture in names:
            grouped.setdefault(names[capture], []).append((int(frame), int(vm)))
    out = []
    for code, pairs in grouped.items():
        pairs.sort()
        frames = np.array([f for f, _ in pairs], np.int64)
        out.append((code, frames, np.array([v for _, v in pairs], np.int64)))
    return out


def _frames(row: Mapping[str, Any], columns: Sequence[str]) -> list[int]:
    out: list[int] = []
    for c in columns:
        v = row.get(c)
        if isinstance(v, tuple):
            out.extend(int(f) for f in v)
        elif _known(v):
            out.append(int(v))
    return out


def _is_na(v: Any) -> bool:
    """pandas' ``NA`` (told by its type's name: pandas need not be loaded to ask)."""
    return type(v).__name__ == "NAType"


def _known(v: Any) -> TypeGuard[Any]:
    return v is not None and not _is_na(v) and not (isinstance(v, float) and v != v)


def _borrowers(row: Mapping[str, Any], kind: str) -> tuple[int, ...]:
    """Every VM a parcel is lent to, shared with or accepted by (an IRQ: its borrower, acceptor)."""
    if kind == "irq":
        return tuple(int(v) for v in (row.get("vmid"), row.get("accepted_by")) if _known(v))
    return tuple(int(v) for v in (*row["borrowers"], *row["shared_with"], *row["accepted_by"]))


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
            frames = f if isinstance(f, tuple) else (() if f is None or _is_na(f) else (f,))
            keep[i] = any(int(x) in related[c] for x in frames)
    return keep


# --- streaming --------------------------------------------------------------------------------
class StreamContext:
    """The generated fields of messages seen one at a time, from what came before (see above).

    Feed jsonl dicts (``DecodedMessage.to_json()``) in capture order; ``fields(record)``
    returns the five values for that record and remembers what later messages need.
    """

    def __init__(self) -> None:
        self.open: dict[tuple[Any, Any, Any], dict[str, Any]] = {}  # (client, seq, msg_id) -> exchange
        # requests whose seq the source did not record (kernel TX dumps): answered oldest first
        self.loose: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
        self.resources = Resources()
        self.alloc = msg_id_of("VM_ALLOCATE")
        self.irq_lend = msg_id_of(IRQ_LEND)

    def _own_vm(self, record: Mapping[str, Any]) -> int | None:
        """Rules 2-4 on one message: its payload vmid (0: the caller), else its client."""
        fields = record.get("fields") or {}
        client = record.get("client_vmid")
        v = fields.get("vmid") if isinstance(fields, dict) else None
        if isinstance(v, int) and (v > 0 or record.get("msg_id") == self.alloc):
            return v if v > 0 else None
        return None if client in (None, UNKNOWN_VMID) else int(client)

    def fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        kind = record.get("type")
        key = (record.get("client_vmid"), record.get("seq"), record.get("msg_id"))
        if kind == "request":
            vm = self.resources.request_vm(record)
            ex = {
                "vm": self._own_vm(record) if vm is None else vm,
                "request_frame": record.get("frame"),
                "reply_frame": None,
                "latency": None,
                "errno": None,
                "time_ns": record.get("time_ns"),
                "record": record,
            }
            if record.get("seq") is None:
                self.loose.setdefault((key[0], key[2]), []).append(ex)
            else:
                self.open[key] = ex
        elif kind in ("reply", "continuation"):
            ex = self.open.get(key)  # type: ignore[assignment]
            waiting = self.loose.get((key[0], key[2]))
            if ex is None and waiting and kind == "reply":
                ex = waiting.pop(0)
                self.open[key] = ex  # its continuations and duplicates follow by key
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
        t0, t1 = ex["time_ns"], reply.get("time_ns")
        ex["latency"] = None if t0 is None or t1 is None else (t1 - t0) / 1e9  # from ns, as the tables
        err = reply.get("err_code")
        ex["errno"] = _errno(err) if isinstance(err, int) else None
        fields = reply.get("fields") or {}
        if reply.get("msg_id") == self.alloc and err == 0 and isinstance(fields.get("vmid"), int):
            ex["vm"] = fields["vmid"]
        self.resources.answered(ex["record"], reply, ex["vm"])


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
