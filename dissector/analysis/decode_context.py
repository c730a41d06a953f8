"""What ``ghrm decode`` attaches to each jsonl record: the generated fields of ``context.py``.

For a file it reads the whole capture's messages table first (``dissector.trace``, two passes
like ``tshark -2``); for stdin or ``--follow`` it keeps a ``StreamContext``. It lives apart from
``context.py`` because the trace's tables are built from ``context.py``: one module doing both
would import itself in a circle.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from dissector.errors import GhrmError

from .context import GENERATED, StreamContext


def exchange_context(path: str, dialect: str, follow: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """What ``ghrm decode`` attaches to each jsonl record of ``path``: for a file, two passes like
    ``tshark -2`` (the whole capture's messages table first); for stdin or ``--follow``, a
    ``StreamContext`` (only what came before)."""
    if path != "-" and not follow and os.path.isfile(path):
        from dissector.trace import open_trace  # deferred: ``ghrm decode`` of stdin never needs it

        try:
            known = _by_frame(open_trace(path, dialect=dialect).messages)
        except (GhrmError, OSError, ValueError):
            known = None
        if known is not None:
            empty = dict.fromkeys(GENERATED)
            return lambda record: known.get(record["frame"], empty)
    return StreamContext().fields


def _by_frame(messages: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """Frame -> generated fields as JSON values (ints, float, str or None)."""
    columns = [[_plain(v) for v in messages[c].astype(object).tolist()] for c in GENERATED]
    return {
        int(f): dict(zip(GENERATED, values, strict=True))
        for f, *values in zip(messages["frame"].tolist(), *columns, strict=True)
    }


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if isinstance(v, np.generic) else v
