"""``transactions.Pairer``: fed a block at a time, it pairs as ``pair`` does on the whole, and
``pair`` (the core fed once) pairs as the whole-array pairing it replaced (``old_pairing``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis import transactions
from dissector.analysis.transactions import Pairer, Pairing, pair, settled
from tests.analysis import old_pairing

FIELDS = ("reply_of", "request_of", "status", "replies", "reused_in")


@pytest.fixture(autouse=True)
def small_windows(monkeypatch):
    """A reuse window of a few requests and a give-up time of a few ns, so that short random
    streams reach wraps and abandoned keys."""
    for module in (transactions, old_pairing):
        monkeypatch.setattr(module, "REUSE_WINDOW", 3)
        monkeypatch.setattr(module, "GIVE_UP_NS", 5)


@st.composite
def messages(draw):
    """Columns of ``pair``: few clients, seqs and ids so that keys recur, reuse and wrap."""
    n = draw(st.integers(0, 80))
    col = lambda values: np.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)), np.int64)  # noqa: E731
    capture = np.sort(col([0, 0, 0, 1]))
    client = col([0, 1, 2])
    seq = col([-1, 0, 1, 2, 2, 3, 65535])
    msg_id = col([-1, 0, 7, 7, 0xFFFFFFFF])
    msg_type = col([-1, 0, 1, 1, 1, 2, 2, 2, 3])
    err = col([-1, 0, 0, 0, 3])
    time_ns = np.cumsum(col([0, 1, 2, 9]))
    time_ns[col([0, 1, 1, 1]) == 0] = 0
    timed = draw(st.booleans())
    return capture, client, seq, msg_id, msg_type, err, time_ns if timed else None


def _equal(a: Pairing, b: Pairing) -> None:
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@settings(deadline=None, max_examples=400)
@given(messages())
def test_pair_pairs_as_the_whole_array_pairing_it_replaced(cols):
    _equal(pair(*cols), old_pairing.pair(*cols))


@settings(deadline=None, max_examples=400)
@given(messages(), st.data())
def test_pairer_fed_in_blocks_pairs_as_pair_on_the_whole(cols, data):
    """Block boundaries anywhere: inside request/reply pairs, between a request and its reuse;
    the last block told it is the last (as ``pair_in_blocks`` does) or not."""
    n = len(cols[4])
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6)))
    told = data.draw(st.booleans())
    pairer, parts = Pairer(), []
    for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, n], strict=True)):
        block = (c[a:b] if c is not None else None for c in cols)
        parts.append(pairer.feed(*block, last=told and i == len(cuts)))
    parts.append(pairer.finish())
    _equal(settled(n, parts), pair(*cols))


def test_a_sleeping_key_still_takes_a_late_duplicate():
    """A key whose latest request is more than the window old keeps its latest answer: a reply
    long after is its duplicate, not an orphan, in blocks as whole."""
    m = 12
    client = np.zeros(m, np.int64)
    seq = np.r_[0, 0, np.arange(1, 10), 0]
    msg_id = np.full(m, 7, np.int64)
    msg_type = np.r_[1, 2, np.full(9, 1), 2]
    err = np.where(msg_type == 2, 0, -1)
    cols = (np.zeros(m, np.int64), client, seq, msg_id, msg_type, err, None)
    whole = pair(*cols)
    assert whole.status[-1] == transactions.DUPLICATE and whole.request_of[-1] == 0
    pairer = Pairer()
    parts = [pairer.feed(*(c[i : i + 1] if c is not None else None for c in cols)) for i in range(m)]
    _equal(settled(m, [*parts, pairer.finish()]), whole)


@st.composite
def client_messages(draw):
    """Columns of ``client_keys``: VMIDs allocated again, seqs falling back (restarts), ids known
    and unknown (garbage)."""
    n = draw(st.integers(0, 60))
    col = lambda values: np.array(draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)), np.int64)  # noqa: E731
    known = int(transactions.known_ids()[0])
    return (
        np.sort(col([0, 0, 1])),
        col([1, 2, 3]),
        col([1, 1, 2, 3]),
        col([-1, 0, 1, 5, 63, 64, 200, 0x9000]),
        col([known, known, known, 0x7777]),
        col([-1, -1, -1, -1, 1, 2]),
    )


@settings(deadline=None, max_examples=400)
@given(client_messages(), st.data())
def test_client_keys_fed_in_blocks_equal_the_whole_and_the_old(cols, data):
    n = len(cols[0])
    whole = transactions.client_keys(*cols)
    np.testing.assert_array_equal(whole, old_pairing.client_keys(*cols))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6)))
    keys = transactions.ClientKeys()
    got = [keys.feed(*(c[a:b] for c in cols)) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    np.testing.assert_array_equal(np.concatenate([np.empty(0, np.int64), *got]), whole)


@st.composite
def queues(draw):
    """Requests and replies laid out in queues (a queue's positions are contiguous)."""
    sizes = draw(st.lists(st.integers(1, 8), max_size=8))
    is_req = np.array(draw(st.lists(st.booleans(), min_size=sum(sizes), max_size=sum(sizes))), bool)
    queue = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.cumsum([0, *sizes])[:-1].astype(np.int64)
    return is_req, queue, np.repeat(starts, sizes)


@settings(deadline=None, max_examples=300)
@given(queues())
def test_fifo_counts_are_a_queue_walked_one_message_at_a_time(q):
    """``_fifo_counts`` is shared with the old pairing (its oracle): held here to the plain loop."""
    is_req, queue, queue_start = q
    sent, answered = transactions._fifo_counts(is_req, queue, queue_start)
    want_sent, want_answered = [], []
    for i, r in enumerate(is_req.tolist()):
        if i == 0 or queue[i] != queue[i - 1]:
            s = a = 0
        if r:
            s += 1
        elif a < s:  # a reply answers the oldest open request; with none open it answers nothing
            a += 1
        want_sent.append(s)
        want_answered.append(a)
    np.testing.assert_array_equal(sent, np.array(want_sent, np.int64))
    np.testing.assert_array_equal(answered, np.array(want_answered, np.int64))


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-(1 << 40), 1 << 40)), max_size=40))
def test_pair_codes_name_each_distinct_pair_in_sorted_order(rows):
    a = np.array([r[0] for r in rows], np.int64)
    b = np.array([r[1] for r in rows], np.int64)
    pairs, inverse = transactions.pair_codes(a, b)
    assert pairs == sorted(set(zip(a.tolist(), b.tolist(), strict=True)))
    assert [pairs[i] for i in inverse.tolist()] == list(zip(a.tolist(), b.tolist(), strict=True))
    small = np.abs(b) % 5  # few values: the counting path
    pairs, inverse = transactions.pair_codes(np.abs(a), small)
    assert [pairs[i] for i in inverse.tolist()] == list(zip(np.abs(a).tolist(), small.tolist(), strict=True))


