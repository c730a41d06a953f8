"""Requests paired with replies, and the transactions table.

Pairing (protocol.md 1.6): RM echoes a request's seq and msg_id in its reply and answers each
client in order. seq is 16 bits and wraps, so a key recurs and only order tells calls apart.
Within one (capture, client, seq, msg_id), in capture order, first in first out:

* request, reply            -> the request is ``ok`` or ``error`` (by the reply's error code),
  or ``malformed`` when the reply's error code was lost (a cut record, a lost fragment);
* request, reply, reply     -> the second reply is a ``duplicate_reply`` of that request;
* reply with no request     -> ``orphan_reply``;
* request, request (the first still open) -> the key was reused: replies go to the oldest
  open request first; one left without a reply is ``retransmitted`` (``reused_in`` on the
  earlier request names the later one);
* request and nothing after -> ``unanswered``.

"client" here is a VM, not a VMID: when a VMID is allocated again, or a client's request
seqs jump back (a new kernel counting from 0 again), its later requests are a new client
(``client_keys``). A key that comes back more than ``REUSE_WINDOW`` requests of that client
later is a wrap, not a reuse. Kernel logs do not record the seq of requests (and "RM rejected
message" lines have none): such messages pair by (capture, client, msg_id) in order, oldest
outstanding request first. All numpy over sorted keys; only seq-less messages take a loop.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from dissector.protocol import registry
from dissector.protocol.wire import REPLY, REQUEST

from .schema import STATUSES, TRANSACTIONS, nullable

OK, ERROR, MALFORMED, UNANSWERED, DUPLICATE, ORPHAN, RETRANSMITTED = range(7)
assert STATUSES[DUPLICATE] == "duplicate_reply" and STATUSES[RETRANSMITTED] == "retransmitted"


@dataclass
class Pairing:
    """Result of pairing, indexed by message row (-1 = none)."""

    reply_of: np.ndarray  # request row -> its first reply's row
    request_of: np.ndarray  # reply row -> the request it answers (first or duplicate)
    status: np.ndarray  # int8 per row: OK.. for requests and replies, -1 for other messages
    replies: np.ndarray  # request row -> number of replies it got
    reused_in: np.ndarray  # retransmitted request row -> row of the request that reused its key


GIVE_UP_NS = 500_000_000  # a request open this long when its key comes back is taken as lost
REUSE_WINDOW = 1024  # requests of one client: a key seen again sooner is a reuse, later a wrap


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
    n = len(msg_type)
    reply_of = np.full(n, -1, np.int64)
    request_of = np.full(n, -1, np.int64)
    reused_in = np.full(n, -1, np.int64)
    status = np.full(n, -1, np.int8)
    call = ((msg_type == REQUEST) | (msg_type == REPLY)) & (msg_id >= 0)
    keyed = np.flatnonzero(call & (seq >= 0))
    if len(keyed):
        _pair_keyed(
            capture, client, seq, msg_id, msg_type, keyed, reply_of, request_of, status, reused_in, None
        )
        given_up = _abandoned(client, reused_in, request_of, msg_type, time_ns)
        if len(given_up):
            for array, fill in ((reply_of, -1), (request_of, -1), (status, -1), (reused_in, -1)):
                array.fill(fill)
            _pair_keyed(
                capture,
                client,
                seq,
                msg_id,
                msg_type,
                keyed,
                reply_of,
                request_of,
                status,
                reused_in,
                given_up,
            )
    replies = np.zeros(n, np.int32)
    if n:
        replies += np.bincount(request_of[request_of >= 0], minlength=n).astype(np.int32)
    loose = np.flatnonzero(call & (seq < 0))
    if len(loose):
        _pair_without_seq(
            capture, client, seq, msg_id, msg_type, loose, reply_of, request_of, status, replies
        )
    req_rows = np.flatnonzero(reply_of >= 0)
    code = err_code[reply_of[req_rows]]
    outcome = np.select([code == 0, code < 0], [OK, MALFORMED], ERROR).astype(np.int8)
    status[req_rows] = outcome
    status[reply_of[req_rows]] = outcome  # a first reply carries its call's outcome
    status[call & (msg_type == REQUEST) & (status < 0)] = UNANSWERED
    status[call & (msg_type == REPLY) & (status < 0) & (request_of < 0)] = ORPHAN
    return Pairing(reply_of, request_of, status, replies, reused_in)


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


def _runmax_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarting at each new ``group`` (groups contiguous, ascending)."""
    if not len(values):
        return values
    span = int(values.max() - values.min()) + 1
    lifted = group.astype(np.int64) * span + (values - values.min())
    return np.maximum.accumulate(lifted) - group.astype(np.int64) * span + values.min()


