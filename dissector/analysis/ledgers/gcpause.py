"""Building the ledgers with the cyclic garbage collector paused.

Why: the ledgers allocate a few hundred thousand small objects that live on (jsonl dicts, calls,
parcels, their lists) and form no reference cycles. Each allocation burst starts a collection,
and the full ones walk every object built so far: on the 1M benchmark capture that was more than
half of making the stories and of the parcel replay (``ledger_messages`` 6.9 s -> 3.0 s,
``df_memparcels`` 2.5 s -> 0.8 s, under load). Nothing is lost by the pause: any cycle made
meanwhile is collected once it ends.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for the block (left as it was: off stays off, nesting is fine)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def without_gc(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` run inside ``gc_paused``."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with gc_paused():
            return fn(*args, **kwargs)

    return run
