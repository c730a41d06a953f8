"""From jsonl-shaped messages to the calls and notifications the ledgers replay.

Why a separate step: the parcel and IRQ ledgers and their checks all walk the same story (a
request with the reply that answered it, or a notification) in capture order, and all three
must pair requests and replies the same way: ``stories`` pairs once, and a Trace's
``LedgerMessages`` keep their stories so the three share them.

Pairing uses ``dissector.analysis.transactions.pair`` (by client, seq and msg_id, first reply
wins, protocol.md 1.6), but over the ledger messages of one capture alone, with the raw
``client_vmid`` (no ``client_keys`` epochs for a reused VMID) and no give-up time
(``GIVE_UP_NS``). So on a clean capture a ledger row and the transactions table name the same
reply; when a client reuses a seq after giving up, or a VMID is reallocated mid-capture with
calls in flight, they may pair differently.

Input: an iterable of dicts shaped like ``DecodedMessage.to_json()`` (design.md 1.3), each
optionally with a ``capture`` key (several captures are kept apart; handles are per RM, so per
capture). Messages are recognised by ``msg_id``, not by name, so every dialect reads the same.
Only ``LEDGER_MESSAGES`` matter; others are ignored, so a caller may pass everything or only
those (``wanted`` tells which).

Where the dicts come from: ``messages_from_decoded`` (a ``decode_file`` stream, Scapy) or
``messages_from_columns`` (a Trace's message columns: the compiled decoder of ``ghrm decode``
for well-formed messages, Scapy only for malformed ones; the same dicts, by test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.columns import no_text
from dissector.analysis.transactions import pair
from dissector.protocol import registry
from dissector.protocol.wire import (
    NOTIFICATION,
    REPLY,
    REQUEST,
    parse_header,
)
from dissector.sorting import distinct

from .dicts import ColumnDicts

if TYPE_CHECKING:
    from dissector.analysis.columns import MessageColumns
    from dissector.capture.record import CaptureProblem
    from dissector.decoded import DecodedMessage

# Messages the ledgers read (RM names, protocol.md 3): parcels, IRQs, and the lifecycle and
# configuration calls that name a parcel or end a VM.
MEMORY_CALLS = (
    "MEM_LEND",
    "MEM_SHARE",
    "MEM_DONATE",
    "MEM_APPEND",
    "MEM_ACCEPT",
    "MEM_RELEASE",
    "MEM_RECLAIM",
    "MEM_NOTIFY",
)
MEMORY_NOTIFICATIONS = ("MEM_SHARED", "MEM_RELEASED", "MEM_ACCEPTED", "MEM_RECALL")
IRQ_CALLS = ("VM_IRQ_LEND", "VM_IRQ_ACCEPT", "VM_IRQ_RELEASE", "VM_IRQ_RECLAIM", "VM_IRQ_NOTIFY")
IRQ_NOTIFICATIONS = ("VM_IRQ_LENT", "VM_IRQ_RELEASED", "VM_IRQ_ACCEPTED")
VM_CALLS = (
    "VM_ALLOCATE",
    "VM_DEALLOCATE",
    "VM_RESET",
    "VM_INIT",
    "VM_CONFIG_IMAGE",
    "VM_SET_FIRMWARE_MEM",
    "VM_GET_HYP_RESOURCES",
)
LEDGER_MESSAGES: tuple[str, ...] = (
    *MEMORY_CALLS,
    *MEMORY_NOTIFICATIONS,
    *IRQ_CALLS,
    *IRQ_NOTIFICATIONS,
    *VM_CALLS,
)
NAME_OF: dict[int, str] = {registry.resolve_message(n).msg_id: n for n in LEDGER_MESSAGES}
LEDGER_MSG_IDS: frozenset[int] = frozenset(NAME_OF)

_TYPES = {"continuation": 0, "request": REQUEST, "reply": REPLY, "notification": NOTIFICATION}


def wanted(message: Mapping[str, Any]) -> bool:
    """Whether the ledgers read this message (by its ``msg_id``)."""
    return message.get("msg_id") in LEDGER_MSG_IDS


@dataclass(slots=True)
class Call:
    """A request and the reply that answered it (``None``: no reply in the capture)."""

    name: str
    request: Mapping[str, Any]
    reply: Mapping[str, Any] | None

    @property
    def frame(self) -> int:
        return int(self.request["frame"])

    @property
    def time(self) -> float:
        return _time(self.request)

    @property
    def client(self) -> int:
        return int(self.request.get("client_vmid", 0xFFFF))

    @property
    def fields(self) -> Mapping[str, Any]:
        return self.request.get("fields") or {}

    @property
    def reply_fields(self) -> Mapping[str, Any]:
        return (self.reply or {}).get("fields") or {}

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.reply.get("err_code") == 0

    @property
    def answered(self) -> bool:
        return self.reply is not None

    @property
    def took_effect(self) -> bool:
        """OK, or no reply: RM most likely acted (the reply was lost, or the capture cut)."""
        return self.reply is None or self.reply.get("err_code") == 0

    @property
    def outcome(self) -> str:
        """``OK``, the RM error name, or ``no reply``: how the text of a finding ends."""
        if self.reply is None:
            return "no reply"
        name = self.reply.get("err_name")
        code = self.reply.get("err_code")
        return str(name) if name else (f"error {code:#x}" if isinstance(code, int) else "an unreadable reply")

    @property
    def frames(self) -> tuple[int, ...]:
        """The request's frame and, if any, the reply's."""
        return (self.frame,) if self.reply is None else (self.frame, int(self.reply["frame"]))

    @property
    def reply_frame(self) -> int | None:
        return None if self.reply is None else int(self.reply["frame"])


@dataclass(slots=True)
class Notif:
    """A notification RM sent to ``client``."""

    name: str
    message: Mapping[str, Any]

    @property
    def frame(self) -> int:
        return int(self.message["frame"])

    @property
    def time(self) -> float:
        return _time(self.message)

    @property
    def client(self) -> int:
        return int(self.message.get("client_vmid", 0xFFFF))

    @property
    def fields(self) -> Mapping[str, Any]:
        return self.message.get("fields") or {}

    @property
    def frames(self) -> tuple[int, ...]:
        return (self.frame,)


Event = Call | Notif


@dataclass(slots=True)
class VmEvent:
    """A VM_RESET or VM_DEALLOCATE that took effect (OK, or no reply): when a VM's parcels and
    IRQs should be back."""

    kind: str  # "reset" or "deallocate"
    vmid: int
    call: Call


@dataclass
class Story:
    """One capture's ledger events in frame order (a call sits at its request's frame)."""

    capture: str
    events: list[Event] = field(default_factory=list)
    vm_events: list[VmEvent] = field(default_factory=list)
    last_frame: int = 0
    end_time: float = math.nan


def _time(message: Mapping[str, Any]) -> float:
    t = message.get("time")
    return math.nan if t is None else float(t)


class LedgerMessages(list):  # a list of jsonl dicts
    """The ledger messages of a Trace (``messages_from_columns``), which remember their stories:
    the parcel ledger, the IRQ ledger and their checks all replay the same ones."""

    stories: list[Story] | None = None


def stories(messages: Iterable[Mapping[str, Any]]) -> list[Story]:
    """Group by capture (first-seen order), pair, and order the ledger events of each capture.

    ``LedgerMessages`` are grouped once and the stories shared (nothing modifies a story)."""
    if isinstance(messages, LedgerMessages):
        if messages.stories is None:
            messages.stories = _stories(messages)
        return messages.stories
    return _stories(messages)


def _stories(messages: Iterable[Mapping[str, Any]]) -> list[Story]:
    by_capture: dict[str, list[Mapping[str, Any]]] = {}
    for m in messages:
        by_capture.setdefault(str(m.get("capture", "")), []).append(m)
    return [_story(name, msgs) for name, msgs in by_capture.items()]


def _story(capture: str, msgs: list[Mapping[str, Any]]) -> Story:
    story = Story(capture)
    if msgs:
        story.last_frame = max(int(m["frame"]) for m in msgs)
        times = [t for t in (_time(m) for m in msgs) if not math.isnan(t)]
        story.end_time = max(times) if times else math.nan
    msgs = sorted((m for m in msgs if wanted(m)), key=lambda m: int(m["frame"]))
    n = len(msgs)
    if not n:
        return story
    mtype = np.array([_TYPES.get(m.get("type") or "", -1) for m in msgs], np.int64)
    pairing = pair(
        np.zeros(n, np.int64),
        np.array([int(m.get("client_vmid", 0xFFFF)) for m in msgs], np.int64),
        np.array([-1 if m.get("seq") is None else int(m["seq"]) for m in msgs], np.int64),
        np.array([int(m["msg_id"]) for m in msgs], np.int64),
        mtype,
        np.array([-1 if m.get("err_code") is None else int(m["err_code"]) for m in msgs], np.int64),
    )
    for i, m in enumerate(msgs):
        if mtype[i] == REQUEST:
            j = int(pairing.reply_of[i])
            _tell(story, m, msgs[j] if j >= 0 else None, request=True)
        elif mtype[i] == NOTIFICATION:
            _tell(story, m, None, request=False)
    return story


def _tell(
    story: Story,
    message: Mapping[str, Any],
    reply: Mapping[str, Any] | None,
    request: bool,
    name: str | None = None,
) -> None:
    """One ledger request (a ``Call`` with its reply, and the VM event of a VM_RESET or
    VM_DEALLOCATE that took effect) or notification into its capture's story (``name``: the
    message's ledger name, when the caller knows it)."""
    if name is None:
        name = NAME_OF[int(message["msg_id"])]
    if not request:
        story.events.append(Notif(name, message))
        return
    call = Call(name, message, reply)
    story.events.append(call)
    if name in ("VM_RESET", "VM_DEALLOCATE") and call.took_effect and call.fields.get("vmid") is not None:
        kind = "reset" if name == "VM_RESET" else "deallocate"
        story.vm_events.append(VmEvent(kind, int(call.fields["vmid"]), call))


