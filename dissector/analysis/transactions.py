"""Requests paired with replies, and the transactions table.

Pairing (protocol.md 1.6): a reply answers the latest earlier request with the same (capture,
client, seq, msg_id); seq is 16 bits and wraps, so a key recurs and only order tells the calls
apart. Within one key, in capture order:

* request, reply            -> the request is ``ok`` or ``error`` (by the reply's error code);
* request, reply, reply     -> the second reply is a ``duplicate_reply`` of that request;
* reply with no request     -> ``orphan_reply``;
* request, request (no reply between) -> the first is ``retransmitted``: its (seq, msg_id)
  was reused while it was still outstanding; the second is paired as usual;
* request and nothing after -> ``unanswered``.

Kernel logs do not record the seq of requests (and "RM rejected message" lines have none):
such messages pair by (capture, client, msg_id) in order, oldest outstanding request first.
Everything is numpy over sorted keys; only those seq-less messages take a Python loop.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .schema import STATUSES, TRANSACTIONS, nullable

REQUEST, REPLY = 1, 2
OK, ERROR, UNANSWERED, DUPLICATE, ORPHAN, RETRANSMITTED = range(6)
assert STATUSES[DUPLICATE] == "duplicate_reply" and STATUSES[RETRANSMITTED] == "retransmitted"


@dataclass
class Pairing:
    """Result of pairing, indexed by message row (-1 = none)."""

    reply_of: np.ndarray  # request row -> its first reply's row
    request_of: np.ndarray  # reply row -> the request it answers (first or duplicate)
    status: np.ndarray  # int8 per row: OK.. for requests and replies, -1 for other messages
    replies: np.ndarray  # request row -> number of replies it got
    reused_in: np.ndarray  # retransmitted request row -> row of the request that reused its key


def pair(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    msg_type: np.ndarray,
    err_code: np.ndarray,
) -> Pairing:
    """Pair requests and replies of messages given in capture order (see the module docstring)."""
    n = len(msg_type)
    reply_of = np.full(n, -1, np.int64)
    request_of = np.full(n, -1, np.int64)
    reused_in = np.full(n, -1, np.int64)
    status = np.full(n, -1, np.int8)
    call = ((msg_type == REQUEST) | (msg_type == REPLY)) & (msg_id >= 0)
    keyed = np.flatnonzero(call & (seq >= 0))
    order = np.lexsort((keyed, msg_id[keyed], seq[keyed], client[keyed], capture[keyed]))
    s = keyed[order]
    m = len(s)
    if m:
        same = np.zeros(m, bool)
        same[1:] = (
            (capture[s[1:]] == capture[s[:-1]])
            & (client[s[1:]] == client[s[:-1]])
            & (seq[s[1:]] == seq[s[:-1]])
            & (msg_id[s[1:]] == msg_id[s[:-1]])
        )
        pos = np.arange(m)
        is_req = msg_type[s] == REQUEST
        group_start = np.maximum.accumulate(np.where(same, 0, pos))
        last_req = np.maximum.accumulate(np.where(is_req, pos, -1))
        last_req = np.where(last_req >= group_start, last_req, -1)
        # replies
        rep = np.flatnonzero(~is_req)
        owner = last_req[rep]
        answered = owner >= 0
        first = answered & (owner == rep - 1)
        request_of[s[rep[answered]]] = s[owner[answered]]
        status[s[rep[~answered]]] = ORPHAN
        status[s[rep[answered & ~first]]] = DUPLICATE
        reply_of[s[owner[first]]] = s[rep[first]]
        # requests
        req = np.flatnonzero(is_req)
        has_next = np.zeros(m, bool)
        has_next[:-1] = same[1:]
        next_req = np.zeros(m, bool)
        next_req[:-1] = is_req[1:]
        retx = req[has_next[req] & next_req[req]]
        status[s[retx]] = RETRANSMITTED
        reused_in[s[retx]] = s[retx + 1]
        status[s[req[~has_next[req]]]] = UNANSWERED
    replies = np.zeros(n, np.int32)
    if n:
        answered_rows = request_of[request_of >= 0]
        replies += np.bincount(answered_rows, minlength=n).astype(np.int32)
    loose = np.flatnonzero(call & (seq < 0))
    if len(loose):
        _pair_without_seq(capture, client, seq, msg_id, msg_type, loose, reply_of, request_of, status, replies)
    req_rows = np.flatnonzero(reply_of >= 0)
    outcome = np.where(err_code[reply_of[req_rows]] == 0, OK, ERROR).astype(np.int8)
    status[req_rows] = outcome
    status[reply_of[req_rows]] = outcome  # a first reply carries its call's outcome
    status[call & (msg_type == REQUEST) & (status < 0)] = UNANSWERED
    status[call & (msg_type == REPLY) & (status < 0) & (request_of < 0)] = ORPHAN
    return Pairing(reply_of, request_of, status, replies, reused_in)


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
    mtype = _type_codes(messages)
    err = messages["err_code"].to_numpy(np.int64, na_value=-1)
    pairing = pair(capture, client, seq, msg_id, mtype, err)
    return transactions_from(messages, pairing, mtype)


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
    req_row, rep_row, first_row, row_status = req_row[order], rep_row[order], first_row[order], row_status[order]

    def at(column: str, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        return messages[column].array.take(rows, allow_fill=True)

    time_ns_req = messages["time_ns"].to_numpy(np.int64, na_value=0)
    known = messages["time_ns"].notna().to_numpy()
    has_both = (req_row >= 0) & (rep_row >= 0) & (row_status <= ERROR)
    both = np.flatnonzero(has_both)
    has_both[both] = known[req_row[both]] & known[rep_row[both]]
    latency_ns = np.zeros(len(first_row), np.int64)
    latency_ns[has_both] = time_ns_req[rep_row[has_both]] - time_ns_req[req_row[has_both]]
    latency = np.where(has_both, latency_ns / 1e9, np.nan)
    reused = pairing.reused_in[np.where(req_row >= 0, req_row, 0)]
    reused = np.where((row_status == RETRANSMITTED) & (req_row >= 0), reused, -1)
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
