"""``messages.sparse_categorical`` is ``pd.Categorical`` of a mostly-None column, dtype included;
``messages.sparse_strings`` is ``pd.array(values, dtype="str")``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis.messages import sparse_categorical, sparse_strings


@pytest.mark.parametrize("seed", range(40))
def test_sparse_categorical_is_pandas_categorical(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    values = np.empty(n, object)
    values[:] = [
        rng.choice(["header", "length", "fragment", "zz"]) if rng.random() < 0.3 else None for _ in range(n)
    ]
    if seed % 5 == 0:
        values[:] = None  # a clean capture: no fault kind at all
    got, want = sparse_categorical(values), pd.Categorical(values)
    pd.testing.assert_extension_array_equal(got, want)
    assert got.categories.dtype == want.categories.dtype


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=40))
def test_sparse_strings_is_pandas_str_array(texts: list[str | None]) -> None:
    values = np.empty(len(texts), object)
    values[:] = texts
    got, want = sparse_strings(values), pd.array(values, dtype="str")
    assert got.dtype == want.dtype
    pd.testing.assert_extension_array_equal(got, want)


CORE_TRACES = [
    "faults_mix.pcapng",
    "fleet_20vms.pcapng",
    "dmesg_hexlog.log",
    "malformed_truncated.pcapng",
    "hang.pcap",
]


@pytest.mark.parametrize("trace", CORE_TRACES)
def test_core_is_the_messages_table_cut_down(trace: str) -> None:
    """Transactions, the time base and the lifecycles are built from ``MessageCore``: they must be
    what the whole messages table gives (the way they were built before)."""
    from dissector.analysis.lifecycles import rebuild
    from dissector.analysis.messages import CORE, LIFECYCLE_FIELDS
    from dissector.analysis.timebase import TimeBase
    from dissector.analysis.transactions import call_types, transactions_from
    from dissector.trace import open_trace

    t = open_trace(f"traces/{trace}")
    base = t._base
    core, whole = base.get("message_core"), base.get("messages")
    pd.testing.assert_frame_equal(core.table, whole[[n for n in whole.columns if n in CORE]])
    fields = [n for n in whole.columns if n in (*CORE, *LIFECYCLE_FIELDS)]
    pd.testing.assert_frame_equal(core.with_fields(), whole[fields])
    pd.testing.assert_frame_equal(
        base.get("transactions"), transactions_from(whole, core.pairing, call_types(whole))
    )
    model = rebuild(whole, base.get("transactions"), dialect=t.dialect)
    pd.testing.assert_frame_equal(base.get("lifecycle_model").intervals, model.intervals)
    pd.testing.assert_frame_equal(base.get("lifecycle_model").summary, model.summary)
    assert base.get("lifecycle_model").findings == model.findings
    want = TimeBase.from_messages(whole, t.captures)
    got = base.get("timebase")
    assert got.starts == want.starts and got.labels == want.labels
    assert got.exact.equals(want.exact) and np.array_equal(got.exact_ns, want.exact_ns)


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 17])
@pytest.mark.parametrize("trace", [*CORE_TRACES, "multi_queue.pcapng", "malformed_stray_continuation.pcapng"])
def test_pair_in_blocks_is_client_keys_then_pair(
    trace: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``transactions.pair_in_blocks`` feeds ``ClientKeys`` and ``Pairer`` ``PAIR_BLOCK`` rows at a time: the
    keys and the pairing must be ``client_keys`` and ``pair`` of the whole (as the core had them)."""
    from dissector.analysis import transactions
    from dissector.analysis.transactions import client_keys, garbage_mask, pair
    from dissector.trace import open_trace

    (cols,) = open_trace(f"traces/{trace}")._base.columns
    capture = np.zeros(len(cols), np.int32)
    garbage = garbage_mask(cols.malformed_kind == "header", cols.msg_id)
    call_type = np.where(garbage, -1, cols.msg_type).astype(np.int8)
    monkeypatch.setattr(transactions, "PAIR_BLOCK", block)
    clients, got = transactions.pair_in_blocks(
        capture, cols.client_vmid, cols.seq, cols.msg_id, call_type, cols.err_code,
        cols.allocated_vmid, cols.time_known, cols.time_ns,
    )  # fmt: skip
    kind, seq = call_type.astype(np.int64), cols.seq.astype(np.int64)
    want_clients = client_keys(
        capture, cols.client_vmid.astype(np.int64), kind, seq, cols.msg_id, cols.allocated_vmid
    )
    want = pair(
        capture,
        want_clients,
        seq,
        cols.msg_id,
        kind,
        cols.err_code,
        np.where(cols.time_known, cols.time_ns, 0),
    )
    assert np.array_equal(clients, want_clients)
    for name in ("reply_of", "request_of", "status", "replies", "reused_in"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
