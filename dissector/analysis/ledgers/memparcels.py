"""The memory-parcel ledger: one row per parcel, from its create call to its reclaim.

State machine (protocol.md 4.9, 5, 6.8), replayed in capture order:

* MEM_LEND / MEM_SHARE / MEM_DONATE answered OK with a ``mem_handle`` creates a parcel owned
  by the calling client, with the request's mem_type, label, ACL and SGL; with the APPEND flag
  (0x2) it stays ``appending`` until a MEM_APPEND with END (0x1);
* MEM_APPEND adds SGL entries; MEM_NOTIFY(SHARED) tells recipients (``notified``);
  VM_INIT makes RM map the VM's boot memory: every parcel the caller lent or shared to that VM
  counts as accepted by it (``mapped``); MEM_ACCEPT (IPAs from its SGL, or from RM's reply
  when it chose them) and MEM_ACCEPTED add acceptors (``accepted``); MEM_RELEASE and
  MEM_RELEASED remove them (``released``); MEM_RECLAIM ends the parcel (``reclaimed``);
* ``state`` is the last of these steps (as RM would report it); who holds the parcel at the
  end is in ``accepted_by`` / ``released_by``;
* an error reply never advances the state (it is counted in ``errors``); a call without reply
  does (RM most likely acted and the reply was lost), and is listed in ``failed_calls``;
* a handle created again after its reclaim starts a new row (``instance`` 2, ...).

Handles are per RM, so per capture. A call that succeeds with a handle the capture never saw
created gets a row too (``handle_source`` ``unseen``: created before the capture), or, if an
earlier create got no reply, is taken to be that parcel's handle (``inferred``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dissector.protocol import registry

from .events import Call, Event, Notif, Story
from .handles import LIVE, STALE
from .replay import Replay, ledger_rows, replay_story
from .schema import MEMPARCELS, TRANS_TYPES

CREATE_CALLS = {"MEM_DONATE": "DONATE", "MEM_LEND": "LEND", "MEM_SHARE": "SHARE"}
CREATE_APPEND, APPEND_END = 0x2, 0x1  # create flags / append flags (protocol.md 6.8)
NOTIFY_SHARED, NOTIFY_RELEASED, NOTIFY_ACCEPTED, NOTIFY_RECALL = 0x1, 0x2, 0x4, 0x8
ACCEPT_MAP_OTHER = 0x08
HANDLE_CALLS = ("MEM_APPEND", "MEM_ACCEPT", "MEM_RELEASE", "MEM_RECLAIM", "MEM_NOTIFY")
CONFIG_CALLS = ("VM_CONFIG_IMAGE", "VM_SET_FIRMWARE_MEM")
UNKNOWN_VMID = 0xFFFF


def rights_text(perms: int) -> str:
    """ACL rights as letters: 0x6 -> 'RW', 0x7 -> 'RWX' (protocol.md 4.9: X=1, W=2, R=4)."""
    text = "".join(c for bit, c in ((4, "R"), (2, "W"), (1, "X")) if perms & bit)
    extra = perms & ~0x7
    return (text or "-") + (f"+{extra:#x}" if extra else "")


INT64_MAX = (1 << 63) - 1


@dataclass
class Parcel:
    """One parcel while the replay builds it (a row of ``MEMPARCELS`` once finished)."""

    capture: str
    handle: int | None
    source: str
    owner: int | None
    start_frame: int
    first_time: float
    trans_type: str | None = None
    mem_type: str | None = None
    label: int | None = None
    flags: int | None = None
    acl: list[tuple[int, int]] = field(default_factory=list)
    sgl: list[tuple[int, int]] = field(default_factory=list)
    size_known: bool = False
    known_size: int | None = None  # from MEM_SHARED (sizes only) when the SGL was never seen
    known_entries: int = 0  # likewise, its SGL entry count
    sgl_broken: bool = False  # a create or append request was cut: SGL and size unknown
    complete: bool = True
    created_frame: int | None = None
    handle_frame: int | None = None
    append_frames: list[int] = field(default_factory=list)
    notify_frames: list[int] = field(default_factory=list)
    shared_frames: list[int] = field(default_factory=list)
    shared_with: list[int] = field(default_factory=list)
    accepted_by: list[int] = field(default_factory=list)
    accept_ipas: dict[int, int | None] = field(default_factory=dict)
    accept_frames: list[int] = field(default_factory=list)
    accepted_frames: list[int] = field(default_factory=list)
    released_by: list[int] = field(default_factory=list)
    release_frames: list[int] = field(default_factory=list)
    released_frames: list[int] = field(default_factory=list)
    recall_frames: list[int] = field(default_factory=list)
    mapped_frames: list[int] = field(default_factory=list)
    phase: str = "created"
    uses: list[str] = field(default_factory=list)
    config_frames: list[int] = field(default_factory=list)
    reclaimed_frame: int | None = None
    reclaimed_time: float = math.nan
    last_frame: int = 0
    first_frame: int = 0
    errors: int = 0
    failed: list[str] = field(default_factory=list)
    instance: int = 0

    @property
    def end_frame(self) -> int | None:
        return self.reclaimed_frame

    @property
    def borrowers(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(v for v, _ in self.acl if v != self.owner))

    def lends_to(self, vmid: int) -> bool:
        """``vmid in borrowers``, without building the tuple (VM_INIT asks it of every open parcel)."""
        for v, _ in self.acl:
            if v == vmid:
                return vmid != self.owner
        return False

    @property
    def size(self) -> int | None:
        if self.sgl_broken:
            return None
        total = sum(s for _, s in self.sgl) if self.size_known else self.known_size
        # a total the Int64 column cannot hold is unknown here; checks report it as range_wraps
        return None if total is None or total > INT64_MAX else total

    @property
    def state(self) -> str:
        return "reclaimed" if self.reclaimed_frame is not None else self.phase

    def touch(self, frame: int) -> None:
        self.last_frame = max(self.last_frame, frame)

    def note_failure(self, call: Call) -> None:
        if call.answered:
            self.errors += 1
        self.failed.append(f"{call.name} {call.outcome} @{call.frame}")

    def add_sgl(self, entries: Iterable[Mapping[str, Any]]) -> None:
        for e in entries:
            self.sgl.append((int(e.get("ipa_base", 0)), int(e.get("size", 0))))
        self.size_known = True


def _described(message: Mapping[str, Any], key: str) -> bool:
    """The message decoded cleanly and carries ``key``: its lists can be trusted."""
    return not message.get("malformed") and key in (message.get("fields") or {})


def _name(enum: str, value: Any) -> str | None:
    return None if value is None else registry.enum(enum).name_of(int(value))


class ParcelReplay(Replay[Parcel]):
    """Replays one capture's story into parcels (see the module docstring)."""

    def __init__(self, capture: str) -> None:
        super().__init__(capture)
        self._gone: dict[int, int] = {}  # vmid -> frame of its last VM_DEALLOCATE
        self._open: list[Parcel] = []  # parcels not reclaimed when last looked, in row order
        self._looked = 0  # rows already moved to ``_open``

    def _unreclaimed(self) -> list[Parcel]:
        """The parcels not reclaimed so far, in row order (a reclaim is final), without walking
        every parcel of the capture at each VM_INIT."""
        self._open.extend(self.rows[self._looked :])
        self._looked = len(self.rows)
        self._open = [p for p in self._open if p.reclaimed_frame is None]
        return self._open

    # --- building rows ------------------------------------------------------------------
    def _create(self, call: Call) -> None:
        f = call.fields
        if call.answered and not call.ok:
            return  # RM refused: no parcel (the error reply is the transactions table's business)
        handle = call.reply_fields.get("mem_handle") if call.ok else None
        if call.ok and handle is None:
            return  # an OK reply without data: malformed, nothing to follow
        parcel = Parcel(
            self.capture,
            None if handle is None else int(handle),
            "reply" if handle is not None else "no_reply",
            call.client,
            call.frame,
            call.time,
            trans_type=CREATE_CALLS[call.name],
            mem_type=_name("mem_type", f.get("mem_type")),
            label=f.get("label"),
            flags=f.get("flags"),
            acl=[(int(a.get("vmid", 0)), int(a.get("perms", 0))) for a in f.get("acl") or ()],
            created_frame=call.frame,
            handle_frame=call.reply_frame,
            first_frame=call.frame,
        )
        if _described(call.request, "sgl"):
            parcel.add_sgl(f.get("sgl") or ())
        else:  # a cut create request: ACL, SGL and size unknown
            parcel.sgl_broken = True
            parcel.failed.append(f"{call.name} request malformed @{call.frame}")
        parcel.complete = not (int(f.get("flags") or 0) & CREATE_APPEND)
        parcel.phase = "no_reply" if handle is None else ("created" if parcel.complete else "appending")
        parcel.touch(call.reply_frame or call.frame)
        if call.reply is None:
            parcel.failed.append(f"{call.name} no reply @{call.frame}")
        self.created(parcel)

    def _unseen(self, handle: int, event: Event, owner: int | None, user: int | None, stale: bool) -> Parcel:
        """A parcel used successfully but never seen created: before the capture, or a lost reply.

        ``owner`` is the client when an owner-side call uses the handle, ``user`` the client of
        a borrower-side one; an earlier create without reply by that owner (or lending to that
        borrower) is taken to be this parcel.
        """
        p = self.adopt(
            handle,
            event.frame,
            lambda p: p.owner == owner if owner is not None else (not p.acl or user in p.borrowers),
        )
        if p is not None:
            if p.phase == "no_reply":
                p.phase = "created" if p.complete else "appending"
            return p
        start = event.frame if stale else 0
        return self.unseen(
            Parcel(self.capture, handle, "unseen", owner, start, event.time, first_frame=event.frame)
        )

    def bind(self, handle: Any, event: Event, owner_hint: int | None = None) -> Parcel | None:
        """The parcel ``handle`` names at this event; creates an unseen row when RM vouched for it."""
        if handle is None:
            return None
        handle = int(handle)
        found = self.index.at(handle, event.frame)
        if found.status == LIVE:
            return found.row
        if isinstance(event, Call) and event.ok:  # RM vouched for the handle
            user = None if owner_hint is not None else event.client
            return self._unseen(handle, event, owner_hint, user, found.status == STALE)
        return None

    # --- the replay -----------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        name = event.name
        if isinstance(event, Call):
            if name in CREATE_CALLS:
                self._create(event)
            elif name in HANDLE_CALLS:
                self._handle_call(event)
            elif name in CONFIG_CALLS:
                self._config(event)
            elif name == "VM_INIT":
                self._init(event)
            elif name == "VM_DEALLOCATE" and event.took_effect and event.fields.get("vmid") is not None:
                self._gone[int(event.fields["vmid"])] = event.frame
        elif name == "MEM_SHARED":
            self._shared(event)
        elif name in ("MEM_ACCEPTED", "MEM_RELEASED", "MEM_RECALL"):
            self._owner_notif(event)

    def _handle_call(self, call: Call) -> None:
        f = call.fields
        owner_side = call.name in ("MEM_APPEND", "MEM_RECLAIM") or (
            call.name == "MEM_NOTIFY" and int(f.get("flags") or 0) & (NOTIFY_SHARED | NOTIFY_RECALL)
        )
        parcel = self.bind(f.get("mem_handle"), call, call.client if owner_side else None)
        if parcel is None:
            return
        if parcel.owner is None and owner_side and call.client != UNKNOWN_VMID:
            parcel.owner = call.client
        parcel.touch(call.reply_frame or call.frame)
        if not call.took_effect:
            parcel.note_failure(call)
            return
        if call.reply is None:
            parcel.failed.append(f"{call.name} no reply @{call.frame}")
        getattr(self, "_" + call.name.lower())(parcel, call)

    def _mem_append(self, parcel: Parcel, call: Call) -> None:
        f = call.fields
        parcel.append_frames.append(call.frame)
        if _described(call.request, "sgl"):
            parcel.add_sgl(f.get("sgl") or ())
        else:  # a cut MEM_APPEND: its entries, so the total size, are unknown
            parcel.sgl_broken = True
            parcel.failed.append(f"{call.name} request malformed @{call.frame}")
        if int(f.get("flags") or 0) & APPEND_END:
            parcel.complete = True
            if parcel.phase == "appending":
                parcel.phase = "created"

    def _mem_accept(self, parcel: Parcel, call: Call) -> None:
        f = call.fields
        vmid = call.client
        parcel.accept_frames.append(call.frame)
        ipa = None
        if f.get("sgl"):
            ipa = int(f["sgl"][0].get("ipa_base", 0))
        elif call.reply_fields.get("sgl"):
            ipa = int(call.reply_fields["sgl"][0].get("ipa_base", 0))
        if vmid not in parcel.accepted_by:
            parcel.accepted_by.append(vmid)
        if parcel.accept_ipas.get(vmid) is None:
            parcel.accept_ipas[vmid] = ipa
        parcel.phase = "accepted"

    def _mem_release(self, parcel: Parcel, call: Call) -> None:
        parcel.release_frames.append(call.frame)
        if call.client not in parcel.released_by:
            parcel.released_by.append(call.client)
        parcel.phase = "released"

    def _mem_reclaim(self, parcel: Parcel, call: Call) -> None:
        parcel.reclaimed_frame = call.frame
        parcel.reclaimed_time = call.time

    def _mem_notify(self, parcel: Parcel, call: Call) -> None:
        f = call.fields
        parcel.notify_frames.append(call.frame)
        if int(f.get("flags") or 0) & NOTIFY_SHARED:
            parcel.phase = "notified"
            for v in f.get("vmids") or ():
                vmid = int(v.get("vmid", 0))
                if vmid not in parcel.shared_with:
                    parcel.shared_with.append(vmid)

    def _config(self, call: Call) -> None:
        f = call.fields
        parcel = self.bind(f.get("mem_handle"), call, call.client)
        if parcel is None:
            return
        parcel.touch(call.frame)
        parcel.config_frames.append(call.frame)
        use = config_use(call.name, f)
        if use not in parcel.uses:
            parcel.uses.append(use)
        if not call.took_effect:
            parcel.note_failure(call)

    def _shared(self, notif: Notif) -> None:
        f = notif.fields
        handle = f.get("mem_handle")
        if handle is None:
            return
        found = self.index.at(int(handle), notif.frame)
        parcel = found.row if found.status == LIVE else None
        if parcel is None:
            # RM vouches for the parcel: the notification itself describes it
            owner = f.get("owner_vmid")
            parcel = self._unseen(int(handle), notif, owner, None, found.status == STALE)
            parcel.owner = owner if parcel.owner is None else parcel.owner
            if not parcel.acl:
                parcel.acl = [(int(a.get("vmid", 0)), int(a.get("perms", 0))) for a in f.get("acl") or ()]
                kind = _name("trans_type", f.get("trans_type"))
                parcel.trans_type = kind if kind in TRANS_TYPES else None  # a value no source names
                parcel.mem_type = _name("mem_type", f.get("mem_type"))
                parcel.label = f.get("label")
                sizes = [int(e.get("size", 0)) for e in f.get("sgl") or ()]
                parcel.known_size = sum(sizes)
                parcel.known_entries = len(sizes)
        parcel.touch(notif.frame)
        parcel.shared_frames.append(notif.frame)
        if notif.client not in parcel.shared_with:
            parcel.shared_with.append(notif.client)

    def _owner_notif(self, notif: Notif) -> None:
        f = notif.fields
        handle = f.get("mem_handle")
        if handle is None:
            return
        found = self.index.at(int(handle), notif.frame)
        if found.status != LIVE or found.row is None:
            return
        parcel = found.row
        parcel.touch(notif.frame)
        vmid = f.get("vmid")
        if notif.name == "MEM_RECALL":
            parcel.recall_frames.append(notif.frame)
        elif notif.name == "MEM_ACCEPTED":
            parcel.accepted_frames.append(notif.frame)
            if vmid is not None and int(vmid) not in parcel.accepted_by:
                parcel.accepted_by.append(int(vmid))
                parcel.accept_ipas.setdefault(int(vmid), None)
            parcel.phase = "accepted"
        else:
            parcel.released_frames.append(notif.frame)
            if vmid is not None and int(vmid) not in parcel.released_by:
                parcel.released_by.append(int(vmid))
            parcel.phase = "released"

    def _init(self, call: Call) -> None:
        """VM_INIT: RM maps the VM's boot memory, accepting on its behalf every parcel the caller
        lent or shared to it (protocol.md 8: the host lends, configures, then VM_INIT builds the VM).
        Parcels lent to an earlier VM with the same VMID (before its VM_DEALLOCATE) are not its."""
        vmid = call.fields.get("vmid")
        if not call.took_effect or vmid is None:
            return
        vmid = int(vmid)
        gone = self._gone.get(vmid, -1)
        client = call.client
        for parcel in self._unreclaimed():
            if (
                parcel.owner != client
                or not parcel.lends_to(vmid)
                or (parcel.created_frame or parcel.first_frame) < gone
            ):
                continue
            parcel.mapped_frames.append(call.frame)
            if vmid not in parcel.accepted_by:
                parcel.accepted_by.append(vmid)
                parcel.accept_ipas.setdefault(vmid, None)
            parcel.phase = "mapped"
            parcel.touch(call.frame)


