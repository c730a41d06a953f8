"""``srt_rows`` gives exactly the numbers of the plain algorithm (``np.unique`` over the keys,
``np.lexsort`` of the latencies by call), ties, NaN, signed zeros and unknown ids included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dissector.analysis.srt import SrtRows, srt_rows
from dissector.analysis.status import ANSWERED, Status, codes


def _reference(capture: np.ndarray, msg_id: np.ndarray, status: np.ndarray, latency: np.ndarray) -> SrtRows:
    key = (capture.astype(np.int64) << 33) + msg_id + 1
    uniq, first, group = np.unique(key, return_index=True, return_inverse=True)
    k = len(uniq)
    answered = np.isin(status, codes(ANSWERED))
    calls = np.bincount(group, minlength=k).astype(np.int64)
    errors = np.bincount(group, weights=status == Status.ERROR.code, minlength=k).astype(np.int64)
    unanswered = np.bincount(group, weights=~answered, minlength=k).astype(np.int64)
    timed = answered & ~np.isnan(latency)
    g, lat = group[timed], latency[timed]
    order = np.lexsort((lat, g))
    g, lat = g[order], lat[order]
    bounds = np.searchsorted(g, np.arange(k + 1))
    stats = np.full((k, 7), np.nan)
    stats[:, 6] = 0.0
    for i in range(k):
        part = lat[bounds[i] : bounds[i + 1]]
        if len(part):
            p50, p90, p99 = np.percentile(part, [50, 90, 99])
            stats[i] = (part[0], part.mean(), p50, p90, p99, part[-1], part.sum())
    return SrtRows(uniq >> 33, (uniq & ((1 << 33) - 1)) - 1, first, calls, errors, unanswered, stats)


_LATENCY = st.sampled_from([0.0, -0.0, 1e-6, 2e-6, 0.5, -1e-6, float("nan")]) | st.floats(-1, 1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from([-1, 0, 0x56000001, 0x56000002, 0xFFFFFFFF]),
            st.sampled_from([s.code for s in Status]),
            _LATENCY,
        ),
        min_size=1,
        max_size=60,
    )
)
def test_srt_rows_equal_the_plain_algorithm(calls):
    capture, msg_id, status, latency = (np.array(c) for c in zip(*calls, strict=True))
    args = (capture.astype(np.int32), msg_id.astype(np.int64), status.astype(np.int8), latency.astype(float))
    got, want = srt_rows(*args), _reference(*args)
    for name in SrtRows.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