# --- where the messages come from --------------------------------------------------------------
def header_msg_id(data: bytes) -> int | None:
    """The RPC header's msg_id read straight from the bytes (no dissection), None if too short."""
    header = parse_header(data)
    return None if header is None else header.msg_id


def messages_from_decoded(
    items: Iterable[DecodedMessage | CaptureProblem], capture: str | None = None
) -> list[dict[str, Any]]:
    """The ledger messages of a ``decode_file``/``decode_records`` stream as jsonl dicts, and the
    stream's last message (it tells the checks when the capture ended).

    Only ``LEDGER_MESSAGES`` are dissected (the rest is skipped by the header's msg_id), so a
    long capture costs little more than its memory and IRQ traffic.
    """
    from dissector.decoded import DecodedMessage

    out = []
    last: DecodedMessage | None = None
    for item in items:
        if not isinstance(item, DecodedMessage):
            continue
        if header_msg_id(item.raw.data) in LEDGER_MSG_IDS:
            out.append(_row(item, capture))
            last = None
        elif last is None or item.raw.frames[0] > last.raw.frames[0]:
            last = item
    if last is not None and (not out or last.raw.frames[0] > out[-1]["frame"]):
        out.append(_row(last, capture))
    return out


def _row(message: DecodedMessage, capture: str | None) -> dict[str, Any]:
    row = message.to_json()
    if capture is not None:
        row["capture"] = capture
    return row