def _pair_keyed(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    keyed: np.ndarray,
    reply_of: np.ndarray,
    request_of: np.ndarray,
    status: np.ndarray,
    reused_in: np.ndarray,
    split: np.ndarray | None,
) -> None:
    """First in, first out within each (capture, client, seq, msg_id), as RM answers in order.

    Requests of one key outstanding together (a reused seq) are answered oldest first; a reply
    with none outstanding repeats the latest answer (duplicate) or answers nothing (orphan). A
    key seen again more than ``REUSE_WINDOW`` client requests later is a seq wrap: requests
    still open then are given up (unanswered) instead of waiting for the new call's reply.
    """
    is_req_all = msg_type == REQUEST
    # client-level rank of each request, to tell a reuse from a wrap
    req_rows = keyed[is_req_all[keyed]]
    by_client = req_rows[np.lexsort((req_rows, client[req_rows], capture[req_rows]))]
    ckey = capture[by_client].astype(np.int64) * (1 << 48) + client[by_client]
    cstart = np.r_[0, np.flatnonzero(np.diff(ckey)) + 1]
    rank = np.zeros(len(msg_type), np.int64)
    rank[by_client] = np.arange(len(by_client)) - np.repeat(cstart, np.diff(np.r_[cstart, len(by_client)]))

    s = keyed[np.lexsort((keyed, msg_id[keyed], seq[keyed], client[keyed], capture[keyed]))]
    m = len(s)
    same = np.zeros(m, bool)
    same[1:] = (
        (capture[s[1:]] == capture[s[:-1]])
        & (client[s[1:]] == client[s[:-1]])
        & (seq[s[1:]] == seq[s[:-1]])
        & (msg_id[s[1:]] == msg_id[s[:-1]])
    )
    is_req = is_req_all[s]
    pos = np.arange(m)
    # a request far (in client requests) from the previous request of its key starts afresh
    last_req = np.maximum.accumulate(np.where(is_req, pos, -1))
    prev_req = np.r_[-1, last_req[:-1]]
    group_start = np.maximum.accumulate(np.where(same, 0, pos))
    has_prev = is_req & (prev_req >= group_start) & (prev_req >= 0)
    far = has_prev & (rank[s] - rank[s[np.maximum(prev_req, 0)]] > REUSE_WINDOW)
    if split is not None:  # requests that must not queue behind an abandoned one
        far |= is_req & np.isin(s, split)
    group = np.cumsum(~same | far) - 1
    start = np.maximum.accumulate(np.where(np.r_[True, group[1:] != group[:-1]], pos, 0))
    # queue arithmetic: answered = replies so far - replies that found the queue empty
    n_req = np.cumsum(is_req) - np.r_[0, np.cumsum(is_req)][start]
    n_rep = np.cumsum(~is_req) - np.r_[0, np.cumsum(~is_req)][start]
    excess = np.maximum(_runmax_by_group(n_rep - n_req, group), 0)
    answered = n_rep - excess  # requests answered so far in this group (FIFO)
    # where each group's requests start in the list of requests
    req_pos = np.flatnonzero(is_req)
    first_req = np.searchsorted(req_pos, start)
    rep = np.flatnonzero(~is_req)
    prev_answered = np.where(rep > start[rep], answered[np.maximum(rep - 1, 0)], 0)
    paired = answered[rep] > prev_answered
    k = answered[rep]  # 1-based number of the request this reply answers (or repeats)
    if len(req_pos):
        owner = np.where(k > 0, req_pos[np.clip(first_req[rep] + k - 1, 0, len(req_pos) - 1)], -1)
    else:
        owner = np.full(len(rep), -1, np.int64)
    ok = paired & (owner >= 0)
    reply_of[s[owner[ok]]] = s[rep[ok]]
    request_of[s[rep[ok]]] = s[owner[ok]]
    dup = ~paired & (owner >= 0)
    request_of[s[rep[dup]]] = s[owner[dup]]
    status[s[rep[dup]]] = DUPLICATE
    status[s[rep[~paired & (owner < 0)]]] = ORPHAN
    # a request sent while an earlier one of its key was still open reused that key
    open_before = np.r_[0, (n_req - answered)[:-1]]
    reused = is_req & has_prev & ~far & (open_before > 0)
    reused_in[s[np.maximum(prev_req[reused], 0)]] = s[reused]
    retx = reused & (reply_of[s] < 0)
    status[s[retx]] = RETRANSMITTED


