"""The jsonl dicts of some of a capture's messages, read from its message columns.

Why: a story holds ~56k messages on the 1M benchmark capture, and each dict used to be made by
``events._decoded_row``: a ``RawMessage`` from the ``Reassembler``, the compiled decoder's whole
message (summary words, names, a dict copy), ~45 us a message. For a whole, well-formed message
of one record, the dict is what the compiled decoder makes of its bytes (``message_bytes``,
straight from the capture) and the columns' frame, times, direction and client
(``compiled.message_json``, the code ``decode_message`` runs), without the summary words the
ledgers never print; the bytes' header must agree with the columns.

Anything else (malformed, reassembled, synthetic, an unknown time or seq, a header the bytes do
not confirm, a payload ``compiled.message_json`` refuses with one of ``MISFITS``) is decoded by
``events._decoded_row`` as before. Equal dicts (keys, order, values, value types) by test
(``tests/analysis/ledgers/test_dicts.py``, and the stories' tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dissector.analysis.columns import plain_messages
from dissector.decoded import ExactTime
from dissector.decoders import compiled
from dissector.protocol.wire import REPLY

if TYPE_CHECKING:
    from dissector.analysis.columns import MessageColumns


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

    def _plain(self, k: int) -> dict[str, Any] | None:
        """What ``compiled.decode_message`` gives for a whole one-record message (its dict from
        the bytes and the columns' metadata, ``compiled.message_json``), or None when the bytes
        do not read as the columns say (then the general decoding words it)."""
        frame, time_ns = self.frame[k], self.time_ns[k]
        try:
            json = compiled.message_json(
                self.message_bytes(self.rows[k]),
                self.names,
                [frame],
                time_ns,
                self.time_end_ns[k],
                compiled.DIRECTION_LABELS[self.direction[k]],
                self.client[k],
            )
        except compiled.MISFITS:
            return None
        same_type = json["type"] == compiled.TYPE_NAMES[self.mtype[k]]
        if not self._agrees(k, json["fragments"], same_type, json["seq"], json["msg_id"], json["err_code"]):
            return None
        json["capture"] = self.cols.capture
        return json

    def _agrees(
        self, k: int, fragments: int, same_type: bool, seq: int, msg_id: int, err_code: int | None
    ) -> bool:
        """Whether the header the bytes of ``rows[k]`` hold is what the columns say of it (a whole
        message of the columns' type, seq, id and, for a reply, error code)."""
        return (
            not fragments
            and same_type
            and seq == self.seq[k]
            and msg_id == self.msg_id[k]
            and (self.mtype[k] != REPLY or err_code == self.err[k])
        )

    def light(self, k: int) -> dict[str, Any] | None:
        """``fields``, ``client_vmid``, ``err_name`` and ``malformed`` of ``rows[k]`` as ``get(k)``
        has them (and ``time``, for a row that is not plain), without the rest of its dict; None
        where ``get(k)`` would not take the compiled decoder's dict (then ask ``get``).

        Why: a replay reads a message's fields and one or two of these, and ``get`` spends half
        its time on the rest (times as ``ExactTime``, names, the dict). A plain row is checked as
        ``_plain`` checks it (``compiled.message_head`` is what ``message_json`` runs); any other
        is read as ``slow`` (``events._decoded_row``) reads it, from its ``RawMessage``. Equal
        values by test (``tests/analysis/ledgers/test_dicts.py``)."""
        if not self.plain[k]:
            return self._light_raw(k)
        data = self.message_bytes(self.rows[k])
        try:
            msg_type, seq, msg_id, fragments, err_code, payload, pos = compiled.message_head(data, self.names)
            if not self._agrees(k, fragments, msg_type == self.mtype[k], seq, msg_id, err_code):
                return None
            fields = payload.shown(data, pos, len(data)) if pos < len(data) else {}  # message_json's
        except compiled.MISFITS:
            return None
        return {
            "fields": fields,
            "client_vmid": self.client[k],
            "err_name": None if err_code is None else self.names.error_name(err_code),
            "malformed": None,
        }

    def _light_raw(self, k: int) -> dict[str, Any] | None:
        """``light`` of a row that is not plain (a reassembled message, at 1M ~3k rows a story
        holds: long SGLs, VM_GET_HYP_RESOURCES replies): what ``compiled.decode_message`` makes of
        its ``RawMessage`` (summary words too: a summary it cannot word goes to Scapy), or None
        where ``slow`` dissects it with Scapy."""
        i = self.rows[k]
        cols = self.cols
        if cols.raw_message is None or cols.malformed[i] is not None:
            return None
        raw = cols.raw_message(i)
        if raw.problems:
            return None
        data = raw.data
        try:
            _, _, _, _, err_code, payload, pos = compiled.message_head(data, self.names)
            fields = payload.fields(data, pos)[0] if pos < len(data) else {}  # message_json's
        except compiled.MISFITS:
            return None
        return {
            "fields": fields,
            "client_vmid": raw.client_vmid,
            "err_name": None if err_code is None else self.names.error_name(err_code),
            "malformed": None,
            "time": None if raw.time_ns is None else ExactTime(raw.time_ns),
        }

    def time(self, k: int) -> ExactTime:
        """``get(k)["time"]`` of a row ``light`` read (its time is known: a plain row)."""
        return ExactTime(self.time_ns[k])
