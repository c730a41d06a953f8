"""The lent-IRQ ledger: one row per IRQ lent, from VM_IRQ_LEND to VM_IRQ_RECLAIM.

State machine (protocol.md 4.6, 5), replayed in capture order:

* VM_IRQ_LEND answered OK with a ``virq_handle`` lends the owner's ``virq`` to
  ``borrower_vmid`` (``lent``);
* VM_IRQ_NOTIFY(LENT) from the owner makes RM send VM_IRQ_LENT to the borrower (``notified``;
  either message counts); VM_IRQ_NOTIFY(ACCEPTED/RELEASED) from the borrower make RM send
  VM_IRQ_ACCEPTED/RELEASED to the owner;
* ``state`` is the last of these steps;
* VM_IRQ_ACCEPT (or, failing that, VM_IRQ_ACCEPTED) -> ``accepted``, with the borrower's IRQ
  number from the reply (or the one asked for); VM_IRQ_RELEASE / VM_IRQ_RELEASED ->
  ``released``; VM_IRQ_RECLAIM -> ``reclaimed``;
* error replies never advance the state; calls without reply do (as for parcels);
* a handle lent again after its reclaim starts a new row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .events import Call, Event, Notif, Story
from .handles import LIVE, STALE
from .replay import Replay, ledger_rows, replay_story
from .schema import IRQS

NOTIFY_LENT, NOTIFY_RELEASED, NOTIFY_ACCEPTED = 0x1, 0x2, 0x4
VIRQ_ANY = 0xFFFFFFFF  # VM_IRQ_ACCEPT virq: let RM choose
HANDLE_CALLS = ("VM_IRQ_ACCEPT", "VM_IRQ_RELEASE", "VM_IRQ_RECLAIM", "VM_IRQ_NOTIFY")
UNKNOWN_VMID = 0xFFFF


@dataclass
class LentIrq:
    """One lent IRQ while the replay builds it (a row of ``IRQS`` once finished)."""

    capture: str
    handle: int | None
    source: str
    owner: int | None
    borrower: int | None
    start_frame: int
    first_time: float
    virq: int | None = None
    label: int | None = None
    lent_frame: int | None = None
    handle_frame: int | None = None
    notify_frames: list[int] = field(default_factory=list)
    lent_frames: list[int] = field(default_factory=list)
    accepted_by: int | None = None
    accepted_virq: int | None = None
    accept_frames: list[int] = field(default_factory=list)
    accepted_frames: list[int] = field(default_factory=list)
    release_frames: list[int] = field(default_factory=list)
    released_frames: list[int] = field(default_factory=list)
    phase: str = "lent"
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
    def state(self) -> str:
        return "reclaimed" if self.reclaimed_frame is not None else self.phase

    def touch(self, frame: int) -> None:
        self.last_frame = max(self.last_frame, frame)


class IrqReplay(Replay[LentIrq]):
    """Replays one capture's story into lent IRQs (see the module docstring)."""

    def _lend(self, call: Call) -> None:
        if call.answered and not call.ok:
            return
        handle = call.reply_fields.get("virq_handle") if call.ok else None
        if call.ok and handle is None:
            return
        f = call.fields
        irq = LentIrq(
            self.capture,
            None if handle is None else int(handle),
            "reply" if handle is not None else "no_reply",
            call.client,
            f.get("borrower_vmid"),
            call.frame,
            call.time,
            virq=f.get("virq"),
            label=f.get("label"),
            lent_frame=call.frame,
            handle_frame=call.reply_frame,
            first_frame=call.frame,
            phase="lent" if handle is not None else "no_reply",
        )
        irq.touch(call.reply_frame or call.frame)
        if call.reply is None:
            irq.failed.append(f"{call.name} no reply @{call.frame}")
        self.created(irq)

    def _unseen(
        self, handle: int, event: Event, owner: int | None, borrower: int | None, stale: bool
    ) -> LentIrq:
        """An IRQ used successfully but never seen lent: before the capture, or the lend's reply was
        lost (then the oldest such lend by that owner, to that borrower, is taken to be it)."""
        q = self.adopt(
            handle,
            event.frame,
            lambda q: (owner is None or q.owner == owner) and (borrower is None or q.borrower == borrower),
        )
        if q is not None:
            q.phase = "lent" if q.phase == "no_reply" else q.phase
            return q
        return self.unseen(
            LentIrq(
                self.capture,
                handle,
                "unseen",
                owner,
                borrower,
                event.frame if stale else 0,
                event.time,
                first_frame=event.frame,
            )
        )

    def feed(self, event: Event) -> None:
        if isinstance(event, Call):
            if event.name == "VM_IRQ_LEND":
                self._lend(event)
            elif event.name in HANDLE_CALLS:
                self._handle_call(event)
        elif event.name in ("VM_IRQ_LENT", "VM_IRQ_ACCEPTED", "VM_IRQ_RELEASED"):
            self._notif(event)

    def _handle_call(self, call: Call) -> None:
        f = call.fields
        handle = f.get("virq_handle")
        if handle is None:
            return
        flags = int(f.get("flags") or 0)
        owner_side = call.name == "VM_IRQ_RECLAIM" or (call.name == "VM_IRQ_NOTIFY" and flags & NOTIFY_LENT)
        found = self.index.at(int(handle), call.frame)
        irq = found.row if found.status == LIVE else None
        if irq is None:
            if not call.ok:
                return
            owner = call.client if owner_side else None
            borrower = None if owner_side else call.client
            irq = self._unseen(int(handle), call, owner, borrower, found.status == STALE)
        irq.touch(call.reply_frame or call.frame)
        if not call.took_effect:
            irq.errors += 1
            irq.failed.append(f"{call.name} {call.outcome} @{call.frame}")
            return
        if call.reply is None:
            irq.failed.append(f"{call.name} no reply @{call.frame}")
        if call.name == "VM_IRQ_ACCEPT":
            irq.accept_frames.append(call.frame)
            irq.accepted_by = call.client if irq.accepted_by is None else irq.accepted_by
            got = call.reply_fields.get("virq")
            asked = f.get("virq")
            if got is not None:
                irq.accepted_virq = int(got)
            elif asked is not None and int(asked) != VIRQ_ANY and irq.accepted_virq is None:
                irq.accepted_virq = int(asked)
            irq.phase = "accepted"
        elif call.name == "VM_IRQ_RELEASE":
            irq.release_frames.append(call.frame)
            irq.phase = "released"
        elif call.name == "VM_IRQ_RECLAIM":
            irq.reclaimed_frame = call.frame
            irq.reclaimed_time = call.time
        else:
            irq.notify_frames.append(call.frame)
            if int(f.get("flags") or 0) & NOTIFY_LENT and irq.phase == "lent":
                irq.phase = "notified"

    def _notif(self, notif: Notif) -> None:
        f = notif.fields
        handle = f.get("virq_handle")
        if handle is None:
            return
        found = self.index.at(int(handle), notif.frame)
        irq = found.row if found.status == LIVE else None
        if irq is None:
            if notif.name != "VM_IRQ_LENT":
                return
            # RM vouches for the lend: the notification names owner, borrower and label
            irq = self._unseen(int(handle), notif, f.get("owner_vmid"), notif.client, found.status == STALE)
            irq.owner = f.get("owner_vmid") if irq.owner is None else irq.owner
            irq.borrower = notif.client if irq.borrower is None else irq.borrower
            irq.label = f.get("virq_label") if irq.label is None else irq.label
        irq.touch(notif.frame)
        if notif.name == "VM_IRQ_LENT":
            irq.lent_frames.append(notif.frame)
            if irq.phase == "lent":
                irq.phase = "notified"
        elif notif.name == "VM_IRQ_ACCEPTED":
            irq.accepted_frames.append(notif.frame)
            if irq.accepted_by is None:
                irq.accepted_by = irq.borrower
            irq.phase = "accepted"
        else:
            irq.released_frames.append(notif.frame)
            irq.phase = "released"


