"""``messages.sparse_categorical`` is ``pd.Categorical`` of a mostly-None column, dtype included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dissector.analysis.messages import sparse_categorical


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
