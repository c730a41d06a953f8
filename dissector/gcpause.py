"""Commands that only allocate run with the cyclic garbage collector paused.

Why: such a command makes objects that live until it ends and form no reference cycles; each
burst of allocations starts a collection, and the full ones walk every object made so far. The
ledger commands: making and replaying the stories allocates a few hundred thousand small objects
(jsonl dicts, calls, parcels, their lists, closures, ``ExactTime``s); on the 1M benchmark capture
6 full collections cost 2.2-2.9 s of ``ledger_messages`` and one 0.8 s of ``df_memparcels``
(under load, ``gc.callbacks``). A simulation run: the truth log keeps everything alive. The pause
spans a whole command, whose process ends right after: pausing around a library call instead
would only move that work to the first collection after it.
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
