"""RM sessions built in the tests as real capture records, and a clean VM life with knobs.

``Session`` encodes every payload with the protocol codecs from plain dicts, splits messages
into msgq records with ``fragment()`` and numbers frames as a capture would; ``messages()``
decodes those records with ``decode_records`` into the jsonl dicts the ledgers read, so the
tests go through the real bytes. ``vm_life(**knobs)`` is one complete, clean VM life (allocate,
lend memory, configure, lend an IRQ, share a buffer, run, tear down); each knob breaks one
thing, so each finding has a trace that raises it and a clean trace that does not.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dissector.capture.record import Direction, Record
from dissector.capture.writer import write_capture
from dissector.decoded import DecodedMessage, decode_records
from dissector.layers import fragment
from dissector.protocol import registry
from dissector.protocol.codec import codec_for

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
HOST = 0x3
MiB = 1 << 20
OK = 0
ERR = {
    name: registry.resolve_error(name)
    for name in ("HANDLE_INVALID", "ARGUMENT_INVALID", "DENIED", "IRQ_INVALID")
}


@dataclass(frozen=True)
class Sent:
    """Frames of one call: its request and (if any) its reply."""

    request: int
    reply: int | None


class Session:
    """An RM capture being written: requests, replies and notifications on per-client queues."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._seq: dict[int, int] = defaultdict(int)
        self._notif_seq = 0
        self._t = T0

    def _emit(self, direction: Direction, client: int, message: bytes) -> int:
        first = len(self.records) + 1
        for piece in fragment(message):
            self._t += 50_000  # 50 us between records
            self.records.append(Record(len(self.records) + 1, self._t, direction, client, piece))
        return first

    def call(
        self,
        client: int,
        name: str,
        fields: dict[str, Any] | None = None,
        reply: dict[str, Any] | None = None,
        *,
        err: int = OK,
        answered: bool = True,
        reply_payload: bytes | None = None,
    ) -> Sent:
        """A request from ``client`` and RM's reply (error code, then ``reply`` encoded or raw)."""
        msg_id = registry.resolve_message(name).msg_id
        seq = self._seq[client]
        self._seq[client] = (seq + 1) & 0xFFFF
        body = codec_for(msg_id, "request").encode(fields or {})
        req = self._emit(Direction.TO_RM, client, struct.pack("<BBHI", 0x21, 1, seq, msg_id) + body)
        if not answered:
            return Sent(req, None)
        data = b""
        if reply_payload is not None:
            data = reply_payload
        elif reply is not None:
            data = codec_for(msg_id, "reply").encode(reply)
        rep = self._emit(Direction.FROM_RM, client, struct.pack("<BBHII", 0x21, 2, seq, msg_id, err) + data)
        return Sent(req, rep)

    def wait(self, seconds: float) -> None:
        """Let time pass before the next record."""
        self._t += int(seconds * 1e9)

    def notify(self, client: int, name: str, fields: dict[str, Any]) -> int:
        """A notification RM sends to ``client``."""
        msg_id = registry.resolve_message(name).msg_id
        self._notif_seq += 1
        body = codec_for(msg_id, "notification").encode(fields)
        return self._emit(
            Direction.FROM_RM, client, struct.pack("<BBHI", 0x21, 3, self._notif_seq, msg_id) + body
        )

    def decoded(self) -> list[DecodedMessage]:
        return [m for m in decode_records(self.records) if isinstance(m, DecodedMessage)]

    def messages(self) -> list[dict[str, Any]]:
        """Every message as ``ghrm decode --format jsonl`` gives it."""
        return [m.to_json() for m in self.decoded()]

    def write(self, path: Path) -> Path:
        write_capture(path, self.records)
        return path


# --- a clean VM life, with knobs that break one thing each ---------------------------------------
def acl(*entries: tuple[int, int]) -> list[dict[str, int]]:
    return [{"vmid": v, "perms": p} for v, p in entries]


def sgl(*entries: tuple[int, int]) -> list[dict[str, int]]:
    return [{"ipa_base": b, "size": s} for b, s in entries]


@dataclass
class Life:
    """Frames of the interesting calls of ``vm_life``, for assertions."""

    session: Session
    vmid: int
    frames: dict[str, Sent]

    def messages(self) -> list[dict[str, Any]]:
        return self.session.messages()


