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

Every rule above looks back only, so pairing runs a block at a time (``Pairer``: each key
carries its open requests and latest answer; ``pair`` is it fed once) and so do the client
keys (``ClientKeys``): a long capture is paired without holding all its messages.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from dissector.protocol import registry
from dissector.protocol.wire import REPLY, REQUEST
from dissector.sorting import distinct, isin

from .constants import GIVE_UP_NS, RESTART_SEQ, REUSE_WINDOW
from .schema import TRANSACTIONS, nullable
from .status import ANSWERED, STATUSES, Status, codes

if TYPE_CHECKING:  # pandas only where a table is built: pairing alone (ghrm stats) needs none
    import pandas as pd

# integer codes of ``Pairing.status`` (category codes of ``transactions.status``)
OK, ERROR, MALFORMED, UNANSWERED, DUPLICATE, ORPHAN, RETRANSMITTED = (s.code for s in Status)


@dataclass
class Pairing:
    """Result of pairing, indexed by message row (-1 = none)."""

    reply_of: np.ndarray  # request row -> its first reply's row
    request_of: np.ndarray  # reply row -> the request it answers (first or duplicate)
    status: np.ndarray  # int8 per row: a ``Status`` code for requests and replies, -1 for other messages
    replies: np.ndarray  # request row -> number of replies it got
    reused_in: np.ndarray  # retransmitted request row -> row of the request that reused its key
    client: np.ndarray | None = None  # what ``pair`` paired by per row (``client_keys``), kept for reuse


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
    (0 = unknown) lets a request open longer than ``GIVE_UP_NS`` count as given up. This is
    ``Pairer`` fed the whole lot as one block.
    """
    pairer = Pairer()
    out = settled(
        len(msg_type),
        [pairer.feed(capture, client, seq, msg_id, msg_type, err_code, time_ns, last=True), pairer.finish()],
    )
    out.client = client
    return out


def settled(n: int, parts: list[Paired]) -> Pairing:
    """The pairing of ``n`` messages from what ``Pairer`` handed back for them."""
    out = _unpaired(n)
    for p in parts:
        out.status[p.request] = p.request_status
        out.reply_of[p.request] = p.reply_of
        out.request_of[p.reply] = p.request_of
        out.status[p.reply] = p.reply_status
        out.reused_in[p.reused] = p.reused_in
    if n:
        out.replies += np.bincount(out.request_of[out.request_of >= 0], minlength=n).astype(np.int32)
    return out


def _unpaired(n: int) -> Pairing:
    """A pairing of ``n`` messages with nothing paired yet."""
    none = np.full(n, -1, np.int64)
    return Pairing(none, none.copy(), np.full(n, -1, np.int8), np.zeros(n, np.int32), none.copy())


def _runmax_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` restarting at each new ``group`` (groups contiguous, ascending)."""
    if not len(values):
        return values
    low = values.min()
    span = int(values.max() - low) + 1
    base = group.astype(np.int64) * span
    return np.maximum.accumulate(base + (values - low)) - base + low