def _decoded_row(cols: MessageColumns, i: int, dialect: str) -> dict[str, Any]:
    """Row ``i`` of a capture's columns as its jsonl dict (with ``capture``): the compiled decoder
    for a well-formed message, Scapy's lenient dissection for a malformed one."""
    from dissector.decoded import DecodedMessage
    from dissector.decoders.compiled import decode_message

    assert cols.raw_message is not None
    raw = cols.raw_message(i)
    msg = decode_message(raw, dialect) if cols.malformed[i] is None else DecodedMessage(raw, dialect)
    row = msg.to_json()
    row["capture"] = cols.capture
    return row


def messages_from_columns(columns: Sequence[MessageColumns], dialect: str = "rm") -> LedgerMessages:
    """The ledger messages of a Trace's per-capture message columns, as jsonl dicts with
    ``capture``, plus each capture's last message (when the capture ended).

    Rows are picked by ``msg_id`` with numpy. A well-formed message is decoded by the compiled
    decoder (``decoders.compiled``, what ``ghrm decode`` uses; far cheaper than a Scapy packet),
    which gives the same dict ``DecodedMessage.to_json`` does; malformed messages keep Scapy's
    lenient dissection.
    """
    ids = np.fromiter(LEDGER_MSG_IDS, np.int64)
    out = LedgerMessages()
    for cols in columns:
        if cols.raw_message is None or not len(cols):
            continue
        rows = np.flatnonzero(np.isin(cols.msg_id, ids)).tolist()
        last = int(np.argmax(cols.frame))
        if last not in rows:
            rows.append(last)
        dicts = _column_dicts(cols, np.array(rows, np.int64), dialect)
        out.extend(dicts.get(k) for k in range(len(dicts)))
    return out