RESTART_SEQ = 64  # a client whose request seq falls back below this has restarted its count


@cache
def known_ids() -> np.ndarray:
    """Every message id some source defines (garbage records carry random ids)."""
    return np.array(sorted(m.msg_id for m in registry.messages()), np.int64)


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


def client_epochs(capture: np.ndarray, client: np.ndarray, allocated_vmid: np.ndarray) -> np.ndarray:
    """For each message (in capture order): how many VM_ALLOCATEs of its client's VMID came before.

    A VMID allocated again is a new VM whose kernel numbers its requests from seq 0 again, so
    pairing and seq-reuse checks must not connect it with the previous VM on that VMID.
    """
    out = np.zeros(len(client), np.int64)
    rows = np.flatnonzero(allocated_vmid >= 0)
    if not len(rows):
        return out
    for cap, vmid in set(zip(capture[rows].tolist(), allocated_vmid[rows].tolist(), strict=True)):
        at = rows[(capture[rows] == cap) & (allocated_vmid[rows] == vmid)]
        mine = np.flatnonzero((capture == cap) & (client == vmid))
        out[mine] = np.searchsorted(at, mine)
    return out


def _pair_without_seq(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    loose: np.ndarray,
    reply_of: np.ndarray,
    request_of: np.ndarray,
    status: np.ndarray,
    replies: np.ndarray,
) -> None:
    """Pair messages whose seq is unknown by (capture, client, msg_id), oldest request first."""
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
                if not known or status[i] == UNANSWERED:
                    waiting.append(i)
                continue
            if known and request_of[i] >= 0:
                continue  # already paired by its seq
            for j in list(waiting):
                if known and seq[j] >= 0:
                    continue  # both have a seq: they would have paired by key
                waiting.remove(j)
                request_of[i] = j
                reply_of[j] = i
                replies[j] += 1
                status[i] = status[j] = -1
                break


def df_transactions(messages: pd.DataFrame) -> pd.DataFrame:
    """The transactions table (schema ``TRANSACTIONS``) of a messages table, in time order.

    Pairing runs per capture in the messages' (capture, frame) order; ``messages`` is not modified.
    """
    if messages.empty:
        return TRANSACTIONS.empty()
    capture = messages["capture"].cat.codes.to_numpy(np.int64)
    client = messages["client_vmid"].to_numpy(np.int64)
    seq = messages["seq"].to_numpy(np.int64, na_value=-1)
    msg_id = messages["msg_id"].to_numpy(np.int64, na_value=-1)
    mtype = call_types(messages)
    err = messages["err_code"].to_numpy(np.int64, na_value=-1)
    allocated = (messages["vmid_source"] == "allocated").to_numpy(bool) & (mtype == REPLY) & (err == 0)
    alloc_vmid = np.where(allocated, messages["vmid"].to_numpy(np.int64, na_value=-1), -1)
    clients = client_keys(capture, client, mtype, seq, msg_id, alloc_vmid)
    time_ns = messages["time_ns"].to_numpy(np.int64, na_value=0)
    pairing = pair(capture, clients, seq, msg_id, mtype, err, time_ns)
    return transactions_from(messages, pairing, mtype)


def garbage(messages: pd.DataFrame) -> np.ndarray:
    """Messages whose RPC header is broken and whose id no source defines: noise, not calls."""
    broken = (messages["malformed_kind"] == "header").to_numpy(bool)
    return broken & ~np.isin(messages["msg_id"].to_numpy(np.int64, na_value=-1), known_ids())


