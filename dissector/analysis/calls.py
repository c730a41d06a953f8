"""``ghrm stats`` without the messages table: captures read in blocks into call columns, paired.

Why: the SRT needs, per call, who sent it, its key, its type, the reply's error code and two
times; not payload fields, malformation texts, the generated ``vm`` or a DataFrame per message.
A clean classic pcap is read ``fastpath.BLOCK_BYTES`` at a time (reassembly carried across
blocks, ``columnar.Reassembly``) into ``CallColumns``; pairing is ``transactions.pair`` on them
and the numbers are ``srt.srt_rows``, exactly as for ``Trace.srt`` (tests compare the two).
Anything else (pcapng, text logs, stdin, a record the block scan declines) returns None and the
caller takes the ``Trace`` path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dissector.decoders.columnar import Reassembly, decode_calls
from dissector.protocol import registry
from dissector.protocol.wire import REQUEST

from . import fastpath
from .columns import CallColumns
from .schema import SRT
from .srt import srt_frame, srt_rows
from .status import ANSWERED, codes
from .timebase import TimeBase, capture_labels, present
from .transactions import Pairing, client_keys, pair


def read_calls(
    path: str | os.PathLike[str], dialect: str = "rm", block_bytes: int = fastpath.BLOCK_BYTES
) -> CallColumns | None:
    """The calls of a clean classic pcap, read in blocks; None for any other input."""
    blocks = fastpath.scan_blocks(path, block_bytes)
    if blocks is None:
        return None
    carry = Reassembly()
    parts = []
    try:
        for rc in blocks:
            parts.append(decode_calls(rc, dialect, carry, last=False))
    except fastpath.Declined:
        return None
    parts.append(decode_calls(fastpath.no_records(os.fspath(path)), dialect, carry, last=True))
    return CallColumns.joined(parts)


def pair_calls(calls: Sequence[CallColumns]) -> tuple[np.ndarray, Pairing]:
    """Capture codes of the calls of several captures (concatenated in order) and their pairing,
    as the messages table pairs them (``messages.build_messages``)."""
    capture = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(calls)])

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in calls]).astype(np.int64)

    client, seq, msg_id, msg_type = joined("client_vmid"), joined("seq"), joined("msg_id"), joined("msg_type")
    allocated = np.concatenate([c.allocated_vmid for c in calls])
    clients = client_keys(capture, client, msg_type, seq, msg_id, allocated)  # one per VM, not per VMID
    del client, allocated
    err, time_ns = np.concatenate([c.err_code for c in calls]), np.concatenate([c.time_ns for c in calls])
    return capture, pair(capture, clients, seq, msg_id, msg_type, err, time_ns)


def capture_names(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Names of captures given as paths, as ``open_trace`` names them (a repeated path gets #2...)."""
    taken: set[str] = set()
    out = []
    for path in paths:
        name = os.fspath(path)
        unique, k = name, 2
        while unique in taken:
            unique, k = f"{name}#{k}", k + 1
        taken.add(unique)
        out.append(unique)
    return out


def srt_table(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> pd.DataFrame | None:
    """``Trace.srt`` (public form) of these pcap files, only the calls of ``client`` VMIDs if
    given (as ``Trace.df_srt(client=)``); None when a file needs the ``Trace`` path."""
    calls = []
    for path in paths:
        if os.fspath(path) == "-" or not os.path.isfile(path):
            return None
        one = read_calls(path, dialect)
        if one is None:
            return None
        calls.append(one)
    names = capture_names(paths)
    capture, pairing = pair_calls(calls)
    req = np.flatnonzero(np.concatenate([c.msg_type for c in calls]) == REQUEST)
    if client is not None:
        req = req[np.isin(np.concatenate([c.client_vmid for c in calls])[req], client)]
    base = TimeBase(labels=capture_labels(names))
    if not len(req):
        empty = SRT.empty()
        empty["capture"] = pd.Categorical([], categories=names)
        return present(empty, SRT, base)
    status = pairing.status[req]
    rows = srt_rows(
        capture[req], np.concatenate([c.msg_id for c in calls])[req], status, _latency(calls, req, pairing)
    )
    labels = [registry.message_name(int(v), dialect) for v in rows.msg_id.tolist()]
    in_order = [labels[i] for i in np.argsort(rows.first, kind="stable").tolist()]  # as first called
    names_column = pd.Categorical(labels, categories=list(dict.fromkeys(in_order)))
    return present(srt_frame(rows, pd.Index(names), names_column), SRT, base)


def _latency(calls: Sequence[CallColumns], req: np.ndarray, pairing: Pairing) -> np.ndarray:
    """Seconds from each request to its first reply, NaN unless answered and both timed (as the
    transactions table's ``latency``)."""
    time_ns = np.concatenate([c.time_ns for c in calls])
    known = np.concatenate([c.time_known for c in calls])
    rep = pairing.reply_of[req]
    timed = (rep >= 0) & np.isin(pairing.status[req], codes(ANSWERED))
    at = np.flatnonzero(timed)
    timed[at] = known[req[at]] & known[rep[at]]
    latency_ns = np.zeros(len(req), np.int64)
    latency_ns[timed] = time_ns[rep[timed]] - time_ns[req[timed]]
    return np.where(timed, latency_ns / 1e9, np.nan)
