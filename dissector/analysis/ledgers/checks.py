"""Checks only a whole trace can make: calls and replies held against the parcel and IRQ ledgers.

Why here and not in the dissector: the RPC layer sees one message; whether a DTB range fits
its parcel, whether a handle was already reclaimed, whether a VM left memory behind, needs the
MEM_LEND that created the parcel, its SGL and ACL, and everything after it. Each finding names
its frames and says what happened in a kernel engineer's words, sizes in hex and MiB.

Every code, its usual severity and category are listed in ``schema.FINDING_CODES``. The checks
read the finished ledgers (so a caller may pass its cached tables) and walk the calls again,
asking the ledger which parcel or IRQ a handle named at each frame (``handles.HandleIndex``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .events import Call, Story, VmEvent, stories
from .handles import LIVE, STALE, HandleIndex
from .irqs import VIRQ_ANY
from .irqs import irqs_frame as _irqs_frame
from .irqs import replay as _replay_irqs
from .memparcels import ACCEPT_MAP_OTHER, CONFIG_CALLS, CREATE_CALLS, UNKNOWN_VMID, human
from .memparcels import HANDLE_CALLS as MEM_HANDLE_CALLS
from .memparcels import parcels_frame as _parcels_frame
from .memparcels import replay as _replay_parcels
from .schema import FINDING_CODES, FINDINGS, SEVERITIES, concat

MiB = 1 << 20
DTB_OVERLAY_ROOM = 2 * MiB
"""Room a host gives the DTB: RM edits the DTB in place and writes its overlay into the free
space after it ("dtb_size - Size of device-tree (and any free space after it)", QEMU gunyah
``gunyah_arm_set_dtb``); the seed's host carves 2 MiB out of the end of guest memory for it
(crosvm's FDT region is 2 MiB too). The room counted is the larger of ``dtb_size`` and the
carve-out (DTB start to the end of the parcel); below 2 MiB RM may run out of space, so it is
a note, not an error."""
HYP_RESOURCE_ENTRY = 44  # bytes, protocol.md 4.3
ACCEPT_INCOMPLETE = 0x1  # MEM_ACCEPT reply flags
ACCEPT_GRACE = 2.0
"""Seconds a borrower may take to accept what it was told about before the capture's end
counts as "never": a guest accepts once its RM driver has probed, within its boot."""
CREATE_NAMES = "/".join(CREATE_CALLS)


# --- text helpers -------------------------------------------------------------------------------
def _size_or_unknown(n: Any) -> str:
    return "size unknown" if n is None else size_text(int(n))


def size_text(n: int) -> str:
    """'0x200000 bytes (2 MiB)'."""
    return f"{n:#x} bytes ({human(n)})"


def _vm(v: Any) -> str:
    return "an unknown VM" if v is None or v == UNKNOWN_VMID else f"VM {int(v):#x}"


def _na(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _answer(call: Call) -> str:
    return "RM gave no reply" if not call.answered else f"RM answered {call.outcome}"


@dataclass
class _Finding:
    code: str
    text: str
    frames: tuple[int, ...]
    time: float
    vmid: int | None
    name: str | None
    capture: str
    severity: str = ""


# --- the ledgers as handle -> row spans ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    """A ledger row seen as the frames during which its handle named it."""

    start_frame: int
    end_frame: int | None
    row: Any


def _records(table: pd.DataFrame, capture: str) -> list[Any]:
    """The rows of one capture as named tuples of plain values (NA for missing), in table order.

    Column by column, not ``itertuples``: with nullable and categorical columns that is far faster.
    """
    rows = table[(table["capture"].astype(object) == capture).to_numpy(bool)]
    if rows.empty:
        return []
    Row = namedtuple("Row", list(rows.columns))  # type: ignore[misc]
    columns = [rows[c].astype(object).tolist() for c in rows.columns]
    return [Row(*values) for values in zip(*columns, strict=True)]


def _index(rows: list[Any], created: str) -> HandleIndex[Span]:
    """Ledger rows keyed by handle (the same spans the replay used)."""
    index: HandleIndex[Span] = HandleIndex()
    for row in rows:
        handle = _na(row.handle)
        if handle is None:
            continue
        first = _na(getattr(row, created))
        start = int(first) if first is not None else (0 if row.instance == 1 else int(row.first_frame))
        end = _na(row.reclaimed_frame)
        index.add(int(handle), Span(start, None if end is None else int(end), row))
    return index


def _parcel_origin(row: Any) -> str:
    """'(MEM_LEND by VM 0x3, frame 12)' or '(created before the capture)'."""
    created = _na(row.created_frame)
    if created is None:
        return "(created before the capture)"
    owner = _vm(_na(row.owner_vmid))
    return f"({_create_call(row) or 'created'} by {owner}, frame {int(created)})"


def _create_call(row: Any) -> str | None:
    """'MEM_LEND' for a LEND parcel; None when the create was never seen."""
    return f"MEM_{row.trans_type}" if isinstance(row.trans_type, str) else None


def _irq_origin(row: Any) -> str:
    lent = _na(row.lent_frame)
    virq = _na(row.virq)
    what = f"virq {int(virq)} of {_vm(_na(row.owner_vmid))}" if virq is not None else "an IRQ"
    return (
        f"({what}, lent at frame {int(lent)})" if lent is not None else f"({what}, lent before the capture)"
    )


def _acl_vmids(row: Any) -> set[int]:
    return {int(v) for v, _ in (row.acl or ())}


U64_LIMIT = 1 << 64  # a range ending beyond this wraps in RM's u64 arithmetic
INT64_MAX = (1 << 63) - 1  # the memparcels ``size`` column (Int64) holds up to this


class _VmEvents:
    """A story's VM events per VMID (and per kind), in frame order, as a story lists them: the
    first one at or after a frame found by bisection. The checks ask it of every parcel and IRQ
    row; a scan of every VM_DEALLOCATE per row was most of the ledger findings at 1M."""

    def __init__(self, events: list[VmEvent]) -> None:
        self._events: dict[tuple[int, str | None], list[VmEvent]] = {}
        self._frames: dict[tuple[int, str | None], list[int]] = {}
        for e in events:
            frame = e.call.frame
            for key in ((e.vmid, None), (e.vmid, e.kind)):
                self._events.setdefault(key, []).append(e)
                self._frames.setdefault(key, []).append(frame)

    def first(self, vmid: int, frame: int, kind: str | None = None, after: bool = False) -> VmEvent | None:
        """The first event of ``vmid`` (of ``kind``, if given) at ``frame`` or later (``after``:
        later only)."""
        frames = self._frames.get((vmid, kind))
        if not frames:
            return None
        i = (bisect_right if after else bisect_left)(frames, frame)
        return self._events[(vmid, kind)][i] if i < len(frames) else None

    def last(self, vmid: int, kind: str) -> VmEvent | None:
        """The last event of ``vmid`` of ``kind``."""
        found = self._events.get((vmid, kind))
        return found[-1] if found else None


# --- the checks ---------------------------------------------------------------------------------
class _Checker:
    def __init__(self, story: Story, parcels: pd.DataFrame, irqs: pd.DataFrame) -> None:
        self.story = story
        self.capture = story.capture
        self.parcels = _records(parcels, story.capture)
        self.irqs = _records(irqs, story.capture)
        self.pidx = _index(self.parcels, "created_frame")
        self.qidx = _index(self.irqs, "lent_frame")
        self.found: list[_Finding] = []
        self.no_reply_creates = [
            e for e in story.events if isinstance(e, Call) and e.name in CREATE_CALLS and not e.answered
        ]
        self._accept_sizes: dict[tuple[int, int, int], int] = defaultdict(int)
        self._at = {e.frame: e for e in story.events}  # times read only for a few frames
        self.vm_events = _VmEvents(story.vm_events)

    def time_at(self, frame: int, default: float) -> float:
        """The time of the event at ``frame`` (``default`` when no event sits there)."""
        event = self._at.get(frame)
        return default if event is None else event.time

    def add(self, code: str, text: str, frames: Iterable[int], time: float, vmid: Any = None,
            name: str | None = None, severity: str | None = None) -> None:  # fmt: skip
        vmid = _na(vmid)
        vmid = None if vmid is None or vmid == UNKNOWN_VMID else int(vmid)
        frames = tuple(sorted({int(f) for f in frames}))
        self.found.append(
            _Finding(code, text, frames, time, vmid, name, self.capture, severity or FINDING_CODES[code][0])
        )

    def run(self) -> list[_Finding]:
        for event in self.story.events:
            if not isinstance(event, Call):
                continue
            if event.name in MEM_HANDLE_CALLS:
                self.mem_call(event)
            elif event.name in CONFIG_CALLS:
                self.config(event)
            elif event.name in ("VM_IRQ_ACCEPT", "VM_IRQ_RELEASE", "VM_IRQ_RECLAIM", "VM_IRQ_NOTIFY"):
                self.irq_call(event)
            elif event.name == "VM_GET_HYP_RESOURCES":
                self.hyp_resources(event)
            elif event.name == "VM_ALLOCATE":
                self.allocate(event)
        self.parcel_rows()
        self.irq_rows()
        self.leaks()
        return self.found

    # --- memory calls ---------------------------------------------------------------------
    def mem_call(self, call: Call) -> None:
        handle = _na(call.fields.get("mem_handle"))
        if handle is None:
            return
        found = self.pidx.at(int(handle), call.frame)
        who = _vm(call.client)
        if found.status == STALE:
            row = found.bound.row
            what = {
                "MEM_RECLAIM": "a second reclaim of the same parcel (a double free in the host's teardown)",
                "MEM_RELEASE": "a release after the owner took the memory back",
                "MEM_ACCEPT": "an accept of memory the owner already took back",
            }.get(call.name, "a use after reclaim")
            self.add(
                "mem_stale_handle",
                f"{call.name} (frame {call.frame}) from {who} names parcel {int(handle):#x}, which was "
                f"already reclaimed at frame {int(row.reclaimed_frame)} {_parcel_origin(row)}: {what}; "
                f"{_answer(call)}",
                (*call.frames, int(row.reclaimed_frame)),
                call.time,
                _na(row.vmid),
                call.name,
            )
            return
        if found.status != LIVE:
            hint = ""
            if self.no_reply_creates and self.no_reply_creates[0].frame < call.frame:
                c = self.no_reply_creates[0]
                hint = f" ({c.name} at frame {c.frame} got no reply: its handle may be this one)"
            self.add(
                "mem_unknown_handle",
                f"{call.name} (frame {call.frame}) from {who} names parcel handle {int(handle):#x}, which no "
                f"{CREATE_NAMES} reply in this capture returned{hint}; {_answer(call)}",
                call.frames,
                call.time,
                call.client,
                call.name,
            )
            return
        if call.name == "MEM_ACCEPT":
            self.accept(call, found.bound.row)

    def accept(self, call: Call, row: Any) -> None:
        acl = _acl_vmids(row)
        f = call.fields
        client = call.client
        if acl and client != UNKNOWN_VMID:
            map_vmid = _na(f.get("map_vmid"))
            mapped = int(f.get("flags") or 0) & ACCEPT_MAP_OTHER and map_vmid in acl
            if client not in acl and not mapped:
                listed = ", ".join(f"{v:#x}" for v in sorted(acl))
                if call.ok:
                    tail = "yet RM answered OK: memory mapped into a VM the owner never granted it to"
                else:
                    tail = f"{_answer(call)}; the guest asked for memory it was never granted"
                self.add(
                    "mem_accept_outside_acl",
                    f"MEM_ACCEPT (frame {call.frame}) by {_vm(client)} of parcel {int(row.handle):#x} "
                    f"{_parcel_origin(row)}, whose ACL lists only VM {listed}: {tail}",
                    (*call.frames, *(() if _na(row.created_frame) is None else (int(row.created_frame),))),
                    call.time,
                    client,
                    call.name,
                    severity="error" if call.ok else "warning",
                )
        if not call.ok:
            return
        reply = call.reply_fields
        req_sgl = f.get("sgl") or ()
        rep_sgl = reply.get("sgl")
        handle = int(row.handle)
        if req_sgl and rep_sgl:
            self.add(
                "mem_accept_reply_mismatch",
                f"MEM_ACCEPT reply (frame {call.reply_frame}) for parcel {handle:#x} carries an SGL of "
                f"{len(rep_sgl)} entr{'y' if len(rep_sgl) == 1 else 'ies'} although the request (frame "
                f"{call.frame}) gave the IPAs itself: RM should send a standard reply then",
                call.frames,
                call.time,
                call.client,
                call.name,
            )
        elif not req_sgl and rep_sgl is None:
            self.add(
                "mem_accept_reply_mismatch",
                f"MEM_ACCEPT (frame {call.frame}) for parcel {handle:#x} left the IPAs to RM "
                f"(n_sgl_entries 0), but the reply (frame {call.reply_frame}) carries no SGL: "
                f"{_vm(call.client)} cannot know where the memory was mapped",
                call.frames,
                call.time,
                call.client,
                call.name,
            )
        elif rep_sgl is not None:
            key = (handle, int(row.instance), call.client)
            self._accept_sizes[key] += sum(int(e.get("size", 0)) for e in rep_sgl)
            if not int(reply.get("flags") or 0) & ACCEPT_INCOMPLETE:
                got = self._accept_sizes.pop(key)
                size = _na(row.size)
                if size is not None and row.complete and got != int(size):
                    self.add(
                        "mem_accept_reply_mismatch",
                        f"MEM_ACCEPT reply (frame {call.reply_frame}) maps {size_text(got)} of parcel "
                        f"{handle:#x} into {_vm(call.client)}, but the parcel is {size_text(int(size))} "
                        f"{_parcel_origin(row)}",
                        call.frames,
                        call.time,
                        call.client,
                        call.name,
                    )

    # --- VM_CONFIG_IMAGE / VM_SET_FIRMWARE_MEM -------------------------------------------
    def config(self, call: Call) -> None:
        f = call.fields
        handle = _na(f.get("mem_handle"))
        vmid = _na(f.get("vmid"))
        if handle is None:
            return
        handle = int(handle)
        head = f"{call.name} (frame {call.frame}) for {_vm(vmid)}"
        found = self.pidx.at(handle, call.frame)
        if found.status != LIVE:
            if found.status == STALE:
                row = found.bound.row
                why = f"which was reclaimed at frame {int(row.reclaimed_frame)} {_parcel_origin(row)}"
                frames: tuple[int, ...] = (*call.frames, int(row.reclaimed_frame))
            else:
                why = f"which no {CREATE_NAMES} reply in this capture returned"
                frames = call.frames
            self.add(
                "config_unknown_handle",
                f"{head} names parcel {handle:#x}, {why}; {_answer(call)}",
                frames,
                call.time,
                vmid,
                call.name,
            )
            return
        row = found.bound.row
        origin = _parcel_origin(row)
        created = () if _na(row.created_frame) is None else (int(row.created_frame),)
        acl = _acl_vmids(row)
        if acl and vmid is not None and int(vmid) not in acl:
            listed = ", ".join(f"{v:#x}" for v in sorted(acl))
            self.add(
                "config_not_lent",
                f"{head} names parcel {handle:#x} {origin}, but that parcel is not lent to "
                f"{_vm(vmid)}: its ACL lists VM {listed}; {_answer(call)}",
                (*call.frames, *created),
                call.time,
                vmid,
                call.name,
            )
        size = _na(row.size)
        if call.name == "VM_SET_FIRMWARE_MEM":
            ranges = [("firmware", "fw_offset", "fw_size", "config_firmware_out_of_range")]
        else:
            ranges = [
                ("image", "image_offset", "image_size", "config_image_out_of_range"),
                ("DTB", "dtb_offset", "dtb_size", "config_dtb_out_of_range"),
            ]
        for what, off_key, size_key, code in ranges:
            off, length = _na(f.get(off_key)), _na(f.get(size_key))
            if off is None or length is None or size is None:
                continue
            off, length, size = int(off), int(length), int(size)
            if length == 0 and off == 0:
                continue  # Linux upstream sends image_offset = image_size = 0 (protocol.md 4.1)
            end = off + length
            if end > U64_LIMIT:
                self.add(
                    "range_wraps",
                    f"{head} puts the {what} at offset {off:#x} + size {length:#x}, ending past 2^64: "
                    "RM's unsigned 64-bit arithmetic would wrap",
                    call.frames,
                    call.time,
                    vmid,
                    call.name,
                )
            if end > size:
                partial = "" if row.complete else " so far (its MEM_APPEND never finished)"
                self.add(
                    code,
                    f"{head} puts the {what} at offset {off:#x} + size {length:#x} (ending at {end:#x}) "
                    f"in parcel {handle:#x}, which is only {size_text(size)} long{partial} {origin}; "
                    f"{_answer(call)}",
                    (*call.frames, *created),
                    call.time,
                    vmid,
                    call.name,
                )
        if call.name == "VM_CONFIG_IMAGE":
            self.dtb_room(call, row, head, handle)

    def dtb_room(self, call: Call, row: Any, head: str, handle: int) -> None:
        """Note a DTB with less than ``DTB_OVERLAY_ROOM`` for RM's overlay (see its docstring)."""
        f = call.fields
        dtb, off, size = _na(f.get("dtb_size")), _na(f.get("dtb_offset")), _na(row.size)
        if dtb is None or int(dtb) == 0 or size is None:
            return  # a parcel whose size is unknown (cut create request) cannot be judged
        carve = int(size) - int(off) if size is not None and off is not None and int(off) < int(size) else 0
        room = max(int(dtb), carve)
        if room >= DTB_OVERLAY_ROOM:
            return
        self.add(
            "config_dtb_small",
            f"{head} gives the DTB {size_text(int(dtb))} at offset {int(off or 0):#x} of parcel "
            f"{handle:#x}, leaving RM {size_text(room)} from the DTB's start for the DTB and the overlay "
            f"RM writes after it; hosts reserve {human(DTB_OVERLAY_ROOM)} there: if VM_INIT fails, look here",
            call.frames,
            call.time,
            _na(f.get("vmid")),
            call.name,
        )

    # --- IRQ calls -----------------------------------------------------------------------
    def irq_call(self, call: Call) -> None:
        handle = _na(call.fields.get("virq_handle"))
        if handle is None:
            return
        handle = int(handle)
        found = self.qidx.at(handle, call.frame)
        who = _vm(call.client)
        if found.status == STALE:
            row = found.bound.row
            self.add(
                "irq_stale_handle",
                f"{call.name} (frame {call.frame}) from {who} names IRQ handle {handle:#x}, which was "
                f"already reclaimed at frame {int(row.reclaimed_frame)} {_irq_origin(row)}; {_answer(call)}",
                (*call.frames, int(row.reclaimed_frame)),
                call.time,
                _na(row.vmid),
                call.name,
            )
            return
        if found.status != LIVE:
            self.add(
                "irq_unknown_handle",
                f"{call.name} (frame {call.frame}) from {who} names IRQ handle {handle:#x}, which no "
                f"VM_IRQ_LEND reply in this capture returned; {_answer(call)}",
                call.frames,
                call.time,
                call.client,
                call.name,
            )
            return
        row = found.bound.row
        if call.name != "VM_IRQ_ACCEPT":
            return
        borrower = _na(row.vmid)
        if borrower is not None and call.client != UNKNOWN_VMID and call.client != int(borrower):
            tail = (
                "yet RM answered OK"
                if call.ok
                else f"{_answer(call)}; the guest tried to take an IRQ lent to another VM"
            )
            self.add(
                "irq_accept_not_borrower",
                f"VM_IRQ_ACCEPT (frame {call.frame}) by {who} of IRQ handle {handle:#x} "
                f"{_irq_origin(row)}, which "
                f"was lent to {_vm(borrower)}: {tail}",
                call.frames,
                call.time,
                call.client,
                call.name,
                severity="error" if call.ok else "warning",
            )
        asked, got = _na(call.fields.get("virq")), _na(call.reply_fields.get("virq"))
        if (
            call.ok
            and asked is not None
            and got is not None
            and int(asked) != VIRQ_ANY
            and int(asked) != int(got)
        ):
            self.add(
                "irq_accept_reply_mismatch",
                f"VM_IRQ_ACCEPT (frame {call.frame}) by {who} asked for IRQ handle {handle:#x} as "
                f"virq {int(asked)}, but RM's reply (frame {call.reply_frame}) says virq {int(got)}",
                call.frames,
                call.time,
                call.client,
                call.name,
            )

    # --- replies that contradict their request --------------------------------------------
    def hyp_resources(self, call: Call) -> None:
        if not call.ok or call.reply is None:
            return
        reply = call.reply_fields
        n = _na(reply.get("n_entries"))
        entries = reply.get("entries") or ()
        bad = call.reply.get("malformed")
        if bad and "continuation" in bad:
            return  # the capture lost part of the reply: RM is not to blame
        if n is None or (len(entries) == int(n) and not bad):
            return
        have = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        detail = f" ({bad})" if bad else ""
        self.add(
            "hyp_resources_size",
            f"VM_GET_HYP_RESOURCES reply (frame {call.reply_frame}) for {_vm(call.fields.get('vmid'))} says "
            f"n_entries={int(n)} but holds {have}{detail}: Linux (gh_rm_get_hyp_resources) rejects "
            f"a reply whose size is not 4 + n_entries x {HYP_RESOURCE_ENTRY} bytes, so the VM gets none "
            "of its resources",
            call.frames,
            call.time,
            call.fields.get("vmid"),
            call.name,
        )

    def allocate(self, call: Call) -> None:
        if not call.ok:
            return
        asked = _na(call.fields.get("vmid"))
        got = _na(call.reply_fields.get("vmid"))
        if asked is None:
            return
        if int(asked) == 0 and got is None:
            text = "asked RM to choose a VMID, but the reply carries none"
        elif int(asked) != 0 and got is not None and int(got) != int(asked):
            text = f"asked for VMID {int(asked):#x}, but the reply names VMID {int(got):#x}"
        else:
            return
        self.add(
            "allocate_reply_mismatch",
            f"VM_ALLOCATE (frame {call.frame}) {text} (frame {call.reply_frame})",
            call.frames,
            call.time,
            got if got is not None else asked,
            call.name,
        )

    # --- whole-row checks -----------------------------------------------------------------
    def range_wraps(self, row: Any) -> None:
        """SGL entries or a total size that pass 2^64 (u64 arithmetic would wrap)."""
        sgl = list(row.sgl or ())
        wraps = [(base, size) for base, size in sgl if int(base) + int(size) > U64_LIMIT]
        total = sum(int(size) for _, size in sgl)
        if not wraps and total <= U64_LIMIT:
            return
        handle = _na(row.handle)
        name = f"parcel {int(handle):#x}" if handle is not None else "a parcel"
        if wraps:
            base, size = wraps[0]
            entries = "1 such entry" if len(wraps) == 1 else f"{len(wraps)} such entries"
            what = (
                f"SGL entry ipa_base {int(base):#x} + size {int(size):#x} ends at "
                f"{int(base) + int(size):#x}, past 2^64 ({entries})"
            )
        else:
            what = f"its SGL sizes add up to {total:#x}, past 2^64"
        frames = (*(() if _na(row.created_frame) is None else (int(row.created_frame),)), *row.append_frames)
        self.add(
            "range_wraps",
            f"{name} {_parcel_origin(row)}: {what}; RM's unsigned 64-bit arithmetic would wrap"
            + ("; the parcel's size is shown as unknown" if total > INT64_MAX else ""),
            frames,
            row.created_time,
            row.vmid,
            _create_call(row),
        )

    def parcel_rows(self) -> None:
        last_by_handle: dict[int, Any] = {}
        for row in sorted(self.parcels, key=lambda r: r.first_frame):
            self.range_wraps(row)
            handle = _na(row.handle)
            if handle is not None:
                prev = last_by_handle.get(int(handle))
                if (
                    prev is not None
                    and _na(prev.reclaimed_frame) is None
                    and row.handle_source == "reply"
                    and prev.trans_type != "DONATE"
                ):
                    self.add(
                        "mem_handle_reused",
                        f"MEM_{row.trans_type} reply (frame {int(row.handle_frame)}) returned handle "
                        f"{int(handle):#x}, but parcel {int(handle):#x} {_parcel_origin(prev)} was never "
                        "reclaimed: RM reused a live handle, or its MEM_RECLAIM is missing from the capture",
                        (
                            int(row.handle_frame),
                            *(() if _na(prev.created_frame) is None else (int(prev.created_frame),)),
                        ),
                        row.created_time,
                        row.vmid,
                        _create_call(row),
                    )
                last_by_handle[int(handle)] = row
            if not row.complete and row.handle_source != "no_reply" and self._append_over(row):
                uses = tuple(row.config_frames)
                used = f"; yet it holds {row.used_by} (frame {uses[0]})" if uses else ""
                n = len(row.append_frames)
                size = _na(row.size)
                self.add(
                    "mem_append_unfinished",
                    f"parcel {int(handle):#x} {_parcel_origin(row)} was created with the APPEND flag, but no "
                    f"MEM_APPEND with END followed ({n} append{'s' if n != 1 else ''} seen, "
                    f"{row.sgl_entries} SGL entries, {_size_or_unknown(size)}): RM keeps it incomplete and "
                    f"unusable{used}",
                    (
                        *(() if _na(row.created_frame) is None else (int(row.created_frame),)),
                        *row.append_frames,
                        *uses,
                    ),
                    row.created_time,
                    row.vmid,
                    _create_call(row),
                )
            for vmid in row.shared_with:
                if vmid in row.accepted_by or vmid == _na(row.owner_vmid):
                    continue
                told = [*row.notify_frames, *row.shared_frames]
                when = self._unaccepted(vmid, told, row.created_time, _na(row.reclaimed_frame))
                if when is None:
                    continue
                handle_text = f"{int(handle):#x}" if handle is not None else "(handle unknown)"
                self.add(
                    "mem_never_accepted",
                    f"parcel {handle_text} {_parcel_origin(row)} was shared with VM {int(vmid):#x} "
                    f"(MEM_NOTIFY SHARED / MEM_SHARED at frame {', '.join(map(str, told)) or '?'}), "
                    f"which {when}",
                    [*told, *self._end_frames(row)] or [int(row.first_frame)],
                    row.created_time,
                    vmid,
                    "MEM_ACCEPT",
                )

    def _append_over(self, row: Any) -> bool:
        """The host is done appending: it used or reclaimed the parcel, or went quiet for a while."""
        if len(row.config_frames) or len(row.notify_frames) or _na(row.reclaimed_frame) is not None:
            return True
        last = max([*row.append_frames, int(row.first_frame)])
        return self.story.end_time - self.time_at(last, math.nan) >= ACCEPT_GRACE

    def _end_frames(self, row: Any) -> list[int]:
        end = _na(row.reclaimed_frame)
        return [] if end is None else [int(end)]

    def _unaccepted(self, vmid: int, told: list[int], since: float, end: int | None) -> str | None:
        """How a borrower failed to accept, or None while it may still do so (capture cut short).

        Reclaimed first, or the borrower reset or deallocated first: never accepted. Still lent
        at the end of the capture: only if the capture went on ``ACCEPT_GRACE`` seconds after the
        last notification (a guest accepts once its RM driver has probed, early in its boot).
        """
        last = max(told, default=0)
        if end is not None:
            return f"never accepted it before the owner reclaimed it at frame {end}"
        ended = self.vm_events.first(vmid, last, after=True)
        if ended is not None:
            how = "reset" if ended.kind == "reset" else "deallocated"
            return f"never accepted it before it was {how} at frame {ended.call.frame}"
        t = self.time_at(last, since)
        waited = self.story.end_time - t
        if not waited >= ACCEPT_GRACE:  # NaN too: a capture without times cannot tell
            return None
        return f"still had not accepted it {waited:.3f} s later, when the capture ended"

    def irq_rows(self) -> None:
        for row in self.irqs:
            if row.handle_source == "no_reply" or _na(row.accepted_by) is not None or _na(row.vmid) is None:
                continue
            handle = int(row.handle)
            told = [*row.notify_frames, *row.lent_frames]
            when = self._unaccepted(int(row.vmid), told, row.lent_time, _na(row.reclaimed_frame))
            if when is None:
                continue
            how = (
                f" (VM_IRQ_LENT at frame {', '.join(map(str, row.lent_frames))})"
                if len(row.lent_frames)
                else (" (never told: no VM_IRQ_NOTIFY LENT)" if not len(row.notify_frames) else "")
            )
            self.add(
                "irq_never_accepted",
                f"IRQ handle {handle:#x} {_irq_origin(row)} was lent to {_vm(_na(row.vmid))}{how}, "
                f"which {when}",
                [int(row.first_frame), *told, *self._end_frames(row)],
                row.lent_time,
                _na(row.vmid),
                "VM_IRQ_LEND",
            )

    def leaks(self) -> None:
        events = self.vm_events

        def start(row: Any, created: str) -> int:
            first = _na(getattr(row, created))
            return int(first) if first is not None else int(row.first_frame)

        for kind, table, created, borrowers in (
            ("parcel", self.parcels, "created_frame", lambda r: tuple(r.borrowers)),
            ("irq", self.irqs, "lent_frame", lambda r: () if _na(r.vmid) is None else (int(r.vmid),)),
        ):
            for row in table:
                if kind == "parcel" and row.trans_type == "DONATE":
                    continue  # donated memory belongs to the recipient
                begin = start(row, created)
                end = _na(row.reclaimed_frame)
                for vmid in borrowers(row):
                    gone = events.first(vmid, begin, "deallocate")
                    if gone is not None:
                        if end is None or end > gone.call.frame:
                            self._leak(kind, row, vmid, gone, end, created)
                        continue
                    reset = events.last(vmid, "reset")
                    if reset is not None and reset.call.frame >= begin and end is None:
                        used_after = kind == "parcel" and any(f > reset.call.frame for f in row.config_frames)
                        if not used_after:
                            self._not_reclaimed_after_reset(kind, row, vmid, reset, created)

    def _what(self, kind: str, row: Any) -> tuple[str, str | None]:
        if kind == "parcel":
            handle = _na(row.handle)
            label = f"parcel {int(handle):#x}" if handle is not None else "a parcel whose create got no reply"
            size = _na(row.size)
            extra = f", {size_text(int(size))}" if size is not None else ""
            return f"{label} {_parcel_origin(row)[:-1]}{extra})", _create_call(row)
        handle = _na(row.handle)
        label = (
            f"IRQ handle {int(handle):#x}" if handle is not None else "an IRQ whose VM_IRQ_LEND got no reply"
        )
        return f"{label} {_irq_origin(row)}", "VM_IRQ_LEND"

    def _leak(self, kind: str, row: Any, vmid: int, gone: VmEvent, end: int | None, created: str) -> None:
        what, name = self._what(kind, row)
        if end is None:
            tail = ", and it never was: the owner leaked it"
        else:
            tail = f"; the owner reclaimed it only at frame {end}, after the VM was gone"
        first = _na(getattr(row, created))
        self.add(
            "mem_leak" if kind == "parcel" else "irq_leak",
            f"VM {vmid:#x} was deallocated at frame {gone.call.frame} while {what} lent to it was still not "
            f"reclaimed{tail}",
            (*gone.call.frames, *(() if first is None else (int(first),))),
            gone.call.time,
            vmid,
            name,
            severity="error" if end is None else "warning",
        )

    def _not_reclaimed_after_reset(
        self, kind: str, row: Any, vmid: int, reset: VmEvent, created: str
    ) -> None:
        what, name = self._what(kind, row)
        first = _na(getattr(row, created))
        self.add(
            "mem_not_reclaimed_after_reset" if kind == "parcel" else "irq_not_reclaimed_after_reset",
            f"VM {vmid:#x} was reset at frame {reset.call.frame}, and {what} lent to it was still "
            "not reclaimed when the capture ended: a leak unless the teardown goes on after the capture",
            (*reset.call.frames, *(() if first is None else (int(first),))),
            reset.call.time,
            vmid,
            name,
        )


def ledger_findings(
    messages: Iterable[Mapping[str, Any]],
    memparcels: pd.DataFrame | None = None,
    irqs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Findings (schema ``FINDINGS`` of ``dissector.analysis.schema``) that need the ledgers.

    ``messages`` as for ``df_memparcels``; pass ``memparcels``/``irqs`` when already built from
    the same messages (they are read, never modified). Most severe first, then by time.
    """
    found_stories = stories(messages)
    if memparcels is None:
        memparcels = _parcels_frame(
            [p for s in found_stories for p in _replay_parcels(s)], [s.capture for s in found_stories]
        )
    if irqs is None:
        irqs = _irqs_frame(
            [q for s in found_stories for q in _replay_irqs(s)], [s.capture for s in found_stories]
        )
    found = [f for s in found_stories for f in _Checker(s, memparcels, irqs).run()]
    return findings_frame(found, [s.capture for s in found_stories])


def merge_findings(frames: Sequence[pd.DataFrame], captures: Sequence[str] | None = None) -> pd.DataFrame:
    """Several ``FINDINGS`` tables as one (the analysis findings and these): categoricals unified,
    then by capture (in ``captures`` order if given), most severe first, then in time order, as
    ``Trace.findings`` sorts them."""
    frame = concat(list(frames), FINDINGS)
    if captures is not None:
        frame = frame.assign(capture=frame["capture"].cat.set_categories(list(captures)))
    if frame.empty:
        return frame
    return _sorted(frame)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    rank = frame["severity"].cat.codes.to_numpy()
    order = np.lexsort((frame["time"].fillna(np.inf).to_numpy(), rank, frame["capture"].cat.codes.to_numpy()))
    return frame.take(order).reset_index(drop=True)


def findings_frame(found: list[_Finding], captures: list[str]) -> pd.DataFrame:
    """The findings as a ``FINDINGS`` table: by capture, most severe first, then in time order."""
    if not found:
        frame = FINDINGS.empty()
        frame["capture"] = pd.Categorical([], categories=captures)
        return frame
    data: dict[str, Any] = {
        "capture": pd.Categorical([f.capture for f in found], categories=captures),
        "severity": [f.severity for f in found],
        "category": [FINDING_CODES[f.code][1] for f in found],
        "code": [f.code for f in found],
        "vmid": [f.vmid for f in found],
        "name": [f.name for f in found],
        "time": np.array([np.nan if f.time is None else f.time for f in found], np.float64),
        "frames": [f.frames for f in found],
        "count": np.ones(len(found), np.int64),
        "text": [f.text for f in found],
    }
    for column in FINDINGS.names:  # a column the analysis adds later stays empty here
        data.setdefault(column, [None] * len(found))
    return _sorted(FINDINGS.frame(data))


assert SEVERITIES[0] == "error"