def _fifo_counts(
    is_req: np.ndarray, queue: np.ndarray, queue_start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """At each position of a queue: requests sent so far and requests answered so far.

    Answered = replies so far - replies that found the queue empty (those repeat or answer
    nothing); a running maximum per queue counts the latter.
    """
    sent = np.cumsum(is_req)
    sent -= sent[queue_start] - is_req[queue_start]  # less the requests of the queues before
    got = np.arange(1, len(is_req) + 1) - queue_start - sent  # the rest of the queue is replies
    excess = np.maximum(_runmax_by_group(got - sent, queue), 0)
    return sent, got - excess


# --- the incremental core ------------------------------------------------------------------
# Pairing is causal: a message's pairing depends only on the messages before it. What a key
# carries forward is its current queue reduced to its latest answered request (with the reply
# that answered it, a marker: later replies are duplicates of it) and its open requests. Fed
# again before the next block's messages of that key, these few rows put the key's queue back
# in the same state (FIFO: open requests all come after the latest answered one). A key whose
# latest request is more than ``REUSE_WINDOW`` requests of its client old, with none open,
# sleeps as (key, latest answered request) only: its next request is a wrap, a new queue.

KEY_SEQ_BITS, KEY_ID_BITS = 16, 32  # seq and msg_id widths on the wire (RPC header "<BBHI")
MAX_CLIENTS = 1 << (63 - KEY_SEQ_BITS - KEY_ID_BITS)  # (capture, client) pairs a key can name
_ASLEEP_RANK = -(1 << 62)  # rank of a sleeping key's request: any later request is a wrap


@dataclass
class _KeyState:
    """Rows carried per awake key (sorted by key, in capture order within a key), and sleeping keys."""

    key: np.ndarray  # int64 packed (client code, seq, msg_id)
    row: np.ndarray  # int64 message row
    is_req: np.ndarray  # bool; a reply here is the marker of its key's latest answer
    open: np.ndarray  # bool: a request nothing has answered yet
    rank: np.ndarray  # int64: requests of its client before it
    time: np.ndarray  # int64 ns (0 unknown)
    reuser: np.ndarray  # bool: reused a key still open (retransmitted if never answered)
    sleep_key: np.ndarray  # int64 sorted
    sleep_row: np.ndarray  # int64: the sleeping key's latest answered request

    @classmethod
    def empty(cls) -> _KeyState:
        i64 = np.empty(0, np.int64)
        b = np.empty(0, bool)
        return cls(i64, i64, b, b, i64, i64, b, i64, i64)


_CARRIED = ("key", "row", "is_req", "open", "rank", "time", "reuser")


@dataclass
class _Step:
    """One block through one pass: per keyed message of the block, and the requests it finished."""

    owner: np.ndarray  # reply -> request row it answers or repeats (-1 none)
    first: np.ndarray  # bool: reply is its request's first answer
    reused: np.ndarray  # requests (ascending index in the block) that reused an open request's key ...
    reused_prev: np.ndarray  # ... that request's row
    prev_time: np.ndarray  # ... and its time_ns
    done_row: np.ndarray  # requests finished: no reply can reach them any more
    done_reply: np.ndarray  # their first reply's row (-1: unanswered)
    done_err: np.ndarray  # that reply's error code
    done_reuser: np.ndarray  # bool


@dataclass
class _Links:
    """What pairing one step's keyed messages (sorted by key, capture order within a key) found."""

    rep: np.ndarray  # positions of the replies
    owner: np.ndarray  # per reply: position of the request it answers or repeats (-1 none)
    new_answer: np.ndarray  # per reply: it answered a request nothing had answered yet
    reply_pos: np.ndarray  # request position -> its first reply's position (-1)
    key_start: np.ndarray  # position -> its key's first position
    fresh: np.ndarray  # bool: a request starting a queue of its key (a wrap, or forced)
    reused: np.ndarray  # positions of requests that reused their key while its queue was open ...
    reused_prev: np.ndarray  # ... and the position of the request before them of their key


def _links(
    key: np.ndarray, req: np.ndarray, rank: np.ndarray, order: np.ndarray, forced: np.ndarray | None
) -> _Links:
    """First in, first out per key (``key`` sorted; ``rank[order]``: requests of the client before
    each; ``forced``: requests that start a queue of their own). A function of its own so that
    its temporaries (a dozen arrays per message) are freed before the step's results are made.
    Wraps and reuses are rare: looked at where they are, not over every message."""
    n = len(key)
    pos = np.arange(n)
    key_first = np.r_[True, key[1:] != key[:-1]]
    key_start = np.maximum.accumulate(np.where(key_first, pos, 0))
    last_req = np.maximum.accumulate(np.where(req, pos, -1))
    again = np.flatnonzero(req[1:] & (last_req[:-1] >= key_start[1:])) + 1  # a request of its key before
    prev_req = last_req[again - 1]
    del last_req
    fresh = np.zeros(n, bool)  # requests starting a queue of their key: a wrap, or forced
    fresh[again[rank[order[again]] - rank[order[prev_req]] > REUSE_WINDOW]] = True
    if forced is not None:
        fresh |= req & forced
    queue_first = key_first | fresh
    del key_first
    queue = np.cumsum(queue_first) - 1
    queue_start = np.maximum.accumulate(np.where(queue_first, pos, 0))
    del queue_first, pos
    sent, answered = _fifo_counts(req, queue, queue_start)
    del queue

    req_pos = np.flatnonzero(req)
    rep = np.flatnonzero(~req)
    before = np.where(rep > queue_start[rep], answered[np.maximum(rep - 1, 0)], 0)
    del queue_start
    k = answered[rep]
    new_answer = k > before
    # the k-th request of its queue: the requests before the reply, less its queue's, plus k
    nth = rep - np.arange(len(rep)) - sent[rep] + k - 1
    owner = np.where(k > 0, req_pos[np.maximum(nth, 0)], -1) if len(req_pos) else np.full(len(rep), -1)
    del nth, k, before, req_pos
    reply_pos = np.full(n, -1, np.int64)
    got = new_answer & (owner >= 0)
    reply_pos[owner[got]] = rep[got]
    keep_on = ~fresh[again]
    open_before = (sent - answered)[again[keep_on] - 1] > 0  # requests of the queue still open
    reused, reused_prev = again[keep_on][open_before], prev_req[keep_on][open_before]
    return _Links(rep, owner, new_answer, reply_pos, key_start, fresh, reused, reused_prev)


def _step(
    state: _KeyState,
    new: dict[str, np.ndarray],
    err: np.ndarray,
    fresh_new: np.ndarray | None,
    ranks_now: np.ndarray,
    last: bool = False,
) -> tuple[_Step, _KeyState]:
    """Pair one block's keyed messages (``new``: columns of ``_CARRIED``, capture order) after the
    state their keys carry; first in, first out per key (the module docstring's rules). ``fresh_new``:
    requests that start a queue of their own (abandoned keys); ``ranks_now``: requests per client
    code so far, to put keys to sleep. Returns the step and the state after it (``state`` is
    left as it was: the second pass may start again from it).

    Nothing carried (the whole file, a stream's first block) takes the block as it is, without
    gathering carried rows; with ``last`` only the open requests are kept (no latest answers)."""
    if not len(err):
        return _nothing(), state
    present = np.empty(0, np.int64)
    if len(state.key) or len(state.sleep_key):  # the keys this block names (one sort)
        present = np.sort(new["key"])
        present = present[np.r_[True, present[1:] != present[:-1]]]
    awake = _members(state.key, present)
    asleep = _members(state.sleep_key, present)
    k_sleep, r_sleep = state.sleep_key[asleep], state.sleep_row[asleep]
    m = len(k_sleep)
    n_old = int(awake.sum()) + 2 * m
    if n_old:
        woken = {
            "key": np.repeat(k_sleep, 2),
            "row": np.repeat(r_sleep, 2),
            "is_req": np.tile([True, False], m),
            "open": np.zeros(2 * m, bool),
            "rank": np.full(2 * m, _ASLEEP_RANK, np.int64),
            "time": np.zeros(2 * m, np.int64),
            "reuser": np.zeros(2 * m, bool),
        }
        loc = {c: np.concatenate([getattr(state, c)[awake], woken[c], new[c]]) for c in _CARRIED}
        loc_err = np.concatenate([np.full(n_old, -1, np.int64), err])
    else:  # nothing carried for these keys (the whole-file case): the block as it is
        loc, loc_err = new, err

    order = np.argsort(loc["key"], kind="stable")
    req = loc["is_req"][order]
    forced = None
    if fresh_new is not None:
        fresh_loc = np.zeros(len(loc_err), bool)
        fresh_loc[n_old:] = fresh_new
        forced = fresh_loc[order]
    links = _links(loc["key"][order], req, loc["rank"], order, forced)
    n = len(req)
    rep, owner, new_answer, reply_pos = links.rep, links.owner, links.new_answer, links.reply_pos
    key_start, fresh, reused, reused_prev = links.key_start, links.fresh, links.reused, links.reused_prev
    del links

    # per block message (in the block's order): links, reuses
    rows_sorted = loc["row"][order]
    block_at = order - n_old if n_old else order  # sorted position -> index in the block (< 0: carried)
    nb = len(err)
    if n_old:  # the carried markers are not this block's replies
        mine = block_at[rep] >= 0
        new_rep, own, own_new = rep[mine], owner[mine], new_answer[mine]
    else:  # the whole-file case: every reply is the block's (no gathers)
        new_rep, own, own_new = rep, owner, new_answer
    step_owner = np.full(nb, -1, np.int64)
    step_owner[block_at[new_rep]] = np.where(own >= 0, rows_sorted[np.maximum(own, 0)], -1)
    first_at = np.zeros(nb, bool)
    first_at[block_at[new_rep]] = (own >= 0) & own_new
    mine_ru = block_at[reused] >= 0  # reusing requests are never carried rows
    ru, ru_prev = reused[mine_ru], reused_prev[mine_ru]
    by_block = np.argsort(block_at[ru])
    ru_prev = ru_prev[by_block]
    reuser = loc["reuser"][order]
    reuser[ru] = True
    del rep, owner, new_answer, new_rep, own, own_new

    # what each key carries on: its last queue's latest answered request (and marker), open requests
    answered_req = req & (reply_pos >= 0)
    waiting = req & ~answered_req
    wrapped = np.flatnonzero(fresh)
    if len(wrapped):  # a request before a later queue of its key is not in the key's last queue
        change = np.bincount(key_start[wrapped], minlength=n) - np.bincount(wrapped, minlength=n)
        last_queue = np.cumsum(change) == 0
        waiting &= last_queue
        in_last: np.ndarray | None = last_queue
    else:
        in_last = None
    was_open = req if not n_old else (loc["open"][order] | (block_at >= 0)) & req
    done = np.flatnonzero(was_open & ~waiting)
    done_reply_pos = reply_pos[done]
    answer = np.maximum(done_reply_pos, 0)
    step = _Step(
        owner=step_owner,
        first=first_at,
        reused=block_at[ru][by_block],
        reused_prev=rows_sorted[ru_prev],
        prev_time=loc["time"][order[ru_prev]],
        done_row=rows_sorted[done],
        done_reply=np.where(done_reply_pos >= 0, rows_sorted[answer], -1),
        done_err=np.where(done_reply_pos >= 0, loc_err[order[answer]], -1),
        done_reuser=reuser[done],
    )
    if last:  # nothing follows: only the open requests matter (``finish``), in any order
        keep = waiting
    else:
        cand = np.flatnonzero(answered_req if in_last is None else answered_req & in_last)
        latest = np.zeros(n, bool)
        if len(cand):
            latest[cand[np.r_[key_start[cand][1:] != key_start[cand][:-1], True]]] = True
        keep = latest | waiting
        keep[reply_pos[latest]] = True
    kept = np.flatnonzero(keep)
    carried = {
        "key": loc["key"][order[kept]],
        "row": rows_sorted[kept],
        "is_req": req[kept],
        "open": req[kept] & ~answered_req[kept],
        "rank": loc["rank"][order[kept]],
        "time": loc["time"][order[kept]],
        "reuser": reuser[kept],
    }
    e = np.empty(0, np.int64)
    if last:
        left = ~awake & state.open
        merged = {c: np.concatenate([getattr(state, c)[left], carried[c]]) for c in _CARRIED}
        return step, _KeyState(**merged, sleep_key=e, sleep_row=e)
    merged = {c: np.concatenate([getattr(state, c)[~awake], carried[c]]) for c in _CARRIED}
    by_key = np.argsort(merged["key"], kind="stable")
    merged = {c: v[by_key] for c, v in merged.items()}
    return step, _put_to_sleep(merged, state.sleep_key[~asleep], state.sleep_row[~asleep], ranks_now)


def _with_keys_again(first: _Step, again_step: _Step, again: np.ndarray, rows: np.ndarray) -> _Step:
    """Pass 1's step with the block messages ``again`` (block indices; ``rows``: the block's
    message rows, every request pass 1 finished among them: nothing was carried) and the
    requests among them as ``again_step`` paired them."""
    owner, first_at = first.owner.copy(), first.first.copy()
    owner[again], first_at[again] = again_step.owner, again_step.first
    mine = np.zeros(len(owner), bool)
    mine[again] = True
    other = ~mine[first.reused]
    reused = np.r_[first.reused[other], again[again_step.reused]]
    by_block = np.argsort(reused)
    base = int(rows[0]) if len(rows) else 0
    row_again = np.zeros(int(rows[-1]) - base + 1 if len(rows) else 0, bool)
    row_again[rows[again] - base] = True
    elsewhere = ~row_again[first.done_row - base]
    return _Step(
        owner=owner,
        first=first_at,
        reused=reused[by_block],
        reused_prev=np.r_[first.reused_prev[other], again_step.reused_prev][by_block],
        prev_time=np.r_[first.prev_time[other], again_step.prev_time][by_block],
        **{
            f: np.r_[getattr(first, f)[elsewhere], getattr(again_step, f)]
            for f in ("done_row", "done_reply", "done_err", "done_reuser")
        },
    )


def _members(sorted_keys: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Which of ``sorted_keys`` are among ``present`` (sorted, unique): by bisection, since the
    sleeping keys run to millions and a block names a few thousand."""
    out = np.zeros(len(sorted_keys), bool)
    if len(sorted_keys) and len(present):
        lo = np.searchsorted(sorted_keys, present, "left")
        hi = np.searchsorted(sorted_keys, present, "right")
        hit = np.flatnonzero(hi > lo)
        if len(hit):
            lengths = hi[hit] - lo[hit]
            starts = np.repeat(lo[hit] - np.cumsum(np.r_[0, lengths[:-1]]), lengths)
            out[starts + np.arange(int(lengths.sum()))] = True
    return out


def _nothing() -> _Step:
    e, b = np.empty(0, np.int64), np.empty(0, bool)
    return _Step(e, b, e, e, e, e, e, e, b)


def _put_to_sleep(
    awake: dict[str, np.ndarray], sleep_key: np.ndarray, sleep_row: np.ndarray, ranks_now: np.ndarray
) -> _KeyState:
    """Keys with nothing open whose latest request is more than ``REUSE_WINDOW`` requests of its
    client old keep only (key, latest answered request)."""
    key = awake["key"]
    n = len(key)
    if n:
        start = np.r_[True, key[1:] != key[:-1]]
        key_id = np.cumsum(start) - 1
        any_open = np.bincount(key_id, weights=awake["open"]).astype(bool)
        client = key >> (KEY_SEQ_BITS + KEY_ID_BITS)
        old = awake["is_req"] & (ranks_now[client] - awake["rank"] > REUSE_WINDOW)
        # a key without open requests carries one request: its latest answered one
        sleepy = ~any_open & (np.bincount(key_id, weights=old, minlength=len(any_open)) > 0)
        goes = sleepy[key_id]
    else:
        goes = np.zeros(0, bool)
    leaving = goes & awake["is_req"]
    if leaving.any():
        k, r = key[leaving], awake["row"][leaving]
        at = np.searchsorted(sleep_key, k)
        sleep_key, sleep_row = np.insert(sleep_key, at, k), np.insert(sleep_row, at, r)
    stay = {c: v[~goes] for c, v in awake.items()}
    return _KeyState(**stay, sleep_key=sleep_key, sleep_row=sleep_row)


@dataclass
class Paired:
    """What one block settled (rows are message rows counted across all blocks fed).

    A reply is settled in its own block; a request when no reply can reach it any more (its
    first reply came, or its key started a new queue) or at ``finish``.
    """

    request: np.ndarray  # finished requests
    request_status: np.ndarray  # int8 ``Status`` code
    reply_of: np.ndarray  # their first reply (-1 none)
    reply: np.ndarray  # replies of this block that are calls
    request_of: np.ndarray  # the request each answers or repeats (-1 none)
    reply_status: np.ndarray  # int8
    reused: np.ndarray  # requests whose key a later request reused while they were open ...
    reused_in: np.ndarray  # ... and that later request


def _outcome(err: np.ndarray) -> np.ndarray:
    """A call's status by its first reply's error code."""
    return np.select([err == 0, err < 0], [OK, MALFORMED], ERROR).astype(np.int8)


class Pairer:
    """Pairing fed a block of messages at a time, in capture order, with the rules of ``pair``
    (which is this, fed once): open requests are carried, settled pairs handed back per block.

    Why: a long capture's calls need not all be held to pair them (``ghrm stats`` at 10M).
    Two passes run side by side, as in ``pair``: the second only once the first found a
    request reusing the key of one its client had given up on (``Pairer._abandoned``).
    """

    def __init__(self) -> None:
        self._codes: dict[tuple[int, int], int] = {}  # (capture, client) -> client code
        self._ranks = np.zeros(0, np.int64)  # client code -> requests so far
        self._first = _KeyState.empty()  # pass 1: no request abandoned
        self._second: _KeyState | None = None  # pass 2, once it differs from pass 1
        self._replied = np.zeros(0, np.int64)  # client code -> latest request row a reply answered (pass 1)
        self._loose: dict[tuple[int, int], deque[int]] = {}  # seq-less keys -> open requests
        self._rows = 0

    def feed(
        self,
        capture: np.ndarray,
        client: np.ndarray,
        seq: np.ndarray,
        msg_id: np.ndarray,
        msg_type: np.ndarray,
        err_code: np.ndarray,
        time_ns: np.ndarray | None = None,
        last: bool = False,
    ) -> Paired:
        """Pair the next block of messages (the arguments of ``pair``); ``last``: only ``finish``
        follows, so the keys' state is not kept for a next block (the whole-file case)."""
        base, n = self._rows, len(msg_type)
        self._rows += n
        call = ((msg_type == REQUEST) | (msg_type == REPLY)) & (msg_id >= 0)
        calls = np.flatnonzero(call)
        calls_code = self._client_codes(capture[calls], client[calls])
        with_seq = seq[calls] >= 0
        keyed, keyed_code = calls[with_seq], calls_code[with_seq]
        is_req = msg_type[keyed] == REQUEST
        rank = self._rank(keyed_code, is_req)
        new = {
            "key": _packed_keys(keyed_code, seq[keyed], msg_id[keyed]),
            "row": keyed + base,
            "is_req": is_req,
            "open": is_req,
            "rank": rank,
            "time": np.zeros(len(keyed), np.int64) if time_ns is None else time_ns[keyed].astype(np.int64),
            "reuser": np.zeros(len(keyed), bool),
        }
        err = err_code[keyed].astype(np.int64)
        step, after = _step(self._first, new, err, None, self._ranks, last)
        given_up = self._abandoned(step, new, keyed_code, last)
        if given_up.any() and self._second is None:
            self._second = self._first  # the passes agreed until this block
        self._first = after
        if self._second is not None:
            step, self._second = self._second_pass(step, after, new, err, given_up, last)
        out = self._settle(step, new, err)
        loose = calls[~with_seq]
        if len(loose) or self._loose:
            code = np.full(n, -1, np.int64)
            code[calls] = calls_code
            out = self._pair_loose(out, loose, calls, code, seq, msg_id, msg_type, err_code, base)
        return out

    def _second_pass(
        self,
        first: _Step,
        first_after: _KeyState,
        new: dict[str, np.ndarray],
        err: np.ndarray,
        given_up: np.ndarray,
        last: bool,
    ) -> tuple[_Step, _KeyState]:
        """Pass 2 over the block. When it starts from nothing carried and nothing follows (the
        whole file), it differs from pass 1 only on the keys of the abandoned requests: those keys
        alone are paired again and the rest of pass 1 kept (the ledger rows of a VM_ALLOCATE
        storm: 9 such keys among 874k messages)."""
        assert self._second is not None
        if not last or len(self._second.key) or len(self._second.sleep_key):
            return _step(self._second, new, err, given_up, self._ranks, last)
        keys = np.unique(new["key"][given_up])
        again = np.flatnonzero(isin(new["key"], keys))
        part = {c: v[again] for c, v in new.items()}
        step, after = _step(self._second, part, err[again], given_up[again], self._ranks, last)
        elsewhere = ~isin(first_after.key, keys)  # pass 1's open requests of the other keys
        state = _KeyState(
            **{c: np.r_[getattr(first_after, c)[elsewhere], getattr(after, c)] for c in _CARRIED},
            sleep_key=after.sleep_key,
            sleep_row=after.sleep_row,
        )
        return _with_keys_again(first, step, again, new["row"]), state

    @property
    def rows(self) -> int:
        """Messages fed so far (the next block's first row)."""
        return self._rows

    def finish(self) -> Paired:
        """The requests still open: unanswered (retransmitted when they reused an open key)."""
        state = self._first if self._second is None else self._second
        waiting = np.array(sorted(r for q in self._loose.values() for r in q), np.int64)
        rows = np.concatenate([state.row[state.open], waiting])
        status = np.where(
            np.r_[state.reuser[state.open], np.zeros(len(waiting), bool)], RETRANSMITTED, UNANSWERED
        )
        e = np.empty(0, np.int64)
        return Paired(
            rows, status.astype(np.int8), np.full(len(rows), -1, np.int64), e, e, e.astype(np.int8), e, e
        )

    def _client_codes(self, capture: np.ndarray, client: np.ndarray) -> np.ndarray:
        """A small code per (capture, client), stable across blocks (keys are packed with it)."""
        pairs, inverse = pair_codes(capture, client)
        table = np.array([self._codes.setdefault(t, len(self._codes)) for t in pairs], np.int64)
        if len(self._codes) > MAX_CLIENTS:
            raise ValueError(f"more than {MAX_CLIENTS} (capture, client) pairs to pair")
        if len(self._codes) > len(self._ranks):
            more = len(self._codes) - len(self._ranks)
            self._ranks = np.r_[self._ranks, np.zeros(more, np.int64)]
            self._replied = np.r_[self._replied, np.full(more, -1, np.int64)]
        return table[inverse] if len(table) else np.empty(0, np.int64)

    def _rank(self, code: np.ndarray, is_req: np.ndarray) -> np.ndarray:
        """Per keyed message: requests its client sent before it (requests only; else 0)."""
        rank = np.zeros(len(code), np.int64)
        req = np.flatnonzero(is_req)
        if len(req):
            c = code[req]
            by = np.argsort(c, kind="stable")
            cs = c[by]
            start = np.r_[0, np.flatnonzero(cs[1:] != cs[:-1]) + 1]
            within = np.arange(len(cs)) - np.repeat(start, np.diff(np.r_[start, len(cs)]))
            rank[req[by]] = within + self._ranks[cs]
            self._ranks += np.bincount(c, minlength=len(self._ranks))
        return rank

    def _abandoned(self, step: _Step, new: dict[str, np.ndarray], code: np.ndarray, last: bool) -> np.ndarray:
        """Per keyed message of the block: a request reusing the key of one its client had given
        up on (over pass 1: a reply to a later request came in between,
        or the first was open longer than ``GIVE_UP_NS``). Updates the replies seen per client
        code (not after the ``last`` block: none follows)."""
        out = np.zeros(len(code), bool)
        second = step.reused
        if not len(second) and last:
            return out
        replies = np.flatnonzero(~new["is_req"] & (step.owner >= 0))
        if len(second):
            first = step.reused_prev
            t0, t1 = step.prev_time, new["time"][second]
            late = (t0 != 0) & (t1 - t0 > GIVE_UP_NS)
            out[second] = late | (self._latest_answered(code, replies, step.owner, second) > first)
        if not last:
            np.maximum.at(self._replied, code[replies], step.owner[replies])
        return out

    def _latest_answered(
        self, code: np.ndarray, replies: np.ndarray, owner: np.ndarray, at: np.ndarray
    ) -> np.ndarray:
        """Per position ``at``: the latest request row a reply of its client code before it
        answered or repeated (-1 none), this block's replies and the blocks' before. (By client
        code, so per capture: a reply of another capture answered an earlier row.)"""
        carried = self._replied[code[at]]
        wanted = np.zeros(len(self._replied), bool)
        wanted[code[at]] = True
        replies = replies[wanted[code[replies]]]  # of the clients that reused a key only
        if not len(replies):
            return carried
        rc, ac = code[replies], code[at]
        span = len(code) + 1
        lifted = rc * span + replies  # replies by (client, position): distinct, any sort is stable
        by = np.argsort(lifted)
        running = _runmax_by_group(owner[replies][by], rc[by])
        found = np.searchsorted(lifted[by], ac * span + at) - 1
        same = (found >= 0) & (rc[by][np.maximum(found, 0)] == ac)
        return np.maximum(carried, np.where(same, running[np.maximum(found, 0)], -1))

    def _settle(self, step: _Step, new: dict[str, np.ndarray], err: np.ndarray) -> Paired:
        """Statuses of the block's keyed replies and of the requests the step finished."""
        rep = np.flatnonzero(~new["is_req"])
        owner, first = step.owner[rep], step.first[rep]
        status = np.where(first, _outcome(err[rep]), np.where(owner >= 0, DUPLICATE, ORPHAN)).astype(np.int8)
        answered = step.done_reply >= 0
        req_status = np.where(
            answered, _outcome(step.done_err), np.where(step.done_reuser, RETRANSMITTED, UNANSWERED)
        ).astype(np.int8)
        return Paired(
            step.done_row,
            req_status,
            step.done_reply,
            new["row"][rep],
            owner,
            status,
            step.reused_prev,
            new["row"][step.reused],
        )

    def _pair_loose(
        self,
        out: Paired,
        loose: np.ndarray,
        calls: np.ndarray,
        code: np.ndarray,
        seq: np.ndarray,
        msg_id: np.ndarray,
        msg_type: np.ndarray,
        err_code: np.ndarray,
        base: int,
    ) -> Paired:
        """Messages whose seq is unknown pair by (capture, client, msg_id), oldest request first;
        a reply with a seq joins in when its seq paired it with nothing."""
        for i in loose.tolist():
            self._loose.setdefault((int(code[i]), int(msg_id[i])), deque())
        packed = code[calls] * (1 << KEY_ID_BITS) + msg_id[calls]
        wanted = np.array([c * (1 << KEY_ID_BITS) + m for c, m in self._loose], np.int64)
        rows = calls[np.isin(packed, wanted)]
        if not len(rows):
            return out
        orphan = {int(r): j for j, r in enumerate(out.reply.tolist()) if out.request_of[j] < 0}
        settled, settled_reply, settled_err = [], [], []
        reply_status = out.reply_status.copy()
        request_of = out.request_of.copy()
        extra_rep, extra_req, extra_status = [], [], []
        outcomes = dict(zip(rows.tolist(), _outcome(err_code[rows]).tolist(), strict=True))
        for i in rows.tolist():
            waiting = self._loose[(int(code[i]), int(msg_id[i]))]
            known = seq[i] >= 0
            if msg_type[i] == REQUEST:
                if not known:
                    waiting.append(i + base)
                continue
            if known and (i + base) not in orphan:
                continue  # already paired by its seq
            if not waiting:
                if not known:
                    extra_rep.append(i + base)
                    extra_req.append(-1)
                    extra_status.append(ORPHAN)
                continue
            j = waiting.popleft()
            outcome = outcomes[i]
            settled.append(j)
            settled_reply.append(i + base)
            settled_err.append(outcome)
            if known:
                at = orphan[i + base]
                request_of[at] = j
                reply_status[at] = outcome
            else:
                extra_rep.append(i + base)
                extra_req.append(j)
                extra_status.append(outcome)
        reply = np.r_[out.reply, np.array(extra_rep, np.int64)]
        order = np.argsort(reply, kind="stable")
        return Paired(
            np.r_[out.request, np.array(settled, np.int64)],
            np.r_[out.request_status, np.array(settled_err, np.int8)].astype(np.int8),
            np.r_[out.reply_of, np.array(settled_reply, np.int64)],
            reply[order],
            np.r_[request_of, np.array(extra_req, np.int64)][order],
            np.r_[reply_status, np.array(extra_status, np.int8)].astype(np.int8)[order],
            out.reused,
            out.reused_in,
        )


def _packed_keys(code: np.ndarray, seq: np.ndarray, msg_id: np.ndarray) -> np.ndarray:
    """One int64 per (client code, seq, msg_id), ordered as the tuples."""
    if len(seq) and (seq.max() >= 1 << KEY_SEQ_BITS or msg_id.max() >= 1 << KEY_ID_BITS):
        raise ValueError("a seq or msg_id wider than the RPC header's")
    return (
        (code.astype(np.int64) << (KEY_SEQ_BITS + KEY_ID_BITS))
        | (seq.astype(np.int64) << KEY_ID_BITS)
        | msg_id
    )


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
    both mean a new VM, or a new kernel, counting from seq 0. ``ClientKeys`` fed once.
    """
    return ClientKeys().feed(capture, client, msg_type, seq, msg_id, allocated_vmid)


class ClientKeys:
    """``client_keys`` fed a block of messages at a time, in capture order: both counts only look
    back, so the allocations per VMID and each client's latest seq and restarts are carried."""

    def __init__(self) -> None:
        self._allocated: dict[tuple[int, int], int] = {}  # (capture, vmid) -> VM_ALLOCATEs so far
        self._restarts: dict[tuple[int, int], tuple[int, int]] = {}  # (capture, key) -> (seq, restarts)

    def feed(
        self,
        capture: np.ndarray,
        client: np.ndarray,
        msg_type: np.ndarray,
        seq: np.ndarray,
        msg_id: np.ndarray,
        allocated_vmid: np.ndarray,
    ) -> np.ndarray:
        """The client keys of the next block (the arguments of ``client_keys``)."""
        key = client.astype(np.int64) + (self._epochs(capture, client, allocated_vmid) << 16)
        req = np.flatnonzero((msg_type == REQUEST) & (seq >= 0) & isin(msg_id, known_ids()))
        if not len(req) and not self._restarts:
            return key
        caps_keys, g = pair_codes(capture, key)
        carried = [self._restarts.get(ck, (-1, 0)) for ck in caps_keys]
        last_seq = np.array([c[0] for c in carried], np.int64)
        count = np.array([c[1] for c in carried], np.int64)
        order = req[np.argsort(g[req], kind="stable")]
        og = g[order]
        same = np.r_[False, og[1:] == og[:-1]] if len(order) else np.empty(0, bool)
        s = seq[order].astype(np.int64)
        prev = np.where(same, np.r_[-1, s[:-1]] if len(s) else s, last_seq[og])
        back = prev - s
        restart = (prev >= 0) & (back > 0) & (back < 0x8000) & (s < RESTART_SEQ)
        jumps = np.cumsum(restart)
        start = np.flatnonzero(~same)
        within: np.ndarray = jumps - np.repeat(
            jumps[start] - restart[start], np.diff(np.r_[start, len(order)])
        )
        if len(order):
            ends = np.r_[start[1:], len(order)] - 1
            for i, e in zip(og[start].tolist(), ends.tolist(), strict=True):
                self._restarts[caps_keys[i]] = (int(s[e]), int(count[i] + within[e]))
        if not restart.any() and not count.any():
            return key
        n = len(key)
        lifted = og * (n + 1) + order
        at = np.searchsorted(lifted, g * (n + 1) + np.arange(n), "right") - 1  # latest request at or before
        mine = (at >= 0) & (og[np.maximum(at, 0)] == g) if len(order) else np.zeros(n, bool)
        total = count[g] + np.where(mine, within[np.maximum(at, 0)] if len(order) else 0, 0)
        return key + (total << 24)

    def _epochs(self, capture: np.ndarray, client: np.ndarray, allocated_vmid: np.ndarray) -> np.ndarray:
        """``client_epochs`` of this block with the allocations of the blocks before counted in."""
        out = client_epochs(capture, client, allocated_vmid)
        for (cap, vmid), count in self._allocated.items():
            if count:
                out[(capture == cap) & (client == vmid)] += count
        rows = allocated_vmid >= 0
        allocations = Counter(zip(capture[rows].tolist(), allocated_vmid[rows].tolist(), strict=True))
        for key, count in allocations.items():  # carried to the next block
            self._allocated[key] = self._allocated.get(key, 0) + count
        return out


DENSE_CODES = 1 << 22  # pairs packed below this are coded by counting (a table of this many ints)


def pair_codes(a: np.ndarray, b: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The distinct (a, b) pairs and each row's index among them (one sort of packed ints)."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    if not len(a):
        return [], np.empty(0, np.int64)
    low, span = int(b.min()), int(b.max()) - int(b.min()) + 1
    if int(a.min()) >= 0 and (int(a.max()) + 1) * span <= DENSE_CODES:  # few values: count, no sort
        whole = a * span + (b - low)
        packed = np.flatnonzero(np.bincount(whole))
        table = np.zeros((int(a.max()) + 1) * span, np.int64)
        table[packed] = np.arange(len(packed))
        pairs = list(zip((packed // span).tolist(), (packed % span + low).tolist(), strict=True))
        return pairs, table[whole]
    if int(a.min()) >= 0 and int(a.max()) < (1 << 62) // span:
        whole = a * span + (b - low)
        packed = distinct(whole)  # not np.unique: numpy 2.4 hashes, ~10x slower here
        inverse = np.searchsorted(packed, whole)  # a sort and a search: unique's inverse sorts twice
        pairs = list(zip((packed // span).tolist(), (packed % span + low).tolist(), strict=True))
    else:  # too wide to pack: compare as rows
        rows, inverse = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
        pairs = [(int(x), int(y)) for x, y in rows.tolist()]
    return pairs, inverse.reshape(-1)


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


PAIR_BLOCK = 1 << 20  # messages paired at a time: the pairing's temporaries are a block's


def pair_in_blocks(
    capture: np.ndarray,
    client: np.ndarray,
    seq: np.ndarray,
    msg_id: np.ndarray,
    call_type: np.ndarray,
    err: np.ndarray,
    allocated: np.ndarray,
    known: np.ndarray,
    time_ns: np.ndarray,
) -> tuple[np.ndarray, Pairing]:
    """The client keys (``client_keys``) and the pairing (``pair``) of
    messages in capture order, ``PAIR_BLOCK`` rows at a time (``call_type``: -1 for no call).

    Why blocks: ``ClientKeys`` and ``Pairer`` fed block by block give what they give fed once
    (their tests), and a block's temporaries are a fraction of the whole's, so a 10M capture
    pairs in bounded memory. Why a million rows: each block re-sorts what the keys carry (at 1M
    messages ~100k awake rows and ~100k sleeping keys, nearly all never seen again), which cost
    128k-row blocks ~0.09 s CPU more than one; the peak RSS of ``trace.transactions``,
    ``ghrm transactions`` and ``ghrm decode`` at 1M did not move (it is not in the pairing).
    """
    n = len(call_type)
    keys, pairer = ClientKeys(), Pairer()
    clients = np.empty(n, np.int64)
    parts = []
    for start in range(0, n, PAIR_BLOCK):
        at = slice(start, start + PAIR_BLOCK)
        kind, ids, seqs = call_type[at].astype(np.int64), msg_id[at], seq[at].astype(np.int64)
        clients[at] = keys.feed(capture[at], client[at].astype(np.int64), kind, seqs, ids, allocated[at])
        times = np.where(known[at], time_ns[at], 0)
        parts.append(
            pairer.feed(
                capture[at], clients[at], seqs, ids, kind, err[at], times, last=start + PAIR_BLOCK >= n
            )
        )
    parts.append(pairer.finish())
    pairing = replace(settled(n, parts), client=clients)  # as ``pair`` keeps them, for reuse
    if n >= 1 << 31:
        return clients, pairing
    # row numbers fit in int32: half of what a Trace keeps of them (12 MB at 1M messages)
    rows = {name: getattr(pairing, name).astype(np.int32) for name in ("reply_of", "request_of", "reused_in")}
    return clients, replace(pairing, **rows)


def garbage_mask(broken: np.ndarray, msg_id: np.ndarray) -> np.ndarray:
    """Messages whose RPC header is broken (``broken``) and whose id no source defines: noise,
    not calls. Only the few broken rows' ids are looked up."""
    rows = np.flatnonzero(broken)
    out = np.zeros(len(broken), bool)
    out[rows[~isin(msg_id[rows], known_ids())]] = True
    return out


def garbage(messages: pd.DataFrame) -> np.ndarray:
    """``garbage_mask`` of a messages table (a missing id is no known id)."""
    broken = (messages["malformed_kind"] == "header").to_numpy(bool)
    return garbage_mask(broken, messages["msg_id"].to_numpy(np.int64, na_value=-1))


def call_types(messages: pd.DataFrame) -> np.ndarray:
    """Header message types, with -1 for garbage (see ``garbage``)."""
    return np.where(garbage(messages), -1, type_codes(messages))


def type_codes(messages: pd.DataFrame) -> np.ndarray:
    """Message types as header numbers (-1 unknown) from the categorical column."""
    names = {"continuation": 0, "request": 1, "reply": 2, "notification": 3}
    cat = messages["type"].array
    table = np.array([names[c] for c in cat.categories] + [-1], np.int64)
    return table[cat.codes]


def transactions_from(messages: pd.DataFrame, pairing: Pairing, mtype: np.ndarray) -> pd.DataFrame:
    """Build the table from a pairing of ``messages`` (shared with the messages builder)."""
    import pandas as pd

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
    has_both = (req_row >= 0) & (rep_row >= 0) & np.isin(row_status, codes(ANSWERED))
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