def _column_dicts(cols: MessageColumns, rows: np.ndarray, dialect: str) -> ColumnDicts:
    """The dicts of ``rows``: from the columns where they vouch for a message, else decoded."""
    return ColumnDicts(cols, rows, dialect, lambda i: _decoded_row(cols, i, dialect))


# --- stories straight from the columns ---------------------------------------------------------
VM_ALLOCATE = registry.resolve_message("VM_ALLOCATE").msg_id


def ledger_messages(columns: Sequence[MessageColumns], dialect: str = "rm") -> LedgerMessages:
    """The ledger messages of a Trace with their stories made from the message columns: what
    ``stories(messages_from_columns(columns, dialect))`` gives, without a dict per message.

    Why: the header columns (client, seq, msg_id, type, error code, frame, time) already say how
    requests and replies pair and when a capture ends; only the messages a story holds need their
    payload dict (``_decoded_row``, the same decoding). And a VM_ALLOCATE call matters to the
    ledgers only when its reply contradicts its request (``checks.allocate``), which the
    ``payload_vmid``/``allocated_vmid`` columns tell: the others (on a VM_ALLOCATE storm, most
    of a capture) are left out of the stories (``_quiet_allocations``). Equal stories by test.
    """
    if len({c.capture for c in columns}) != len(columns):  # a capture given twice: group as dicts do
        return messages_from_columns(columns, dialect)
    out = LedgerMessages()
    out.stories = []
    for cols in columns:
        if cols.raw_message is None or not len(cols):
            continue
        story, rows = _column_story(cols, dialect)
        out.stories.append(story)
        out.extend(rows)
    return out


