"""Message queues and the capture point: RM messages become timed, ordered capture records.

Why a heap of records: a multi-fragment message occupies its queue for a few microseconds,
during which other queues carry other messages; records are produced when a message is sent
(with future timestamps for its later fragments) and written in time order once the clock has
passed them. Frame numbers are handed out as records are written, so every ``MsgRef`` learns
its frames only then.

Each direction of each queue pair carries one message at a time (RM never interleaves
fragments on a queue, protocol.md 1.5), so a message starts when the previous one on the
same queue has left. The record-level faults live here: a continuation missing from the
capture, and garbage records.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from heapq import heappop, heappush

from dissector.protocol.wire import MAX_PAYLOAD_PER_MSG, RPC_API_BYTE, RPC_HEADER, fragment

from .config import Timing
from .engine import Engine
from .faults import Dice
from .truth import FaultRecord, MsgRef, Truth

# sink(number, time_ns, direction, client_vmid, data)
Sink = Callable[[int, int, int, int, bytes], None]

_HEADER = RPC_HEADER.pack  # the one-message fast path: no fragment count to compute
_BAD_API_BYTES = (0x00, 0x01, 0x11, 0x12, 0x20, 0x22, 0x31, 0x41, 0xFF)


class Wire:
    """All queue pairs of a run, the capture's record heap and its frame counter."""

    def __init__(
        self,
        engine: Engine,
        timing: Timing,
        dice: Dice,
        rng: random.Random,
        truth: Truth,
        sink: Sink,
        max_records: int | None = None,
    ) -> None:
        self.engine = engine
        self.timing = timing
        self.dice = dice
        self.rng = rng
        self.truth = truth
        self.sink = sink
        self.max_records = max_records
        self._busy: dict[int, int] = {}  # queue key -> time the next message may start
        self.heap: list[tuple[int, int, int, int, bytes, MsgRef]] = []
        self._n = 0
        self.count = 0  # records written
        self._lose = dice.spec.rates.get("lost_fragment", 0.0) > 0
        self._garbage = dice.spec.rates.get("garbage", 0.0) > 0
        self.full = False
        self.first_ns: int | None = None  # time of the first and last record written
        self.last_ns: int | None = None

    def send(
        self, client: int, direction: int, msg_type: int, seq: int, msg_id: int, payload: bytes
    ) -> tuple[MsgRef, int]:
        """Put one RM message on the queue; return its ref and when its last record has left."""
        key = (client << 2) | direction
        now = self.engine.now
        start = self._busy.get(key, now)
        if start < now:
            start = now
        ref = MsgRef(msg_id, start)
        if self._garbage and self.dice.roll("garbage"):
            self._push_garbage(start, client, direction)
        t = self.timing
        if len(payload) <= MAX_PAYLOAD_PER_MSG:  # one message-queue message: the common case
            data = _HEADER(RPC_API_BYTE, msg_type, seq, msg_id) + payload
            self._n += 1
            heappush(self.heap, (start, self._n, client, direction, data, ref))
            end = start + t.msgq_message_ns + len(data) * t.msgq_byte_ns
            self._busy[key] = end
            return ref, end
        parts = fragment(msg_type, seq, msg_id, payload)
        lost = -1
        if self._lose and self.dice.roll("lost_fragment"):
            lost = 1 + self.rng.randrange(len(parts) - 1)
            self.truth.faults.append(
                FaultRecord(
                    "lost_fragment",
                    start,
                    client,
                    refs=[ref],
                    malformed=[ref],
                    detail={"msg_id": msg_id, "fragment_index": lost, "fragments": len(parts) - 1},
                )
            )
        when = start
        heap = self.heap
        for i, data in enumerate(parts):
            if i != lost:
                self._n += 1
                heappush(heap, (when, self._n, client, direction, data, ref))
            ref.end_ns = when
            when += t.msgq_message_ns + len(data) * t.msgq_byte_ns
        self._busy[key] = when
        return ref, when

    def _push_garbage(self, when: int, client: int, direction: int) -> None:
        rng = self.rng
        if rng.random() < 0.25:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 8)))
            why = f"{len(data)}-byte record, shorter than the RPC header"
        else:
            api = _BAD_API_BYTES[rng.randrange(len(_BAD_API_BYTES))]
            head = bytes((api, 1 + rng.randrange(3))) + bytes(rng.getrandbits(8) for _ in range(6))
            data = head + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 33)))
            why = f"api byte {api:#04x}"
        ref = MsgRef(0, when)
        self._n += 1
        heappush(self.heap, (when, self._n, client, direction, data, ref))
        self.truth.faults.append(
            FaultRecord(
                "garbage", when, client, refs=[ref], malformed=[ref], detail={"why": why, "data": data.hex()}
            )
        )

    def flush(self, until: int | None = None) -> None:
        """Write every record earlier than ``until`` (all when None), in time order."""
        heap = self.heap
        if self.full:
            heap.clear()
            return
        if not heap or (until is not None and heap[0][0] >= until):
            return
        sink = self.sink
        limit = self.max_records
        if self.first_ns is None:
            self.first_ns = heap[0][0]
        while heap and (until is None or heap[0][0] < until):
            when, _, client, direction, data, ref = heappop(heap)
            self.count += 1
            frames = ref.frames
            if not frames:
                ref.time_ns = when
            frames.append(self.count)
            sink(self.count, when, direction, client, data)
            if limit is not None and self.count >= limit:
                heap.clear()
                self.full = True
                self.engine.stop()
                break
        self.last_ns = when
