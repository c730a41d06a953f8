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
``messages_from_columns`` (a Trace's message columns: the compiled codec for well-formed
messages, Scapy only for malformed ones and error replies; the same dicts, by test).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.transactions import pair
from dissector.capture.reassembly import RawMessage
from dissector.protocol import registry
from dissector.protocol.codec import CodecError, StructCodec, codec_for
from dissector.protocol.layout import Array, BySize, Count, Int, Length, Optional, Role, When
from dissector.protocol.wire import (
    FRAGMENTS_SHIFT,
    MSG_TYPE_MASK,
    NOTIFICATION,
    REPLY,
    REQUEST,
    RPC_HEADER,
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

    Rows are picked by ``msg_id`` with numpy. A well-formed request, OK reply or notification is
    decoded by the compiled codec (``protocol.codec``, ~30x cheaper than a Scapy packet) into the
    same dict ``DecodedMessage.to_json`` gives (``_fast_row``); malformed messages, error replies
    and payloads without a plain layout keep Scapy's lenient dissection.
    """
    from dissector.decoded import DecodedMessage

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
            row = _fast_row(raw, dialect) if malformed[i] is None else None
            if row is None:
                row = DecodedMessage(raw, dialect).to_json()
            row["capture"] = cols.capture
            out.append(row)
    return out


_ERR = struct.Struct("<I")
_ROLE_OF_TYPE: dict[int, Role] = {REQUEST: "request", NOTIFICATION: "notification"}


def _fast_row(raw: RawMessage, dialect: str) -> dict[str, Any] | None:
    """``DecodedMessage(raw, dialect).to_json()`` of a well-formed message without Scapy, or None
    when only Scapy gives it (error replies, continuations, payloads the codec cannot read)."""
    from dissector.decoded import TYPE_NAMES, ExactTime

    data = raw.data
    if len(data) < 8:
        return None
    _api, type_byte, seq, msg_id = RPC_HEADER.unpack_from(data)
    msg_type = type_byte & MSG_TYPE_MASK
    if msg_type == REPLY:
        if len(data) < 12:
            return None
        err_code = _ERR.unpack_from(data, 8)[0]
        if err_code != 0:
            return None
        role: Role | None = "reply"
        body = data[12:]
    else:
        role = _ROLE_OF_TYPE.get(msg_type)
        if role is None:
            return None
        err_code, body = None, data[8:]
    plain = _plain_codec(msg_id, role, dialect)
    if plain is None:
        return None
    codec, hidden = plain
    try:
        values = codec.decode(body)
    except (CodecError, KeyError, ValueError, IndexError, struct.error):
        return None
    return {
        "frame": raw.frames[0],
        "frames": list(raw.frames),
        "time": None if raw.time_ns is None else ExactTime(raw.time_ns),
        "time_end": None if raw.time_end_ns is None else ExactTime(raw.time_end_ns),
        "direction": raw.direction.label,
        "client_vmid": raw.client_vmid,
        "type": TYPE_NAMES[msg_type],
        "seq": seq if raw.seq_known else None,
        "msg_id": msg_id,
        "msg_name": _message_name(msg_id, dialect),
        "fragments": type_byte >> FRAGMENTS_SHIFT,
        "err_code": err_code,
        "err_name": None if err_code is None else _error_name(err_code, dialect),
        "fields": _shown(values, hidden),
        "malformed": None,
        "time_ns": raw.time_ns,
    }


def _shown(values: dict[str, Any], hidden: _Hidden) -> dict[str, Any]:
    """The codec's values as ``layers.fields_of`` shows them: reserved and padding fields only
    when non-zero, in list entries too (``values`` is the codec's fresh dict: changed in place)."""
    top, lists = hidden
    for name in top:
        if name in values and not values[name]:
            del values[name]
    for name, inner in lists:
        for entry in values.get(name) or ():
            for key in inner:
                if key in entry and not entry[key]:
                    del entry[key]
    return values


# names hidden when zero: top-level ones, and (list name, names inside its entries)
_Hidden = tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]


@cache
def _message_name(msg_id: int, dialect: str) -> str:
    return registry.message_name(msg_id, dialect)


@cache
def _error_name(code: int, dialect: str) -> str:
    return registry.error_name(code, dialect)


@cache
def _plain_codec(msg_id: int, role: Role, dialect: str) -> tuple[StructCodec, _Hidden] | None:
    """The compiled codec of a payload made of integers and lists of them, with the fields
    ``fields_of`` hides when zero; None for layouts with bytes (Scapy shows those as hex)."""
    layout = registry.layout(msg_id, role, dialect)
    if layout is None:
        return None
    top: list[str] = []
    lists: list[tuple[str, tuple[str, ...]]] = []
    if not _plain_fields(layout.fields, top, lists):
        return None
    try:
        codec = codec_for(msg_id, role, dialect)
    except (KeyError, ValueError):
        return None
    return codec, (tuple(dict.fromkeys(top)), tuple(lists))


def _hidden(name: str, reserved: bool) -> bool:
    return reserved or name.startswith("_")


def _plain_fields(fields: Iterable[Any], top: list[str], lists: list[tuple[str, tuple[str, ...]]]) -> bool:
    """Collect the hidden names of ``fields``; False if a field is not an integer or a list of
    integer entries."""
    for f in fields:
        if isinstance(f, Optional | When):
            if not _plain_fields(f.fields, top, lists):
                return False
        elif isinstance(f, BySize):
            for case in f.cases:
                if not _plain_fields(case.fields, top, lists):
                    return False
        elif isinstance(f, Array):
            inner: list[str] = []
            for entry in (f.entry, *f.alternatives):
                for e in entry.fields:
                    if not isinstance(e, Int):
                        return False
                    if _hidden(e.name, e.reserved):
                        inner.append(e.name)
            if inner:
                lists.append((f.name, tuple(dict.fromkeys(inner))))
        elif isinstance(f, Int | Count | Length):
            if _hidden(f.name, getattr(f, "reserved", False)):
                top.append(f.name)
        else:
            return False  # Bytes
    return True
