"""The messages table: one row per RM message, built from the engines' columns.

The VMID a message concerns (``vmid``, with ``vmid_source`` saying where it came from):

* ``payload``: a request or notification whose layout has a ``vmid`` field at a fixed offset
  (``fields.vmid_fields``). VMID 0 there means "the caller itself" (protocol.md 1.7), so it
  falls back to the client, except in VM_ALLOCATE, where 0 asks RM to choose a VMID;
* ``allocated``: the VMID RM chose, read from a successful VM_ALLOCATE reply; the request
  asking for it gets the same VMID;
* ``request``: any other reply concerns what its request concerned;
* ``client``: otherwise the VM whose queue carried the message (NA when that is unknown, as
  in kernel logs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dissector.protocol import registry

from .columns import MessageColumns, concat_column
from .context import exchange_columns, paired_exchange
from .schema import MESSAGES, VMID_SOURCES, nullable
from .transactions import Pairing

# header numbers -> categories of MESSAGES.type / .direction
_TYPE_CODES = np.array([3, 0, 1, 2, -1], np.int8)  # index by msg_type (-1 -> last)
_DIRECTION_CODES = np.array([2, 0, 1], np.int8)  # unknown, to_rm, from_rm


def named(values: np.ndarray, name_of: object) -> pd.Categorical:
    """A categorical of ``name_of(value)`` per element (NA for -1), naming each distinct value once."""
    inverse, uniq = pd.factorize(values)
    categories: dict[str, int] = {}
    code_of = np.full(len(uniq), -1, np.int32)
    for i, v in enumerate(uniq.tolist()):
        if v < 0:
            continue
        label = name_of(v)  # type: ignore[operator]
        code_of[i] = categories.setdefault(label, len(categories))
    codes = code_of[inverse] if len(values) else np.empty(0, np.int32)
    return pd.Categorical.from_codes(codes, categories=list(categories))


def sparse_categorical(values: np.ndarray) -> pd.Categorical:
    """``pd.Categorical(values)`` of an object column that is mostly None (a fault kind per
    message): only the few values present are factorized."""
    present = np.flatnonzero(pd.notna(values))
    known = pd.Categorical(values[present])
    codes = np.full(len(values), -1, known.codes.dtype)
    codes[present] = known.codes
    return pd.Categorical.from_codes(codes, dtype=known.dtype)


def sparse_strings(values: np.ndarray) -> Any:
    """The ``str`` column of an object column that is mostly None (a malformation text per
    message), as ``pd.array(values, dtype="str")`` gives it: only the few texts present are
    converted, the rest filled by one ``take`` (converting a million None was ~30 ms at 1M)."""
    present = np.flatnonzero(pd.notna(values))
    texts = pd.array(values[present], dtype="str")
    at = np.full(len(values), -1, np.int64)
    at[present] = np.arange(len(present))
    return texts.take(at, allow_fill=True)


# what transactions, the time base and the lifecycles read of the messages table: the table
# without the columns that cost most (a tuple of frames per message, malformation texts ...)
CORE = (
    "capture", "frame", "time", "time_ns", "client_vmid", "type", "seq", "msg_id", "name", "err_code",
    "err_name", "vmid", "malformed_kind", "vm", "request_frame",
)  # fmt: skip
# the lifecycle fields of notifications and requests (the lifecycles read them with ``CORE``)
LIFECYCLE_FIELDS = (
    "vm_status", "os_status", "exit_type", "exit_flags", "exit_code", "stop_flags", "stop_reason",
    "auth_mech",
)  # fmt: skip


@dataclass
class MessageCore:
    """The ``CORE`` columns of a messages table (``table``, in ``MESSAGES`` order and dtypes), its
    pairing, and what the other columns are made from (``complete`` makes them once asked).

    Why: ``ghrm transactions``, ``lifecycle`` and ``trace.transactions`` read a dozen columns of
    the messages table; the rest (a tuple per message above all) was a third of their time and
    most of their memory. Every column is computed by the one code below, whichever is asked.
    """

    table: pd.DataFrame
    pairing: Pairing
    columns: Sequence[MessageColumns]
    vmid_source: np.ndarray
    exchange: dict[str, Any]  # exchange_columns' other columns (reply_frame, latency, errno)
    empty: pd.DataFrame | None = None  # the whole (empty) messages table when there are no messages

    def with_fields(self) -> pd.DataFrame:
        """``table`` and the ``LIFECYCLE_FIELDS`` columns, in ``MESSAGES`` order (the lifecycles'
        input: a VM's states come from these fields)."""
        if self.empty is not None:
            return self.empty[[n for n in MESSAGES.names if n in (*CORE, *LIFECYCLE_FIELDS)]]
        data = {name: _values(self.table[name]) for name in CORE}
        return MESSAGES.part({**data, **_fields(self.columns)})


def build_messages(columns: Sequence[MessageColumns], dialect: str = "rm") -> tuple[pd.DataFrame, Pairing]:
    """The messages table of one or more captures (in the given order), and its pairing."""
    core = message_core(columns, dialect)
    return complete(core), core.pairing


def message_core(columns: Sequence[MessageColumns], dialect: str = "rm") -> MessageCore:
    """The ``CORE`` columns of the messages table of one or more captures, and its pairing."""
    columns = [c for c in columns]
    if not columns or sum(len(c) for c in columns) == 0:
        names = [c.capture for c in columns]
        frame = MESSAGES.empty()
        frame["capture"] = pd.Categorical([], categories=names)
        empty = np.empty(0, np.int64)
        pairing = Pairing(empty, empty, np.empty(0, np.int8), np.empty(0, np.int32), empty, client=empty)
        return MessageCore(
            frame[list(_core_names())], pairing, columns, np.empty(0, np.int8), {}, empty=frame
        )
    capture = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(columns)])
    client = concat_column(columns, "client_vmid")
    seq = concat_column(columns, "seq")
    msg_id = concat_column(columns, "msg_id")
    msg_type = concat_column(columns, "msg_type")
    err = concat_column(columns, "err_code")
    known = concat_column(columns, "time_known")
    time_ns = concat_column(columns, "time_ns")
    frame = concat_column(columns, "frame")
    broken = concat_column(columns, "malformed_kind") == "header"
    paired = paired_exchange(
        capture, client, seq, msg_id, msg_type, broken, err, concat_column(columns, "allocated_vmid"),
        known, time_ns, concat_column(columns, "payload_vmid"), frame,
    )  # fmt: skip
    vmid = paired.vmid
    is_reply_err = err >= 0
    data = {
        "capture": pd.Categorical.from_codes(capture, categories=[c.capture for c in columns]),
        "frame": frame,
        "time": np.where(known, time_ns / 1e9, np.nan),
        "time_ns": nullable(time_ns, ~known, "Int64"),
        "client_vmid": client,
        "type": pd.Categorical.from_codes(
            _TYPE_CODES[msg_type], categories=list(MESSAGES.column("type").categories or ())
        ),
        "seq": nullable(seq, seq < 0, "Int32"),
        "msg_id": nullable(msg_id, msg_id < 0, "Int64"),
        "name": named(msg_id, lambda v: registry.message_name(v, dialect)),
        "err_code": nullable(err, ~is_reply_err, "Int64"),
        "err_name": named(err, lambda v: registry.error_name(v, dialect)),
        "vmid": nullable(vmid, vmid < 0, "Int32"),
        "malformed_kind": sparse_categorical(concat_column(columns, "malformed_kind")),
    }
    exchange = exchange_columns(paired.exchange)
    data["vm"] = exchange.pop("vm")
    data["request_frame"] = exchange.pop("request_frame")
    return MessageCore(MESSAGES.part(data), paired.pairing, columns, paired.source, exchange)


