"""Hand-built RM conversations for the analysis tests: Scapy layers make the bytes.

``Conversation`` numbers records and advances a clock, so a test reads like the exchange it
models: ``c.call("VM_START", vmid=0x80)`` sends a request and (unless told otherwise) its
reply; every call returns the frames it used.
"""

from __future__ import annotations

from typing import Any

from dissector.capture.record import Direction, Record
from dissector.layers import NOTIFICATIONS, REPLIES, REQUESTS, RMHeader, RMReply, fragment
from dissector.layers.build import entry_class
from dissector.protocol.layouts import LAYOUTS
from dissector.protocol.registry import resolve_message

HLOS = 3
T0 = 1_700_000_000_000_000_000  # ns


def msg_id(name: str) -> int:
    return resolve_message(name).msg_id


def request(name: str, seq: int, **fields: Any) -> bytes:
    mid = msg_id(name)
    cls = REQUESTS.get(mid)
    header = RMHeader(msg_type=1, seq=seq, msg_id=mid)
    return bytes(header / cls(**fields)) if cls is not None and fields else bytes(header)


def reply(name: str, seq: int, err: int = 0, **fields: Any) -> bytes:
    mid = msg_id(name)
    cls = REPLIES.get(mid)
    pkt = RMHeader(msg_type=2, seq=seq, msg_id=mid) / RMReply(err_code=err)
    if err == 0 and cls is not None and fields:
        pkt = pkt / cls(**fields)
    return bytes(pkt)


def notification(name: str, seq: int, **fields: Any) -> bytes:
    mid = msg_id(name)
    cls = NOTIFICATIONS[mid]
    if name == "VM_EXITED" and "exit_reason" in fields and isinstance(fields["exit_reason"], dict):
        reason = LAYOUTS["VM_EXITED"].notification.field("exit_reason").struct  # type: ignore[union-attr]
        fields["exit_reason"] = entry_class(reason)(**fields["exit_reason"])
    return bytes(RMHeader(msg_type=3, seq=seq, msg_id=mid) / cls(**fields))


class Conversation:
    """Records of one capture, built in order."""

    def __init__(self, client: int = HLOS, step_ns: int = 1_000_000) -> None:
        self.records: list[Record] = []
        self.client = client
        self.step = step_ns
        self.now = T0
        self.seq = 0
        self.notif_seq = 100

    def add(
        self, data: bytes, direction: Direction, client: int | None = None, after_ns: int | None = None
    ) -> list[int]:
        """Append one message (fragmented when long); return its frame numbers."""
        frames = []
        for piece in fragment(data) if len(data) > 240 else [data]:
            self.now += self.step if after_ns is None else after_ns
            number = len(self.records) + 1
            self.records.append(
                Record(number, self.now, direction, self.client if client is None else client, piece)
            )
            frames.append(number)
            after_ns = None
        return frames

    def raw(self, data: bytes, direction: Direction = Direction.TO_RM, client: int | None = None) -> int:
        """Append one record exactly as given (garbage, a lone fragment ...)."""
        self.now += self.step
        number = len(self.records) + 1
        self.records.append(
            Record(number, self.now, direction, self.client if client is None else client, data)
        )
        return number

    def send(
        self, name: str, seq: int | None = None, client: int | None = None, **fields: Any
    ) -> tuple[int, int]:
        """A request; returns (frame, seq)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        (frame,) = self.add(request(name, seq, **fields), Direction.TO_RM, client)[:1]
        return frame, seq

    def answer(
        self,
        name: str,
        seq: int,
        err: int = 0,
        client: int | None = None,
        latency_ns: int | None = None,
        **fields: Any,
    ) -> int:
        return self.add(reply(name, seq, err, **fields), Direction.FROM_RM, client, latency_ns)[0]

    def call(
        self,
        name: str,
        err: int = 0,
        reply_fields: dict[str, Any] | None = None,
        latency_ns: int | None = None,
        client: int | None = None,
        **fields: Any,
    ) -> tuple[int, int]:
        """Request and reply; returns (request frame, reply frame)."""
        req, seq = self.send(name, client=client, **fields)
        rep = self.answer(name, seq, err, client=client, latency_ns=latency_ns, **(reply_fields or {}))
        return req, rep

    def notify(self, name: str, client: int | None = None, **fields: Any) -> int:
        self.notif_seq += 1
        return self.add(notification(name, self.notif_seq, **fields), Direction.FROM_RM, client)[0]

    def status(self, vmid: int, state: int, os_status: int = 0) -> int:
        return self.notify("VM_STATUS", vmid=vmid, vm_status=state, os_status=os_status)

    def boot(self, vmid: int = 0x80, notify: bool = True) -> dict[str, int]:
        """VM_ALLOCATE .. VM_START as a v11 host does it, with RM's VM_STATUS notifications."""
        f: dict[str, int] = {}
        f["alloc_req"], f["alloc_rep"] = self.call("VM_ALLOCATE", vmid=0, reply_fields={"vmid": vmid})
        if notify:
            f["load"] = self.status(vmid, 5)
        f["config_req"], f["config_rep"] = self.call("VM_CONFIG_IMAGE", vmid=vmid, mem_handle=1)
        if notify:
            f["init"] = self.status(vmid, 1)
        f["init_req"], f["init_rep"] = self.call("VM_INIT", vmid=vmid)
        if notify:
            f["ready"] = self.status(vmid, 2)
        f["start_req"], f["start_rep"] = self.call("VM_START", vmid=vmid)
        if notify:
            f["running"] = self.status(vmid, 3)
        return f

    def teardown(self, vmid: int = 0x80, notify: bool = True) -> dict[str, int]:
        f: dict[str, int] = {}
        f["stop_req"], f["stop_rep"] = self.call("VM_STOP", vmid=vmid, flags=1, stop_reason=3)
        if notify:
            f["exited"] = self.status(vmid, 9)
            f["exited_notif"] = self.notify(
                "VM_EXITED", vmid=vmid, exit_type=7, exit_reason={"exit_flags": 0, "exit_code": 0}
            )
        f["reset_req"], f["reset_rep"] = self.call("VM_RESET", vmid=vmid)
        if notify:
            f["resetting"] = self.status(vmid, 10)
            f["reset"] = self.status(vmid, 11)
        f["dealloc_req"], f["dealloc_rep"] = self.call("VM_DEALLOCATE", vmid=vmid)
        return f
