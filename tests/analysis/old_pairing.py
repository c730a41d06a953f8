"""The whole-array pairing ``transactions.pair`` and ``client_keys`` ran before their incremental
cores (``Pairer``, ``ClientKeys``), kept verbatim as oracles: tests hold the cores, fed whole or
in blocks, equal to them. What the cores did not change (``Pairing``, ``_fifo_counts``,
``client_epochs`` ...) is imported, not copied."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from dissector.analysis.constants import GIVE_UP_NS, RESTART_SEQ, REUSE_WINDOW
from dissector.analysis.status import Status
from dissector.analysis.transactions import (  # unchanged by the incremental cores: shared, not copied
    Pairing,
    _fifo_counts,
    _unpaired,
    client_epochs,
    known_ids,
)
from dissector.protocol.wire import REPLY, REQUEST

OK, ERROR, MALFORMED, UNANSWERED, DUPLICATE, ORPHAN, RETRANSMITTED = (s.code for s in Status)


@dataclass(frozen=True)
class Calls:
    """What pairing reads of every message row (capture order): who, which key, which type."""

    capture: np.ndarray
    client: np.ndarray  # VM keys (``client_keys``), not raw VMIDs
    seq: np.ndarray  # -1 unknown
    msg_id: np.ndarray  # -1 unknown
    msg_type: np.ndarray  # header type; -1 for garbage

    def __len__(self) -> int:
        return len(self.msg_type)


def pair(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    err_code: np.ndarray,
    time_ns: np.ndarray | None = None,
) -> Pairing:
    """Pair requests and replies of messages given in capture order (see the module docstring).

    ``client`` must already tell VMs on a reused VMID apart (``client_keys``); ``time_ns``
    (0 = unknown) lets a request open longer than ``GIVE_UP_NS`` count as given up.
    """
    calls = Calls(capture, client, seq, msg_id, msg_type)
    n = len(calls)
    call = ((msg_type == REQUEST) | (msg_type == REPLY)) & (msg_id >= 0)
    keyed = np.flatnonzero(call & (seq >= 0))
    out = _unpaired(n)
    if len(keyed):
        _pair_keyed(calls, keyed, out, abandoned=None)
        given_up = _abandoned(client, out.reused_in, out.request_of, msg_type, time_ns)
        if len(given_up):
            out = _unpaired(n)
            _pair_keyed(calls, keyed, out, abandoned=given_up)
    if n:
        valid = out.request_of[out.request_of >= 0]
        out.replies += np.bincount(valid, minlength=n).astype(np.int32)
    loose = np.flatnonzero(call & (seq < 0))
    if len(loose):
        _pair_without_seq(calls, loose, out)
    _set_outcomes(calls, call, err_code, out)
    return out


def _set_outcomes(calls: Calls, call: np.ndarray, err_code: np.ndarray, out: Pairing) -> None:
    """Status of answered requests and their first replies (by the reply's error code), then of
    requests nothing answered and replies that answer nothing."""
    req_rows = np.flatnonzero(out.reply_of >= 0)
    code = err_code[out.reply_of[req_rows]]
    outcome = np.select([code == 0, code < 0], [OK, MALFORMED], ERROR).astype(np.int8)
    out.status[req_rows] = outcome
    out.status[out.reply_of[req_rows]] = outcome  # a first reply carries its call's outcome
    unset = out.status < 0
    out.status[call & (calls.msg_type == REQUEST) & unset] = UNANSWERED
    out.status[call & (calls.msg_type == REPLY) & unset & (out.request_of < 0)] = ORPHAN


def _abandoned(
    client: np.ndarray,
    reused_in: np.ndarray,
    request_of: np.ndarray,
    msg_type: np.ndarray,
    time_ns: np.ndarray | None,
) -> np.ndarray:
    """Rows of requests that reused the key of a request the client had given up on.

    RM answers a client's requests in order: once a reply to a *later* request has arrived,
    an earlier request still waiting will get no reply (it was lost). Nor will one open for
    longer than ``GIVE_UP_NS`` (RM answers in micro- to milliseconds). A request that reuses
    its key after that is a new call, not a second one waiting behind the first.
    """
    out = []
    for first in np.flatnonzero(reused_in >= 0).tolist():
        second = int(reused_in[first])
        if time_ns is not None and time_ns[first] and time_ns[second] - time_ns[first] > GIVE_UP_NS:
            out.append(second)
            continue
        between = np.arange(first + 1, second)
        replies = between[(msg_type[between] == REPLY) & (client[between] == client[first])]
        if (request_of[replies] > first).any():
            out.append(second)
    return np.array(out, np.int64)


@dataclass(frozen=True)
class _KeyRun:
    """Keyed messages sorted by (capture, client, seq, msg_id), capture order within a key."""

    rows: np.ndarray  # message rows in that order
    is_req: np.ndarray  # bool per position
    same_key: np.ndarray  # bool: same key as the position before
    prev_req: np.ndarray  # position of the latest request of the same key before (-1 none)


def _pair_keyed(calls: Calls, keyed: np.ndarray, out: Pairing, abandoned: np.ndarray | None) -> None:
    """First in, first out within each (capture, client, seq, msg_id), as RM answers in order.

    Requests of one key outstanding together (a reused seq) are answered oldest first; a reply
    with none outstanding repeats the latest answer (duplicate) or answers nothing (orphan). A
    key seen again more than ``REUSE_WINDOW`` client requests later is a seq wrap: requests
    still open then are given up (unanswered) instead of waiting for the new call's reply; so
    are ``abandoned`` requests (``_abandoned``): they start a queue of their own.
    """
    run = _sorted_by_key(calls, keyed)
    rank = _client_ranks(calls, keyed)
    fresh = run.is_req & (run.prev_req >= 0) & (rank[run.rows] - rank[run.rows[run.prev_req]] > REUSE_WINDOW)
    if abandoned is not None:
        fresh |= run.is_req & np.isin(run.rows, abandoned)
    queue = np.cumsum(~run.same_key | fresh) - 1  # one FIFO queue per key, restarted at ``fresh``
    pos = np.arange(len(run.rows))
    queue_start = np.maximum.accumulate(np.where(np.r_[True, queue[1:] != queue[:-1]], pos, 0))
    sent, answered = _fifo_counts(run.is_req, queue, queue_start)
    _link_replies(run, queue_start, answered, out)
    still_open = np.r_[0, (sent - answered)[:-1]]  # requests of the queue open before each position
    reused = run.is_req & (run.prev_req >= 0) & ~fresh & (still_open > 0)
    _mark_reuses(run, reused, out)


def _sorted_by_key(calls: Calls, keyed: np.ndarray) -> _KeyRun:
    """``keyed`` rows in key order, with the previous request of each one's key."""
    c = calls
    rows = keyed[np.lexsort((keyed, c.msg_id[keyed], c.seq[keyed], c.client[keyed], c.capture[keyed]))]
    same = np.zeros(len(rows), bool)
    a, b = rows[1:], rows[:-1]
    same[1:] = (c.capture[a] == c.capture[b]) & (c.client[a] == c.client[b])
    same[1:] &= (c.seq[a] == c.seq[b]) & (c.msg_id[a] == c.msg_id[b])
    is_req = c.msg_type[rows] == REQUEST
    pos = np.arange(len(rows))
    last_req = np.maximum.accumulate(np.where(is_req, pos, -1))
    prev_req = np.r_[-1, last_req[:-1]]
    key_start = np.maximum.accumulate(np.where(same, 0, pos))
    prev_req = np.where(is_req & (prev_req >= key_start), prev_req, -1)
    return _KeyRun(rows, is_req, same, prev_req)


def _client_ranks(calls: Calls, keyed: np.ndarray) -> np.ndarray:
    """Per message row: how many requests its client sent before it (requests only; else 0),
    to tell a reused key from a wrapped seq."""
    requests = keyed[calls.msg_type[keyed] == REQUEST]
    by_client = requests[np.lexsort((requests, calls.client[requests], calls.capture[requests]))]
    client_key = calls.capture[by_client].astype(np.int64) * (1 << 48) + calls.client[by_client]
    starts = np.r_[0, np.flatnonzero(np.diff(client_key)) + 1]
    rank = np.zeros(len(calls), np.int64)
    first = np.repeat(starts, np.diff(np.r_[starts, len(by_client)]))
    rank[by_client] = np.arange(len(by_client)) - first
    return rank


def _link_replies(run: _KeyRun, queue_start: np.ndarray, answered: np.ndarray, out: Pairing) -> None:
    """Each reply answers the k-th request of its queue (k = answered so far); a reply that
    answered nothing new repeats the latest answer (duplicate) or, with none, is an orphan."""
    s = run.rows
    req_pos = np.flatnonzero(run.is_req)
    rep = np.flatnonzero(~run.is_req)
    first_req = np.searchsorted(req_pos, queue_start[rep])  # the queue's first request, in req_pos
    before = np.where(rep > queue_start[rep], answered[np.maximum(rep - 1, 0)], 0)
    k = answered[rep]  # 1-based number of the request this reply answers (or repeats)
    new_answer = k > before
    if len(req_pos):
        owner = np.where(k > 0, req_pos[np.clip(first_req + k - 1, 0, len(req_pos) - 1)], -1)
    else:
        owner = np.full(len(rep), -1, np.int64)
    first = new_answer & (owner >= 0)
    out.reply_of[s[owner[first]]] = s[rep[first]]
    out.request_of[s[rep[first]]] = s[owner[first]]
    dup = ~new_answer & (owner >= 0)
    out.request_of[s[rep[dup]]] = s[owner[dup]]
    out.status[s[rep[dup]]] = DUPLICATE
    out.status[s[rep[~new_answer & (owner < 0)]]] = ORPHAN


def _mark_reuses(run: _KeyRun, reused: np.ndarray, out: Pairing) -> None:
    """A request sent while an earlier one of its key was open reused that key (``reused_in``);
    if nothing answered it, it was ``retransmitted``."""
    s = run.rows
    out.reused_in[s[run.prev_req[reused]]] = s[reused]
    out.status[s[reused & (out.reply_of[s] < 0)]] = RETRANSMITTED


def _pair_without_seq(calls: Calls, loose: np.ndarray, out: Pairing) -> None:
    """Pair messages whose seq is unknown by (capture, client, msg_id), oldest request first."""
    capture, client, seq, msg_id, msg_type = (
        calls.capture,
        calls.client,
        calls.seq,
        calls.msg_id,
        calls.msg_type,
    )
    keys = {(int(capture[i]), int(client[i]), int(msg_id[i])) for i in loose.tolist()}
    call = (msg_type == REQUEST) | (msg_type == REPLY)
    rows = np.flatnonzero(call & (msg_id >= 0))
    events: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for i in rows.tolist():
        key = (int(capture[i]), int(client[i]), int(msg_id[i]))
        if key in keys:
            events[key].append(i)
    for key_rows in events.values():
        waiting: deque[int] = deque()  # requests still open, oldest first
        for i in key_rows:
            known = seq[i] >= 0
            if msg_type[i] == REQUEST:
                if not known or out.status[i] == UNANSWERED:
                    waiting.append(i)
                continue
            if known and out.request_of[i] >= 0:
                continue  # already paired by its seq
            for j in list(waiting):
                if known and seq[j] >= 0:
                    continue  # both have a seq: they would have paired by key
                waiting.remove(j)
                out.request_of[i] = j
                out.reply_of[j] = i
                out.replies[j] += 1
                out.status[i] = out.status[j] = -1
                break


def client_keys(
    capture: np.ndarray,
    client: np.ndarray,
    msg_type: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    allocated_vmid: np.ndarray,
) -> np.ndarray:
    """Client VMIDs made unique per VM: ``client + (epoch << 16) + (restarts << 24)``.

    The epoch grows at each successful VM_ALLOCATE of the client's VMID; a restart is the
    client's request seq falling back to a small number (not a wrap, not a garbage record):
    both mean a new VM, or a new kernel, counting from seq 0.
    """
    epoch = client_epochs(capture, client, allocated_vmid)
    key = client.astype(np.int64) + (epoch << 16)
    req = np.flatnonzero((msg_type == REQUEST) & (seq >= 0) & np.isin(msg_id, known_ids()))
    if len(req) < 2:
        return key
    order = req[np.lexsort((req, key[req], capture[req]))]
    same = (capture[order][1:] == capture[order][:-1]) & (key[order][1:] == key[order][:-1])
    back = seq[order][:-1] - seq[order][1:]
    restart = np.r_[False, same & (back > 0) & (back < 0x8000) & (seq[order][1:] < RESTART_SEQ)]
    if not restart.any():
        return key
    first = np.r_[0, np.flatnonzero(~same) + 1]  # where each client's requests start
    jumps = np.cumsum(restart)
    within = jumps - np.repeat(jumps[first], np.diff(np.r_[first, len(order)]))
    out = key.copy()
    for a, b in zip(first.tolist(), np.r_[first[1:], len(order)].tolist(), strict=True):
        if within[b - 1] == 0:
            continue
        rows, counts = order[a:b], within[a:b]
        members = np.flatnonzero((capture == capture[rows[0]]) & (key == key[rows[0]]))
        at = np.searchsorted(rows, members, "right") - 1  # latest request at or before
        out[members] += np.where(at >= 0, counts[np.maximum(at, 0)], 0) << 24
    return out
