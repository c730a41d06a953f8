"""Commands that only allocate run with the cyclic garbage collector paused.

Why: such a command makes objects that live until it ends and form no reference cycles; each
burst of allocations starts a collection, and the full ones walk every object made so far. The
commands that open a ``Trace`` (``analysis.cli._run``: every table command, the ledgers' too): its
tables live until the command ends; making and replaying the ledgers' stories alone allocates a
few hundred thousand small objects, and on the 1M benchmark capture 6 full collections had cost
2.2-2.9 s of ``ledger_messages`` (under load, ``gc.callbacks``), collections 1.6 s of ``ghrm
findings``. A simulation run: the truth log keeps everything alive. The pause spans a whole
command, whose process ends right after: pausing around a library call instead would only move
that work to the first collection after it. A ``Trace`` pauses it while it builds a table
(``trace._Base.get``): a notebook's process goes on, so only for the build. ``ghrm report``
freezes instead (``report.render``): it is also a library call a notebook makes.
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