def human(n: int) -> str:
    """A byte count for people: '2 MiB', '128 KiB', '0.5 MiB', '12 bytes'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} byte{'s' if n != 1 else ''}"


def config_use(name: str, f: Mapping[str, Any]) -> str:
    """What a configuration call puts in a parcel, as the capture shows it (only the ranges the
    call names: a parcel holding a DTB is not "the DTB"), e.g. 'VM 0x80 DTB: 20.25 KiB at +0x1fe00000'."""
    vmid = f.get("vmid")
    parts = []
    pieces = (("firmware", "fw"),) if name == "VM_SET_FIRMWARE_MEM" else (("image", "image"), ("DTB", "dtb"))
    for label, key in pieces:
        size, offset = f.get(f"{key}_size"), f.get(f"{key}_offset")
        if size:
            parts.append(f"{label}: {human(int(size))} at +{int(offset or 0):#x}")
    what = ", ".join(parts) or f"{name} (no range given)"
    return f"VM {int(vmid):#x} {what}" if vmid is not None else what


def replay(story: Story) -> list[Parcel]:
    """All parcels of one capture."""
    return replay_story(story, ParcelReplay)


def parcels_frame(parcels: list[Parcel], captures: list[str]) -> pd.DataFrame:
    """The ``MEMPARCELS`` table of finished parcels."""
    if not parcels:
        frame = MEMPARCELS.empty()
        frame["capture"] = pd.Categorical([], categories=captures)
        return frame

    def cells(p: Parcel) -> tuple[Any, ...]:
        borrowers = p.borrowers
        return (
            p.capture,
            p.handle,
            p.instance,
            p.source,
            p.owner if p.owner != UNKNOWN_VMID else None,
            borrowers[0] if borrowers else None,
            borrowers,
            p.trans_type if p.trans_type in TRANS_TYPES else None,
            p.mem_type,
            p.label,
            p.flags,
            tuple(p.acl),
            " ".join(f"{v:#x}:{rights_text(r)}" for v, r in p.acl),
            len(p.sgl) or p.known_entries,
            p.size,
            tuple(p.sgl),
            p.complete,
            p.created_frame,
            p.handle_frame,
            p.first_time,
            tuple(p.append_frames),
            tuple(p.notify_frames),
            tuple(p.shared_frames),
            tuple(p.shared_with),
            tuple(p.accepted_by),
            tuple((v, p.accept_ipas.get(v)) for v in p.accepted_by),
            tuple(p.accept_frames),
            tuple(p.mapped_frames),
            tuple(p.accepted_frames),
            tuple(p.released_by),
            tuple(p.release_frames),
            tuple(p.released_frames),
            tuple(p.recall_frames),
            ", ".join(p.uses),
            tuple(p.config_frames),
            p.reclaimed_frame,
            p.reclaimed_time,
            p.first_frame,
            p.last_frame,
            p.state,
            p.errors,
            "; ".join(p.failed),
        )

    columns = iter(list(values) for values in zip(*map(cells, parcels), strict=True))
    # one pass over the parcels, then a column per cell: in ``MEMPARCELS`` order
    data = {
        "capture": pd.Categorical(next(columns), categories=captures),
        "handle": next(columns),
        "instance": np.array(next(columns), np.int32),
        "handle_source": next(columns),
        "owner_vmid": next(columns),
        "vmid": next(columns),
        "borrowers": next(columns),
        # a garbage MEM_SHARED can name a trans_type RM does not have: unknown, not a new category
        "trans_type": next(columns),
        "mem_type": next(columns),
        "label": next(columns),
        "flags": next(columns),
        "acl": next(columns),
        "acl_text": next(columns),
        "sgl_entries": np.array(next(columns), np.int32),
        "size": next(columns),
        "sgl": next(columns),
        "complete": np.array(next(columns), bool),
        "created_frame": next(columns),
        "handle_frame": next(columns),
        "created_time": np.array(next(columns), np.float64),
        "append_frames": next(columns),
        "notify_frames": next(columns),
        "shared_frames": next(columns),
        "shared_with": next(columns),
        "accepted_by": next(columns),
        "accept_ipas": next(columns),
        "accept_frames": next(columns),
        "mapped_frames": next(columns),
        "accepted_frames": next(columns),
        "released_by": next(columns),
        "release_frames": next(columns),
        "released_frames": next(columns),
        "recall_frames": next(columns),
        "used_by": next(columns),
        "config_frames": next(columns),
        "reclaimed_frame": next(columns),
        "reclaimed_time": np.array(next(columns), np.float64),
        "first_frame": np.array(next(columns), np.int64),
        "last_frame": np.array(next(columns), np.int64),
        "state": next(columns),
        "errors": np.array(next(columns), np.int32),
        "failed_calls": next(columns),
    }
    assert next(columns, None) is None, "a cell without its column"
    return MEMPARCELS.frame(data)


def df_memparcels(messages: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The memory-parcel ledger (schema ``MEMPARCELS``) of jsonl-shaped messages.

    ``messages`` are ``DecodedMessage.to_json()`` dicts in capture order, optionally with a
    ``capture`` key; messages the ledger does not read are skipped. Nothing is modified.
    """
    return parcels_frame(*ledger_rows(messages, ParcelReplay))
