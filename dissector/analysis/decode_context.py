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
    known = file_context(path, dialect, follow)
    if known is not None:
        empty = dict.fromkeys(GENERATED)
        return lambda record: known.get(record["frame"], empty)
    return StreamContext().fields


def file_context(path: str, dialect: str, follow: bool) -> dict[int, dict[str, Any]] | None:
    """Frame -> the generated fields of its message, for a capture file read whole (None: stdin,
    ``--follow``, or a file that cannot be read whole: then only a ``StreamContext`` can tell).
    The internal messages table: the same values as ``Trace.messages`` without its presentation."""
    if path == "-" or follow or not os.path.isfile(path):
        return None
    from dissector.analysis.tables import messages_table  # deferred: stdin never needs it
    from dissector.decoders.lines import read_capture

    try:
        capture = read_capture(path, dialect)
        return None if capture is None else _by_frame(messages_table([capture.cols], dialect)[0])
    except (GhrmError, OSError, ValueError):
        return None


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