def call_types(messages: pd.DataFrame) -> np.ndarray:
    """Header message types, with -1 for garbage (see ``garbage``)."""
    return np.where(garbage(messages), -1, _type_codes(messages))


def _type_codes(messages: pd.DataFrame) -> np.ndarray:
    """Message types as header numbers (-1 unknown) from the categorical column."""
    names = {"continuation": 0, "request": 1, "reply": 2, "notification": 3}
    cat = messages["type"].array
    table = np.array([names[c] for c in cat.categories] + [-1], np.int64)
    return table[cat.codes]


def transactions_from(messages: pd.DataFrame, pairing: Pairing, mtype: np.ndarray) -> pd.DataFrame:
    """Build the table from a pairing of ``messages`` (shared with the messages builder)."""
    status = pairing.status
    req = np.flatnonzero(mtype == REQUEST)
    extra = np.flatnonzero((mtype == REPLY) & ((status == DUPLICATE) | (status == ORPHAN)))
    # row = the message the transaction starts with; req_row/rep_row the two ends (-1 none)
    req_row = np.concatenate([req, pairing.request_of[extra]])
    rep_row = np.concatenate([pairing.reply_of[req], extra])
    first_row = np.concatenate([req, extra])
    row_status = np.concatenate([status[req], status[extra]])
    order = np.argsort(first_row, kind="stable")
    req_row, rep_row, first_row, row_status = (
        req_row[order],
        rep_row[order],
        first_row[order],
        row_status[order],
    )

    def at(column: str, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        return messages[column].array.take(rows, allow_fill=True)

    time_ns_req = messages["time_ns"].to_numpy(np.int64, na_value=0)
    known = messages["time_ns"].notna().to_numpy()
    has_both = (req_row >= 0) & (rep_row >= 0) & (row_status <= MALFORMED)
    both = np.flatnonzero(has_both)
    has_both[both] = known[req_row[both]] & known[rep_row[both]]
    latency_ns = np.zeros(len(first_row), np.int64)
    latency_ns[has_both] = time_ns_req[rep_row[has_both]] - time_ns_req[req_row[has_both]]
    latency = np.where(has_both, latency_ns / 1e9, np.nan)
    reused = pairing.reused_in[np.where(req_row >= 0, req_row, 0)]
    reused = np.where((first_row == req_row) & (req_row >= 0), reused, -1)  # on request rows only
    frame = messages["frame"].to_numpy(np.int64)
    time = messages["time"].to_numpy(np.float64)
    vmid_row = np.where(req_row >= 0, req_row, rep_row)
    replies = np.where(req_row >= 0, pairing.replies[np.where(req_row >= 0, req_row, 0)], 0)
    replies = np.where(row_status == ORPHAN, 1, replies)
    return TRANSACTIONS.frame(
        {
            "capture": messages["capture"].array.take(first_row),
            "time": time[first_row],
            "client_vmid": messages["client_vmid"].to_numpy()[first_row],
            "vmid": at("vmid", vmid_row),
            "vm": at("vm", vmid_row),
            "seq": at("seq", first_row),
            "msg_id": at("msg_id", first_row),
            "name": messages["name"].array.take(first_row),
            "status": pd.Categorical.from_codes(row_status, categories=list(STATUSES)),
            "request_frame": nullable(np.where(req_row >= 0, frame[req_row], 0), req_row < 0, "Int64"),
            "reply_frame": nullable(np.where(rep_row >= 0, frame[rep_row], 0), rep_row < 0, "Int64"),
            "request_time": np.where(req_row >= 0, time[req_row], np.nan),
            "reply_time": np.where(rep_row >= 0, time[rep_row], np.nan),
            "latency": latency,
            "latency_ns": nullable(latency_ns, ~has_both, "Int64"),
            "err_code": at("err_code", rep_row),
            "err_name": at("err_name", rep_row),
            "replies": replies.astype(np.int32),
            "reused_in": nullable(np.where(reused >= 0, frame[reused], 0), reused < 0, "Int64"),
        }
    )
