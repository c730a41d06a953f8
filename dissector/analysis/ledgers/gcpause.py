"""The ledger commands run with the cyclic garbage collector paused.

Why: making the stories and replaying them allocates a few hundred thousand small objects that
live until the command ends (jsonl dicts, calls, parcels, their lists, closures, ``ExactTime``s)
and form no reference cycles. Each burst of allocations starts a collection, and the full ones
walk every object made so far: on the 1M benchmark capture, 6 full collections cost 2.2-2.9 s of
``ledger_messages`` and one 0.8 s of ``df_memparcels`` (under load, ``gc.callbacks``). The pause
spans a whole command (``ghrm memparcels``/``irqs``), whose process ends right after: pausing
around a library call instead would only move that work to the first collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