def complete(core: MessageCore) -> pd.DataFrame:
    """The whole messages table: ``core.table`` and the other columns of ``MESSAGES``."""
    if core.empty is not None:
        return core.empty
    columns = core.columns
    known = concat_column(columns, "time_known")
    time_end_ns = concat_column(columns, "time_end_ns")
    fragments = concat_column(columns, "fragments")
    data: dict[str, Any] = {name: _values(core.table[name]) for name in CORE}
    data.update(_fields(columns))
    data.update(
        {
            "frames": concat_column(columns, "frames"),
            "time_end": np.where(known | (time_end_ns != 0), time_end_ns / 1e9, np.nan),
            "direction": pd.Categorical.from_codes(
                _DIRECTION_CODES[concat_column(columns, "direction")],
                categories=list(MESSAGES.column("direction").categories or ()),
            ),
            "fragments": nullable(fragments, fragments < 0, "Int16"),
            "vmid_source": pd.Categorical.from_codes(core.vmid_source, categories=list(VMID_SOURCES)),
            "length": concat_column(columns, "length").astype(np.int32),
            "payload_len": np.maximum(concat_column(columns, "length") - 8, 0).astype(np.int32),
            "synthetic": concat_column(columns, "synthetic"),
            "malformed": sparse_strings(concat_column(columns, "malformed")),
            **core.exchange,
        }
    )
    return MESSAGES.frame(data)


def _fields(columns: Sequence[MessageColumns]) -> dict[str, Any]:
    """The ``LIFECYCLE_FIELDS`` columns (NA where a message has not the field)."""
    out = {}
    for column in LIFECYCLE_FIELDS:
        values = (
            columns[0].payload[column]
            if len(columns) == 1
            else np.concatenate([c.payload[column] for c in columns])
        )
        out[column] = nullable(values, values < 0, MESSAGES.column(column).dtype)
    return out


def _values(column: pd.Series) -> Any:
    """A column's array as built (numpy, or pandas' extension array): no copy on the way back."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _core_names() -> list[str]:
    return [n for n in MESSAGES.names if n in CORE]
