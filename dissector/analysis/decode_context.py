"""What ``ghrm decode`` attaches to each jsonl record: the generated fields of ``context.py``.

For a file it computes them for the whole capture first (two passes like ``tshark -2``), from the
capture's message columns with numpy alone (``exchange_fields``): the same values as the
messages table's ``vm``, ``request_frame``, ``reply_frame``, ``latency`` and ``errno`` (equal by
test), without pandas, whose import alone was a quarter of ``ghrm decode --format jsonl`` on
100k messages. For stdin or ``--follow`` it keeps a ``StreamContext``. It lives apart from
``context.py`` because it reads ``transactions`` (pairing), which the tables build from
``context.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.errors import GhrmError
from dissector.protocol.wire import REPLY, REQUEST

from .context import (
    GENERATED,
    Exchange,
    StreamContext,
    _errno,
    apply_resource_vms,
    exchange_arrays,
    exchange_rows,
    payload_reader,
    resolve_vmids,
    resource_calls_of,
    resource_vms_of,
)

if TYPE_CHECKING:
    from .columns import MessageColumns


def exchange_context(path: str, dialect: str, follow: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """What ``ghrm decode`` attaches to each jsonl record of ``path``: for a file, two passes like
    ``tshark -2`` (the whole capture's generated fields first); for stdin or ``--follow``, a
    ``StreamContext`` (only what came before)."""
    known = file_context(path, dialect, follow)
    if known is not None:
        empty = dict.fromkeys(GENERATED)
        return lambda record: known.get(record["frame"], empty)
    return StreamContext().fields


def file_context(path: str, dialect: str, follow: bool) -> dict[int, dict[str, Any]] | None:
    """Frame -> the generated fields of its message, for a capture file read whole (None: stdin,
    ``--follow``, or a file that cannot be read whole: then only a ``StreamContext`` can tell)."""
    if path == "-" or follow or not os.path.isfile(path):
        return None
    from dissector.decoders.lines import read_capture

    try:
        capture = read_capture(path, dialect)
        if capture is None:
            return None
        return _by_frame(capture.cols.frame, exchange_fields(capture.cols, dialect))
    except (GhrmError, OSError, ValueError):
        return None


def exchange_fields(cols: MessageColumns, dialect: str) -> Exchange:
    """The generated fields of one capture's messages (rows as ``cols``), rule 1 of ``vm``
    applied: what the messages table holds in those columns (``messages.message_core`` and
    ``tables.message_core`` compute them from the same functions, in the same order)."""
    from .transactions import client_keys, known_ids, pair

    n = len(cols)
    capture = np.zeros(n, np.int32)
    client = cols.client_vmid.astype(np.int64)
    seq = cols.seq.astype(np.int64)
    msg_id = cols.msg_id
    msg_type = cols.msg_type.astype(np.int64)
    # garbage (a broken RPC header and an id no source defines) is no call: keep it out of pairing
    garbage = (cols.malformed_kind == "header") & ~np.isin(msg_id, known_ids())
    call_type = np.where(garbage, -1, msg_type)
    err = cols.err_code
    allocated = cols.allocated_vmid
    clients = client_keys(capture, client, call_type, seq, msg_id, allocated)
    known = cols.time_known
    time_ns = cols.time_ns
    pairing = pair(capture, clients, seq, msg_id, call_type, err, np.where(known, time_ns, 0))
    vmid, _ = resolve_vmids(msg_type, msg_id, client, cols.payload_vmid, allocated, pairing)
    req = exchange_rows(capture, clients, seq, msg_id, call_type, pairing.request_of)
    ex = exchange_arrays(
        cols.frame, time_ns, known, vmid, err, req, pairing.reply_of, pairing.request_of, call_type
    )
    calls = resource_calls_of(
        [cols.capture],
        capture,
        (msg_type == REQUEST) | (msg_type == REPLY),  # the table's type, not call_type
        msg_type == REQUEST,
        msg_id.astype(np.int64),
        client,
        err,
        cols.frame,
        ex.request_frame,
    )
    if calls is not None:
        vms = resource_vms_of(calls, payload_reader([cols], dialect))
        if vms:
            apply_resource_vms([cols.capture], capture, ex.request_frame, ex.vm, vms)
    return ex


def errno_names(err: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """``_errno`` of each code as (index into the names, the distinct names): each distinct code
    is named once (a million rows carry a handful of codes)."""
    uniques, inverse = np.unique(err, return_inverse=True)
    return inverse.reshape(-1), [_errno(int(e)) for e in uniques.tolist()]


def _by_frame(frame: np.ndarray, ex: Exchange) -> dict[int, dict[str, Any]]:
    """Frame -> generated fields as JSON values (ints, float, str or None)."""
    codes, names = errno_names(ex.err)
    columns = [
        [None if v < 0 else v for v in ex.vm.tolist()],
        [None if v < 0 else v for v in ex.request_frame.tolist()],
        [None if v < 0 else v for v in ex.reply_frame.tolist()],
        [None if v != v else v for v in ex.latency.tolist()],
        [names[c] for c in codes.tolist()],
    ]
    rows = zip(frame.tolist(), *columns, strict=True)
    return {f: dict(zip(GENERATED, values, strict=True)) for f, *values in rows}
