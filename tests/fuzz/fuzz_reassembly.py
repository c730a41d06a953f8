"""Fuzz target: a stream of records (decoded from the fuzz bytes) -> reassembly -> decoding.

The bytes are read as a little program: each record is a control byte (direction, client VMID,
and whether the record is a plausible RPC header or raw bytes) followed by its fields, so the
fuzzer quickly reaches interleaved, missing, stray and mismatched fragments. Promises checked:
every record ends up in exactly one message, no message spans more than 64 records, nothing
raises, and every message's JSON view serialises.
"""

from __future__ import annotations

import struct

from _harness import instrumented, run

with instrumented(__name__):
    from _checks import decode_all

    from dissector.capture.record import Direction, Record

MSG_IDS = (0x56000001, 0x56000020, 0x51000011, 0x56100001, 0x56100008, 0x51000013, 0x56000004)
FRAGMENTS = (0, 0, 1, 2, 3, 62, 63)
MAX_RECORDS = 300


def records_from(data: bytes) -> list[Record]:
    """Records described by ``data`` (see the module docstring)."""
    out: list[Record] = []
    i = 0
    n = len(data)
    while i < n and len(out) < MAX_RECORDS:
        ctl = data[i]
        i += 1
        direction = Direction(ctl & 3) if ctl & 3 != 3 else Direction.UNKNOWN
        vmid = (ctl >> 2) & 3
        if ctl >> 4 < 12 and i + 3 <= n:  # a plausible RPC header and a body
            a, b, size = data[i], data[i + 1], data[i + 2]
            i += 3
            frags = FRAGMENTS[b & 7] if b & 7 < 7 else a >> 2
            msg_id = MSG_IDS[(b >> 3) % len(MSG_IDS)]
            seq = b >> 6
            body = data[i : i + size]
            i += len(body)
            message = struct.pack("<BBHI", 0x21, (frags << 2) | (a & 3), seq, msg_id) + body
        else:  # raw bytes
            size = data[i] if i < n else 0
            message = data[i + 1 : i + 1 + size]
            i += 1 + len(message)
        out.append(Record(len(out) + 1, len(out) * 1000, direction, vmid, message))
    return out


def seeds() -> list[bytes]:
    """A complete 3-fragment reply, a stray continuation, interleaved queues."""
    whole = bytes([0x02, 0x02, 0x02, 232]) + bytes(232) + bytes([0x02, 0x00, 0x02, 232]) + bytes(232)
    return [
        whole + bytes([0x02, 0x00, 0x02, 10]) + bytes(10),
        bytes([0x01, 0x00, 0x00, 4, 1, 2, 3, 4]),
        bytes([0x06, 0x02, 0x01, 20]) + bytes(20) + bytes([0x01, 0x01, 0x00, 4]) + bytes(4),
        bytes([0xF1, 5, 1, 2, 3, 4, 5]),
    ]


def test_one_input(data: bytes) -> None:
    """Reassemble and decode the records ``data`` describes."""
    decode_all(records_from(data))


if __name__ == "__main__":
    run(test_one_input, seeds)
