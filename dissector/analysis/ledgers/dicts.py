"""The jsonl dicts of some of a capture's messages, read from its message columns.

Why: a story holds ~56k messages on the 1M benchmark capture, and each dict used to be made by
``events._decoded_row``: a ``RawMessage`` from the ``Reassembler``, the compiled decoder's whole
message (summary words, names, a dict copy), ~45 us a message. For a whole, well-formed message
of one record, the dict is its header columns plus its payload's ``fields``; the fields are read
by the compiled decoder's own reader of that payload (``compiled.payload_reader``, the code
``decode_message`` runs) straight from the capture's bytes (``message_bytes``): ~5 us.

Anything else (malformed, reassembled, synthetic, an unknown time or seq, a header the bytes do
not confirm, a payload the reader will not take) is decoded by ``events._decoded_row`` as
before. Equal dicts (keys, order, values, value types) by test
(``tests/analysis/ledgers/test_dicts.py``, and the stories' tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.columns import plain_messages
from dissector.decoded import ExactTime
from dissector.decoders import compiled
from dissector.protocol.wire import (
    NOTIFICATION,
    REPLY,
    REPLY_ERROR_SIZE,
    REQUEST,
    RPC_API_BYTE,
    RPC_HEADER,
    RPC_HEADER_SIZE,
    Direction,
    MsgType,
)

if TYPE_CHECKING:
    from dissector.analysis.columns import MessageColumns

_ROLES = {REQUEST: "request", NOTIFICATION: "notification"}
_TYPE_NAMES = {t.value: t.label for t in MsgType if t != MsgType.CONTINUATION}
_DIRECTIONS = {d.value: d.label for d in Direction}


def _no_bytes(i: int) -> bytes:
    raise AssertionError("no message bytes: every row goes the general way")


class ColumnDicts:
    """The jsonl dict (with ``capture``) of rows ``rows[k]`` of ``cols``, by position ``k``.

    ``slow(i)`` is the general decoding of row ``i`` (``events._decoded_row``), used wherever
    the columns cannot vouch for a message."""

    def __init__(
        self, cols: MessageColumns, rows: np.ndarray, dialect: str, slow: Callable[[int], dict[str, Any]]
    ) -> None:
        self.cols, self.slow = cols, slow
        self.message_bytes: Callable[[int], bytes] = cols.message_bytes or _no_bytes
        self.names = compiled.names(dialect)
        self.rows = rows.tolist()
        mtype = cols.msg_type[rows]
        err = cols.err_code[rows]
        self.plain = (plain_messages(cols, rows) & (cols.fragments[rows] == 0)).tolist()
        if cols.message_bytes is None:  # columns of Scapy dissections: decoded as they were made
            self.plain = [False] * len(rows)
        if cols.multi_frames:  # a reassembled message: its frames and bytes are the reassembler's
            for k in np.flatnonzero(np.isin(rows, list(cols.multi_frames))).tolist():
                self.plain[k] = False
        self.frame = cols.frame[rows].tolist()
        self.time_ns = cols.time_ns[rows].tolist()
        self.time_end_ns = cols.time_end_ns[rows].tolist()
        self.direction = cols.direction[rows].tolist()
        self.client = cols.client_vmid[rows].tolist()
        self.mtype = mtype.tolist()
        self.seq = cols.seq[rows].tolist()
        self.msg_id = cols.msg_id[rows].tolist()
        self.err = err.tolist()

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, k: int) -> dict[str, Any]:
        """The dict of ``rows[k]``."""
        found = self._plain(k) if self.plain[k] else None
        return self.slow(self.rows[k]) if found is None else found

    def _reader(self, role: str, msg_id: int) -> Any:
        """The compiled reader of this payload and its layout's least size (cached there)."""
        payload = self.names.payload(role, msg_id)
        return payload.fields, payload.min_size

    def _plain(self, k: int) -> dict[str, Any] | None:
        """What ``compiled.decode_message`` gives for a whole one-record message, or None when the
        bytes do not read as the columns say (then the general decoding words it)."""
        data = self.message_bytes(self.rows[k])
        if len(data) < RPC_HEADER_SIZE:
            return None
        api, type_byte, seq, msg_id = RPC_HEADER.unpack_from(data)
        mtype = self.mtype[k]
        if api != RPC_API_BYTE or type_byte != mtype or seq != self.seq[k] or msg_id != self.msg_id[k]:
            return None  # fragments (type_byte's high bits) are 0 here: a plain message
        pos = RPC_HEADER_SIZE
        err_code = err_name = None
        if mtype == REPLY:
            if len(data) < pos + REPLY_ERROR_SIZE:
                return None
            err_code = int.from_bytes(data[pos : pos + REPLY_ERROR_SIZE], "little")
            if err_code != self.err[k]:
                return None
            err_name = self.names.error_name(err_code)
            pos += REPLY_ERROR_SIZE
            read, min_size = self._reader("reply" if err_code == 0 else "error_reply", msg_id)
            if pos == len(data) and err_code == 0 and min_size:
                return None
        else:
            read, min_size = self._reader(_ROLES[mtype], msg_id)
            if pos == len(data) and min_size:
                return None
        fields: Any = {}
        if pos < len(data):
            try:
                fields, _ = read(data, pos, len(data))
            except compiled.MISFITS:
                return None
        time_ns = self.time_ns[k]
        time = ExactTime(time_ns)
        end_ns = self.time_end_ns[k]
        frame = self.frame[k]
        return {
            "frame": frame,
            "frames": [frame],
            "time": time,
            "time_end": time if end_ns == time_ns else ExactTime(end_ns),
            "direction": _DIRECTIONS[self.direction[k]],
            "client_vmid": self.client[k],
            "type": _TYPE_NAMES[mtype],
            "seq": seq,
            "msg_id": msg_id,
            "msg_name": self.names.message_name(msg_id),
            "fragments": 0,
            "err_code": err_code,
            "err_name": err_name,
            "fields": fields,
            "malformed": None,
            "time_ns": time_ns,
            "capture": self.cols.capture,
        }