def replay(story: Story) -> list[LentIrq]:
    """All lent IRQs of one capture."""
    return replay_story(story, IrqReplay)


def irqs_frame(irqs: list[LentIrq], captures: list[str]) -> pd.DataFrame:
    """The ``IRQS`` table of finished IRQs."""
    if not irqs:
        frame = IRQS.empty()
        frame["capture"] = pd.Categorical([], categories=captures)
        return frame

    def col(fn: Any) -> list[Any]:
        return [fn(q) for q in irqs]

    def vm(v: int | None) -> int | None:
        return None if v is None or v == UNKNOWN_VMID else v

    data = {
        "capture": pd.Categorical(col(lambda q: q.capture), categories=captures),
        "handle": col(lambda q: q.handle),
        "instance": np.array(col(lambda q: q.instance), np.int32),
        "handle_source": col(lambda q: q.source),
        "owner_vmid": col(lambda q: vm(q.owner)),
        "vmid": col(lambda q: vm(q.borrower)),
        "virq": col(lambda q: q.virq),
        "label": col(lambda q: q.label),
        "lent_frame": col(lambda q: q.lent_frame),
        "handle_frame": col(lambda q: q.handle_frame),
        "lent_time": np.array(col(lambda q: q.first_time), np.float64),
        "notify_frames": col(lambda q: tuple(q.notify_frames)),
        "lent_frames": col(lambda q: tuple(q.lent_frames)),
        "accepted_by": col(lambda q: vm(q.accepted_by)),
        "accepted_virq": col(lambda q: q.accepted_virq),
        "accept_frames": col(lambda q: tuple(q.accept_frames)),
        "accepted_frames": col(lambda q: tuple(q.accepted_frames)),
        "release_frames": col(lambda q: tuple(q.release_frames)),
        "released_frames": col(lambda q: tuple(q.released_frames)),
        "reclaimed_frame": col(lambda q: q.reclaimed_frame),
        "reclaimed_time": np.array(col(lambda q: q.reclaimed_time), np.float64),
        "first_frame": np.array(col(lambda q: q.first_frame), np.int64),
        "last_frame": np.array(col(lambda q: q.last_frame), np.int64),
        "state": col(lambda q: q.state),
        "errors": np.array(col(lambda q: q.errors), np.int32),
        "failed_calls": col(lambda q: "; ".join(q.failed)),
    }
    return IRQS.frame(data)


def df_irqs(messages: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The lent-IRQ ledger (schema ``IRQS``) of jsonl-shaped messages (as ``df_memparcels``)."""
    return irqs_frame(*ledger_rows(messages, IrqReplay))
