"""The reference engine: every message dissected by Scapy, its columns read from the packet.

Why keep it when the fast path exists: it is the definition the fast path is tested against,
and it is what a person looking at one message gets (``DecodedMessage``). It costs a Scapy
packet per message, so it is for small captures and for proving the fast path right.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from dissector.capture.record import CaptureProblem
from dissector.decoded import DecodedMessage
from dissector.layers import payload_layer
from dissector.layers.base import RMStruct
from dissector.protocol.wire import MsgType

from .columns import UNKNOWN, MessageColumns, from_rows, usable_ns
from .fields import Located, allocated_vmid_field, payload_fields, vmid_fields

_ROLES = {t.value: t.label for t in MsgType if t != MsgType.CONTINUATION}


def _read(layer: Any, where: Located) -> int:
    """The field at ``where.path`` in a payload layer, or -1 when the layer does not hold it."""
    if (
        not isinstance(layer, RMStruct)
        or layer.msg_id != where.msg_id
        or layer.role != _ROLES[where.msg_type]
    ):
        return UNKNOWN
    value: Any = layer
    for name in where.path:
        if not isinstance(value, RMStruct):
            return UNKNOWN
        value = value.fields.get(name)
    return UNKNOWN if value is None else int(value)


def _row(msg: DecodedMessage) -> dict[str, Any]:
    raw = msg.raw
    pkt = msg.packet
    msg_type = pkt.msg_type
    msg_id = pkt.msg_id
    layer = payload_layer(pkt)
    err = msg.err_code
    by_key = _vmid_index()
    payload_vmid = UNKNOWN
    if msg_type is not None and msg_id is not None:
        where = by_key.get((msg_type, msg_id))
        if where is not None:
            payload_vmid = _read(layer, where)
    allocated = UNKNOWN
    alloc = allocated_vmid_field()
    if msg_type == alloc.msg_type and msg_id == alloc.msg_id and err == 0:
        allocated = _read(layer, alloc)
    payload = {}
    for column, places in payload_fields().items():
        value = UNKNOWN
        for where in places:
            if msg_type == where.msg_type and msg_id == where.msg_id:
                value = _read(layer, where)
        payload[column] = value
    problems = msg.problems
    return {
        "frame": raw.frames[0],
        "frames": tuple(raw.frames),
        "time_ns": usable_ns(raw.time_ns) or 0,
        "time_known": usable_ns(raw.time_ns) is not None,
        "time_end_ns": usable_ns(raw.time_end_ns) or 0,
        "direction": int(raw.direction),
        "client_vmid": raw.client_vmid,
        "length": len(raw.data),
        "msg_type": UNKNOWN if msg_type is None else msg_type,
        "fragments": UNKNOWN if pkt.fragments is None else pkt.fragments,
        "seq": UNKNOWN if msg.seq is None else msg.seq,
        "msg_id": UNKNOWN if msg_id is None else msg_id,
        "err_code": UNKNOWN if err is None else err,
        "payload_vmid": payload_vmid,
        "allocated_vmid": allocated,
        "synthetic": raw.synthetic is not None,
        "malformed": msg.malformed,
        "malformed_kind": problems[0].kind if problems else None,
        "payload": payload,
    }


@cache
def _vmid_index() -> dict[tuple[int, int], Located]:
    return {(w.msg_type, w.msg_id): w for w in vmid_fields()}


def columns_from_decoded(
    items: Iterable[DecodedMessage | CaptureProblem], capture: str
) -> tuple[MessageColumns, list[CaptureProblem]]:
    """Dissect every message with Scapy; capture problems are returned aside."""
    rows: list[dict[str, Any]] = []
    raws = []
    problems: list[CaptureProblem] = []
    for item in items:
        if isinstance(item, CaptureProblem):
            problems.append(item)
            continue
        rows.append(_row(item))
        raws.append(item.raw)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["frame"])
    rows = [rows[i] for i in order]
    raws = [raws[i] for i in order]
    return from_rows(capture, rows, raws.__getitem__), problems
