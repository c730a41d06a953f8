"""``gc_paused``: the collector is off inside the block and left as it was after it."""

from __future__ import annotations

import gc

import pytest

from dissector.gcpause import gc_paused


def test_paused_inside_and_enabled_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()


def test_off_stays_off_and_nesting_is_fine() -> None:
    gc.disable()
    try:
        with gc_paused(), gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