def _column_story(cols: MessageColumns, dialect: str) -> tuple[Story, list[Mapping[str, Any]]]:
    """One capture's story (as ``_story`` makes it from the dicts) and the dicts it holds."""
    from dissector.decoded import ExactTime

    ids = np.fromiter(LEDGER_MSG_IDS, np.int64)
    picked = np.flatnonzero(np.isin(cols.msg_id, ids))
    last = int(np.argmax(cols.frame))
    at = int(np.searchsorted(picked, last))
    seen = picked if at < len(picked) and picked[at] == last else np.insert(picked, at, last)
    odd = ~_well_formed(cols, seen) | ~cols.time_known[seen]
    # a malformed message, or one whose time the columns could not keep, reads as its dict says
    exact = {i: _decoded_row(cols, i, dialect) for i in seen[odd].tolist()}
    story = Story(cols.capture)
    story.last_frame = int(cols.frame[last])
    times = [t for t in (_time(row) for row in exact.values()) if not math.isnan(t)]
    known = seen[~odd]
    if len(known):
        times.append(_time({"time": ExactTime(int(cols.time_ns[known].max()))}))
    story.end_time = max(times) if times else math.nan
    rows = picked[np.argsort(cols.frame[picked], kind="stable")]
    n = len(rows)
    if not n:
        return story, []
    mtype = np.where(np.isin(cols.msg_type[rows], (REQUEST, REPLY, NOTIFICATION)), cols.msg_type[rows], -1)
    mtype = mtype.astype(np.int64)
    client = cols.client_vmid[rows].astype(np.int64)
    seq = cols.seq[rows].astype(np.int64)
    msg_id = cols.msg_id[rows].astype(np.int64)
    err = np.where(mtype == REPLY, cols.err_code[rows], -1).astype(np.int64)
    for k in np.flatnonzero(np.isin(rows, list(exact))).tolist():
        m = exact[int(rows[k])]
        mtype[k] = _TYPES.get(m.get("type") or "", -1)
        client[k] = int(m.get("client_vmid", 0xFFFF))
        seq[k] = -1 if m.get("seq") is None else int(m["seq"])
        msg_id[k] = int(m["msg_id"])
        err[k] = -1 if m.get("err_code") is None else int(m["err_code"])
    reply_of = pair(np.zeros(n, np.int64), client, seq, msg_id, mtype, err).reply_of
    quiet = _quiet_allocations(cols, rows, mtype, msg_id, err, reply_of, exact, dialect)
    keep = np.flatnonzero(((mtype == REQUEST) & ~quiet) | (mtype == NOTIFICATION))
    replies = reply_of[keep]
    # only the rows a story holds get dict makers (a list per column of every row would be ~9 M
    # references at 1M messages, which each full garbage collection walks)
    need = distinct(np.concatenate([keep, replies[replies >= 0]]))  # not np.unique: see distinct
    made = _column_dicts(cols, rows[need], dialect)
    is_reply = (mtype[need] == REPLY).tolist()
    held: list[Mapping[str, Any]] = [
        exact.get(i) or LazyMessage(frame, m, err if reply else _UNKNOWN, None, made, p)
        for p, (i, frame, m, err, reply) in enumerate(
            zip(made.rows, made.frame, made.msg_id, made.err, is_reply, strict=True)
        )
    ]  # a LazyMessage is decoded when a replay or check reads more than its header says
    at = np.searchsorted(need, keep).tolist()
    answer = np.where(replies >= 0, np.searchsorted(need, replies), -1).tolist()
    names = [NAME_OF[m] for m in msg_id[keep].tolist()]
    requests = (mtype[keep] == REQUEST).tolist()
    for p, q, name, request in zip(at, answer, names, requests, strict=True):
        _tell(story, held[p], held[q] if request and q >= 0 else None, request, name)
    # every dict, in frame order (a stable sort, by keys gathered without asking each message)
    kept = [*exact.values(), *(m for m, i in zip(held, made.rows, strict=True) if i not in exact)]
    frames = [
        *(int(m["frame"]) for m in exact.values()),
        *(f for f, i in zip(made.frame, made.rows, strict=True) if i not in exact),
    ]
    return story, [kept[j] for j in sorted(range(len(kept)), key=frames.__getitem__)]


_UNKNOWN: Any = object()  # a value the header columns do not give


_LIGHT = frozenset(("fields", "client_vmid", "err_name", "malformed", "time"))  # see ColumnDicts.light


