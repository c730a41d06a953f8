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
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from dissector.decoders.columnar import Reassembly, decode_calls
from dissector.protocol import registry
from dissector.protocol.wire import REQUEST

from . import fastpath
from .columns import CallColumns
from .srt import SrtRows, srt_rows
from .status import ANSWERED, codes
from .transactions import Pairing, client_keys, pair

if TYPE_CHECKING:  # pandas only for csv/json: the text of ``ghrm stats`` is printed from arrays
    import pandas as pd


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


GROUP_ROWS = 1 << 20  # calls paired at a time: bounds pairing's temporaries on a long capture


@dataclass
class Requests:
    """What the SRT reads of every request (in no particular order): capture code, message id,
    status code and seconds to the first reply (NaN unless answered and both timed)."""

    capture: np.ndarray
    msg_id: np.ndarray
    status: np.ndarray
    latency: np.ndarray


def paired_requests(calls: Sequence[CallColumns], client: Sequence[int] | None = None) -> Requests:
    """The requests of several captures' calls (``client``: only those on these VMIDs' queues),
    paired as the messages table pairs them (``messages.build_messages``: ``client_keys``, then
    ``pair``). Pairing never looks across (capture, client key): the calls are paired a group of
    client keys at a time, ``GROUP_ROWS`` calls or so each, which gives the same pairs."""

    def joined(name: str) -> np.ndarray:
        return (
            getattr(calls[0], name) if len(calls) == 1 else np.concatenate([getattr(c, name) for c in calls])
        )

    capture = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(calls)])
    client_vmid, seq, msg_id, msg_type = (
        joined("client_vmid"),
        joined("seq"),
        joined("msg_id"),
        joined("msg_type"),
    )
    clients = client_keys(capture, client_vmid, msg_type, seq, msg_id, joined("allocated_vmid"))  # one per VM
    err, time_ns, known = joined("err_code"), joined("time_ns"), joined("time_known")
    groups = max(1, -(-len(clients) // GROUP_ROWS))
    out: list[Requests] = []
    for g in range(groups):
        rows = np.flatnonzero(clients % groups == g) if groups > 1 else slice(None)  # a view: no copy

        def int64(a: np.ndarray, rows: np.ndarray | slice = rows) -> np.ndarray:
            return a[rows].astype(np.int64)  # as the messages table hands them to ``pair``

        pairing = pair(
            int64(capture),
            clients[rows],
            int64(seq),
            int64(msg_id),
            int64(msg_type),
            err[rows],
            time_ns[rows],
        )
        req = np.flatnonzero(msg_type[rows] == REQUEST)
        if client is not None:
            req = req[np.isin(client_vmid[rows][req], client)]
        latency = _latency(req, pairing, time_ns[rows], known[rows])
        out.append(Requests(capture[rows][req], msg_id[rows][req], pairing.status[req], latency))
        del pairing
    return Requests(*(np.concatenate([getattr(r, f.name) for r in out]) for f in fields(Requests)))


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


@dataclass
class Srt:
    """The SRT of some captures as arrays: ``rows`` (None: no request) and each row's call name."""

    captures: list[str]
    rows: SrtRows | None
    names: list[str]


def srt_of_files(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> Srt | None:
    """The SRT of these pcap files (only the calls of ``client`` VMIDs if given, as
    ``Trace.df_srt(client=)``); None when a file needs the ``Trace`` path. numpy only."""
    calls = []
    for path in paths:
        if os.fspath(path) == "-" or not os.path.isfile(path):
            return None
        one = read_calls(path, dialect)
        if one is None:
            return None
        calls.append(one)
    captures = capture_names(paths)
    req = paired_requests(calls, client)
    del calls
    if not len(req.status):
        return Srt(captures, None, [])
    rows = srt_rows(req.capture, req.msg_id, req.status, req.latency)
    return Srt(captures, rows, [registry.message_name(int(v), dialect) for v in rows.msg_id.tolist()])


def srt_table(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> pd.DataFrame | None:
    """``Trace.srt`` (public form; ``Trace.df_srt(client=)`` with ``client``) of these pcap files;
    None when a file needs the ``Trace`` path."""
    import pandas as pd

    from .schema import SRT
    from .srt import srt_frame
    from .timebase import TimeBase, capture_labels, present

    srt = srt_of_files(paths, dialect, client)
    if srt is None:
        return None
    base = TimeBase(labels=capture_labels(srt.captures))
    if srt.rows is None:
        empty = SRT.empty()
        empty["capture"] = pd.Categorical([], categories=srt.captures)
        return present(empty, SRT, base)
    in_order = [srt.names[i] for i in np.argsort(srt.rows.first, kind="stable").tolist()]  # as first called
    names = pd.Categorical(srt.names, categories=list(dict.fromkeys(in_order)))
    return present(srt_frame(srt.rows, pd.Index(srt.captures), names), SRT, base)


def _latency(req: np.ndarray, pairing: Pairing, time_ns: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Seconds from each request to its first reply, NaN unless answered and both timed (as the
    transactions table's ``latency``)."""
    rep = pairing.reply_of[req]
    timed = (rep >= 0) & np.isin(pairing.status[req], codes(ANSWERED))
    at = np.flatnonzero(timed)
    timed[at] = known[req[at]] & known[rep[at]]
    latency_ns = np.zeros(len(req), np.int64)
    latency_ns[timed] = time_ns[rep[timed]] - time_ns[req[timed]]
    return np.where(timed, latency_ns / 1e9, np.nan)
