"""The sequence diagram's level arrows take the path matplotlib's ``arc3`` gives them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.patches import ConnectionStyle

from dissector.plots.sequence import _LevelArrows

coordinate = st.floats(-3000, 3000, allow_nan=False)
shrink = st.floats(0, 12, allow_nan=False)


@given(coordinate, coordinate, st.lists(coordinate, min_size=1, max_size=6), shrink, shrink)
def test_level_arrows_are_arc3s(xa: float, xb: float, heights: list[float], sa: float, sb: float) -> None:
    if abs(xb - xa) <= 2 * (sa + sb) + 1:  # the shrunk ends must stay apart, as between two lanes
        xb = xa + 2 * (sa + sb) + 1 + abs(xb - xa)
    arc3, level = ConnectionStyle.Arc3(), _LevelArrows()
    for y in heights:
        want = arc3((xa, y), (xb, y), shrinkA=sa, shrinkB=sb)
        got = level((xa, y), (xb, y), shrinkA=sa, shrinkB=sb)
        assert np.array_equal(got.codes, want.codes)
        assert np.array_equal(got.vertices[:, 0], want.vertices[:, 0])  # x: the same bits
        assert np.allclose(got.vertices[:, 1], want.vertices[:, 1], rtol=1e-13, atol=1e-9)


def test_slanted_arrows_go_to_arc3() -> None:
    got = _LevelArrows()((0.0, 0.0), (100.0, 30.0), shrinkA=2.0, shrinkB=2.0)
    want = ConnectionStyle.Arc3()((0.0, 0.0), (100.0, 30.0), shrinkA=2.0, shrinkB=2.0)
    assert np.array_equal(got.vertices, want.vertices)