class LazyMessage(Mapping[str, Any]):
    """A well-formed message's jsonl dict, decoded on first use of anything but what its header
    columns say (frame, msg_id, and a reply's error code).

    Why: each ledger replays only its own events (the parcel ledger never reads an IRQ call, nor
    the IRQ ledger a parcel's), and most replies a story holds are read only for whether they
    were OK: ``ghrm memparcels`` or ``irqs`` decodes a fraction of the story's messages. Made
    from the columns (``made``, position ``at``), what a replay reads (``_LIGHT``: the fields,
    client, error name, time) is read without the whole dict (``ColumnDicts.light``); the whole
    dict only when asked for anything else."""

    __slots__ = ("_at", "_decode", "_err", "_frame", "_full", "_light", "_made", "_msg_id")

    def __init__(
        self,
        frame: int,
        msg_id: int,
        err_code: Any,
        decode: Callable[[], dict[str, Any]] | None,
        made: ColumnDicts | None = None,
        at: int = -1,
    ) -> None:
        self._frame, self._msg_id, self._err, self._decode = frame, msg_id, err_code, decode
        self._made, self._at = made, at
        self._full: dict[str, Any] | None = None
        self._light: dict[str, Any] | bool | None = None  # None: not tried; False: no light path

    def _dict(self) -> dict[str, Any]:
        if self._full is None:
            if self._decode is not None:
                self._full = self._decode()
            else:
                assert self._made is not None
                self._full = self._made.get(self._at)
        return self._full

    def __getitem__(self, key: str) -> Any:
        full = self._full
        if full is not None:
            return full[key]
        if key == "frame":
            return self._frame
        if key == "msg_id":
            return self._msg_id
        if key == "err_code" and self._err is not _UNKNOWN:
            return self._err
        if key in _LIGHT and self._made is not None:
            light = self._light
            if light is None:
                light = self._light = self._made.light(self._at) or False
            if light:
                assert isinstance(light, dict)
                if key == "time" and "time" not in light:
                    light["time"] = self._made.time(self._at)
                return light[key]
        return self._dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        light = self._light  # what was read already answers first (as ``self[key]`` would)
        if light and key in light:  # type: ignore[operator]
            return light[key]  # type: ignore[index]
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __bool__(self) -> bool:
        return True


def _well_formed(cols: MessageColumns, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` the decoders found well-formed (``malformed`` null)."""
    return no_text(cols.malformed[rows])


def _quiet_allocations(
    cols: MessageColumns,
    rows: np.ndarray,
    mtype: np.ndarray,
    msg_id: np.ndarray,
    err: np.ndarray,
    reply_of: np.ndarray,
    exact: Mapping[int, Any],
    dialect: str,
) -> np.ndarray:
    """VM_ALLOCATE requests no ledger check can flag (``checks.allocate``): refused (any error
    code, or none readable) or unanswered, or a well-formed request whose well-formed OK reply
    names the VMID asked for (or any, when 0 asked RM to choose).

    Read from the ``payload_vmid``/``allocated_vmid`` columns, which the columnar decoder gathers
    with the default layouts: so only when ``dialect`` reads VM_ALLOCATE with them too."""
    quiet = np.zeros(len(rows), bool)
    if any(
        registry.layout(VM_ALLOCATE, role, dialect) != registry.layout(VM_ALLOCATE, role)
        for role in ("request", "reply")
    ):
        return quiet
    alloc = (mtype == REQUEST) & (msg_id == VM_ALLOCATE)
    if exact:
        alloc &= ~np.isin(rows, list(exact))
    j = reply_of
    answered = j >= 0
    reply_err = np.where(answered, err[np.maximum(j, 0)], -1)
    reply_row = rows[np.maximum(j, 0)]
    reply_clean = answered & _well_formed(cols, reply_row)
    asked = cols.payload_vmid[rows]
    got = cols.allocated_vmid[reply_row]
    agreed = reply_clean & (reply_err == 0) & (asked >= 0) & (got >= 0) & ((asked == 0) | (asked == got))
    quiet[alloc & (~answered | (reply_err != 0) | agreed)] = True
    return quiet
