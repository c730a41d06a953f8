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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.transactions import pair
from dissector.protocol import registry
from dissector.protocol.wire import (
    NOTIFICATION,
    REPLY,
    REQUEST,
    parse_header,
)

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
        name = NAME_OF[int(m["msg_id"])]
        if mtype[i] == REQUEST:
            j = int(pairing.reply_of[i])
            call = Call(name, m, msgs[j] if j >= 0 else None)
            story.events.append(call)
            if (
                call.took_effect
                and name in ("VM_RESET", "VM_DEALLOCATE")
                and call.fields.get("vmid") is not None
            ):
                kind = "reset" if name == "VM_RESET" else "deallocate"
                story.vm_events.append(VmEvent(kind, int(call.fields["vmid"]), call))
        elif mtype[i] == NOTIFICATION:
            story.events.append(Notif(name, m))
    return story


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


def messages_from_columns(columns: Sequence[MessageColumns], dialect: str = "rm") -> LedgerMessages:
    """The ledger messages of a Trace's per-capture message columns, as jsonl dicts with
    ``capture``, plus each capture's last message (when the capture ended).

    Rows are picked by ``msg_id`` with numpy. A well-formed message is decoded by the compiled
    decoder (``decoders.compiled``, what ``ghrm decode`` uses; far cheaper than a Scapy packet),
    which gives the same dict ``DecodedMessage.to_json`` does; malformed messages keep Scapy's
    lenient dissection.
    """
    from dissector.decoded import DecodedMessage
    from dissector.decoders.compiled import decode_message

    ids = np.fromiter(LEDGER_MSG_IDS, np.int64)
    out = LedgerMessages()
    for cols in columns:
        if cols.raw_message is None or not len(cols):
            continue
        rows = np.flatnonzero(np.isin(cols.msg_id, ids)).tolist()
        last = int(np.argmax(cols.frame))
        if last not in rows:
            rows.append(last)
        malformed = cols.malformed
        for i in rows:
            raw = cols.raw_message(i)
            msg = decode_message(raw, dialect) if malformed[i] is None else DecodedMessage(raw, dialect)
            row = msg.to_json()
            row["capture"] = cols.capture
            out.append(row)
    return out