def _busy(seed: int, n: int, seqs: int, types: list[int], errors: list[int]) -> tuple[np.ndarray, ...]:
    """Columns of ``pair`` for ``n`` messages of one capture on 3 clients, ``seqs`` seqs, 2 ids."""
    rng = np.random.default_rng(seed)
    return (
        np.zeros(n, np.int64),
        rng.integers(0, 3, n),
        rng.integers(0, seqs, n),
        rng.choice([7, 9], n),
        rng.choice(types, n),
        rng.choice(errors, n),
        np.cumsum(rng.integers(0, 3, n)),
    )


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 2**32 - 1), st.data())
def test_a_long_busy_stream_pairs_as_the_old_pairing_whole_and_in_blocks(seed, data):
    """Hundreds of messages on few keys: wraps, reuses and abandoned keys in every block, the
    cases the step finds where they are rather than over every message."""
    n = 400
    cols = _busy(seed, n, 4, [1, 1, 2, 2, 2, 3], [0, 0, 3, -1])
    whole = pair(*cols)
    _equal(whole, old_pairing.pair(*cols))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    pairer, parts = Pairer(), []
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        parts.append(pairer.feed(*(c[a:b] for c in cols)))
    _equal(settled(n, [*parts, pairer.finish()]), whole)


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 2**32 - 1))
def test_the_whole_files_second_pass_pairs_only_the_abandoned_keys_again(seed):
    """``pair`` (fed once, ``last``) pairs again only the keys of abandoned requests, and that
    equals the second pass over everything (``Pairer`` fed the same block without ``last``)."""
    n = 200
    cols = _busy(seed, n, 6, [1, 1, 2, 2, 3], [0, 3])
    sizes = []
    real = transactions._step

    def spy(state, new, *rest):
        sizes.append(len(new["key"]))
        return real(state, new, *rest)

    transactions._step = spy
    try:
        whole = pair(*cols)
    finally:
        transactions._step = real
    pairer = Pairer()
    _equal(whole, settled(n, [pairer.feed(*cols), pairer.finish()]))
    if len(sizes) == 2:  # a second pass ran: on the abandoned keys' messages only
        keys = transactions._packed_keys(cols[1], cols[2], cols[3])
        calls = (cols[4] == 1) | (cols[4] == 2)
        assert sizes[1] < sizes[0] == calls.sum()
        assert sizes[1] >= 2 and len(np.unique(keys[calls])) > 1
