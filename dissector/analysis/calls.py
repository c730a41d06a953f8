"""``ghrm stats`` without the messages table: captures read in blocks into call columns, paired.

Why: the SRT needs, per call, who sent it, its key, its type, the reply's error code and two
times; not payload fields, malformation texts, the generated ``vm`` or a DataFrame per message.
A clean classic pcap is read ``fastpath.BLOCK_BYTES`` at a time (reassembly carried across
blocks, ``columnar.Reassembly``) into ``CallColumns``. For the SRT each block goes on in frame
order through ``transactions.ClientKeys`` and ``transactions.Pairer`` (the core of ``pair``)
and only the requests still open are held, so memory follows the calls in flight, not the file
(10M messages: 0.7 GB, was 2.6 GB); the numbers are ``srt.srt_rows``, exactly as for
``Trace.srt`` (tests compare the two).
Anything else (pcapng, text logs, stdin, a record the block scan declines) returns None and the
caller takes the ``Trace`` path.

``ghrm errors`` reads the same way (``error_replies``): the calls, with the payload VMIDs and the
memory/IRQ calls rule 1 of ``vm`` reads, paired; its text comes from ``errors.error_groups``
(``error_rows``), numpy only, and its csv/json from ``errors.df_errors`` (``errors_table``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from dissector.decoders.columnar import Reassembly, decode_calls
from dissector.protocol import registry
from dissector.protocol.wire import REQUEST
from dissector.sorting import positions

from . import fastpath
from .columns import CallColumns, concat_column
from .srt import SrtRows, srt_rows
from .status import ANSWERED, codes
from .transactions import ClientKeys, Paired, Pairer, Pairing, client_keys, pair

_T = TypeVar("_T")

if TYPE_CHECKING:  # pandas only for csv/json: the text of ``ghrm stats`` is printed from arrays
    import pandas as pd

    from dissector.capture.reassembly import RawMessage


def read_calls(
    path: str | os.PathLike[str],
    dialect: str = "rm",
    block_bytes: int = fastpath.BLOCK_BYTES,
    vmids: bool = False,
    keep: tuple[np.ndarray, np.ndarray] | None = None,
) -> CallColumns | None:
    """The calls of a clean classic pcap, read in blocks; None for any other input.
    ``vmids``/``keep``: as ``columnar.decode_calls``."""
    parts = _decoded_blocks(path, dialect, block_bytes, vmids, keep)
    if parts is None:
        return None
    try:
        return CallColumns.joined([calls for calls, _ in parts])
    except fastpath.Declined:
        return None


def _decoded_blocks(
    path: str | os.PathLike[str],
    dialect: str,
    block_bytes: int,
    vmids: bool = False,
    keep: tuple[np.ndarray, np.ndarray] | None = None,
) -> Iterator[tuple[CallColumns, Reassembly | None]] | None:
    """Each block's calls (``columnar.decode_calls``, reassembly carried across blocks) with
    the carried state after it, then what the end of the file flushes (state None). None: not a
    clean classic pcap. Reading a block may raise ``fastpath.Declined``."""
    blocks = fastpath.scan_blocks(path, block_bytes)
    if blocks is None:
        return None

    def run(blocks: Iterator[fastpath.RecordColumns]) -> Iterator[tuple[CallColumns, Reassembly | None]]:
        carry = Reassembly()
        for rc in blocks:
            yield decode_calls(rc, dialect, carry, last=False, vmids=vmids, keep=keep), carry
        end = fastpath.no_records(os.fspath(path))
        yield decode_calls(end, dialect, carry, last=True, vmids=vmids, keep=keep), None

    return run(blocks)


@dataclass
class Requests:
    """What the SRT reads of every request (in capture order): capture code, message id,
    status code and seconds to the first reply (NaN unless answered and both timed)."""

    capture: np.ndarray
    msg_id: np.ndarray
    status: np.ndarray
    latency: np.ndarray


def streamed_calls(
    path: str | os.PathLike[str], dialect: str, block_bytes: int
) -> Iterator[CallColumns] | None:
    """The calls of a clean classic pcap in frame order, a block at a time (None: not such a
    file). A message finished in a later block than its first record starts no earlier than
    the oldest message still in progress, so calls from there on wait for the next block."""
    parts = _decoded_blocks(path, dialect, block_bytes)
    if parts is None:
        return None

    def run(parts: Iterator[tuple[CallColumns, Reassembly | None]]) -> Iterator[CallColumns]:
        held: list[CallColumns] = []
        for part, carry in parts:
            calls = CallColumns.joined([*held, part])
            if carry is None:  # the end of the file: nothing waits
                yield calls
                return
            oldest = carry.reassembler.oldest_frame()
            cut = len(calls) if oldest is None else int(np.searchsorted(calls.frame, oldest))
            held = [calls.rows(slice(cut, None))]
            yield calls.rows(slice(0, cut))

    return run(parts)


def paired_requests(
    paths: Sequence[str | os.PathLike[str]],
    dialect: str,
    client: Sequence[int] | None = None,
    block_bytes: int = fastpath.BLOCK_BYTES,
) -> Requests | None:
    """The requests of these pcap files (``client``: only those on these VMIDs' queues), paired
    as the messages table pairs them (``client_keys``, then ``pair``), a block at a time: only
    the requests still open are held between blocks, and per request the four SRT columns.
    None when a file needs the ``Trace`` path (stdin, not a regular file, not a clean pcap)."""
    streams = _per_file(paths, lambda path: streamed_calls(path, dialect, block_bytes))
    if streams is None:
        return None
    keys, pairer = ClientKeys(), Pairer()
    acc = _Accumulated(client)
    try:
        for i, stream in enumerate(streams):
            for calls in stream:
                capture = np.full(len(calls), i, np.int64)
                clients = keys.feed(
                    capture, calls.client_vmid, calls.msg_type, calls.seq, calls.msg_id, calls.allocated_vmid
                )
                base = pairer.rows
                done = pairer.feed(
                    capture,
                    clients,
                    calls.seq.astype(np.int64),
                    calls.msg_id.astype(np.int64),
                    calls.msg_type.astype(np.int64),
                    calls.err_code,
                    calls.time_ns,
                )
                acc.add(i, base, calls, done)
    except fastpath.Declined:
        return None
    acc.add(0, pairer.rows, None, pairer.finish())
    return acc.requests()


class _Accumulated:
    """Requests as pairing settles them: the open ones wait with their capture, id and time;
    settled ones keep four narrow columns."""

    def __init__(self, client: Sequence[int] | None) -> None:
        self.client = client
        e = np.empty(0, np.int64)
        self.open: dict[str, np.ndarray] = {
            "row": e,
            "capture": e,
            "msg_id": e,
            "time": e,
            "known": e.astype(bool),
        }
        self.out: list[tuple[np.ndarray, ...]] = []

    def add(self, capture: int, base: int, calls: CallColumns | None, done: Paired) -> None:
        if calls is not None:
            req = np.flatnonzero(calls.msg_type == REQUEST)
            if self.client is not None:
                req = req[np.isin(calls.client_vmid[req], self.client)]
            fresh = {
                "row": req + base,
                "capture": np.full(len(req), capture, np.int64),
                "msg_id": calls.msg_id[req].astype(np.int64),
                "time": calls.time_ns[req],
                "known": calls.time_known[req],
            }
            self.open = {k: np.concatenate([self.open[k], fresh[k]]) for k in self.open}
        at = positions(self.open["row"], done.request)  # open rows ascend
        ok = at >= 0
        at, status, rep = at[ok], done.request_status[ok], done.reply_of[ok]
        latency = np.full(len(at), np.nan)
        timed = (rep >= 0) & np.isin(status, codes(ANSWERED))
        if calls is not None and timed.any():
            r = rep[timed] - base  # a first reply is settled in its own block
            both = self.open["known"][at[timed]] & calls.time_known[r]
            ns = calls.time_ns[r] - self.open["time"][at[timed]]
            latency[np.flatnonzero(timed)[both]] = ns[both] / 1e9
        self.out.append(
            (self.open["row"][at], self.open["capture"][at], self.open["msg_id"][at], status, latency)
        )
        keep = np.ones(len(self.open["row"]), bool)
        keep[at] = False
        self.open = {k: v[keep] for k, v in self.open.items()}

    def requests(self) -> Requests:
        """Every request in capture order (a request nothing paired, not a call: status -1)."""
        left = self.open
        self.out.append(
            (
                left["row"],
                left["capture"],
                left["msg_id"],
                np.full(len(left["row"]), -1, np.int8),
                np.full(len(left["row"]), np.nan),
            )
        )
        row, capture, msg_id, status, latency = (np.concatenate([o[j] for o in self.out]) for j in range(5))
        order = np.argsort(row, kind="stable")
        return Requests(capture[order], msg_id[order], status[order].astype(np.int8), latency[order])


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
    req = paired_requests(paths, dialect, client)
    if req is None:
        return None
    captures = capture_names(paths)
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


def _read_all(
    paths: Sequence[str | os.PathLike[str]],
    dialect: str,
    vmids: bool = False,
    keep: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[CallColumns] | None:
    """The calls of every file (``read_calls``); None when one of them needs the ``Trace`` path
    (stdin, not a regular file, not a clean classic pcap)."""
    return _per_file(paths, lambda path: read_calls(path, dialect, vmids=vmids, keep=keep))


def _per_file(
    paths: Sequence[str | os.PathLike[str]], reader: Callable[[str | os.PathLike[str]], _T | None]
) -> list[_T] | None:
    """``reader`` of every file; None as soon as one is stdin, not a regular file, or a file
    ``reader`` declines (the ``Trace`` path reads them all then)."""
    out = []
    for path in paths:
        if os.fspath(path) == "-" or not os.path.isfile(path):
            return None
        one = reader(path)
        if one is None:
            return None
        out.append(one)
    return out


# --- ghrm errors ------------------------------------------------------------------------------
@dataclass
class ErrorReplies:
    """The error replies of some pcap files, in the order of their calls, with what the errors
    table reads of each: the VM its exchange concerns (``vm``, -1 unknown: rules 1-4, as the
    messages table's) and its request's frame (-1: an orphan). ``starts``: each capture's first
    timed record (ns), the origin of the times shown."""

    captures: list[str]
    starts: dict[str, int]
    capture: np.ndarray
    frame: np.ndarray
    time_ns: np.ndarray
    time_known: np.ndarray
    msg_id: np.ndarray
    err_code: np.ndarray
    vm: np.ndarray
    request_frame: np.ndarray

    @property
    def seconds(self) -> np.ndarray:
        """Epoch seconds as the tables hold them (NaN unknown)."""
        return np.where(self.time_known, self.time_ns / 1e9, np.nan)


def error_replies(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> ErrorReplies | None:
    """The error replies of these pcap files (on ``client`` VMIDs' queues if given); None when a
    file needs the ``Trace`` path. numpy only: ``vm`` comes from ``context.resolve_vmids`` on the
    calls, then rule 1 (``context.resource_vms_of``) on the memory and IRQ calls kept whole while
    reading, asked only for the requests of these replies."""
    from .constants import IRQ_LEND, MEMORY_CREATE
    from .context import RESOURCE_CALLS, apply_resource_vms, resolve_vmids
    from .fields import msg_id_of

    # what rule 1 reads: the memory and IRQ requests, and the successful replies to a create
    requests = np.array([msg_id_of(n) for n in RESOURCE_CALLS], np.int64)
    creates = np.array([msg_id_of(n) for n in (*MEMORY_CREATE, IRQ_LEND)], np.int64)
    calls = _read_all(paths, dialect, vmids=True, keep=(requests, creates))
    if calls is None:
        return None
    captures = capture_names(paths)
    capture = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(calls)])

    def joined(name: str) -> np.ndarray:
        return concat_column(calls, name)

    client_vmid, seq, msg_id, msg_type = (
        joined(n).astype(np.int64) for n in ("client_vmid", "seq", "msg_id", "msg_type")
    )
    allocated, err, time_ns, frame = (
        joined("allocated_vmid"),
        joined("err_code"),
        joined("time_ns"),
        joined("frame"),
    )
    clients = client_keys(capture, client_vmid, msg_type, seq, msg_id, allocated)
    pairing = pair(capture.astype(np.int64), clients, seq, msg_id, msg_type, err, time_ns)
    vmid, _ = resolve_vmids(msg_type, msg_id, client_vmid, joined("payload_vmid"), allocated, pairing)
    rows = np.flatnonzero(err > 0)  # error replies (garbage is no call: not among them)
    if client is not None:
        rows = rows[np.isin(client_vmid[rows], client)]
    req = pairing.request_of[rows]  # a reply's exchange is its request's (orphans: their own)
    vm = np.where(req >= 0, vmid[np.maximum(req, 0)], vmid[rows])
    asked = np.where(req >= 0, frame[np.maximum(req, 0)], -1)
    wanted = np.zeros(len(frame), bool)
    wanted[req[req >= 0]] = True
    chosen = _resource_vms(
        calls, captures, capture, frame, msg_type, msg_id, client_vmid, err, pairing, wanted, dialect
    )
    apply_resource_vms(captures, capture[rows], asked, vm, chosen)
    starts = {captures[i]: c.first_timed[1] for i, c in enumerate(calls) if c.first_timed is not None}
    return ErrorReplies(
        captures,
        starts,
        capture[rows],
        frame[rows],
        time_ns[rows],
        joined("time_known")[rows],
        msg_id[rows],
        err[rows],
        vm,
        asked,
    )


def errors_table(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> pd.DataFrame | None:
    """``Trace.errors`` (public form; ``Trace.df_errors(client=)`` with ``client``) of these pcap
    files; None when a file needs the ``Trace`` path. ``errors.df_errors`` runs on a messages
    table of the error replies alone (``error_replies``)."""
    import pandas as pd

    from .errors import df_errors
    from .messages import named
    from .schema import ERRORS, nullable
    from .timebase import TimeBase, capture_labels, present

    replies = error_replies(paths, dialect, client)
    if replies is None:
        return None
    captures, msg_id, err, vm, asked = (
        replies.captures,
        replies.msg_id,
        replies.err_code,
        replies.vm,
        replies.request_frame,
    )
    messages = pd.DataFrame(
        {
            "capture": pd.Categorical.from_codes(replies.capture, categories=captures),
            "frame": replies.frame,
            "time": replies.seconds,
            "msg_id": msg_id,
            "name": named(msg_id, lambda v: registry.message_name(v, dialect)),
            "err_code": err,
            "err_name": named(err, lambda v: registry.error_name(v, dialect)),
            "vm": nullable(vm, vm < 0, "Int32"),
            "request_frame": nullable(asked, asked < 0, "Int64"),
            "malformed_kind": np.full(len(err), None, object),
        }
    )
    known = replies.time_known
    seconds, first = np.unique(messages["time"].to_numpy()[known], return_index=True)
    base = TimeBase(
        replies.starts, capture_labels(captures), pd.Index(seconds), replies.time_ns[known][first]
    )
    return present(df_errors(messages), ERRORS, base)


@dataclass
class ErrorRow:
    """One line of ``ghrm errors``' text: what ``Trace.errors`` holds in that row (``first`` and
    ``last`` in seconds since the capture start, NaN unknown; ``frames`` every reply's frame)."""

    name: str
    err_name: str
    err_code: int
    errno: str
    count: int
    first: float
    last: float
    vmids: tuple[int, ...]
    frames: Sequence[int]


def error_rows(
    paths: Sequence[str | os.PathLike[str]], dialect: str = "rm", client: Sequence[int] | None = None
) -> list[ErrorRow] | None:
    """The rows of ``errors_table`` as plain values, without pandas (what ``ghrm errors`` prints);
    None when a file needs the ``Trace`` path."""
    from dissector.protocol.errors import linux_errno

    from .errors import error_groups

    replies = error_replies(paths, dialect, client)
    if replies is None:
        return None
    seconds = replies.seconds
    groups = error_groups(replies.capture, replies.msg_id, replies.err_code, replies.vm, seconds)
    first, last = _since_start(replies, seconds, groups.capture, groups.first, groups.last)
    return [
        ErrorRow(
            registry.message_name(int(groups.msg_id[g]), dialect),
            registry.error_name(int(groups.err_code[g]), dialect),
            int(groups.err_code[g]),
            linux_errno(int(groups.err_code[g])),
            int(groups.count[g]),
            first[g],
            last[g],
            groups.vmids[g],
            replies.frame[groups.members(g)],
        )
        for g in range(len(groups))
    ]


def _since_start(
    replies: ErrorReplies, seconds: np.ndarray, capture: np.ndarray, *instants: np.ndarray
) -> list[list[float]]:
    """Instants (float epoch seconds of some replies, NaN unknown) as seconds since their
    capture's start, as ``timebase.present`` shows them: each through the exact ns of the first
    reply with that float time."""
    values = np.concatenate(instants)
    at = np.flatnonzero(np.isin(seconds, values[~np.isnan(values)]))
    exact, where = np.unique(seconds[at], return_index=True)
    pos = np.minimum(np.searchsorted(exact, values), max(len(exact) - 1, 0))
    found = ~np.isnan(values) & (len(exact) > 0)
    ns = replies.time_ns[at[where]][pos] if len(exact) else np.zeros(len(values), np.int64)
    nat = np.iinfo(np.int64).min
    per_capture = np.array([replies.starts.get(c, nat) for c in replies.captures] + [nat], np.int64)
    start = np.tile(per_capture[capture], len(instants))
    known = found & (start != nat)
    since = np.where(known, (ns - np.where(known, start, 0)) / 1e9, np.nan)
    return [part.tolist() for part in np.split(since, len(instants))]


def _resource_vms(
    calls: Sequence[CallColumns],
    captures: list[str],
    capture: np.ndarray,
    frame: np.ndarray,
    msg_type: np.ndarray,
    msg_id: np.ndarray,
    client_vmid: np.ndarray,
    err: np.ndarray,
    pairing: Pairing,
    wanted: np.ndarray,
    dialect: str,
) -> dict[tuple[str, int], int]:
    """Rule 1 of ``vm`` (``context.resource_vms_of``) over the memory and IRQ calls kept whole,
    for the ``wanted`` requests (a mask over the calls)."""
    from .context import ResourceCalls, payload_reader, resource_vms_of

    kept = np.zeros(len(frame), bool)
    for i, c in enumerate(calls):
        kept |= (capture == i) & np.isin(frame, np.fromiter(c.raw, np.int64, len(c.raw)))
    rows = np.flatnonzero(kept)
    if not len(rows):
        return {}
    request = pairing.request_of[rows]
    is_request = msg_type[rows] == REQUEST
    table = ResourceCalls(
        captures,
        np.arange(len(rows)),
        capture[rows],
        is_request,
        msg_id[rows],
        client_vmid[rows],
        err[rows].astype(np.int64),
        frame[rows],
        np.where(is_request, frame[rows], np.where(request >= 0, frame[np.maximum(request, 0)], -1)),
    )
    whole = [calls[c].raw[f] for c, f in zip(capture[rows].tolist(), frame[rows].tolist(), strict=True)]
    return resource_vms_of(table, payload_reader([_Kept(whole)], dialect), wanted[rows])


@dataclass
class _Kept:
    """The kept calls as ``payload_reader`` reads message columns: ``message_bytes(row)``, and
    ``raw_message(row)`` for those kept whole (``columnar.decode_calls``: the only ones a reader
    may hand to Scapy)."""

    messages: list[RawMessage | bytes]

    def __len__(self) -> int:
        return len(self.messages)

    def message_bytes(self, row: int) -> bytes:
        kept = self.messages[row]
        return kept if isinstance(kept, bytes) else kept.data

    def raw_message(self, row: int) -> RawMessage:
        kept = self.messages[row]
        if isinstance(kept, bytes):  # decode_calls keeps whole every message Scapy may see
            raise AssertionError("a kept call's bytes were handed to Scapy")
        return kept