def vm_life(
    s: Session | None = None,
    *,
    vmid: int = 0x80,
    dtb_handle: int = 0x10,
    fw_handle: int = 0x11,
    buf_handle: int = 0x12,
    irq_handle: int = 0x20,
    dtb_parcel_size: int = 4 * MiB,
    append: bool = True,
    append_end: bool = True,
    config_handle: int | None = None,
    dtb_offset: int = 2 * MiB,
    dtb_size: int = 2 * MiB,
    image_offset: int = 0,
    image_size: int = 0,
    fw_size: int = 1 * MiB,
    fw_config_size: int | None = None,
    dtb_acl_vmid: int | None = None,
    accept_vmid: int | None = None,
    accept_ok: bool = True,
    guest_accepts_buffer: bool = True,
    accept_reply_size: int | None = None,
    irq_accepted: bool = True,
    irq_accept_vmid: int | None = None,
    irq_accept_virq: int = 0xFFFFFFFF,
    irq_reply_virq: int = 40,
    hyp_resources: tuple[int, int] = (2, 2),
    reclaim_dtb: bool = True,
    reclaim_fw: bool = True,
    reclaim_irq: bool = True,
    double_reclaim: bool = False,
    release_after_reclaim: bool = False,
    reclaim_unknown: bool = False,
    irq_double_reclaim: bool = False,
    irq_reclaim_unknown: bool = False,
    deallocate: bool = True,
    lend_handle_reply: bool = True,
    reuse_dtb_handle: bool = False,
    alloc_reply_vmid: int | None = None,
) -> Life:
    """One VM from VM_ALLOCATE to VM_DEALLOCATE, as protocol.md 8 lists the calls (ACK host with
    firmware, an IRQ lent to the guest, a buffer the host shares and the guest accepts)."""
    s = s or Session()
    f: dict[str, Sent] = {}
    f["alloc"] = s.call(HOST, "VM_ALLOCATE", {"vmid": 0}, {"vmid": alloc_reply_vmid or vmid})

    # the DTB/image parcel: lent to the VM, its SGL in two halves (MEM_APPEND)
    half = dtb_parcel_size // 2
    dtb_acl = acl((dtb_acl_vmid or vmid, 0x7))
    first = sgl((0x8000_0000, half)) if append else sgl((0x8000_0000, dtb_parcel_size))
    f["lend_dtb"] = s.call(
        HOST,
        "MEM_LEND",
        {"mem_type": 0, "flags": 0x2 if append else 0, "label": 1, "acl": dtb_acl, "sgl": first},
        {"mem_handle": dtb_handle},
        answered=lend_handle_reply,
    )
    if append:
        f["append_dtb"] = s.call(
            HOST,
            "MEM_APPEND",
            {
                "mem_handle": dtb_handle,
                "flags": 0x1 if append_end else 0,
                "sgl": sgl((0x8000_0000 + half, half)),
            },
        )
    # the firmware parcel
    f["lend_fw"] = s.call(
        HOST,
        "MEM_LEND",
        {"mem_type": 0, "flags": 0, "label": 2, "acl": acl((vmid, 0x7)), "sgl": sgl((0x9000_0000, fw_size))},
        {"mem_handle": fw_handle},
    )
    f["config"] = s.call(
        HOST,
        "VM_CONFIG_IMAGE",
        {
            "vmid": vmid,
            "auth_mech": 0,
            "mem_handle": dtb_handle if config_handle is None else config_handle,
            "image_offset": image_offset,
            "image_size": image_size,
            "dtb_offset": dtb_offset,
            "dtb_size": dtb_size,
        },
        err=OK if config_handle is None else ERR["HANDLE_INVALID"],
    )
    s.notify(HOST, "VM_STATUS", {"vmid": vmid, "vm_status": 2, "os_status": 0, "app_status": 0})
    f["fw"] = s.call(
        HOST,
        "VM_SET_FIRMWARE_MEM",
        {"vmid": vmid, "mem_handle": fw_handle, "fw_offset": 0, "fw_size": fw_config_size or fw_size},
    )
    f["init"] = s.call(HOST, "VM_INIT", {"vmid": vmid})
    n_entries, carried = hyp_resources
    entry = struct.pack("<BBHIIQIIQQ", 4, 0, HOST, 0x100, 0, 0x1000, 0, 0, 0, 0)
    f["hyp"] = s.call(
        HOST,
        "VM_GET_HYP_RESOURCES",
        {"vmid": vmid},
        reply_payload=struct.pack("<I", n_entries) + entry * carried,
    )

    # an IRQ lent to the guest
    f["irq_lend"] = s.call(
        HOST, "VM_IRQ_LEND", {"borrower_vmid": vmid, "virq": 72, "label": 5}, {"virq_handle": irq_handle}
    )
    f["irq_notify"] = s.call(
        HOST, "VM_IRQ_NOTIFY", {"virq_handle": irq_handle, "flags": 0x1, "vmids": [{"vmid": vmid}]}
    )
    s.notify(vmid, "VM_IRQ_LENT", {"owner_vmid": HOST, "virq_handle": irq_handle, "virq_label": 5})

    f["start"] = s.call(HOST, "VM_START", {"vmid": vmid})
    s.notify(HOST, "VM_STATUS", {"vmid": vmid, "vm_status": 3, "os_status": 0, "app_status": 0})

    if irq_accepted:
        accepter = irq_accept_vmid or vmid
        f["irq_accept"] = s.call(
            accepter,
            "VM_IRQ_ACCEPT",
            {"virq_handle": irq_handle, "virq": irq_accept_virq},
            {"virq": irq_reply_virq},
            err=OK if accepter == vmid else ERR["IRQ_INVALID"],
        )
        s.call(accepter, "VM_IRQ_NOTIFY", {"virq_handle": irq_handle, "flags": 0x4})
        s.notify(HOST, "VM_IRQ_ACCEPTED", {"virq_handle": irq_handle})

    # a buffer the host shares with the guest; the guest accepts it (RM picks the IPA)
    f["share"] = s.call(
        HOST,
        "MEM_SHARE",
        {
            "mem_type": 0,
            "flags": 0,
            "label": 3,
            "acl": acl((HOST, 0x6), (vmid, 0x6)),
            "sgl": sgl((0xA000_0000, MiB)),
        },
        {"mem_handle": buf_handle},
    )
    f["notify"] = s.call(
        HOST,
        "MEM_NOTIFY",
        {"mem_handle": buf_handle, "flags": 0x1, "mem_info_tag": 9, "vmids": [{"vmid": vmid}]},
    )
    s.notify(
        vmid,
        "MEM_SHARED",
        {
            "mem_handle": buf_handle, "mem_type": 0, "trans_type": 2, "flags": 0, "owner_vmid": HOST,
            "label": 3, "mem_info_tag": 9, "acl": acl((HOST, 0x6), (vmid, 0x6)), "sgl": [{"size": MiB}],
            "attrs": [],
        },
    )  # fmt: skip
    if guest_accepts_buffer:
        accepter = accept_vmid or vmid
        f["accept"] = s.call(
            accepter,
            "MEM_ACCEPT",
            {"mem_handle": buf_handle, "mem_type": 0, "trans_type": 2, "flags": 0x80, "label": 3,
             "acl": acl((HOST, 0x6), (vmid, 0x6)), "map_vmid": 0, "sgl": []},
            {"sgl": sgl((0x4000_0000, accept_reply_size or MiB)), "flags": 0},
            err=OK if accept_ok else ERR["DENIED"],
        )  # fmt: skip
        if accept_ok:
            s.notify(HOST, "MEM_ACCEPTED", {"mem_handle": buf_handle, "vmid": accepter, "mem_info_tag": 9})
        f["release"] = (
            s.call(vmid, "MEM_RELEASE", {"mem_handle": buf_handle, "flags": 0}) if accept_ok else None
        )
        if accept_ok:
            s.notify(HOST, "MEM_RELEASED", {"mem_handle": buf_handle, "vmid": vmid, "mem_info_tag": 9})
    f["reclaim_buf"] = s.call(HOST, "MEM_RECLAIM", {"mem_handle": buf_handle, "flags": 0})
    if release_after_reclaim:
        f["late_release"] = s.call(
            vmid, "MEM_RELEASE", {"mem_handle": buf_handle, "flags": 0}, err=ERR["HANDLE_INVALID"]
        )

    # teardown (GY-B order): stop, reclaim, reset, reclaim firmware, deallocate
    s.call(HOST, "VM_STOP", {"vmid": vmid, "flags": 1, "stop_reason": 3})
    if reclaim_irq:
        f["irq_reclaim"] = s.call(HOST, "VM_IRQ_RECLAIM", {"virq_handle": irq_handle})
    if irq_double_reclaim:
        f["irq_reclaim2"] = s.call(
            HOST, "VM_IRQ_RECLAIM", {"virq_handle": irq_handle}, err=ERR["IRQ_INVALID"]
        )
    if irq_reclaim_unknown:
        f["irq_reclaim_unknown"] = s.call(
            HOST, "VM_IRQ_RECLAIM", {"virq_handle": 0x77}, err=ERR["IRQ_INVALID"]
        )
    if reclaim_dtb:
        f["reclaim_dtb"] = s.call(HOST, "MEM_RECLAIM", {"mem_handle": dtb_handle, "flags": 0})
    if double_reclaim:
        f["reclaim_dtb2"] = s.call(
            HOST, "MEM_RECLAIM", {"mem_handle": dtb_handle, "flags": 0}, err=ERR["HANDLE_INVALID"]
        )
    if reclaim_unknown:
        f["reclaim_unknown"] = s.call(
            HOST, "MEM_RECLAIM", {"mem_handle": 0x99, "flags": 0}, err=ERR["HANDLE_INVALID"]
        )
    f["reset"] = s.call(HOST, "VM_RESET", {"vmid": vmid})
    s.notify(HOST, "VM_STATUS", {"vmid": vmid, "vm_status": 11, "os_status": 0, "app_status": 0})
    if reclaim_fw:
        f["reclaim_fw"] = s.call(HOST, "MEM_RECLAIM", {"mem_handle": fw_handle, "flags": 0})
    if deallocate:
        f["dealloc"] = s.call(HOST, "VM_DEALLOCATE", {"vmid": vmid})
    if reuse_dtb_handle:
        f["relend"] = s.call(
            HOST,
            "MEM_LEND",
            {"mem_type": 0, "flags": 0, "label": 1, "acl": acl((0x81, 0x7)), "sgl": sgl((0xB000_0000, MiB))},
            {"mem_handle": dtb_handle},
        )
    return Life(s, vmid, f)
