"""``stable_order`` is numpy's stable argsort, whatever the keys."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.sorting import isin, stable_order


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 300) | st.integers(-5, 2**40), max_size=80))
def test_stable_order_is_a_stable_argsort(keys):
    key = np.array(keys, np.int64)
    assert stable_order(key).tolist() == np.argsort(key, kind="stable").tolist()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 70000), min_size=1, max_size=80), st.sampled_from([np.int32, np.int64, np.uint32])
)
def test_any_integer_dtype(keys, dtype):
    key = np.array(keys, dtype)
    assert stable_order(key).tolist() == np.argsort(key, kind="stable").tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-3, 2**33) | st.sampled_from([0x56000001, 0x51000011, -1]), max_size=60),
    st.lists(st.integers(-3, 2**33) | st.sampled_from([0x56000001, 0x51000011, -1]), max_size=10),
)
def test_isin_is_numpys(values, members):
    got = isin(np.array(values, np.int64), np.array(members, np.int64))
    assert got.dtype == bool and got.tolist() == np.isin(np.array(values, np.int64), members).tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2, 6) | st.integers(0, 70000), max_size=80))
def test_groups_are_pandas_groupby_indices(codes):
    import pandas as pd

    from dissector.sorting import groups

    key = np.array(codes, np.int64)
    values = pd.Series(np.where(key < 0, np.nan, key))
    want = values.groupby(values, sort=False).indices
    got = groups(key)
    assert [g.tolist() for g in got] == [v.tolist() for v in want.values()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62) | st.integers(0, 5), max_size=80))
def test_distinct_is_numpys_unique(values):
    from dissector.sorting import distinct

    key = np.array(values, np.int64)
    got = distinct(key)
    assert got.dtype == key.dtype and got.tolist() == np.unique(key).tolist()
