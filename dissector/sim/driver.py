"""The client side of one queue pair: the Linux RM driver as protocol.md 1.6 describes it.

Why model the driver: the seq numbers, the pairing of replies, and how many requests are in
flight at once are what a trace analyzer reasons about. Sequence numbers are allocated like
``xa_alloc_cyclic(..., xa_limit_16b, &next_seq)``: cyclic over 0..65535, starting at 0, skipping
values still outstanding. A v11/ACK driver lets several calls be outstanding; a v17/GY-B driver
holds its send lock until the reply, so one call at a time (``serialize``). A reply is matched
by seq and accepted only if its msg_id matches; anything else is ignored, as Linux does.
The VMM gives up on a call after ``call_timeout_ns`` [sim choice: Linux waits forever].
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from dissector.protocol import registry
from dissector.protocol.codec import codec_for
from dissector.protocol.wire import Direction, MsgType

from .engine import Command, Process
from .truth import CallRecord, FaultRecord, MsgRef
from .world import World

NotificationHandler = Callable[[str, dict[str, Any], MsgRef], None]


class Call(Command):
    """One RPC call, yielded by a process; it resumes the process with itself when done."""

    __slots__ = (
        "arrived",
        "driver",
        "entries",
        "err",
        "msg_id",
        "name",
        "plan",
        "proc",
        "rec",
        "reply",
        "seq",
        "timed_out",
        "values",
        "vmid",
    )

    def __init__(
        self, driver: Driver, name: str, msg_id: int, values: dict[str, Any], vmid: int | None
    ) -> None:
        self.driver = driver
        self.name = name
        self.msg_id = msg_id
        self.values = values
        self.vmid = vmid
        self.entries = 0  # SGL entries, for the RM's service time
        self.plan: Any = None  # the VM instance plan (VM_ALLOCATE only)
        self.proc: Process | None = None
        self.rec: CallRecord | None = None
        self.seq = -1
        self.err: int | None = None
        self.reply: dict[str, Any] = {}
        self.timed_out = False
        self.arrived = 0

    @property
    def ok(self) -> bool:
        return self.err == 0 and not self.timed_out

    @property
    def client(self) -> int:
        return self.driver.vmid

    def start(self, proc: Process) -> None:
        self.proc = proc
        driver = self.driver
        if driver.serialize and driver._busy:
            driver._waiting.append(self)  # v17: wait for the send lock
        else:
            driver._send(self)


class Driver:
    """RM driver of one client VM (the host VMM at VMID 3, or a guest kernel)."""

    def __init__(self, sim: World, vmid: int, serialize: bool) -> None:
        self.sim = sim
        self.vmid = vmid
        self.serialize = serialize
        self.next_seq = 0
        self.pending: dict[int, Call] = {}
        self._busy = False
        self._waiting: deque[Call] = deque()
        self._last: CallRecord | None = None
        self._last_index = -1
        self._reuse = sim.dice.active("reused_seq")
        self.on_notification: NotificationHandler | None = None
        self.wants: frozenset[str] = frozenset()  # notification names the handler acts on
        self.closed = False
        # calls in send order with their deadlines; one watchdog event covers them all
        self._deadlines: deque[tuple[int, Call]] = deque()
        self._watchdog_at: int | None = None

    def call(self, name: str, values: dict[str, Any] | None = None, *, vmid: int | None = None) -> Call:
        """A call to yield: ``reply = yield driver.call("VM_START", {"vmid": 0x80}, vmid=0x80)``."""
        msg_id = self.sim.msg_ids[name]
        return Call(self, name, msg_id, values or {}, vmid)

    def _send(self, call: Call) -> None:
        sim = self.sim
        if self.serialize:
            self._busy = True
        seq = self.next_seq
        pending = self.pending
        while seq in pending:
            seq = (seq + 1) & 0xFFFF
        reused: CallRecord | None = None
        if self._last is not None and self._reuse and sim.dice.roll("reused_seq"):
            reused = self._last
            seq = reused.seq
        else:
            self.next_seq = (seq + 1) & 0xFFFF
        call.seq = seq
        rec = CallRecord(self.vmid, call.msg_id, sim.names[call.msg_id], call.vmid)
        rec.seq = seq
        call.rec = rec
        codec = sim.request_codecs.get(call.msg_id)
        if codec is None:
            codec = sim.request_codecs[call.msg_id] = codec_for(call.msg_id, "request")
        payload = codec.encode(call.values)
        ref, done = sim.wire.send(self.vmid, Direction.TO_RM, MsgType.REQUEST, seq, call.msg_id, payload)
        rec.request = ref
        sim.truth.calls.append(rec)
        if reused is not None:
            rec.fault = "reused_seq"
            rec.reused_seq_of = self._last_index
            outstanding = any(c.rec is reused for c in pending.values())
            sim.truth.faults.append(
                FaultRecord(
                    "reused_seq",
                    ref.time_ns,
                    self.vmid,
                    refs=[ref],
                    detail={
                        "seq": seq,
                        "call": rec.name,
                        "previous_call": reused.name,
                        "previous_call_index": self._last_index,
                        "previous_outstanding": outstanding,
                    },
                )
            )
        self._last = rec
        self._last_index = len(sim.truth.calls) - 1
        pending[seq] = call
        engine = sim.engine
        engine.at(done + sim.timing.rx_ns, sim.rm.receive, call)
        deadline = done + sim.timing.call_timeout_ns
        self._deadlines.append((deadline, call))
        if self._watchdog_at is None:
            self._watchdog_at = deadline
            engine.at(deadline, self._watchdog, None)

    def deliver_reply(self, reply: tuple[int, int, int, dict[str, Any]]) -> None:
        """A reply reached this driver: (seq, msg_id, err, values)."""
        seq, msg_id, err, values = reply
        call = self.pending.get(seq)
        if call is None or call.msg_id != msg_id or call.err is not None or call.timed_out:
            return  # a duplicate, late or foreign reply: Linux ignores it
        del self.pending[seq]
        call.err = err
        call.reply = values
        self._finish(call)

    def _watchdog(self, _: object) -> None:
        """Time out every call past its deadline; sleep until the next deadline."""
        now = self.sim.engine.now
        queue = self._deadlines
        while queue and (queue[0][1].err is not None or queue[0][1].timed_out or queue[0][0] <= now):
            _deadline, call = queue.popleft()
            if call.err is None and not call.timed_out:
                self._timeout(call)
        self._watchdog_at = None
        if queue:
            self._watchdog_at = queue[0][0]
            self.sim.engine.at(queue[0][0], self._watchdog, None)

    def _timeout(self, call: Call) -> None:
        if self.pending.get(call.seq) is call:
            del self.pending[call.seq]
        call.timed_out = True
        if call.rec is not None:
            call.rec.timed_out = True
        self._finish(call)

    def _finish(self, call: Call) -> None:
        if self.serialize:
            self._busy = False
            if self._waiting:
                self._send(self._waiting.popleft())
        if call.proc is not None and not self.closed:
            call.proc.resume(call)

    def deliver_notification(self, item: tuple[str, dict[str, Any], MsgRef]) -> None:
        if self.closed or self.on_notification is None:
            return
        name, values, ref = item
        self.on_notification(name, values, ref)


def message_ids(dialect: str, boot_context_id: int) -> dict[str, int]:
    """Call name -> id as the simulated clients send them (SET_BOOT_CONTEXT per dialect)."""
    ids = {m.name: m.msg_id for m in registry.messages()}
    ids["VM_SET_BOOT_CONTEXT"] = boot_context_id
    return ids
